/**
 * JT/T 809 frame decode and encode:
 *   bytes between 0x5b and 0x5d -> unescape -> MSG_LENGTH and CRC -> edition (by the header's
 *   shape) -> header -> decrypt (when keys are given) -> body through the message table
 * and the reverse. Nothing here throws to the caller: failures come back as CodecError values;
 * tolerated sender quirks come back counted in `quirks`, and whatever they changed in the bytes is
 * kept on the message so that encodeMessage809(decode(x)) gives x again.
 */
import { BodyReader, BodyWriter } from '../bytes.js'
import { CodecFault, fail, ok, type CodecError, type Result } from '../errors.js'
import type { BodyCodec809, Context809, Quirk, RawBody } from './body.js'
import { crc16 } from './crc.js'
import { cryptInPlace, type EncryptionKeys } from './crypto.js'
import { escapeAndWrap809, unescape809 } from './escape.js'
import { editionOf, FRAME_OVERHEAD, HEADER_2011, headerLength, readHeader809, writeHeader809, type Edition, type Header809 } from './header.js'
import { CODECS_809, isKnownMsgId809, type BodyMap809, type KnownMsgId809 } from './table.js'

const CODEC_OF = new Map<number, BodyCodec809<unknown>>(Object.entries(CODECS_809).map(([id, c]) => [Number(id), c as BodyCodec809<unknown>]))

export interface DecodeOptions809 {
  /** M1/IA1/IC1 of the link: encrypted bodies are decrypted and decoded; without them they stay raw. */
  keys?: EncryptionKeys
  /** The edition the link speaks: consulted only when the header's shape cannot tell. */
  edition?: Edition
  /** Accept a wrong CRC (crcOk: false, quirk badCrc) instead of failing with BAD_CHECKSUM. */
  lenient?: boolean
  /** The bytes were cut by MSG_LENGTH, not by an unescaped 0x5d (Deframer809 says so): take them literally. */
  unescaped?: boolean
}

/** What a frame carried besides header and body, kept for exact re-encoding. */
export interface FrameExtras809 {
  /** Body bytes after what the codec understood (hex), re-emitted on encode. */
  trailing?: string
  /** The body is the ciphertext as received (no keys were given): encode sends it as is. */
  bodyEncrypted?: true
  /** The sender did not escape: encode does not either. */
  unescaped?: true
  /** Bytes between the CRC and the 0x5d end flag, outside MSG_LENGTH (hex). */
  stray?: string
}

type KnownMessage809 = { [K in KnownMsgId809]: Header809 & { msgId: K; body: BodyMap809[K] } }[KnownMsgId809]
/** A message whose id has no codec (or whose body could not be decrypted): the body is kept as hex. */
export type UnknownMessage809 = Header809 & { msgId: number; body: RawBody }

/** A decoded JT/T 809 message: a union discriminated by msgId (and, inside envelopes, by dataType). */
export type Message809 = (KnownMessage809 | UnknownMessage809) & FrameExtras809

export type MessageOf809<K extends KnownMsgId809> = Header809 & { msgId: K; body: BodyMap809[K] } & FrameExtras809

export interface Decoded809 {
  message: Message809
  crcOk: boolean
  /** Every tolerated deviation, once per occurrence (empty for a clean frame). */
  quirks: Quirk[]
}

/** Narrows a message to one id of the table (false for a body left encrypted). */
export function isMessage809<K extends KnownMsgId809>(m: Message809, id: K): m is Extract<Message809, { msgId: K }> {
  return m.msgId === id && m.bodyEncrypted !== true && !('raw' in (m.body as object))
}

/** Smallest frame content: a 2011 header and the CRC. */
const MIN_CONTENT = HEADER_2011 + 2

interface Fit {
  bytes: Buffer
  /** header + body + CRC */
  length: number
  crcOk: boolean
  unescaped: boolean
  stray: Buffer | null
}

/** How `b` reads as frame content: exact length, or declared length plus stray bytes with a right CRC. */
function fit(b: Buffer, unescaped: boolean): Fit | null {
  if (b.length < MIN_CONTENT) return null
  const declared = b.readUInt32BE(0)
  const length = declared - 2
  if (length === b.length) return { bytes: b, length, crcOk: crc16(b, 0, length - 2) === b.readUInt16BE(length - 2), unescaped, stray: null }
  if (length >= MIN_CONTENT && length < b.length && crc16(b, 0, length - 2) === b.readUInt16BE(length - 2)) {
    return { bytes: b, length, crcOk: true, unescaped, stray: b.subarray(length) }
  }
  return null
}

