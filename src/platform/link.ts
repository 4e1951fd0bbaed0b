/**
 * One JT/T 809 TCP link (main or sub, either direction): framing, decoding with the link's keys
 * and edition, encoding with its header defaults and a running MSG_SN, counters, idle closing.
 * What the messages mean is the owner's business (upper.ts, lower.ts); this never throws at it:
 * a frame that does not decode is counted and reported, and costs no other link anything.
 */
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { CodecError } from '../../protocol/errors.js'
import { decodeFrame809, Deframer809, encodeMessage809, type Decoded809, type Edition, type EncryptionKeys, type Message809, type OutgoingMessage809, type Quirk } from '../../protocol/jt809/index.js'
import type { PlatformEncryption } from '../store/platforms.js'
import type { PlatformMetrics } from './metrics.js'

export type LinkKind = 'main' | 'sub'

/** A link as the API and /metrics show it. */
export interface LinkState {
  kind: LinkKind
  up: boolean
  /** when it went up or down, UTC ms */
  since: number
  lastMessageAt: number | null
  framesIn: number
  framesOut: number
  badFrames: number
  remote: string | null
}

export interface LinkOptions {
  socket: Socket
  kind: LinkKind
  /** the access code in the headers we send (MSG_GNSSCENTERID) */
  accessCode: number
  edition: Edition
  encryption: PlatformEncryption | null
  log: Logger
  metrics: PlatformMetrics
  now: () => number
  /** closed after this long without a frame (0: never) */
  idleMs: number
  /** `content` is the frame's bytes, a view valid only during the call (copy it to keep it) */
  onMessage(m: Message809, decoded: Decoded809, link: Link809, content: Buffer, unescaped: boolean): void
  onClose(link: Link809, reason: string): void
  /** consecutive undecodable frames before the link is closed (default 10) */
  badFramesBeforeClose?: number
}

const keysOf = (e: PlatformEncryption | null): EncryptionKeys | undefined => (e ? { m1: e.m1, ia1: e.ia1, ic1: e.ic1 } : undefined)

export class Link809 {
  readonly kind: LinkKind
  log: Logger
  readonly remote: string
  private readonly socket: Socket
  private readonly deframer: Deframer809
  private readonly opts: LinkOptions
  private keys: EncryptionKeys | undefined
  private encryption: PlatformEncryption | null
  accessCode: number
  edition: Edition
  private sn = 0
  private closed = false
  private badInARow = 0
  private idleTimer: NodeJS.Timeout | null = null
  readonly openedAt: number
  lastMessageAt: number | null = null
  framesIn = 0
  framesOut = 0
  badFrames = 0

