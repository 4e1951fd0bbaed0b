/**
 * What the API needs from the rest of the system, as narrow ports. The composition root passes
 * the real store, state, gateway and matcher services; tests pass the same real objects (or, for
 * the commander only, a small double). Command shapes come from src/gateway/types.ts, the gateway's
 * public types (type-only imports: the API does not load the gateway).
 */
import type { Registry } from 'prom-client'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config/index.js'
import type { CommandOutcome, DownlinkMessage, SendCommandOptions } from '../gateway/types.js'
import type { State } from '../state/port.js'
import type { Store } from '../store/port.js'
import type { PlatformVehicle, PostQuery } from '../store/platforms.js'
import type { VehicleCommand } from '../platform/vehicle-commands.js'
import type { NotSent, PostQueryAnswerInput, PostQueryRequest, VehicleCommandSent } from '../platform/cluster.js'
import type { Anomaly } from '../domain.js'
import type { ObjectStore } from '../attachments/object-store.js'

/** The gateway's downlink (`gateway.sendCommand`): answer, failure result, timeout, or queued for an offline terminal. */
export interface Commander {
  sendCommand(phone: string, message: DownlinkMessage, options?: SendCommandOptions): Promise<CommandOutcome>
}

export type ApiConfig = Pick<Config, 'commandTimeoutSeconds' | 'offlineCommandTtlSeconds' | 'bootstrapToken'> &
  Partial<Pick<Config, 'baseMapUrl' | 'baseMapAttribution'>> & {
    /** SM2 key pair (hex) that signs waybill QR codes; generated and stored at first start when absent */
    qrSigningKey?: { privateKey: string; publicKey: string } | null
    /** widening of a waybill's activity window (the matcher's waybillGraceMs); default 0 */
    waybillGraceMs?: number
    /** bearer token /metrics requires (JT808_METRICS_TOKEN); null/absent: open */
    metricsToken?: string | null
    /** /metrics is served by the admin listener (JT808_ADMIN_HTTP_ADDR), not by this API */
    metricsElsewhere?: boolean
  }

export interface FeedOptions {
  /** a client whose socket stays unwritable this long is dropped (ms) */
  drainTimeoutMs: number
  /** events held for one slow client before it is dropped regardless */
  maxQueuedEvents: number
  /** comment line sent to idle clients so proxies keep the connection (ms) */
  heartbeatMs: number
  /** how long one stream read blocks waiting for new events (ms) */
  blockMs: number
}

export interface ApiDeps {
  config: ApiConfig
  store: Store
  state: State
  /** null: no gateway in this process; command routes answer 503 */
  commander: Commander | null
  /** prom-client registry shared with the gateway and ingest; /metrics serves it */
  registry: Registry
  /** pino logger (fastify's own when absent: silent) */
  logger?: FastifyBaseLogger | false
  now?: () => number
  feed?: Partial<FeedOptions>
  /**
   * sha256 of the secret a server on an embedded data directory leaves (mode 0600) for the local
   * CLI: a supervisor principal "local-admin" that lives as long as the process (never stored).
   */
  localAdminTokenHash?: string | null
  /** active-safety attachment files (GET /attachments/{id}); absent: those routes answer 503 */
  objects?: ObjectStore | null
  /** the JT/T 809 links of this process (null/absent: platform routes manage data only) */
  platforms?: PlatformLinks | null
}

/**
 * What the platform routes need of the running 809 links (src/platform/index.ts). Under
 * `serve --workers N` an action goes to the worker holding the link; NotSent says why it was not
 * sent: 'not-logged-in' (no process holds the link: 409) or 'unreachable' (the worker holding it did
 * not answer: 503).
 */
export interface PlatformLinks {
  reload(): Promise<void>
  states(): { lower: unknown[]; superior: unknown[] }
  /** 督办 (0x9401) to the lower platform reporting the anomaly's vehicle */
  supervise(a: Anomaly, supervisor: string): Promise<{ platformId: number; supervisionId: number } | NotSent>
  /** an operator's answer to a superior's 查岗 */
  answerPostQuery(id: number, answer: PostQueryAnswerInput): Promise<PostQuery | 'not-found' | 'answered' | 'link-down' | 'unreachable'>
  /** 查岗 to a logged-in lower platform */
  postQuery(platformId: number, q: PostQueryRequest): Promise<PostQuery | NotSent>
  /** 0x920B waybill request to a logged-in lower platform: the MSG_SN sent */
  requestWaybill(platformId: number, plate: string, plateColor: number): Promise<number | NotSent>
  /** 0x9503 text / 0x9502 photo to a vehicle through the lower platform reporting it, with its final reply when it came within waitMs */
  vehicleCommand?(v: PlatformVehicle, command: VehicleCommand, ttlMs: number, waitMs: number): Promise<VehicleCommandSent | NotSent>
  /** 0x9601 static information request to a logged-in lower platform about a vehicle; null when it is not logged in */
  requestStaticInfo?(platformId: number, v: PlatformVehicle, by: string | null): Promise<number | null>
}
