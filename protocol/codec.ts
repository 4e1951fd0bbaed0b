/**
 * Frame-level decode and encode:
 *   escaped bytes -> unescape -> checksum -> header -> body (through the message table)
 * and the reverse. Nothing here throws to the caller: failures come back as CodecError values.
 */
import { BodyReader, BodyWriter } from './bytes.js'
import { CodecFault, fail, ok, type Result } from './errors.js'
import { escapeAndWrap, unescape, xor } from './escape.js'
import { parseHeader, headerLength, writeHeader, type Header, type ProtocolVersion } from './header.js'
import type { RawBody } from './message.js'
import { CODECS, isKnownMsgId, type BodyMap, type KnownMsgId } from './messages/index.js'

export interface DecodeOptions {
  /**
   * Accept a wrong checksum (marks checksumOk: false) instead of failing with BAD_CHECKSUM, and
   * take a 0x7d that starts no escape sequence literally instead of failing with BAD_ESCAPE.
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
  let un = unescape(escaped)
  if (!un.ok && options.lenient) un = unescape(escaped, true)
  if (!un.ok) return un
  const buf = un.value
  if (buf.length < 13) return fail('TRUNCATED', `frame of ${buf.length} bytes is shorter than header + checksum`)
  const last = buf.length - 1
  const checksumOk = xor(buf, 0, last) === buf[last]
  if (!checksumOk && !options.lenient) {
    return fail('BAD_CHECKSUM', `checksum 0x${buf[last].toString(16).padStart(2, '0')} does not match 0x${xor(buf, 0, last).toString(16).padStart(2, '0')}`)
  }
  const ph = parseHeader(buf, last, options.versionHint)
  if (!ph.ok) return ph
  return ok({ header: ph.value.header, body: buf.subarray(ph.value.headerLength, last), checksumOk })
}

/** Decodes a complete body (not a fragment) for its header through the message table. */
export function decodeBody(header: Header, body: Buffer): Result<Message> {
  const id = header.msgId
  if (!isKnownMsgId(id) || header.encryption !== 0) {
    // Encrypted bodies cannot be interpreted without the key: keep them as bytes.
    return ok({ ...header, body: { raw: body.toString('hex') } } as UnknownMessage)
  }
  const r = new BodyReader(body)
  try {
    const codec = CODECS[id] as { decode(r: BodyReader, h: Header): unknown }
    const decodedBody = codec.decode(r, header)
    const message = { ...header, body: decodedBody } as Message
    if (r.remaining > 0) message.trailing = body.toString('hex', r.offset)
    return ok(message)
  } catch (e) {
    if (e instanceof CodecFault) return fail(e.code, `0x${hexId(id)}: ${e.message}`)
    return fail('BAD_FIELD', `0x${hexId(id)}: ${(e as Error).message}`)
  }
}

/** parseFrame + decodeBody. A subpacket fragment decodes as an UnknownMessage holding its bytes: reassemble first. */
export function decodeFrame(escaped: Uint8Array, options: DecodeOptions = {}): Result<Decoded> {
  const f = parseFrame(escaped, options)
  if (!f.ok) return f
  const { header, body, checksumOk } = f.value
  if (header.packet !== null) {
    return ok({ message: { ...header, body: { raw: body.toString('hex') } } as UnknownMessage, checksumOk })
  }
  const m = decodeBody(header, body)
  if (!m.ok) return m
  return ok({ message: m.value, checksumOk })
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
export type OutgoingMessage = {
  [K in KnownMsgId]: Partial<Header> & { msgId: K; phone: string; serial: number; body: BodyMap[K]; trailing?: string }
}[KnownMsgId] | (Partial<Header> & { msgId: number; phone: string; serial: number; body: RawBody; trailing?: string })

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

export function hexId(id: number): string {
  return id.toString(16).padStart(4, '0')
}
