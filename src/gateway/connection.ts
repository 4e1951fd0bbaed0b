/**
 * One terminal's TCP connection: deframe → parse → (reassemble) → decode → handler, in order.
 *
 * Memory is the design constraint (100k connections at ≤ 10 KB each): no per-connection
 * timers (the gateway sweeps idle connections), listeners shared by all sockets (the socket
 * finds its Connection through a symbol), and everything optional — deframer, command list,
 * backlog — allocated only when first needed; child loggers are made per log line, not kept.
 *
 * Reading is pull-based. The socket stops reading while any of these holds, and resumes when
 * none does: a handler is awaiting I/O (later frames wait in a backlog bounded by one read),
 * the ingest queue is above its high-water mark, this connection has too many positions in
 * flight, or the terminal is not reading our replies.
 */
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import {
  Deframer,
  decodeBody,
  decodeFrame,
  encodeMessage,
  GeneralReplyWriter,
  parseFrame,
  type CodecError,
  type Frame,
  type Header,
  type Message,
  type OutgoingMessage,
  type ProtocolVersion,
  type RawBody,
} from '../../protocol/index.js'
import type { GatewayMetrics } from './metrics.js'
import type { PendingCommand } from './commands.js'
import type { Config } from '../config/index.js'
import type { VehicleRef } from '../domain.js'

/** frames kept while a handler waits in the admission line with the socket reading */
const MAX_BACKLOG_IN_LINE = 8

export const PAUSE_BUSY = 1
export const PAUSE_PRESSURE = 2
export const PAUSE_INFLIGHT = 4
export const PAUSE_WRITE = 8
export const PAUSE_CLOSING = 16

/** Positions in flight (submitted, not yet committed) above which this socket stops reading. */
export const MAX_INFLIGHT_MESSAGES = 256
/** Unsent reply bytes above which we stop reading: the terminal is not reading its acks. */
export const MAX_WRITE_BUFFER = 64 * 1024

/** What a connection needs from its gateway (implemented by Gateway in server.ts). */
export interface ConnectionHost {
  readonly config: Config
  readonly metrics: GatewayMetrics
  readonly logger: Logger
  now(): number
  /** Dispatches a decoded message; may return a promise, during which later frames wait. */
  dispatch(conn: Connection, message: Message): void | Promise<void>
  /** A subpacket fragment: returns the whole body's message when the set completes, else null. */
  reassemble(conn: Connection, frame: Frame): Buffer | null
  archive(conn: Connection, escaped: Buffer, phone: string | null): void
  /** Flush this connection's outbox at the end of the current tick. */
  scheduleFlush(conn: Connection): void
  connectionClosed(conn: Connection, hadError: boolean): void
}

const CONN = Symbol('jt808.connection')
type SocketWithConn = Socket & { [CONN]?: Connection }

// Listeners shared by every socket: `this` is the socket, which carries its Connection.
function onData(this: SocketWithConn, chunk: Buffer): void {
  this[CONN]?.receive(chunk)
}
function onClose(this: SocketWithConn, hadError: boolean): void {
  this[CONN]?.closed_(hadError)
}
function onError(this: SocketWithConn, err: Error): void {
  // 'close' follows; only note it (resets are routine with mobile terminals).
  const c = this[CONN]
  if (c?.logLazy) c.log.debug({ err: err.message }, 'socket error')
}
function onDrain(this: SocketWithConn): void {
  this[CONN]?.unpause(PAUSE_WRITE)
}