/** Decodes the bytes between 0x5b and 0x5d (as the deframer hands them over). */
export function decodeFrame809(content: Uint8Array, options: DecodeOptions809 = {}): Result<Decoded809> {
  const src = Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength)
  const quirks: Quirk[] = []
  let chosen: Fit | null
  let mask = 0
  if (options.unescaped) chosen = fit(src, true)
  else if ((mask = byteKinds(src)) === 0) {
    // Most frames: no flag or escape byte between the flags, nothing to unescape.
    chosen = fit(src, false)
    if (chosen === null) {
      if (src.length < MIN_CONTENT) return fail('TRUNCATED', `frame of ${src.length + 2} bytes is shorter than header + CRC (${MIN_CONTENT + 2})`)
      return fail('LENGTH_MISMATCH', `MSG_LENGTH says ${src.readUInt32BE(0)} bytes, the frame has ${src.length + 2}`)
    }
  } else {
    const un = unescape809(src)
    // A raw 0x5b/0x5d between the flags (the deframer cut this frame by MSG_LENGTH) is never
    // left by a sender that escapes.
    const rawFlags = (mask & RAW_FLAG) !== 0
    const escapeBytes = (mask & ESCAPE_BYTE) !== 0
    const escaped = fit(un.bytes, rawFlags && !escapeBytes)
    if (escaped?.crcOk && escaped.stray === null && !un.stray && !rawFlags) chosen = escaped
    else {
      // A sender that does not escape: its bytes read literally make the length and CRC right.
      const literal = escapeBytes ? fit(src, true) : null
      chosen = pick(un.stray || rawFlags ? [literal, escaped] : [escaped, literal])
    }
    if (chosen === null) {
      const declared = un.bytes.length >= 4 ? un.bytes.readUInt32BE(0) : 0
      if (un.bytes.length < MIN_CONTENT) return fail('TRUNCATED', `frame of ${un.bytes.length + 2} bytes is shorter than header + CRC (${MIN_CONTENT + 2})`)
      return fail('LENGTH_MISMATCH', `MSG_LENGTH says ${declared} bytes, the frame has ${un.bytes.length + 2}`)
    }
  }
  if (chosen === null) return fail('LENGTH_MISMATCH', `MSG_LENGTH does not match the ${src.length + 2} bytes of the frame`)
  if (chosen.unescaped) quirks.push('unescaped')
  if (chosen.stray) quirks.push('strayBytes')
  if (!chosen.crcOk) {
    if (!options.lenient) {
      const b = chosen.bytes
      return fail('BAD_CHECKSUM', `CRC 0x${hex4(b.readUInt16BE(chosen.length - 2))} does not match 0x${hex4(crc16(b, 0, chosen.length - 2))}`)
    }
    quirks.push('badCrc')
  }
  const edition = editionOf(chosen.bytes, chosen.length, options.edition)
  const before = [...quirks]
  const first = decodeAs(chosen, edition, options, quirks)
  if (first.ok) return first
  // The shape misled (a 2011 body that starts like a TIME, a 2019 TIME the link's edition did
  // not cover): the other edition, if it reads the frame.
  const other = decodeAs(chosen, edition === 2019 ? 2011 : 2019, options, before)
  return other.ok ? other : first
}

/** Header and body of a checked frame, read as the given edition. */
function decodeAs(chosen: Fit, edition: Edition, options: DecodeOptions809, quirks: Quirk[]): Result<Decoded809> {
  const buf = chosen.bytes
  const hl = headerLength(edition)
  if (chosen.length < hl + 2) return fail('TRUNCATED', `frame of ${chosen.length + 2} bytes is shorter than a ${edition} header + CRC`)
  const header = readHeader809(buf, edition)
  if (header.time !== undefined && !Number.isSafeInteger(header.time)) return fail('BAD_FIELD', 'header TIME is no time')
  // VERSION_FLAG cannot be checked against the edition (captured 2019 frames carry 1.0.0,
  // 1.2.15, 0.0.0, 0.0.1): what is counted is a header whose shape is not the link's edition.
  if (options.edition !== undefined && options.edition !== edition) quirks.push('editionFlag')
  const message = header as Message809
  if (chosen.unescaped) message.unescaped = true
  if (chosen.stray) message.stray = chosen.stray.toString('hex')
  let body = buf
  let start = hl
  let end = chosen.length - 2
  if (header.encryptFlag === 1 && end > start) {
    if (options.keys === undefined) {
      message.body = { raw: buf.toString('hex', start, end) }
      message.bodyEncrypted = true
      return ok({ message, crcOk: chosen.crcOk, quirks })
    }
    body = Buffer.from(buf.subarray(start, end))
    cryptInPlace(body, 0, body.length, header.encryptKey, options.keys)
    start = 0
    end = body.length
  }
  const e = decodeBodyInto(message, body, start, end, { header, quirks })
  if (e !== null) return { ok: false, error: e }
  return ok({ message, crcOk: chosen.crcOk, quirks })
}

const RAW_FLAG = 1
const ESCAPE_BYTE = 2

/** In one pass: RAW_FLAG when a 0x5b/0x5d is in the bytes, ESCAPE_BYTE when a 0x5a/0x5e is. */
function byteKinds(b: Buffer): number {
  let mask = 0
  for (let i = 0; i < b.length; i++) {
    const x = b[i]
    if (x >= 0x5a && x <= 0x5e && x !== 0x5c) mask |= x === 0x5b || x === 0x5d ? RAW_FLAG : ESCAPE_BYTE
  }
  return mask
}

function pick(fits: (Fit | null)[]): Fit | null {
  for (const f of fits) if (f?.crcOk && f.stray === null) return f
  for (const f of fits) if (f?.crcOk) return f
  for (const f of fits) if (f) return f
  return null
}

