/**
 * Downlink commands: send to a terminal wherever it is connected and resolve with its answer.
 *
 *   connected here        → encode in its version, await 0x0001 (by reply serial + id) or the
 *                           command's specific reply (0x0104 for 0x8104 …)
 *   connected elsewhere   → NodeMessage on that node's channel; the outcome comes back on ours
 *   offline               → persisted with an expiry, delivered after its next authentication
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { encodeBody, type Message, type OutgoingMessage } from '../../protocol/index.js'
import type { Config } from '../config/index.js'
import type { QueuedCommand } from '../domain.js'
import { nodeChannel, StateUnavailableError, type NodeEnvelope, type NodeMessage, type NodeReply, type NodeSupersede, type State } from '../state/port.js'
import type { Store } from '../store/port.js'
import type { Connection } from './connection.js'
import type { GatewayMetrics } from './metrics.js'
import { CommandError, type CommandOutcome, type DownlinkMessage, type SendCommandOptions } from './types.js'

/** Commands answered by a specific message rather than 0x0001 (JT/T 808-2013/2019). */
export const SPECIFIC_REPLIES: ReadonlyMap<number, number> = new Map([
  [0x8104, 0x0104], // query parameters
  [0x8106, 0x0104], // query specific parameters
  [0x8107, 0x0107], // query attributes (the reply carries no serial)
  [0x8201, 0x0201], // query location
  [0x8302, 0x0302], // question → answer
  [0x8500, 0x0500], // vehicle control
  [0x8700, 0x0700], // tachograph data collection
  [0x8801, 0x0805], // take a photo now
  [0x8802, 0x0802], // stored media search
])

/** 0x0805 results other than 0 (done): the camera command failed. */
const CAMERA_RESULT: Record<number, string> = { 1: 'the camera command failed', 2: 'channel not supported' }

/** Phones whose queued commands are taken in one statement after their authentication. */
const TAKE_BATCH = 500

/** Reply ids that close a pending command (besides 0x0001). */
export const REPLY_IDS: ReadonlySet<number> = new Set(SPECIFIC_REPLIES.values())

export interface PendingCommand {
  msgId: number
  serial: number
  /** the specific reply id, or 0 when only 0x0001 answers */
  expect: number
  resolve: (outcome: CommandOutcome) => void
  timer: NodeJS.Timeout
}

export interface CommandHost {
  readonly config: Config
  readonly store: Store
  readonly state: State
  readonly metrics: GatewayMetrics
  readonly logger: Logger
  readonly nodeId: string
  now(): number
  /** The authenticated connection for a phone on this process. */
  localSession(phone: string): Connection | undefined
  /** A newer session for one of our terminals authenticated on another node. */
  superseded(m: NodeSupersede): void
}

export { nodeChannel }
/** Channel a node listens on for outcomes of commands it routed elsewhere. */
export const replyChannel = (nodeId: string) => `reply:${nodeId}`

/** Internal outcome a node returns when it does not hold the terminal (any more). */
interface NotHere {
  status: 'not-here'
}

/** Extra wait for a routed command's outcome beyond the terminal's timeout (Redis round trips). */
const ROUTING_MARGIN_MS = 2000

export class CommandRouter {
  private readonly remote = new Map<string, { resolve: (o: CommandOutcome | NotHere) => void; timer: NodeJS.Timeout }>()
  private unsubscribe: Array<() => Promise<void>> = []
  private closed = false

  constructor(private readonly host: CommandHost) {}

  async start(): Promise<void> {
    const { state, nodeId } = this.host
    this.unsubscribe.push(await state.subscribe(nodeChannel(nodeId), (m) => this.onNodeMessage(m)))
    this.unsubscribe.push(await state.subscribe(replyChannel(nodeId), (m) => this.onNodeReply(m)))
  }

  async stop(): Promise<void> {
    this.closed = true
    for (const [, r] of this.remote) {
      clearTimeout(r.timer)
      r.resolve({ status: 'timeout' })
    }
    this.remote.clear()
    const subs = this.unsubscribe
    this.unsubscribe = []
    await Promise.allSettled(subs.map((u) => u()))
  }

