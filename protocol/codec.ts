/**
 * Frame-level decode and encode:
 *   escaped bytes -> unescape -> checksum -> header -> body (through the message table)
 * and the reverse. Nothing here throws to the caller: failures come back as CodecError values.
 */
import { BodyReader, BodyWriter } from './bytes.js'
import { CodecFault, fail, ok, type CodecError, type Result } from './errors.js'
import { escapeAndWrap, xor } from './escape.js'
import { headerLength, readHeader, writeHeader, type Header, type ProtocolVersion } from './header.js'
import type { RawBody } from './message.js'
import { CODECS, isKnownMsgId, type BodyMap, type KnownMsgId } from './messages/index.js'
import { readLocationAt } from './messages/0200-location.js'
import type { BodyCodec } from './message.js'

/** The message table as a Map: one lookup per decoded frame. */
const CODEC_OF = new Map<number, BodyCodec<unknown>>(Object.entries(CODECS).map(([id, c]) => [Number(id), c as BodyCodec<unknown>]))

export interface DecodeOptions {
  /**
   * Accept a wrong checksum (marks checksumOk: false) instead of failing with BAD_CHECKSUM, take
   * a 0x7d that starts no escape sequence literally instead of failing with BAD_ESCAPE, and, when
   * the checksum is right, take the body as the bytes present when the header declares another
   * length (marks the header's declaredBodyLength) instead of failing with LENGTH_MISMATCH.
   */
  lenient?: boolean
  /** The version this connection spoke before; only consulted when the header alone cannot tell. */
  versionHint?: ProtocolVersion
}

/** A frame whose header is parsed and whose body is still bytes (a subpacket fragment, or before dispatch). */
export interface Frame {
  header: Header
  body: Buffer
  checksumOk: boolean
}

type KnownMessage = { [K in KnownMsgId]: Header & { msgId: K; body: BodyMap[K] } }[KnownMsgId]
/** A message whose id has no codec: the body is kept as hex and still round-trips. */
export type UnknownMessage = Header & { msgId: number; body: RawBody }

/**
 * A decoded message: a discriminated union on msgId for the ids in the message table.
 * `trailing` holds body bytes after what the codec understood (vendor extensions), re-emitted on encode.
 */
export type Message = (KnownMessage | UnknownMessage) & { trailing?: string }

export type MessageOf<K extends KnownMsgId> = Header & { msgId: K; body: BodyMap[K]; trailing?: string }

export interface Decoded {
  message: Message
  checksumOk: boolean
}

/** Narrows a message to one id of the table (false for encrypted bodies and fragments, which stay raw). */
export function isMessage<K extends KnownMsgId>(m: Message, id: K): m is Message & MessageOf<K> {
  return m.msgId === id && m.encryption === 0 && m.packet === null
}

/** Unescapes and checks one frame (delimiters excluded) and parses its header. */
export function parseFrame(escaped: Uint8Array, options: DecodeOptions = {}): Result<Frame> {
  const header = checkFrame(escaped, options)
  if ('code' in header) return { ok: false, error: header }
  const { buf, length } = checked
  checked.buf = EMPTY // pin no socket chunk between frames
  return ok({ header, body: buf.subarray(headerLength(header), length - 1), checksumOk: checked.checksumOk })
}

// Per-frame calls go through local aliases: when the code runs through tsx (as `jt808 serve`
// does), every call to an imported function — and every read of an imported constant, in a
// loop once per byte — is a property read through an export getter.
const readHeaderOf = readHeader
const headerLengthOf = headerLength
const readLocationIn = readLocationAt
const ESC = 0x7d
const FLAG = 0x7e

const EMPTY = Buffer.alloc(0)
/**
 * What checkFrame found besides the header: the unescaped frame, its length and the checksum
 * verdict. A module-level slot rather than a result object, read right after the call
 * (decoding is synchronous), because checkFrame runs once per frame received.
 */
const checked: { buf: Buffer; length: number; checksumOk: boolean } = { buf: EMPTY, length: 0, checksumOk: true }

/**
 * Unescape, checksum and header in as few passes as possible. Most frames hold no 0x7d: one
 * loop then both looks for it and XORs every byte — the checksum is right exactly when the XOR
 * of all bytes, checksum included, is 0 — and the input is read in place, never modified.
 */