/** Decodes bytes [start, end) of buf as the body of `message` (completed in place). */
function decodeBodyInto(message: Message809, buf: Buffer, start: number, end: number, ctx: Context809): CodecError | null {
  const id = message.msgId
  const codec = CODEC_OF.get(id)
  if (codec === undefined) {
    message.body = { raw: buf.toString('hex', start, end) }
    return null
  }
  try {
    const r = new BodyReader(buf, start, end)
    message.body = codec.decode(r, ctx) as Message809['body']
    if (r.offset < end) {
      message.trailing = buf.toString('hex', r.offset, end)
      ctx.quirks.push('strayBytes')
    }
    return null
  } catch (e) {
    if (e instanceof CodecFault) return { code: e.code, message: `0x${hexId(id)}: ${e.message}` }
    return { code: 'BAD_FIELD', message: `0x${hexId(id)}: ${(e as Error).message}` }
  }
}

/** What a caller supplies to encode: header fields with defaults (headerOf809), and a body for the id. */
export type OutgoingMessage809 =
  | { [K in KnownMsgId809]: Partial<Header809> & { msgId: K; body: BodyMap809[K] } & FrameExtras809 }[KnownMsgId809]
  | (Partial<Header809> & { msgId: number; body: RawBody } & FrameExtras809)

export interface EncodeOptions809 {
  /** Needed to encode a message whose encryptFlag is 1 (unless its body is still ciphertext). */
  keys?: EncryptionKeys
}

/** Header defaults: edition 2011, version flag 1.0.0, no encryption, sn 0, time now (2019). */
export function headerOf809(m: Partial<Header809> & { msgId: number }): Header809 {
  const edition = m.edition ?? 2011
  const h: Header809 = {
    msgId: m.msgId,
    sn: m.sn ?? 0,
    gnssCentreId: m.gnssCentreId ?? 0,
    versionFlag: m.versionFlag ?? '1.0.0',
    encryptFlag: m.encryptFlag ?? 0,
    encryptKey: m.encryptKey ?? 0,
    edition,
  }
  if (edition === 2019) h.time = m.time ?? Math.floor(Date.now() / 1000)
  return h
}

/** Encodes a body through the message table (a raw body as its bytes), trailing bytes included, not encrypted. */
export function encodeBody809(message: Message809 | OutgoingMessage809, header: Header809 = headerOf809(message)): Result<Buffer> {
  const id = message.msgId
  try {
    let bytes: Buffer
    const body = message.body as unknown
    if (typeof body === 'object' && body !== null && typeof (body as RawBody).raw === 'string') bytes = Buffer.from((body as RawBody).raw, 'hex')
    else if (isKnownMsgId809(id)) {
      const w = new BodyWriter(128)
      ;(CODECS_809[id] as BodyCodec809<unknown>).encode(w, body, header)
      bytes = w.finish()
    } else return fail('BAD_FIELD', `0x${hexId(id)} has no codec: give its body as {"raw": "<hex>"}`)
    if (message.trailing) bytes = Buffer.concat([bytes, Buffer.from(message.trailing, 'hex')])
    return ok(bytes)
  } catch (e) {
    return fail(e instanceof CodecFault ? e.code : 'BAD_FIELD', `0x${hexId(id)}: ${(e as Error).message}`)
  }
}

/** Encodes a message into a frame with its 0x5b/0x5d flags, escaped, ready for the socket. */
export function encodeMessage809(message: Message809 | OutgoingMessage809, options: EncodeOptions809 = {}): Result<Buffer> {
  const header = headerOf809(message)
  const body = encodeBody809(message, header)
  if (!body.ok) return body
  let bytes = body.value
  if (header.encryptFlag === 1 && message.bodyEncrypted !== true && bytes.length > 0) {
    if (options.keys === undefined) return fail('BAD_FIELD', `0x${hexId(header.msgId)}: encryptFlag 1 needs the link's keys (M1, IA1, IC1)`)
    bytes = Buffer.from(bytes)
    cryptInPlace(bytes, 0, bytes.length, header.encryptKey, options.keys)
  }
  return encodeFrameWithBody809(header, bytes, message)
}

/** Header + already-encoded (and encrypted) body -> escaped frame. */
export function encodeFrameWithBody809(header: Header809, body: Uint8Array, extras: FrameExtras809 = {}): Result<Buffer> {
  try {
    const hl = headerLength(header.edition)
    const stray = extras.stray ? Buffer.from(extras.stray, 'hex') : null
    const length = hl + body.length + 2
    const out = Buffer.allocUnsafe(length + (stray?.length ?? 0))
    writeHeader809(out, header, length + FRAME_OVERHEAD - 2)
    out.set(body, hl)
    out.writeUInt16BE(crc16(out, 0, hl + body.length), hl + body.length)
    if (stray) out.set(stray, length)
    return ok(escapeAndWrap809(out, extras.unescaped !== true))
  } catch (e) {
    return fail('BAD_FIELD', (e as Error).message)
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0')
}

export function hexId(id: number): string {
  return id.toString(16).padStart(4, '0')
}
