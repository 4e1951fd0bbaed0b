/**
 * A JT/T 808 terminal over TCP, built on protocol/: what tests, the simulator and `jt808 replay`
 * use to talk to a gateway as a device would.
 *
 * - `send(msgId, body)` encodes with the client's own serial counter and resolves with the
 *   platform's answer: 0x8001 matched by (replyId, replySerial), or 0x8100 for a 0x0100.
 * - Downlink commands are answered as a terminal must (0x0001, or 0x0104 / 0x0201 / 0x0107 for
 *   the queries that have a specific reply); `onDownlink` may override an answer.
 * - `sendFrame` / `sendRaw` put exact bytes on the wire (replay, garbage and split-write tests).
 *
 * Bodies are encoded through the protocol message table: an id whose codec has not been written
 * fails with the codec's own "has no codec" error rather than a private encoding here.
 */
import { connect as netConnect, type Socket } from 'node:net'
import {
  beijingIso,
  Deframer,
  decodeFrame,
  encodeMessage,
  type BodyMap,
  isKnownMsgId,
  type CodecError,
  type GeneralReply,
  type Location,
  type Message,
  type OutgoingMessage,
  type RawBody,
  type Register,
  type TerminalAttributes,
  type TerminalParam,
} from '../../protocol/index.js'

export type TerminalVersion = 2013 | 2019

/** The body type of an id: the table's type once its codec exists, else `Fallback`. */
export type BodyFor<K extends number, Fallback = RawBody> = K extends keyof BodyMap ? BodyMap[K] : Fallback

/** What 0x8100 tells: result 0 ok (with auth code), 1 vehicle taken, 2 no vehicle, 3 terminal taken, 4 no terminal. */
export interface RegisterOutcome {
  result: number
  authCode: string | null
  message: Message
}

export interface AuthenticateOptions {
  /** 2019 only: BYTE[15] */
  imei?: string
  /** 2019 only: BYTE[20] */
  softwareVersion?: string
}

/** A downlink answer chosen by `onDownlink`: the reply's id and body (serial filled in by the client). */
export interface DownlinkAnswer {
  msgId: number
  body: unknown
}

export interface TerminalClientOptions {
  phone: string
  version?: TerminalVersion
  /** ms to wait for the platform's answer; 0 waits forever. Default 10 s. */
  replyTimeoutMs?: number
  /** First serial to use (then +1 per message, wrapping at 0xffff). Default 0. */
  firstSerial?: number
  /** Position given in 0x0201 answers to 0x8201. Default: a fixed point near Beijing at the current time. */
  currentPosition?: () => Location
  /** Terminal parameters reported in 0x0104, and attributes in 0x0107. */
  parameters?: TerminalParam[]
  attributes?: TerminalAttributes
  /** false: never answer downlink commands (a silent or broken terminal). Default true. */
  autoAnswer?: boolean
  /** Sees every downlink before the default answer; return an answer, null for none, undefined for the default. */
  onDownlink?: (message: Message, client: TerminalClient) => DownlinkAnswer | null | undefined
  /** Every decoded message from the platform, replies included. */
  onMessage?: (message: Message, client: TerminalClient) => void
  /** A frame from the platform that did not decode. */
  onBadFrame?: (error: CodecError, client: TerminalClient) => void
  onClose?: (hadError: boolean, client: TerminalClient) => void
  /** Socket errors (the connection then closes; pending sends reject). */
  onError?: (error: Error, client: TerminalClient) => void
}

export class ReplyTimeoutError extends Error {
  constructor(
    readonly msgId: number,
    readonly serial: number,
    ms: number,
  ) {
    super(`no answer to 0x${hex4(msgId)} serial ${serial} within ${ms} ms`)
    this.name = 'ReplyTimeoutError'
  }
}

export class ConnectionClosedError extends Error {
  constructor(message = 'connection closed before the platform answered') {
    super(message)
    this.name = 'ConnectionClosedError'
  }
}