function checkFrame(escaped: Uint8Array, options: DecodeOptions, scratchOk = false): Header | CodecError {
  // scratchOk: unescape into the shared SCRATCH (decodeFrame only, see there).
  const src = Buffer.isBuffer(escaped) ? escaped : Buffer.from(escaped.buffer, escaped.byteOffset, escaped.byteLength)
  const n = src.length
  // Four bytes at a time while no byte of the word is 0x7d (the zero-byte test on word ^ 0x7d7d7d7d).
  let acc = 0
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const v = src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)
    const t = v ^ 0x7d7d7d7d
    if (((t - 0x01010101) & ~t & 0x80808080) !== 0) break
    acc ^= v
  }
  let x = (acc ^ (acc >>> 8) ^ (acc >>> 16) ^ (acc >>> 24)) & 0xff
  for (; i < n; i++) {
    const b = src[i]
    if (b === ESC) break
    x ^= b
  }
  let buf = src
  let length = n
  if (i < n) {
    const un = unescapeFrom(src, i, x, options.lenient === true, scratchOk)
    if (un !== null) return un
    buf = unescaped.buf
    length = unescaped.length
    x = unescaped.xor
  }
  if (length < 13) return { code: 'TRUNCATED', message: `frame of ${length} bytes is shorter than header + checksum` }
  const last = length - 1
  const checksumOk = x === 0
  if (!checksumOk && !options.lenient) {
    return { code: 'BAD_CHECKSUM', message: `checksum 0x${hex2(buf[last])} does not match 0x${hex2(x ^ buf[last])}` }
  }
  // A wrong body length is forgiven only with a right checksum: with both wrong, the bytes are
  // most likely a piece of a frame cut by an unescaped 0x7e, not a frame (fixtures/README.md).
  const header = readHeaderOf(buf, last, options.versionHint, options.lenient === true && checksumOk)
  checked.buf = buf
  checked.length = length
  checked.checksumOk = checksumOk
  return header
}

/** What unescapeFrom produced: bytes [0, length) of buf, and their XOR (checksum included). */
const unescaped: { buf: Buffer; length: number; xor: number } = { buf: Buffer.alloc(0), length: 0, xor: 0 }

/**
 * Reused by decodeFrame for frames that hold escapes: a decoded message keeps no view into the
 * bytes it came from (codecs copy into numbers, strings, hex), so the next frame may overwrite
 * them. parseFrame, whose Frame.body is such a view, always gets a copy of its own.
 */
const SCRATCH = Buffer.allocUnsafe(4096)

/**
 * The rest of checkFrame for a frame holding 0x7d at index i: unescapes (into SCRATCH when
 * allowed, else a copy), carrying on the XOR `x` of the bytes before i. A copy's size is exact
 * in strict mode — every 0x7d but a last byte (an error anyway) starts a 2-byte sequence — and
 * the worst case in lenient mode, where a stray 0x7d stays a byte of its own. Returns null with
 * the result in `unescaped`, or the error.
 */
function unescapeFrom(src: Buffer, i: number, x: number, lenient: boolean, scratchOk: boolean): CodecError | null {
  const n = src.length
  let out: Buffer
  if (scratchOk && n <= SCRATCH.length) out = SCRATCH
  else {
    let escapes = 0
    if (!lenient) for (let k = i; k < n - 1; k++) if (src[k] === ESC) escapes++
    out = Buffer.allocUnsafe(n - escapes)
  }
  for (let k = 0; k < i; k++) out[k] = src[k]
  let o = i
  for (; i < n; i++) {
    let b = src[i]
    if (b === ESC) {
      const next = src[i + 1]
      if (next === 0x01) {
        b = ESC
        i++
      } else if (next === 0x02) {
        b = FLAG
        i++
      } else if (!lenient) {
        return next === undefined ? { code: 'BAD_ESCAPE', message: `0x7d at the end of the frame (offset ${i})` } : { code: 'BAD_ESCAPE', message: `0x7d followed by 0x${hex2(next)} at offset ${i}` }
      } // lenient: a stray 0x7d is data
    } else if (b === FLAG) return { code: 'BAD_ESCAPE', message: `unescaped 0x7e inside the frame at offset ${i}` }
    out[o++] = b
    x ^= b
  }
  unescaped.buf = out === SCRATCH || o === out.length ? out : out.subarray(0, o)
  unescaped.length = o
  unescaped.xor = x
  return null
}