export class Connection {
  readonly socket: SocketWithConn
  readonly host: ConnectionHost
  /** "ip:port" of the terminal */
  readonly address: string
  /** Phone from the latest frame header (before auth) or the authenticated phone (after). */
  phone: string | null = null
  /** The terminal's protocol version, header bit 14 and 2019 version byte as it last sent them: replies mirror them. */
  version: ProtocolVersion | undefined = undefined
  versionFlag = false
  protocolVersion: number | undefined = undefined
  authenticated = false
  /** canonical terminal key (phone without BCD padding) once authenticated */
  key: string | null = null
  vehicle: VehicleRef | null = null
  /** epoch ms the session authenticated */
  since = 0
  lastSeen: number
  /** epoch ms the connection was accepted (the authentication deadline counts from it) */
  readonly openedAt: number
  sessionRefreshedAt = 0
  /** set when the connection is being closed (and why) */
  closing: string | null = null
  closingSince = 0
  isClosed = false
  authFailures = 0
  /**
   * A registration or authentication of ours is waiting in line or running, and the time ours took
   * so far: the authentication deadline counts the terminal's time, not ours.
   */
  inHandshake = false
  handshakeMs = 0
  /** positions submitted and not yet committed */
  inflight = 0
  /** close once inflight reaches 0 (set by closeWhenSettled) */
  private closeWhenSettledReason: string | null = null
  /** alarm word of the last 0x0200 (alarm transitions) */
  lastAlarm = -1
  /** downlink commands awaiting an answer (rare: allocated on first use) */
  commands: PendingCommand[] | null = null
  /** per-connection reassembly state, owned by the gateway's reassembler hook */
  reassembly: unknown = null
  /** frames written this tick, sent as one buffer by flush() (one syscall, no stream corking) */
  private outbox: Buffer | Buffer[] | null = null
  /** this terminal's 0x8001 header, written once (replaced if the terminal changes how it speaks) */
  private replies: GeneralReplyWriter | null = null

  private serial = 0
  private consecutiveBad = 0
  private bytesSinceGoodFrame = 0
  private pauses = 0
  private busy = false
  private backlog: Buffer[] | null = null
  private deframer: Deframer | null = null

  constructor(socket: Socket, host: ConnectionHost) {
    this.socket = socket as SocketWithConn
    this.host = host
    this.address = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    this.lastSeen = this.openedAt = host.now()
    this.socket[CONN] = this
    socket.setNoDelay(true)
    socket.on('data', onData)
    socket.on('close', onClose)
    socket.on('error', onError)
  }

  /**
   * Child logger with the terminal and address. Connection-level lines are rare (online,
   * offline, failures), so the child is made per use and not kept: 100k idle connections do
   * not each hold one.
   */
  get log(): Logger {
    const key = this.key ?? this.phone
    return this.host.logger.child(key ? { terminal: key, address: this.address } : { address: this.address })
  }

  /** Whether debug lines are wanted (checked before building one). */
  get logLazy(): boolean {
    return this.host.logger.isLevelEnabled('debug')
  }

  /** The next platform serial for this session. */
  nextSerial(): number {
    const s = this.serial
    this.serial = (s + 1) & 0xffff
    return s
  }

  // ---- reading ------------------------------------------------------------------------------

  receive(chunk: Buffer): void {
    this.lastSeen = this.host.now()
    if (this.closing) return
    this.bytesSinceGoodFrame += chunk.length
    if (this.deframer === null) {
      this.deframer = new Deframer({
        maxFrameLength: this.host.config.maxFrameLength,
        onFrame: (escaped) => this.onFrame(escaped),
        onError: (error) => this.badFrame(error),
      })
    }
    this.deframer.push(chunk)
    // Bytes that never form a frame (no 0x7e at all) are dropped by the deframer without an
    // error: count them too, so a flood of them closes the connection like bad frames do.
    const cfg = this.host.config
    if (!this.closing && this.bytesSinceGoodFrame > cfg.badFramesBeforeClose * cfg.maxFrameLength) {
      this.host.metrics.badFrames.inc({ code: 'GARBAGE' })
      this.close('garbage', true)
    }
  }

  private onFrame(escaped: Buffer): void {
    if (this.closing) return
    if (this.busy) {
      // A handler is awaiting I/O: keep order. At most one read's worth (the socket is paused), or
      // while waiting in the admission line (reading on) a few frames before reading stops again.
      const backlog = (this.backlog ??= [])
      backlog.push(Buffer.from(escaped))
      if (backlog.length >= MAX_BACKLOG_IN_LINE) this.pause(PAUSE_BUSY)
      return
    }
    this.process(escaped)
  }