export class EncodeError extends Error {
  constructor(readonly error: CodecError) {
    super(`${error.code}: ${error.message}`)
    this.name = 'EncodeError'
  }
}

interface Pending {
  resolve: (m: Message) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout | null
}

/** Ids the platform sends as answers to the terminal (no answer back). */
const PLATFORM_REPLIES = new Set([0x8001, 0x8100, 0x8004, 0x8800, 0x8003])

export class TerminalClient {
  readonly phone: string
  readonly version: TerminalVersion
  readonly socket: Socket
  private readonly options: TerminalClientOptions
  private readonly replyTimeoutMs: number
  private serial: number
  /** Sends awaiting an answer, keyed by msgId * 65536 + serial; a list because captures retransmit. */
  private readonly pending = new Map<number, Pending[]>()
  private readonly deframer: Deframer
  private closed = false
  /** Counters a caller may read (the simulator aggregates them). */
  readonly stats = { sent: 0, received: 0, badFrames: 0, answered: 0 }

  constructor(socket: Socket, options: TerminalClientOptions) {
    this.socket = socket
    this.options = options
    this.phone = options.phone
    this.version = options.version ?? 2013
    this.replyTimeoutMs = options.replyTimeoutMs ?? 10_000
    this.serial = (options.firstSerial ?? 0) & 0xffff
    this.deframer = new Deframer({
      onFrame: (escaped) => this.onFrame(escaped),
      onError: (error) => this.badFrame(error),
    })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.deframer.push(chunk))
    socket.on('error', (e) => this.options.onError?.(e, this))
    socket.on('close', (hadError) => {
      this.closed = true
      this.failAll(new ConnectionClosedError())
      this.options.onClose?.(hadError, this)
    })
  }

  /** Opens a TCP connection and resolves once it is established. */
  static connect(host: string, port: number, options: TerminalClientOptions): Promise<TerminalClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port })
      const fail = (e: Error) => reject(e)
      socket.once('error', fail)
      socket.once('connect', () => {
        socket.off('error', fail)
        resolve(new TerminalClient(socket, options))
      })
    })
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Sends awaiting an answer. */
  get inFlight(): number {
    let n = 0
    for (const list of this.pending.values()) n += list.length
    return n
  }

  /** The next serial this client will use (and advances the counter). */
  nextSerial(): number {
    const s = this.serial
    this.serial = (this.serial + 1) & 0xffff
    return s
  }

  /** Encodes one message with this client's phone, version and serial counter. */
  encode(msgId: number, body: unknown, serial = this.nextSerial()): { frame: Buffer; serial: number } {
    const out = encodeMessage({ msgId, phone: this.phone, serial, version: this.version, body } as OutgoingMessage)
    if (!out.ok) throw new EncodeError(out.error)
    return { frame: out.value, serial }
  }

  /**
   * Sends a message and resolves with the platform's answer (0x8001, or 0x8100 for 0x0100).
   * Rejects with ReplyTimeoutError, ConnectionClosedError, or EncodeError (nothing sent).
   */
  send<K extends number>(msgId: K, body: BodyFor<K, unknown>): Promise<Message> {
    let encoded: { frame: Buffer; serial: number }
    try {
      encoded = this.encode(msgId, body)
    } catch (e) {
      return Promise.reject(e as Error)
    }
    return this.sendFrame(encoded.frame, msgId, encoded.serial)
  }

  /** Sends without waiting for any answer (the platform does not answer 0x0001 etc.). */
  post<K extends number>(msgId: K, body: BodyFor<K, unknown>): number {
    const { frame, serial } = this.encode(msgId, body)
    this.write(frame)
    return serial
  }

  /**
   * Writes an already-encoded frame and resolves with the answer to (msgId, serial) — replay uses
   * this with the capture's own bytes.
   */
  sendFrame(frame: Uint8Array, msgId: number, serial: number, timeoutMs = this.replyTimeoutMs): Promise<Message> {
    const answer = this.awaitReply(msgId, serial, timeoutMs)
    this.write(frame)
    return answer
  }

  /** Resolves with the platform's answer to (msgId, serial) once it arrives: for bytes sent some other way. */
  awaitReply(msgId: number, serial: number, timeoutMs = this.replyTimeoutMs): Promise<Message> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('connection is closed'))
    const key = msgId * 65536 + serial
    return new Promise<Message>((resolve, reject) => {
      const p: Pending = { resolve, reject, timer: null }
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.forget(key, p)
          reject(new ReplyTimeoutError(msgId, serial, timeoutMs))
        }, timeoutMs)
      }
      const list = this.pending.get(key)
      if (list) list.push(p)
      else this.pending.set(key, [p])
    })
  }

  /** Writes bytes as they are (no framing): returns false when the socket buffer is full. */
  sendRaw(bytes: Uint8Array): boolean {
    return this.write(bytes)
  }

  /** Resolves when the socket's write buffer has drained (immediately if it is not full). */
  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.once('drain', done)
      this.socket.once('close', done)
    })
  }

  /** 0x0100 → 0x8100. */
  async register(fields: Register): Promise<RegisterOutcome> {
    const reply = await this.send(0x0100, fields)
    const body = reply.body as { result?: number; authCode?: string }
    if (reply.msgId !== 0x8100 || typeof body.result !== 'number') {
      // e.g. 0x8001 "unsupported": the platform did not register us.
      const general = reply.body as Partial<GeneralReply>
      return { result: general.result ?? -1, authCode: null, message: reply }
    }
    return { result: body.result, authCode: body.result === 0 ? (body.authCode ?? '') : null, message: reply }
  }

  /** 0x0102 → 0x8001; resolves with the result code (0 ok). */
  async authenticate(authCode: string, options: AuthenticateOptions = {}): Promise<number> {
    const body = this.version === 2019 ? { authCode, imei: options.imei ?? this.phone.slice(-15).padStart(15, '0'), softwareVersion: options.softwareVersion ?? 'sim-1.0' } : { authCode }
    return resultOf(await this.send(0x0102, body))
  }

  /** 0x0002 → 0x8001 result. */
  async heartbeat(): Promise<number> {
    return resultOf(await this.send(0x0002, {}))
  }

  /** 0x0200 → 0x8001 result. */
  async reportPosition(location: Location): Promise<number> {
    return resultOf(await this.send(0x0200, location))
  }

  /** 0x0003 terminal deregistration (the platform revokes the auth code and closes) → 0x8001 result. */
  async logout(): Promise<number> {
    return resultOf(await this.send(0x0003, {}))
  }

  /** Ends the connection; pending sends reject with ConnectionClosedError. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve())
      this.socket.end()
      // A peer that never closes its side must not keep us waiting.
      setTimeout(() => this.socket.destroy(), 1000).unref()
    })
  }

  /** Drops the connection at once (no FIN handshake). */
  destroy(): void {
    this.socket.destroy()
  }

  private write(bytes: Uint8Array): boolean {
    if (this.closed) return false
    this.stats.sent++
    return this.socket.write(bytes)
  }

  private onFrame(escaped: Buffer): void {
    const d = decodeFrame(escaped, { versionHint: this.version })
    if (!d.ok) {
      this.badFrame(d.error)
      return
    }
    const m = d.value.message
    this.stats.received++
    this.options.onMessage?.(m, this)
    if (m.msgId === 0x8001 || m.msgId === 0x8100) {
      const b = m.body as { replySerial?: number; replyId?: number }
      if (typeof b.replySerial === 'number') {
        const replyId = m.msgId === 0x8100 ? 0x0100 : (b.replyId ?? -1)
        if (this.settle(replyId * 65536 + b.replySerial, m)) return
      }
    }
    if (PLATFORM_REPLIES.has(m.msgId)) return
    this.answer(m)
  }

  private settle(key: number, m: Message): boolean {
    const list = this.pending.get(key)
    if (!list) return false
    const p = list.shift() as Pending
    if (list.length === 0) this.pending.delete(key)
    if (p.timer) clearTimeout(p.timer)
    p.resolve(m)
    return true
  }

  private forget(key: number, p: Pending): void {
    const list = this.pending.get(key)
    if (!list) return
    const i = list.indexOf(p)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.pending.delete(key)
  }

  private failAll(e: Error): void {
    for (const list of this.pending.values()) {
      for (const p of list) {
        if (p.timer) clearTimeout(p.timer)
        p.reject(e)
      }
    }
    this.pending.clear()
  }

  private badFrame(error: CodecError): void {
    this.stats.badFrames++
    this.options.onBadFrame?.(error, this)
  }

  /** Answers a platform command as a terminal must. */
  private answer(m: Message): void {
    let reply: DownlinkAnswer | null | undefined = this.options.onDownlink?.(m, this)
    if (reply === undefined) reply = this.options.autoAnswer === false ? null : this.defaultAnswer(m)
    if (!reply) return
    try {
      // Answer as the terminal the command was addressed to (one connection may carry several in replay).
      const version = m.version === 2019 ? 2019 : this.version
      const out = encodeMessage({ msgId: reply.msgId, phone: m.phone, serial: this.nextSerial(), version, body: reply.body } as OutgoingMessage)
      if (!out.ok) throw new EncodeError(out.error)
      this.write(out.value)
      this.stats.answered++
    } catch (e) {
      this.options.onError?.(e as Error, this)
    }
  }

  /**
   * 0x8104/0x8106 → 0x0104, 0x8201 → 0x0201, 0x8107 → 0x0107, anything else → 0x0001 ok.
   * While the codec lacks a specific reply's message, the terminal says "unsupported" (0x0001 result 3).
   */
  defaultAnswer(m: Message): DownlinkAnswer {
    const general = (result: number): DownlinkAnswer => ({ msgId: 0x0001, body: { replySerial: m.serial, replyId: m.msgId, result } })
    switch (m.msgId) {
      case 0x8104:
      case 0x8106:
        if (!isKnownMsgId(0x0104)) return general(3)
        return { msgId: 0x0104, body: { replySerial: m.serial, params: this.options.parameters ?? defaultParameters() } }
      case 0x8201:
        if (!isKnownMsgId(0x0201)) return general(3)
        return { msgId: 0x0201, body: { replySerial: m.serial, location: this.options.currentPosition?.() ?? defaultPosition() } }
      case 0x8107:
        if (!isKnownMsgId(0x0107)) return general(3)
        return { msgId: 0x0107, body: this.options.attributes ?? defaultAttributes(this) }
      default:
        return general(0)
    }
  }
}