/** Decodes a complete body (not a fragment) for its header through the message table. */
export function decodeBody(header: Header, body: Buffer): Result<Message> {
  const message = { ...header } as Message
  const e = decodeBodyInto(message, body, 0, body.length)
  return e === null ? ok(message) : { ok: false, error: e }
}

/**
 * Decodes bytes [start, end) of buf as the body of `message` — a header of our own, completed
 * in place (body, trailing). Returns null, or the error.
 */
function decodeBodyInto(message: Message, buf: Buffer, start: number, end: number): CodecError | null {
  const id = message.msgId
  const codec = CODEC_OF.get(id)
  if (codec === undefined || message.encryption !== 0) {
    // No codec, or encrypted (no key here): keep the bytes.
    message.body = { raw: buf.toString('hex', start, end) }
    return null
  }
  try {
    if (id === 0x0200) {
      // The position report is most of the traffic: straight to its reader, no cursor object.
      message.body = readLocationIn(buf, start, end)
      return null
    }
    const r = new BodyReader(buf, start, end)
    message.body = codec.decode(r, message) as Message['body']
    if (r.offset < end) message.trailing = buf.toString('hex', r.offset, end)
    return null
  } catch (e) {
    if (e instanceof CodecFault) return { code: e.code, message: `0x${hexId(id)}: ${e.message}` }
    return { code: 'BAD_FIELD', message: `0x${hexId(id)}: ${(e as Error).message}` }
  }
}

/** parseFrame + decodeBody. A subpacket fragment decodes as an UnknownMessage holding its bytes: reassemble first. */
export function decodeFrame(escaped: Uint8Array, options: DecodeOptions = {}): Result<Decoded> {
  const header = checkFrame(escaped, options, true)
  if ('code' in header) return { ok: false, error: header }
  const { buf, length, checksumOk } = checked
  checked.buf = EMPTY // pin no socket chunk between frames
  // The header object is ours alone: it becomes the message.
  const message = header as Message
  const start = headerLengthOf(header)
  const end = length - 1
  if (header.packet !== null) message.body = { raw: buf.toString('hex', start, end) }
  else {
    const e = decodeBodyInto(message, buf, start, end)
    if (e !== null) return { ok: false, error: e }
  }
  return { ok: true, value: { message, checksumOk } }
}

/** Encodes a body through the message table (raw bodies as their bytes). */
export function encodeBody(message: Message | OutgoingMessage): Result<Buffer> {
  const id = message.msgId
  const body = message.body as unknown
  try {
    let bytes: Buffer
    // A raw body is sent as given, whatever the id: unknown ids, encrypted bodies, fragments.
    if (isRawBody(body)) bytes = Buffer.from(body.raw, 'hex')
    else if (isKnownMsgId(id)) {
      const w = new BodyWriter(id === 0x0200 ? 64 : 32)
      const codec = CODECS[id] as { encode(w: BodyWriter, b: unknown, h: Header): void }
      codec.encode(w, body, headerOf(message))
      bytes = w.finish()
    } else return fail('BAD_FIELD', `0x${hexId(id)} has no codec: give its body as {"raw": "<hex>"}`)
    const trailing = (message as Message).trailing
    if (trailing) bytes = Buffer.concat([bytes, Buffer.from(trailing, 'hex')])
    return ok(bytes)
  } catch (e) {
    return fail(e instanceof CodecFault ? e.code : 'BAD_FIELD', `0x${hexId(id)}: ${(e as Error).message}`)
  }
}

/** What a caller supplies to encode: header fields with defaults, and a body for the id. */
export type OutgoingMessage =
  | {
      [K in KnownMsgId]: Partial<Header> & { msgId: K; phone: string; serial: number; body: BodyMap[K]; trailing?: string }
    }[KnownMsgId]
  | (Partial<Header> & { msgId: number; phone: string; serial: number; body: RawBody; trailing?: string })

/** Encodes a message into an escaped frame with delimiters, ready for the socket. */
export function encodeMessage(message: Message | OutgoingMessage): Result<Buffer> {
  const body = encodeBody(message)
  if (!body.ok) return body
  return encodeFrameWithBody(headerOf(message), body.value)
}