  private process(escaped: Buffer): void {
    const cfg = this.host.config
    const options = { lenient: cfg.lenientChecksum, versionHint: this.version }
    // One pass to a message: the header object becomes the message (no Frame, no body view).
    const decoded = decodeFrame(escaped, options)
    let m: Message
    if (decoded.ok) m = decoded.value.message
    else {
      // Rare: tell a bad frame (no header: counted, no reply) from a bad body (header known: "message error").
      const parsed = parseFrame(escaped, options)
      if (cfg.archiveRawFrames) this.host.archive(this, escaped, parsed.ok ? parsed.value.header.phone : this.phone)
      if (!parsed.ok) return this.badFrame(parsed.error)
      this.heard(parsed.value.header)
      return this.badBody(parsed.value.header, decoded.error)
    }
    if (cfg.archiveRawFrames) this.host.archive(this, escaped, m.phone)
    this.heard(m)
    if (m.packet !== null) {
      // A subpacket fragment (its body kept as hex by the codec): reassemble, then decode the whole.
      const whole = this.host.reassemble(this, { header: m, body: Buffer.from((m.body as RawBody).raw, 'hex'), checksumOk: decoded.value.checksumOk })
      if (whole === null) return
      m.packet = null
      const full = decodeBody(m, whole)
      if (!full.ok) return this.badBody(m, full.error)
      m = full.value
    }
    this.host.metrics.frameReceived(m.msgId)
    let pending: void | Promise<void>
    try {
      pending = this.host.dispatch(this, m)
    } catch (e) {
      this.log.error({ err: e, msgId: m.msgId }, 'handler failed')
      return
    }
    if (pending) this.await_(pending, m.msgId)
  }

  /** A well-formed frame arrived: the terminal speaks this way now. */
  private heard(h: Header): void {
    this.consecutiveBad = 0
    this.bytesSinceGoodFrame = 0
    this.version = h.version
    this.versionFlag = h.versionFlag
    this.protocolVersion = h.protocolVersion
    if (!this.authenticated) this.phone = h.phone
  }

  /** A frame whose body did not decode: "message error", counted towards closing. */
  private badBody(h: Header, error: CodecError): void {
    this.host.metrics.badFrames.inc({ code: error.code })
    this.reply(h, 2)
    this.countBad()
    if (this.logLazy) this.log.debug({ msgId: h.msgId, error }, 'undecodable body')
  }

  private await_(pending: Promise<void>, msgId: number): void {
    this.busy = true
    this.pause(PAUSE_BUSY)
    pending
      .catch((e: unknown) => this.log.error({ err: e, msgId }, 'handler failed'))
      .finally(() => {
        this.busy = false
        this.drainBacklog()
      })
  }

  /**
   * A handler waits for its turn in the admission line (a reconnect storm): the socket keeps
   * reading meanwhile, so a terminal that gives up and closes is noticed (its turn is then skipped,
   * see Gate) instead of its handshake being done for nobody. Frames it sends meanwhile are kept
   * in order (a few; then reading stops again).
   */
  async inLine<T>(wait: () => Promise<T>): Promise<T> {
    this.unpause(PAUSE_BUSY)
    this.inHandshake = true
    const since = this.host.now()
    try {
      return await wait()
    } finally {
      this.inHandshake = false
      this.handshakeMs += this.host.now() - since
      if (this.busy) this.pause(PAUSE_BUSY)
    }
  }

  private drainBacklog(): void {
    while (!this.busy && this.backlog !== null && this.backlog.length > 0 && !this.closing) {
      this.process(this.backlog.shift() as Buffer)
    }
    if (!this.busy) {
      this.backlog = null
      this.unpause(PAUSE_BUSY)
    }
  }

  private badFrame(error: CodecError): void {
    this.host.metrics.badFrames.inc({ code: error.code })
    this.countBad()
  }

  private countBad(): void {
    if (++this.consecutiveBad >= this.host.config.badFramesBeforeClose) this.close('bad_frames', true)
  }

  // ---- flow control ---------------------------------------------------------------------------

  pause(reason: number): void {
    if (this.pauses === 0 && !this.isClosed) this.socket.pause()
    this.pauses |= reason
  }

  unpause(reason: number): void {
    if ((this.pauses & reason) === 0) return
    this.pauses &= ~reason
    if (this.pauses === 0 && !this.isClosed) this.socket.resume()
  }

  get paused(): boolean {
    return this.pauses !== 0
  }

  pausedBy(reasons: number): boolean {
    return (this.pauses & reasons) !== 0
  }

  /** A position message went to the ingest queue. */
  submitted(): void {
    if (++this.inflight === MAX_INFLIGHT_MESSAGES) this.pause(PAUSE_INFLIGHT)
  }

  /** Its commit (or failure) came back. The caller writes the ack in the same tick, before a deferred close. */
  settled(): void {
    if (--this.inflight === MAX_INFLIGHT_MESSAGES >> 1) this.unpause(PAUSE_INFLIGHT)
    if (this.inflight === 0 && this.closeWhenSettledReason !== null) {
      const reason = this.closeWhenSettledReason
      this.closeWhenSettledReason = null
      process.nextTick(() => this.close(reason))
    }
  }