  async send(phone: string, message: DownlinkMessage, options: SendCommandOptions = {}): Promise<CommandOutcome> {
    if (this.closed) throw new CommandError('GATEWAY_CLOSED', 'the gateway is shutting down')
    validate(message)
    const cfg = this.host.config
    const timeoutMs = options.timeoutMs ?? cfg.commandTimeoutSeconds * 1000
    const local = this.host.localSession(phone)
    let outcome: CommandOutcome
    let route: string
    if (local) {
      route = 'local'
      outcome = await this.sendLocal(local, message, timeoutMs)
    } else {
      // An unreachable state loses cross-node routing, not the command: it is queued for the terminal's next session.
      const session = await this.host.state.getSession(phone).catch((e: unknown) => {
        if (e instanceof StateUnavailableError) return null
        throw e
      })
      let routed: CommandOutcome | NotHere = { status: 'not-here' }
      if (session && session.nodeId !== this.host.nodeId) routed = await this.sendRemote(session.nodeId, phone, message, timeoutMs)
      if (routed.status !== 'not-here') {
        route = 'remote'
        outcome = routed
      } else if (options.queueIfOffline === false) {
        route = 'offline'
        outcome = { status: 'timeout' }
      } else {
        route = 'queued'
        outcome = await this.enqueue(phone, message, options.ttlMs ?? cfg.offlineCommandTtlSeconds * 1000)
      }
    }
    this.host.metrics.commandOutcomes.inc({ status: outcome.status, route })
    return outcome
  }

  /** Writes a command to a connected terminal and waits for its answer. */
  sendLocal(conn: Connection, message: DownlinkMessage, timeoutMs: number): Promise<CommandOutcome> {
    return new Promise((resolve) => {
      const serial = conn.send(message.msgId, message.body)
      if (serial < 0) {
        resolve({ status: 'timeout' })
        return
      }
      const pending: PendingCommand = {
        msgId: message.msgId,
        serial,
        expect: SPECIFIC_REPLIES.get(message.msgId) ?? 0,
        resolve,
        timer: setTimeout(() => {
          removePending(conn, pending)
          resolve({ status: 'timeout' })
        }, timeoutMs),
      }
      ;(conn.commands ??= []).push(pending)
    })
  }

  /**
   * A terminal message that may answer a pending command: 0x0001, or a specific reply.
   * Returns true when it settled one.
   */
  onTerminalReply(conn: Connection, m: Message): boolean {
    const list = conn.commands
    if (!list || list.length === 0) return false
    let found: PendingCommand | undefined
    if (m.msgId === 0x0001) {
      const b = m.body as { replySerial: number; replyId: number; result: number }
      found = list.find((p) => p.serial === b.replySerial && p.msgId === b.replyId)
      if (!found) return false
      settle(conn, found, b.result === 0 ? { status: 'answered', reply: { msgId: m.msgId, body: m.body } } : { status: 'failed', result: b.result })
      return true
    }
    const replySerial = m.msgId === 0x0107 ? null : replySerialOf(m.body)
    found = list.find((p) => p.expect === m.msgId && (replySerial === null || p.serial === replySerial))
    if (!found) return false
    const refused = m.msgId === 0x0805 ? (m.body as { result?: unknown }).result : 0
    if (typeof refused === 'number' && refused !== 0)
      settle(conn, found, { status: 'failed', result: refused, reason: CAMERA_RESULT[refused] ?? `0x0805 result ${refused}`, reply: { msgId: m.msgId, body: m.body } })
    else settle(conn, found, { status: 'answered', reply: { msgId: m.msgId, body: m.body } })
    return true
  }

  /** The connection is gone: its pending commands get no answer. */
  connectionClosed(conn: Connection): void {
    const list = conn.commands
    if (!list) return
    conn.commands = null
    for (const p of list) {
      clearTimeout(p.timer)
      p.resolve({ status: 'timeout' })
    }
  }