  constructor(opts: LinkOptions) {
    this.opts = opts
    this.socket = opts.socket
    this.kind = opts.kind
    this.log = opts.log
    this.accessCode = opts.accessCode
    this.edition = opts.edition
    this.encryption = opts.encryption
    this.keys = keysOf(opts.encryption)
    this.openedAt = opts.now()
    this.remote = `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`
    this.deframer = new Deframer809({
      onFrame: (content, info) => this.frame(content, info.unescaped),
      onError: (e) => this.bad(e),
    })
    this.socket.setNoDelay(true)
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.deframer.push(chunk)
      } catch (e) {
        // the codec never throws; a handler bug must not take the process down
        this.log.error({ err: e }, '809 link handler failed')
      }
    })
    this.socket.on('error', (err) => this.log.debug({ err: err.message }, '809 socket error'))
    this.socket.on('close', () => this.finish('socket closed'))
    this.armIdle()
  }

  /** metrics label: the access code as text (0 until a lower platform's login names it) */
  get label(): string {
    return String(this.accessCode)
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Settings learnt after the link opened (a lower platform's keys once its access code is known). */
  configure(p: { accessCode?: number; edition?: Edition; encryption?: PlatformEncryption | null }): void {
    if (p.accessCode !== undefined) this.accessCode = p.accessCode
    if (p.edition !== undefined) this.edition = p.edition
    if (p.encryption !== undefined) {
      this.encryption = p.encryption
      this.keys = keysOf(p.encryption)
    }
  }

  /** Decodes again with the keys now known (the first frame of a link arrives before its platform is). */
  redecode(content: Buffer, unescaped: boolean): ReturnType<typeof decodeFrame809> {
    return decodeFrame809(content, { keys: this.keys, edition: this.edition, lenient: false, unescaped })
  }

  /** Sends one message with this link's header defaults; false when the link is closed or it does not encode. */
  send(m: { msgId: number; body: unknown }): boolean {
    return this.sendNumbered(m) !== null
  }

  /** send(), returning the MSG_SN it went out with (null: not sent). */
  sendNumbered(m: { msgId: number; body: unknown }): number | null {
    if (this.closed) return null
    const sn = this.sn++ >>> 0
    const enc = this.encryption
    const message = {
      msgId: m.msgId,
      body: m.body,
      sn,
      gnssCentreId: this.accessCode,
      edition: this.edition,
      versionFlag: this.edition === 2019 ? '2.0.0' : '1.0.0',
      encryptFlag: enc ? 1 : 0,
      encryptKey: enc ? enc.key : 0,
      ...(this.edition === 2019 ? { time: Math.floor(this.opts.now() / 1000) } : {}),
    } as OutgoingMessage809
    const frame = encodeMessage809(message, { keys: this.keys })
    if (!frame.ok) {
      this.log.error({ msgId: hex(m.msgId), err: frame.error }, '809 message not encodable')
      return null
    }
    this.framesOut++
    this.opts.metrics.framesOut.inc({ link: this.label, kind: this.kind })
    this.socket.write(frame.value)
    return sn
  }

  close(reason: string): void {
    if (this.closed) return
    this.log.info({ reason }, '809 link closing')
    this.socket.end()
    const t = setTimeout(() => this.socket.destroy(), 2000)
    t.unref()
    this.finish(reason)
  }

  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    if (!this.closed) this.socket.resume()
  }

  state(): LinkState {
    return {
      kind: this.kind,
      up: !this.closed,
      since: this.openedAt,
      lastMessageAt: this.lastMessageAt,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      badFrames: this.badFrames,
      remote: this.remote,
    }
  }

  private frame(content: Buffer, unescaped: boolean): void {
    if (this.closed) return
    const r = decodeFrame809(content, { keys: this.keys, edition: this.edition, unescaped })
    if (!r.ok) return this.bad(r.error)
    this.badInARow = 0
    this.framesIn++
    this.lastMessageAt = this.opts.now()
    this.armIdle()
    const m = this.opts.metrics
    m.framesIn.inc({ link: this.label, kind: this.kind })
    for (const q of r.value.quirks) m.quirks.inc({ link: this.label, quirk: q satisfies Quirk })
    try {
      // the content is a view into the socket's chunk: the owner copies what it keeps
      this.opts.onMessage(r.value.message, r.value, this, content, unescaped)
    } catch (e) {
      this.log.error({ err: e, msgId: hex(r.value.message.msgId) }, '809 message handler failed')
    }
  }

  private bad(e: CodecError): void {
    this.badFrames++
    this.badInARow++
    this.opts.metrics.badFrames.inc({ link: this.label, code: e.code })
    if (this.log.isLevelEnabled('debug')) this.log.debug({ code: e.code, message: e.message }, 'bad 809 frame')
    if (this.badInARow >= (this.opts.badFramesBeforeClose ?? 10)) this.close(`${this.badInARow} bad frames in a row`)
  }

  private armIdle(): void {
    if (!this.opts.idleMs) return
    if (this.idleTimer) this.idleTimer.refresh()
    else {
      this.idleTimer = setTimeout(() => this.close('idle'), this.opts.idleMs)
      this.idleTimer.unref()
    }
  }

  private finish(reason: string): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = null
    if (this.closed) return
    this.closed = true
    this.deframer.reset()
    this.opts.onClose(this, reason)
  }
}

export const hex = (id: number) => `0x${id.toString(16).padStart(4, '0')}`