/** The result code of an 0x8001 / 0x8100 answer (-1 when the message carries none). */
export function resultOf(m: Message): number {
  const r = (m.body as { result?: unknown }).result
  return typeof r === 'number' ? r : -1
}

function defaultParameters(): TerminalParam[] {
  return [
    { id: 0x0001, value: 60 },
    { id: 0x0029, value: 30 },
    { id: 0x0055, value: 80 },
    { id: 0x0056, value: 30 },
  ]
}

function defaultAttributes(c: TerminalClient): TerminalAttributes {
  return {
    // bit 1: hazardous goods vehicle
    terminalType: 0x0002,
    manufacturer: 'SIM01',
    model: 'JT808-SIM',
    terminalId: c.phone.slice(-7),
    // BCD[10]
    iccid: '0'.repeat(20),
    hardwareVersion: '1.0',
    firmwareVersion: '1.0',
    gnss: 0x03,
    comm: 0x20,
  }
}

function defaultPosition(): Location {
  const now = Date.now()
  return {
    alarm: 0,
    status: 0x3,
    latitude: 39.9042,
    longitude: 116.4074,
    latitudeRaw: 39904200,
    longitudeRaw: 116407400,
    altitude: 44,
    speed: 0,
    direction: 0,
    time: beijingIso(now),
    timeMs: Math.floor(now / 1000) * 1000,
    extras: {},
    unknown: [],
    itemOrder: [],
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0')
}
