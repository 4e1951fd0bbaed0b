/**
 * The gateway: a node:net server holding terminal connections, the session registry (local
 * map + state port), downlink command routing, backpressure from the ingest queue, one sweeping
 * timer for idle connections and session refresh, and the raw-frame archive.
 */
import { EventEmitter } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Frame, Message } from '../../protocol/index.js'
import type { Config } from '../config/index.js'
import { canonicalPhone, type SessionEvent } from '../domain.js'
import { StateUnavailableError, type NodeSupersede, type State } from '../state/port.js'
import type { Store } from '../store/port.js'
import { openAcceptLanes, type AcceptLanes, type ListenerCopies } from './accept-lanes.js'
import { AlarmTransitionWriter } from './alarm-transitions.js'
import { RawFrameArchive } from './archive.js'
import { CommandRouter, nodeChannel } from './commands.js'
import { Connection, PAUSE_BUSY, PAUSE_INFLIGHT, PAUSE_PRESSURE, type ConnectionHost } from './connection.js'
import { HANDLERS, type GatewayContext, type GatewayEvents } from './handlers/index.js'
import { createGatewayMetrics, msgIdLabel, type GatewayMetrics } from './metrics.js'
import { Gate, GateAbandoned, GateFull } from './gate.js'
import { Reassembly } from './reassembly.js'
import { SessionEventWriter } from './session-events.js'
import { safeTexts } from './text.js'
import { TerminalLookup } from './terminal-lookup.js'
import type { AlarmConfirmation, CommandOutcome, DownlinkMessage, GatewayDeps, IngestPort, SendCommandOptions } from './types.js'
import { CommandError, CONFIRMABLE_ALARM_BITS } from './types.js'

/** A half-closed connection whose peer never finishes closing is destroyed after this long. */
const CLOSE_GRACE_MS = 5000

export interface GatewayStats {
  connections: number
  sessions: number
  paused: boolean
}

export class Gateway extends EventEmitter implements ConnectionHost, GatewayContext {
  readonly config: Config
  readonly store: Store
  readonly state: State
  readonly ingest: IngestPort
  readonly metrics: GatewayMetrics
  readonly logger: Logger
  readonly nodeId: string
  readonly commands: CommandRouter
  /** admission control: registrations/authentications at once (config.authConcurrency), the rest in a bounded line */
  readonly registryGate: Gate
  readonly terminals: TerminalLookup
  readonly alarmTransitions: AlarmTransitionWriter
  readonly now: () => number

  private readonly server: Server
  private readonly listenerCopies: ListenerCopies | undefined
  private lanes: AcceptLanes | null = null
  private readonly connections = new Set<Connection>()
  /** authenticated sessions on this process, by canonical phone */
  private readonly sessions = new Map<string, Connection>()
  private readonly archiveWriter: RawFrameArchive | null
  private readonly reassembly: Reassembly
  private readonly sessionEvents: SessionEventWriter
  private sweepTimer: NodeJS.Timeout | null = null
  private flushQueue: Connection[] = []
  private underPressure = false
  private closing = false
  /** background work (session bookkeeping) that close() waits for */
  private readonly background = new Set<Promise<unknown>>()
  private readonly sessionTtlMs: number
  private readonly onPressure = () => this.setPressure(true)
  private readonly onDrain = () => this.setPressure(false)
  private stopWatchingState: (() => void) | null = null