  /**
   * Delivers commands queued while the terminal was offline (after it authenticated). Lookups of
   * terminals authenticating together share one statement (TAKE_BATCH phones), one at a time: a
   * reconnect storm costs a few hundred queries instead of one per terminal taking the pool.
   */
  deliverQueued(conn: Connection): Promise<void> {
    if (!conn.key) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.toTake.push({ conn, resolve, reject })
      if (!this.taking) void this.takeQueued()
    })
  }

  private readonly toTake: Array<{ conn: Connection; resolve: () => void; reject: (e: unknown) => void }> = []
  private taking = false

  private async takeQueued(): Promise<void> {
    this.taking = true
    while (this.toTake.length) {
      const batch = this.toTake.splice(0, TAKE_BATCH)
      let taken: Map<string, QueuedCommand[]>
      try {
        taken = await this.host.store.takePendingCommandsOf([...new Set(batch.map((b) => b.conn.key as string))], this.host.now())
      } catch (e) {
        for (const b of batch) b.reject(e)
        continue
      }
      for (const b of batch) {
        const key = b.conn.key as string
        const cmds = taken.get(key) ?? []
        // two connections of one phone in a batch: the commands go to one of them (once)
        taken.delete(key)
        this.deliverTaken(b.conn, cmds).then(b.resolve, b.reject)
      }
    }
    this.taking = false
  }

  private async deliverTaken(conn: Connection, cmds: QueuedCommand[]): Promise<void> {
    const timeoutMs = this.host.config.commandTimeoutSeconds * 1000
    for (const c of cmds) {
      if (conn.isClosed) {
        // Taken but not delivered: put it back for the next session.
        await this.host.store.enqueueCommand(c)
        continue
      }
      void this.sendLocal(conn, { msgId: c.msgId, body: c.body }, timeoutMs).then(async (outcome) => {
        this.host.metrics.commandOutcomes.inc({ status: outcome.status, route: 'delivered-queued' })
        conn.log.info({ commandId: c.id, msgId: hex(c.msgId), status: outcome.status }, 'queued command delivered')
        if (outcome.status === 'answered' || outcome.status === 'failed') {
          const result = outcome.status === 'answered' ? { status: outcome.status, answer: outcome.reply } : { status: outcome.status, result: outcome.result }
          await this.host.store.recordCommandResult(c.id, result, this.host.now()).catch((e: unknown) => conn.log.error({ err: e, commandId: c.id }, 'recording a command result failed'))
        }
        // No answer (the connection dropped, the terminal was silent): it waits for the next session
        // until it expires, as if it had never been taken.
        if (outcome.status === 'timeout' && c.expiresAt > this.host.now()) {
          await this.host.store.enqueueCommand(c).catch((e: unknown) => conn.log.error({ err: e, commandId: c.id }, 'requeueing an unanswered command failed'))
        }
      })
    }
  }

  private async enqueue(phone: string, message: DownlinkMessage, ttlMs: number): Promise<CommandOutcome> {
    const now = this.host.now()
    const cmd: QueuedCommand = { id: randomUUID(), phone, msgId: message.msgId, body: message.body, createdAt: now, expiresAt: now + ttlMs }
    await this.host.store.enqueueCommand(cmd)
    // The terminal may have authenticated while we were writing: deliver now rather than wait for the next session.
    const conn = this.host.localSession(phone)
    if (conn) void this.deliverQueued(conn).catch((e: unknown) => conn.log.error({ err: e }, 'delivering queued commands failed'))
    return { status: 'queued', id: cmd.id, expiresAt: cmd.expiresAt }
  }

  private sendRemote(nodeId: string, phone: string, message: DownlinkMessage, timeoutMs: number): Promise<CommandOutcome | NotHere> {
    const id = randomUUID()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.remote.delete(id)
        resolve({ status: 'timeout' })
      }, timeoutMs + ROUTING_MARGIN_MS)
      this.remote.set(id, { resolve, timer })
      const msg: NodeMessage = { kind: 'command', id, phone, msgId: message.msgId, body: message.body, timeoutMs, replyTo: replyChannel(this.host.nodeId) }
      this.host.state.publish(nodeChannel(nodeId), msg).catch((e: unknown) => {
        this.host.logger.error({ err: e, node: nodeId }, 'routing a command failed')
        clearTimeout(timer)
        this.remote.delete(id)
        resolve({ status: 'not-here' })
      })
    })
  }

  private onNodeMessage(m: NodeEnvelope): void {
    if (m.kind === 'supersede') {
      this.host.superseded(m)
      return
    }
    if (m.kind === 'disconnect') {
      this.host.localSession(m.phone)?.close(typeof m.reason === 'string' ? m.reason : 'disconnected')
      return
    }
    if (m.kind !== 'command') return
    const conn = this.host.localSession(m.phone)
    const answer = (outcome: CommandOutcome | NotHere) => {
      if (outcome.status !== 'not-here') this.host.metrics.commandOutcomes.inc({ status: outcome.status, route: 'routed-here' })
      const reply: NodeReply = { kind: 'command-result', id: m.id, outcome }
      this.host.state.publish(m.replyTo, reply).catch((e: unknown) => this.host.logger.error({ err: e }, 'returning a routed command outcome failed'))
    }
    if (!conn) {
      answer({ status: 'not-here' })
      return
    }
    try {
      validate({ msgId: m.msgId, body: m.body })
    } catch {
      answer({ status: 'failed', result: 2 })
      return
    }
    void this.sendLocal(conn, { msgId: m.msgId, body: m.body }, m.timeoutMs).then(answer)
  }

  private onNodeReply(m: NodeEnvelope): void {
    if (m.kind !== 'command-result') return
    const r = this.remote.get(m.id)
    if (!r) return
    this.remote.delete(m.id)
    clearTimeout(r.timer)
    r.resolve(m.outcome as CommandOutcome | NotHere)
  }
}

