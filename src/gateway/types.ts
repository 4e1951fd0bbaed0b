/** The gateway's public types: what the API, the matcher and the composition root see. */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Config } from '../config/index.js'
import type { ListenerCopies } from './accept-lanes.js'
import type { CommittedPosition } from '../domain.js'
import type { State } from '../state/port.js'
import type { Store } from '../store/port.js'

/** A downlink message: the id and its body as the protocol message table types it ({raw: hex} for ids without a codec). */
export interface DownlinkMessage {
  msgId: number
  body: unknown
}

/**
 * What became of a downlink command.
 * - answered: the terminal replied 0x0001 result 0, or with the command's specific reply (0x0104, 0x0201, 0x0107 …)
 * - failed: the terminal replied 0x0001 with a result ≠ 0 (1 failure, 2 message error, 3 unsupported),
 *   or a specific reply with its own result ≠ 0 (0x0805: 1 failed, 2 channel not supported; reason says which, reply is that message)
 * - timeout: no answer within the timeout (or the connection dropped before one came)
 * - queued: the terminal is offline; the command is persisted and delivered after its next authentication
 */
export type CommandOutcome =
  | { status: 'answered'; reply: DownlinkMessage }
  | { status: 'failed'; result: number; reason?: string; reply?: DownlinkMessage }
  | { status: 'timeout' }
  | { status: 'queued'; id: string; expiresAt: number }

export interface SendCommandOptions {
  /** How long to wait for the terminal's answer. Default config.commandTimeoutSeconds. */
  timeoutMs?: number
  /** How long a command for an offline terminal stays queued. Default config.offlineCommandTtlSeconds. */
  ttlMs?: number
  /** false: an offline terminal gives {status: 'timeout'} instead of queueing. Default true. */
  queueIfOffline?: boolean
}

/** Thrown (rejected) by sendCommand for a command that cannot be encoded: nothing is sent or queued. */
export class CommandError extends Error {
  constructor(
    readonly code: 'BAD_MESSAGE' | 'NOT_A_DOWNLINK' | 'GATEWAY_CLOSED',
    message: string,
  ) {
    super(message)
    this.name = 'CommandError'
  }
}

/** 0x8203 confirmation of terminal alarms (bits 0, 3, 20, 21, 22, 27, 28). */
export interface AlarmConfirmation {
  /** serial of the 0x0200 that raised the alarm; 0 confirms every alarm of the given types */
  alarmSerial: number
  /** alarm bits to confirm; only CONFIRMABLE_ALARM_BITS may be set */
  alarmTypes: number
}

/** Alarm bits the platform clears with 0x8203 (JT/T 808 table 24, marked "需人工确认"). */
export const CONFIRMABLE_ALARM_BITS = (1 << 0) | (1 << 3) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 27) | (1 << 28)

/** How a submission settled: inserted + duplicates + rejected = rows submitted. */
export interface IngestResult {
  inserted: number
  duplicates: number
  /** rows refused (validation, database refusal): counted by the queue, never stored */
  rejected: number
}

/** The part of the ingest queue the gateway uses (src/ingest implements it). */
export interface IngestPort {
  /**
   * Queues positions; `done` runs once they are committed (err null), or with the error if they
   * never will be (queue closed, rows rejected). The 0x8001 ack is written only from `done`.
   */
  submit(positions: CommittedPosition[], done: (err: Error | null, result?: IngestResult) => void): void
  /** True while the queue is above its high-water mark: sockets stop reading. */
  readonly aboveHighWater: boolean
  on(event: 'pressure' | 'drain', listener: () => void): unknown
  off(event: 'pressure' | 'drain', listener: () => void): unknown
}

export interface GatewayDeps {
  config: Config
  store: Store
  state: State
  ingest: IngestPort
  logger: Logger
  /** prom-client registry the gateway's metrics are registered on */
  registry: Registry
  /** injectable clock (tests) */
  now?: () => number
  /** more descriptors of the terminal port's socket (accept lanes; a node:cluster worker gets them from the primary) */
  listenerCopies?: ListenerCopies
}

/** A terminal alarm needing platform confirmation was raised (emitted as 'alarm'). */
export interface ConfirmableAlarm {
  phone: string
  vehicleId: number
  serial: number
  alarm: number
  raised: number
  deviceTime: number
}
