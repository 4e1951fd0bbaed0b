/** What message handlers see of the gateway, and the handler shape. */
import type { Logger } from 'pino'
import type { Message } from '../../../protocol/index.js'
import type { Config } from '../../config/index.js'
import type { DriverCardEvent, SessionEvent } from '../../domain.js'
import type { State } from '../../state/port.js'
import type { Store } from '../../store/port.js'
import type { CommandRouter } from '../commands.js'
import type { Connection } from '../connection.js'
import type { AlarmTransitionWriter } from '../alarm-transitions.js'
import type { Gate } from '../gate.js'
import type { TerminalLookup } from '../terminal-lookup.js'
import type { GatewayMetrics } from '../metrics.js'
import type { ConfirmableAlarm, IngestPort } from '../types.js'

/** Events the gateway emits (the matcher listens to driver cards; the API may listen to the rest). */
export interface GatewayEvents {
  'driver-card': DriverCardEvent
  session: SessionEvent
  /** a 0x0200 raised alarm bits that need a 0x8203 confirmation */
  alarm: ConfirmableAlarm
  /** 0x0701 electronic waybill report from the terminal (body as decoded) */
  'waybill-report': { phone: string; vehicleId: number | null; body: unknown; at: number }
  /** the terminal acknowledged a 0x8203 confirmation of these alarm bits (the matcher closes their anomalies) */
  'alarm-confirmed': { phone: string; bits: number; at: number }
  /** a multimedia item was stored */
  media: { phone: string; vehicleId: number | null; mediaId: number; type: number; event: number; bytes: number }
}

export interface GatewayContext {
  readonly config: Config
  readonly store: Store
  readonly state: State
  readonly ingest: IngestPort
  readonly metrics: GatewayMetrics
  readonly logger: Logger
  readonly nodeId: string
  readonly commands: CommandRouter
  /** bounds concurrent registry work (register, authenticate, deregister) */
  readonly registryGate: Gate
  /** the registry rows authentication needs, looked up together for the handshakes let in at once */
  readonly terminals: TerminalLookup
  /** alarm transitions, written after their positions committed */
  readonly alarmTransitions: AlarmTransitionWriter
  now(): number
  /** conn has just authenticated: supersede older connections, register the session, deliver queued commands */
  sessionStarted(conn: Connection): Promise<void>
  emitEvent<K extends keyof GatewayEvents>(name: K, payload: GatewayEvents[K]): void
}

export interface Handler {
  /** Accepted before authentication (0x0100, 0x0102, 0x0002, 0x0003 only). */
  beforeAuth?: boolean
  /** The platform does not answer this id (terminal replies such as 0x0001): never 0x8001 it. */
  isReply?: boolean
  /** The handler makes the text it stores safe itself (text.ts): the position hot path cleans a position's extras, not the whole body. */
  cleansOwnText?: boolean
  /** May return a promise: later frames of the connection wait for it. */
  handle(ctx: GatewayContext, conn: Connection, m: Message): void | Promise<void>
}