  /**
   * Closes once every position submitted before now has been answered: a terminal that sends
   * positions and then 0x0003 still gets the acks of those positions.
   */
  closeWhenSettled(reason: string): void {
    if (this.inflight === 0) return this.close(reason)
    this.closeWhenSettledReason = reason
    this.pause(PAUSE_CLOSING)
  }

  // ---- writing --------------------------------------------------------------------------------

  /**
   * Writes a frame. Frames written within one tick go out together at its end as one buffer: a
   * commit acknowledges many positions of a socket at once, and one plain write is cheaper than
   * corking the stream (measured: cork/uncork → writev was ~20 % of the gateway's CPU under load).
   * Returns false when the connection is gone.
   */
  write(frame: Buffer): boolean {
    if (this.isClosed || this.socket.destroyed) return false
    const o = this.outbox
    if (o === null) {
      this.outbox = frame
      this.host.scheduleFlush(this)
    } else if (Array.isArray(o)) o.push(frame)
    else this.outbox = [o, frame]
    return true
  }

  /** Sends what write() gathered this tick. */
  flush(): void {
    const o = this.outbox
    if (o === null) return
    this.outbox = null
    if (this.socket.destroyed || this.socket.writableEnded) return
    this.socket.write(Array.isArray(o) ? Buffer.concat(o) : o)
    if (this.socket.writableLength > MAX_WRITE_BUFFER && (this.pauses & PAUSE_WRITE) === 0) {
      this.pause(PAUSE_WRITE)
      this.socket.once('drain', onDrain)
    }
  }

  /** Encodes a message to this terminal in its own version. Returns the serial used, or -1 if not written. */
  send(msgId: number, body: unknown, phone: string | null = this.phone): number {
    if (phone === null) return -1
    const serial = this.nextSerial()
    const out = encodeMessage({
      msgId,
      phone,
      serial,
      version: this.version ?? 2013,
      versionFlag: this.versionFlag,
      protocolVersion: this.protocolVersion,
      body,
    } as OutgoingMessage)
    if (!out.ok) {
      this.log.error({ msgId, error: out.error }, 'could not encode a platform message')
      return -1
    }
    return this.write(out.value) ? serial : -1
  }

  /** 0x8001 general reply to a terminal message (result 0 ok, 1 failure, 2 message error, 3 unsupported, 4 alarm confirmed). */
  reply(h: Pick<Header, 'msgId' | 'serial' | 'phone'>, result: number): boolean {
    // The hot path (one per stored report): the reply's bytes without the generic encoder.
    const version = this.version ?? 2013
    let w = this.replies
    if (w === null || !w.fits(h.phone, version, this.versionFlag, this.protocolVersion)) {
      const header: Header = { msgId: 0x8001, version, phone: h.phone, serial: 0, encryption: 0, packet: null, versionFlag: this.versionFlag, reservedBit: false }
      if (version === 2019) header.protocolVersion = this.protocolVersion ?? 1
      try {
        w = this.replies = new GeneralReplyWriter(header)
      } catch {
        // a header that cannot be written: the generic path logs why
        return this.send(0x8001, { replySerial: h.serial, replyId: h.msgId, result }, h.phone) >= 0
      }
    }
    const ok = this.write(w.reply(this.nextSerial(), h.serial, h.msgId, result))
    if (ok) this.host.metrics.generalReplySent(result)
    return ok
  }

  // ---- closing --------------------------------------------------------------------------------

  /** Closes the connection: gracefully (replies flushed, FIN) or at once (destroy). Idempotent. */
  close(reason: string, destroy = false): void {
    if (this.isClosed) return
    if (!this.closing) {
      this.closing = reason
      this.closingSince = this.host.now()
      this.host.metrics.connectionsClosed.inc({ reason })
      this.backlog = null
      this.pause(PAUSE_CLOSING)
    }
    if (destroy) {
      this.outbox = null
      this.socket.destroy()
    } else {
      this.flush()
      this.socket.end()
    }
  }

  /** Socket 'close' (called by the shared listener). */
  closed_(hadError: boolean): void {
    if (this.isClosed) return
    this.isClosed = true
    if (!this.closing) {
      this.closing = hadError ? 'reset' : 'peer_closed'
      this.host.metrics.connectionsClosed.inc({ reason: this.closing })
    }
    this.backlog = null
    this.deframer = null
    this.host.connectionClosed(this, hadError)
    delete this.socket[CONN]
  }
}