/** Largest body of one frame (10-bit length); downlinks are not split into subpackets. */
const MAX_BODY = 1023

/** Rejects a command that is not a platform message or whose body does not encode (in 2013 or 2019 layout). */
export function validate(message: DownlinkMessage): void {
  if (!Number.isInteger(message.msgId) || message.msgId < 0x8000 || message.msgId > 0xffff) {
    throw new CommandError('NOT_A_DOWNLINK', `0x${hex(message.msgId)} is not a platform-to-terminal message id (0x8000–0xffff)`)
  }
  let lastError = ''
  for (const version of [2013, 2019] as const) {
    const r = encodeBody({ msgId: message.msgId, phone: '0', serial: 0, version, body: message.body } as OutgoingMessage)
    if (r.ok && r.value.length <= MAX_BODY) return
    lastError = r.ok ? `body of ${r.value.length} bytes does not fit one frame (${MAX_BODY})` : `${r.error.code}: ${r.error.message}`
  }
  throw new CommandError('BAD_MESSAGE', lastError)
}

function settle(conn: Connection, p: PendingCommand, outcome: CommandOutcome): void {
  clearTimeout(p.timer)
  removePending(conn, p)
  p.resolve(outcome)
}

function removePending(conn: Connection, p: PendingCommand): void {
  const list = conn.commands
  if (!list) return
  const i = list.indexOf(p)
  if (i >= 0) list.splice(i, 1)
  if (list.length === 0) conn.commands = null
}

/** The reply serial of a specific reply: a typed body's replySerial, or the first WORD of a raw body (0x0107 has none). */
function replySerialOf(body: unknown): number | null {
  if (typeof body !== 'object' || body === null) return null
  const b = body as { replySerial?: unknown; raw?: unknown }
  if (typeof b.replySerial === 'number') return b.replySerial
  if (typeof b.raw === 'string' && b.raw.length >= 4) return parseInt(b.raw.slice(0, 4), 16)
  return null
}

function hex(id: number): string {
  return id.toString(16).padStart(4, '0')
}