  constructor(deps: GatewayDeps) {
    super()
    this.config = deps.config
    this.store = deps.store
    this.state = deps.state
    this.ingest = deps.ingest
    this.logger = deps.logger
    this.nodeId = deps.config.nodeId
    this.now = deps.now ?? Date.now
    this.listenerCopies = deps.listenerCopies
    this.metrics = createGatewayMetrics(deps.registry)
    this.commands = new CommandRouter(this)
    this.registryGate = new Gate(deps.config.authConcurrency, { maxQueued: deps.config.authQueue, lifoAfterMs: deps.config.authLifoAfterMs })
    this.terminals = new TerminalLookup(deps.store)
    this.archiveWriter = deps.config.archiveRawFrames ? new RawFrameArchive(deps.store, this.metrics, deps.logger) : null
    this.reassembly = new Reassembly(this)
    this.sessionEvents = new SessionEventWriter(deps.store, this.metrics, deps.logger)
    this.alarmTransitions = new AlarmTransitionWriter(deps.store, this.metrics, deps.logger)
    // The session entry outlives a silent connection by a margin, so a crashed node's
    // terminals show offline within about one idle timeout.
    this.sessionTtlMs = Math.max(this.config.idleTimeoutSeconds * 1000, 10_000) + 30_000
    this.server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.accept(socket))
    this.server.on('error', (e) => this.logger.error({ err: e }, 'gateway server error'))
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Starts listening (port 0 picks a free port) and resolves with the bound address. */
  async listen(port = this.config.tcpPort, host = this.config.tcpHost): Promise<AddressInfo> {
    await this.commands.start()
    // Sessions registered or refreshed while the state was unreachable were not: the next sweep
    // writes every local session again once it answers (cross-node routing comes back).
    this.stopWatchingState = this.state.onHealthChange((h) => {
      if (h.available) for (const c of this.sessions.values()) c.sessionRefreshedAt = 0
    })
    this.ingest.on('pressure', this.onPressure)
    this.ingest.on('drain', this.onDrain)
    if (this.ingest.aboveHighWater) this.setPressure(true)
    // Idle and unauthenticated connections close within a quarter of their timeout, missing subpackets are asked for within half theirs.
    const cadence = Math.min(this.config.idleTimeoutSeconds * 250, this.config.authDeadlineSeconds * 250, this.config.subpacketTimeoutSeconds * 500)
    const sweepMs = Math.min(Math.max(Math.floor(cadence), 200), 5000)
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs)
    this.sweepTimer.unref()
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => reject(e)
      this.server.once('error', fail)
      this.server.listen({ port, host, backlog: this.config.tcpBacklog }, () => {
        this.server.off('error', fail)
        resolve()
      })
    })
    const accept = (socket: Socket) => this.accept(socket)
    const laneError = (err: Error) => this.logger.error({ err }, 'accept lane error')
    this.lanes = await openAcceptLanes(this.server, this.config.acceptLanes, this.config.tcpBacklog, this.listenerCopies, accept, laneError)
    this.metrics.acceptLanes.set(this.lanes.count)
    return this.server.address() as AddressInfo
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null
  }

  stats(): GatewayStats {
    return { connections: this.connections.size, sessions: this.sessions.size, paused: this.underPressure }
  }

  /** True when the terminal has an authenticated session on this process. */
  isConnected(phone: string): boolean {
    return this.sessions.has(canonicalPhone(phone))
  }

  /**
   * Stops accepting and reading, lets `flush` run (the app commits the ingest queue there, so the
   * acks of everything received still go out), then closes every connection.
   */
  async close(flush?: () => Promise<void>): Promise<void> {
    if (this.closing) return
    this.closing = true
    if (this.sweepTimer) clearInterval(this.sweepTimer)
    this.stopWatchingState?.()
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.lanes?.close()
    for (const c of this.connections) c.pause(PAUSE_PRESSURE)
    if (flush) await flush().catch((e: unknown) => this.logger.error({ err: e }, 'flushing before shutdown failed'))
    this.flushWrites()
    this.ingest.off('pressure', this.onPressure)
    this.ingest.off('drain', this.onDrain)
    await this.commands.stop()
    const open = [...this.connections]
    const allClosed = Promise.all(open.map((c) => new Promise<void>((resolve) => (c.isClosed ? resolve() : c.socket.once('close', () => resolve())))))
    for (const c of open) c.close('shutdown')
    const grace = setTimeout(() => {
      for (const c of this.connections) c.socket.destroy()
    }, 2000)
    await allClosed
    clearTimeout(grace)
    await stopped
    while (this.background.size) await Promise.allSettled([...this.background])
    await this.sessionEvents.drain()
    await this.alarmTransitions.close()
    this.reassembly.clear()
    await this.archiveWriter?.close()
  }

  // ---- public API -----------------------------------------------------------------------------

  /**
   * Sends a downlink command to a terminal wherever it is connected (this process, another
   * gateway process through the state port, or queued while it is offline) and resolves with
   * what became of it. Rejects with CommandError for a message that cannot be encoded.
   */
  sendCommand(phone: string, message: DownlinkMessage, options?: SendCommandOptions): Promise<CommandOutcome> {
    const key = canonicalPhone(phone)
    const sent = this.commands.send(key, message, options)
    if (message.msgId !== 0x8203) return sent
    // However the confirmation was asked for (confirmAlarm, the REST API), the matcher closes the
    // TERMINAL_ALARM anomalies of the bits the terminal acknowledged.
    return sent.then((outcome) => {
      const bits = (message.body as { alarmType?: number }).alarmType
      if (outcome.status === 'answered' && bits) this.emitEvent('alarm-confirmed', { phone: key, bits: bits >>> 0, at: this.now() })
      return outcome
    })
  }

  /** 0x8203: confirms terminal alarms (only the bits JT/T 808 marks as needing confirmation). */
  confirmAlarm(phone: string, confirmation: AlarmConfirmation, options?: SendCommandOptions): Promise<CommandOutcome> {
    if ((confirmation.alarmTypes & ~CONFIRMABLE_ALARM_BITS) !== 0 || confirmation.alarmTypes === 0) {
      return Promise.reject(
        new CommandError(
          'BAD_MESSAGE',
          `alarm types 0x${(confirmation.alarmTypes >>> 0).toString(16)} must be a non-empty subset of 0x${CONFIRMABLE_ALARM_BITS.toString(16)} (bits 0, 3, 20, 21, 22, 27, 28)`,
        ),
      )
    }
    return this.sendCommand(phone, { msgId: 0x8203, body: { replySerial: confirmation.alarmSerial, alarmType: confirmation.alarmTypes >>> 0 } }, options)
  }

  override on<K extends keyof GatewayEvents>(event: K, listener: (payload: GatewayEvents[K]) => void): this {
    return super.on(event, listener)
  }

  emitEvent<K extends keyof GatewayEvents>(name: K, payload: GatewayEvents[K]): void {
    if (this.listenerCount(name) === 0) return
    try {
      this.emit(name, payload)
    } catch (e) {
      this.logger.error({ err: e, event: name }, 'gateway event listener failed')
    }
  }

  // ---- connections ----------------------------------------------------------------------------

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy()
      return
    }
    const conn = new Connection(socket, this)
    this.connections.add(conn)
    this.metrics.connections.inc()
    this.metrics.connectionsTotal.inc()
    if (this.underPressure) conn.pause(PAUSE_PRESSURE)
  }

  dispatch(conn: Connection, m: Message): void | Promise<void> {
    const handler = HANDLERS.get(m.msgId)
    if (!handler || m.encryption !== 0) {
      // Unknown ids and encrypted bodies (no key): "unsupported". Terminal replies are never answered.
      if (!isTerminalReplyId(m.msgId)) conn.reply(m, 3)
      return
    }
    const authorised = handler.beforeAuth || (conn.authenticated && m.phone === conn.phone)
    if (!authorised) {
      this.metrics.refusedBeforeAuth.inc({ msg_id: msgIdLabel(m.msgId) })
      if (!handler.isReply) conn.reply(m, 1)
      return
    }
    if (!handler.isReply && isRawBody(m.body)) {
      // The codec has no decoder for this id yet: we cannot honour it.
      conn.reply(m, 3)
      return
    }
    if (!handler.cleansOwnText) safeTexts(m.body)
    let pending: void | Promise<void>
    try {
      pending = handler.handle(this, conn, m)
    } catch (e) {
      return this.handlerFailed(conn, m, handler, e)
    }
    if (pending)
      return pending.catch((e: unknown) =>
        e instanceof GateFull ? this.admissionRefused(conn) : e instanceof GateAbandoned ? this.metrics.admissionSkipped.inc() : this.handlerFailed(conn, m, handler, e),
      )
  }

  /**
   * The line of registrations/authentications is full (a reconnect storm): the connection is closed
   * unanswered. A failure result would make a terminal think its auth code wrong and register
   * again; a closed connection makes it reconnect after its backoff, when the line has moved on.
   */
  private admissionRefused(conn: Connection): void {
    conn.close('auth_overload') // counted in jt808_connections_closed_total{reason="auth_overload"}
  }

  /** A handler threw (the store refused a value, a bug): the terminal still gets an answer, "failure". */
  private handlerFailed(conn: Connection, m: Message, handler: { isReply?: boolean }, e: unknown): void {
    this.metrics.handlerFailures.inc({ msg_id: msgIdLabel(m.msgId) })
    conn.log.error({ err: e, msgId: msgIdLabel(m.msgId) }, 'handler failed')
    if (!handler.isReply) conn.reply(m, 1)
  }

  reassemble(conn: Connection, frame: Frame): Buffer | null {
    return this.reassembly.add(conn, frame)
  }

  archive(conn: Connection, escaped: Buffer, phone: string | null): void {
    this.archiveWriter?.add(phone ? canonicalPhone(phone) : '', conn.address, escaped, this.now())
  }

  scheduleFlush(conn: Connection): void {
    if (this.flushQueue.push(conn) === 1) process.nextTick(() => this.flushWrites())
  }

  private flushWrites(): void {
    const q = this.flushQueue
    this.flushQueue = []
    for (const c of q) c.flush()
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn)
    this.metrics.connections.dec()
    this.commands.connectionClosed(conn)
    this.reassembly.forget(conn)
    const key = conn.key
    if (conn.authenticated && key !== null && this.sessions.get(key) === conn) {
      this.sessions.delete(key)
      this.metrics.sessions.set(this.sessions.size)
      const event: SessionEvent = {
        phone: key,
        vehicleId: conn.vehicle?.id ?? null,
        nodeId: this.nodeId,
        address: conn.address,
        kind: 'offline',
        at: this.now(),
        reason: conn.closing ?? undefined,
      }
      this.track(
        this.state.removeSession(key, this.nodeId).catch((e: unknown) => {
          // unreachable state: said once by the app; the entry expires by its TTL
          if (!(e instanceof StateUnavailableError)) this.logger.error({ err: e, terminal: key }, 'removing a session from the state failed')
        }),
      )
      this.sessionEvents.add(event)
      this.emitEvent('session', event)
      if (!this.closing) conn.log.info({ reason: conn.closing }, 'terminal offline')
    }
  }

  // ---- sessions -------------------------------------------------------------------------------

  localSession(phone: string): Connection | undefined {
    const c = this.sessions.get(phone)
    return c && !c.closing ? c : undefined
  }

  async sessionStarted(conn: Connection): Promise<void> {
    const key = conn.key as string
    const old = this.sessions.get(key)
    if (old && old !== conn) {
      old.log.info({ by: conn.address }, 'connection superseded by a newer one')
      old.close('superseded')
    }
    this.sessions.set(key, conn)
    this.metrics.sessions.set(this.sessions.size)
    const since = conn.since
    try {
      const prev = await this.state.getSession(key)
      if (prev && prev.nodeId !== this.nodeId) {
        const msg: NodeSupersede = { kind: 'supersede', phone: key, nodeId: this.nodeId, since }
        await this.state.publish(nodeChannel(prev.nodeId), msg)
      }
      await this.state.putSession({ phone: key, nodeId: this.nodeId, since, address: conn.address, vehicleId: conn.vehicle?.id ?? null, plate: conn.vehicle?.plate ?? null }, this.sessionTtlMs)
      conn.sessionRefreshedAt = this.now()
      if (conn.isClosed && !this.sessions.has(key)) {
        // It closed while we registered it: do not leave a session pointing at nothing.
        await this.state.removeSession(key, this.nodeId)
      }
    } catch (e) {
      // The state being unreachable costs cross-node routing, not the terminal's data: carry on
      // (the sweep re-registers the session once the state answers again).
      conn.sessionRefreshedAt = 0
      if (!(e instanceof StateUnavailableError)) conn.log.error({ err: e }, 'registering the session in the state failed')
    }
    if (conn.isClosed) return
    const event: SessionEvent = { phone: key, vehicleId: conn.vehicle?.id ?? null, nodeId: this.nodeId, address: conn.address, kind: 'online', at: since }
    this.sessionEvents.add(event)
    this.emitEvent('session', event)
    conn.log.info({ vehicleId: conn.vehicle?.id, plate: conn.vehicle?.plate, version: conn.version }, 'terminal online')
    this.track(this.commands.deliverQueued(conn).catch((e: unknown) => conn.log.error({ err: e }, 'delivering queued commands failed')))
  }

  /** Another node authenticated this terminal after us: our connection is stale. */
  superseded(m: NodeSupersede): void {
    const c = this.sessions.get(m.phone)
    if (c && c.since <= m.since) {
      c.log.info({ node: m.nodeId }, 'connection superseded by a session on another node')
      c.close('superseded')
    }
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p)
    void p.finally(() => this.background.delete(p))
  }

  // ---- flow control and housekeeping ---------------------------------------------------------

  private setPressure(on: boolean): void {
    if (on === this.underPressure) return
    this.underPressure = on
    if (on) {
      this.metrics.pausedByPressure.inc()
      for (const c of this.connections) c.pause(PAUSE_PRESSURE)
    } else if (!this.closing) {
      for (const c of this.connections) c.unpause(PAUSE_PRESSURE)
    }
  }

  /** One timer for all connections: idle timeouts, stuck closes, session refresh, subpacket timeouts. */
  private sweep(): void {
    const now = this.now()
    const idleMs = this.config.idleTimeoutSeconds * 1000
    const authDeadlineMs = this.config.authDeadlineSeconds * 1000
    const refreshMs = this.sessionTtlMs / 3
    const refresh: Connection[] = []
    for (const c of this.connections) {
      if (c.closing) {
        if (now - c.closingSince > CLOSE_GRACE_MS) c.socket.destroy()
      } else if (!c.authenticated && now - c.openedAt - c.handshakeMs > authDeadlineMs && !c.pausedBy(PAUSE_BUSY) && !c.inHandshake) {
        // Traffic does not count: a connection that trickles bytes or heartbeats must still authenticate
        // in time. The time our registration or authentication took (in line, registry) is not counted,
        // and one we are still handling is judged after it.
        c.close('auth_deadline')
      } else if (c.pausedBy(PAUSE_PRESSURE | PAUSE_BUSY | PAUSE_INFLIGHT)) {
        // We are the ones not reading (backpressure, a handler awaiting I/O): not the terminal's silence.
        c.lastSeen = now
      } else if (now - c.lastSeen > idleMs) {
        c.close('idle')
      } else if (c.authenticated && now - c.sessionRefreshedAt > refreshMs) {
        c.sessionRefreshedAt = now
        refresh.push(c)
      }
    }
    this.reassembly.sweep(now)
    if (!refresh.length) return
    if (!this.state.health().available) {
      // tried again once the state answers (onHealthChange in listen)
      for (const c of refresh) c.sessionRefreshedAt = 0
      return
    }
    this.track(this.refreshSessions(refresh))
  }

  private async refreshSessions(conns: Connection[]): Promise<void> {
    await Promise.all(
      conns.map(async (c) => {
        const key = c.key as string
        try {
          if (await this.state.refreshSession(key, this.nodeId, this.sessionTtlMs)) return
          const holder = await this.state.getSession(key)
          if (holder && holder.nodeId !== this.nodeId) {
            c.close('superseded')
          } else if (!c.isClosed && this.sessions.get(key) === c) {
            await this.state.putSession({ phone: key, nodeId: this.nodeId, since: c.since, address: c.address, vehicleId: c.vehicle?.id ?? null, plate: c.vehicle?.plate ?? null }, this.sessionTtlMs)
          }
        } catch (e) {
          c.sessionRefreshedAt = 0
          if (!(e instanceof StateUnavailableError)) this.logger.error({ err: e, terminal: key }, 'session refresh failed')
        }
      }),
    )
  }
}

/** Terminal messages that answer the platform and are never answered themselves. */
function isTerminalReplyId(id: number): boolean {
  return id === 0x0001 || HANDLERS.get(id)?.isReply === true
}

function isRawBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && typeof (body as { raw?: unknown }).raw === 'string' && Object.keys(body).length === 1
}

export function createGateway(deps: GatewayDeps): Gateway {
  return new Gateway(deps)
}