/** Header + already-encoded body -> escaped frame. */
export function encodeFrameWithBody(header: Header, body: Buffer): Result<Buffer> {
  try {
    const hl = headerLength(header)
    const out = Buffer.allocUnsafe(hl + body.length + 1)
    writeHeader(out, header, body.length)
    body.copy(out, hl)
    out[hl + body.length] = xor(out, 0, hl + body.length)
    return ok(escapeAndWrap(out))
  } catch (e) {
    return fail('BAD_FIELD', (e as Error).message)
  }
}

/**
 * 0x8001 replies to one terminal — the message sent most (one per stored report). The header is
 * written once; each reply patches the serial and body into those bytes, updates the checksum
 * from the part that never changes, and escapes into the one buffer it returns. The bytes are
 * encodeMessage's (property-tested). The constructor throws RangeError when the header cannot be
 * written (a phone that is not digits, a subpacket header).
 */
export class GeneralReplyWriter {
  readonly phone: string
  readonly version: ProtocolVersion
  readonly versionFlag: boolean
  readonly protocolVersion: number | undefined
  /** unescaped reply: header, 5-byte body, checksum */
  private readonly raw: Buffer
  private readonly serialAt: number
  private readonly fixedXor: number

  constructor(header: Header) {
    if (header.packet !== null) throw new RangeError('a general reply is never split into subpackets')
    this.phone = header.phone
    this.version = header.version
    this.versionFlag = header.versionFlag
    this.protocolVersion = header.version === 2019 ? (header.protocolVersion ?? 1) : undefined
    const hl = headerLength(header)
    this.raw = Buffer.alloc(hl + 6)
    writeHeader(this.raw, { ...header, msgId: 0x8001, protocolVersion: this.protocolVersion }, 5)
    this.serialAt = hl - 2
    this.fixedXor = xor(this.raw, 0, this.serialAt)
  }

  /** Whether replies to a terminal speaking so can come from this writer. */
  fits(phone: string, version: ProtocolVersion, versionFlag: boolean, protocolVersion: number | undefined): boolean {
    return phone === this.phone && version === this.version && versionFlag === this.versionFlag && (version !== 2019 || (protocolVersion ?? 1) === this.protocolVersion)
  }

  /** The escaped frame of one reply (result 0 ok, 1 failure, 2 message error, 3 unsupported, 4 alarm confirmed). */
  reply(serial: number, replySerial: number, replyId: number, result: number): Buffer {
    const r = this.raw
    const o = this.serialAt
    r[o] = (serial >> 8) & 0xff
    r[o + 1] = serial & 0xff
    r[o + 2] = (replySerial >> 8) & 0xff
    r[o + 3] = replySerial & 0xff
    r[o + 4] = (replyId >> 8) & 0xff
    r[o + 5] = replyId & 0xff
    r[o + 6] = result & 0xff
    r[o + 7] = this.fixedXor ^ r[o] ^ r[o + 1] ^ r[o + 2] ^ r[o + 3] ^ r[o + 4] ^ r[o + 5] ^ r[o + 6]
    return escapeAndWrap(r)
  }
}

/** One 0x8001 (GeneralReplyWriter for a single reply). `header.msgId` is taken as 0x8001. */
export function encodeGeneralReply(header: Header, replySerial: number, replyId: number, result: number): Buffer {
  return new GeneralReplyWriter(header).reply(header.serial, replySerial, replyId, result)
}

/** Fills header defaults: 2013 unless told, bit 14 set for 2019, no encryption, no packet. */
export function headerOf(m: Partial<Header> & { msgId: number; phone: string; serial: number }): Header {
  const version = m.version ?? 2013
  const h: Header = {
    msgId: m.msgId,
    version,
    phone: m.phone,
    serial: m.serial,
    encryption: m.encryption ?? 0,
    packet: m.packet ?? null,
    versionFlag: m.versionFlag ?? version === 2019,
    reservedBit: m.reservedBit ?? false,
  }
  if (version === 2019) h.protocolVersion = m.protocolVersion ?? 1
  return h
}

function isRawBody(b: unknown): b is RawBody {
  return typeof b === 'object' && b !== null && typeof (b as RawBody).raw === 'string'
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
function hex2(b: number): string {
  return HEX2[b]
}

export function hexId(id: number): string {
  return id.toString(16).padStart(4, '0')
}
