/** Reading and writing body fields: big-endian integers, BCD, GBK strings. */
import iconv from 'iconv-lite'
import { CodecFault } from './errors.js'

const HEX = '0123456789abcdef'

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4] + HEX[i & 15])

/** Char codes of '0'-'9', 'a'-'f'. */
const NIBBLE = Uint8Array.from(HEX, (c) => c.charCodeAt(0))

/** BCD bytes as their hex digits, exactly as sent (a BCD field may carry non-decimal nibbles). */
export function bcdToString(buf: Uint8Array, start: number, length: number): string {
  // The phone of every header goes through here: a terminal sends the same one all day, so
  // the 2013 (6-byte) form is interned by value; the others are built in one allocation.
  if (length === 6) return phone6(buf, start)
  if (length === 10) return hex6(buf, start) + hex4(buf, start + 6)
  let s = ''
  for (let i = start; i < start + length; i++) s += HEX2[buf[i]]
  return s
}

/**
 * Interned 12-digit phones: a direct-mapped table keyed by a hash of the 6 bytes, the bytes
 * kept beside each string to confirm a hit. Small integers only, so a lookup allocates nothing.
 */
const PHONE_SLOTS = 4096
const phoneHi = new Int32Array(PHONE_SLOTS)
const phoneLo = new Int32Array(PHONE_SLOTS)
const phoneText: (string | undefined)[] = new Array<string | undefined>(PHONE_SLOTS).fill(undefined)

function phone6(b: Uint8Array, o: number): string {
  const hi = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]
  const lo = (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5]
  const slot = (Math.imul(hi, 0x9e3779b1) ^ Math.imul(lo, 0x85ebca6b)) >>> 20
  const cached = phoneText[slot]
  if (cached !== undefined && phoneHi[slot] === hi && phoneLo[slot] === lo) return cached
  const text = hex6(b, o)
  phoneHi[slot] = hi
  phoneLo[slot] = lo
  phoneText[slot] = text
  return text
}

function hex6(b: Uint8Array, o: number): string {
  const a = b[o],
    c = b[o + 1],
    d = b[o + 2],
    e = b[o + 3],
    f = b[o + 4],
    g = b[o + 5]
  return String.fromCharCode(
    NIBBLE[a >> 4],
    NIBBLE[a & 15],
    NIBBLE[c >> 4],
    NIBBLE[c & 15],
    NIBBLE[d >> 4],
    NIBBLE[d & 15],
    NIBBLE[e >> 4],
    NIBBLE[e & 15],
    NIBBLE[f >> 4],
    NIBBLE[f & 15],
    NIBBLE[g >> 4],
    NIBBLE[g & 15],
  )
}

function hex4(b: Uint8Array, o: number): string {
  const a = b[o],
    c = b[o + 1],
    d = b[o + 2],
    e = b[o + 3]
  return String.fromCharCode(NIBBLE[a >> 4], NIBBLE[a & 15], NIBBLE[c >> 4], NIBBLE[c & 15], NIBBLE[d >> 4], NIBBLE[d & 15], NIBBLE[e >> 4], NIBBLE[e & 15])
}

/** Writes a digit string as BCD of `length` bytes, left-padded with zeros. */
export function writeBcd(target: Buffer, offset: number, digits: string, length: number): void {
  const padded = digits.padStart(length * 2, '0')
  if (padded.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(padded)) {
    throw new CodecFault('BAD_FIELD', `"${digits}" does not fit BCD[${length}]`)
  }
  for (let i = 0; i < length; i++) target[offset + i] = parseInt(padded.substr(i * 2, 2), 16)
}

export function decodeGbk(buf: Uint8Array): string {
  return iconv.decode(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), 'gbk')
}

export function encodeGbk(text: string): Buffer {
  return iconv.encode(text, 'gbk')
}

/** Decodes a fixed-width GBK field, dropping the 0x00 padding devices put after the text. */
export function decodeFixedGbk(buf: Uint8Array): string {
  let end = buf.length
  while (end > 0 && (buf[end - 1] === 0x00 || buf[end - 1] === 0x20)) end--
  let start = 0
  while (start < end && buf[start] === 0x00) start++
  return decodeGbk(buf.subarray(start, end))
}

/**
 * A bounds-checked cursor over a message body: bytes [offset, end) of buf (by default all of it,
 * so decodeFrame can read a body in place without slicing). Overruns throw CodecFault (caught
 * in decodeBody / decodeFrame).
 */
export class BodyReader {
  offset: number
  readonly end: number
  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.offset = start
    this.end = end
  }

  get remaining(): number {
    return this.end - this.offset
  }

  private need(n: number, what: string): void {
    if (this.offset + n > this.end) {
      throw new CodecFault('TRUNCATED', `body ends before ${what} (need ${n} bytes at body offset ${this.offset}, have ${this.end - this.offset})`)
    }
  }

  u8(what = 'BYTE'): number {
    this.need(1, what)
    return this.buf[this.offset++]
  }
  u16(what = 'WORD'): number {
    this.need(2, what)
    const v = this.buf.readUInt16BE(this.offset)
    this.offset += 2
    return v
  }
  u32(what = 'DWORD'): number {
    this.need(4, what)
    const v = this.buf.readUInt32BE(this.offset)
    this.offset += 4
    return v
  }
  bytes(n: number, what = 'BYTE[n]'): Buffer {
    this.need(n, what)
    const v = this.buf.subarray(this.offset, this.offset + n)
    this.offset += n
    return v
  }
  bcd(n: number, what = 'BCD'): string {
    this.need(n, what)
    const v = bcdToString(this.buf, this.offset, n)
    this.offset += n
    return v
  }
  /** Fixed-width GBK string, padding removed. */
  fixedString(n: number, what = 'STRING'): string {
    return decodeFixedGbk(this.bytes(n, what))
  }
  /** GBK string up to the end of the body. */
  restString(): string {
    return decodeGbk(this.bytes(this.remaining))
  }
  /** A BYTE length followed by that many bytes. */
  prefixed(what: string): Buffer {
    const n = this.u8(`${what} length`)
    return this.bytes(n, what)
  }
  /**
   * Fixed-width GBK text, padding removed. When the bytes are not what re-encoding the text gives
   * (0x00 right-padding), they are kept in holder.asSent[field] so encode reproduces them.
   */
  fixedText(n: number, field: string, holder: HasAsSent): string {
    const raw = this.bytes(n, field)
    const text = decodeFixedGbk(raw)
    if (!isCanonicalFixed(raw, text)) (holder.asSent ??= {})[field] = raw.toString('hex')
    return text
  }
  /** GBK text of n bytes (variable-length field), kept as sent when not valid GBK. */
  text(n: number, field: string, holder: HasAsSent): string {
    return textOf(this.bytes(n, field), field, holder)
  }
  /** A BYTE length followed by GBK text. */
  prefixedText(field: string, holder: HasAsSent): string {
    return textOf(this.prefixed(field), field, holder)
  }
  /** GBK text up to the end of the body. */
  restText(field: string, holder: HasAsSent): string {
    return textOf(this.bytes(this.remaining, field), field, holder)
  }
  rest(): Buffer {
    return this.bytes(this.remaining)
  }
}

/** Growable writer for encoding bodies. */
export class BodyWriter {
  private buf: Buffer
  length = 0
  constructor(initial = 64) {
    this.buf = Buffer.allocUnsafe(initial)
  }
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n))
    this.buf.copy(next, 0, 0, this.length)
    this.buf = next
  }
  u8(v: number): this {
    this.ensure(1)
    this.buf[this.length++] = v & 0xff
    return this
  }
  u16(v: number): this {
    this.ensure(2)
    this.buf.writeUInt16BE(v & 0xffff, this.length)
    this.length += 2
    return this
  }
  u32(v: number): this {
    this.ensure(4)
    this.buf.writeUInt32BE(v >>> 0, this.length)
    this.length += 4
    return this
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
    return this
  }
  bcd(digits: string, n: number): this {
    this.ensure(n)
    writeBcd(this.buf, this.length, digits, n)
    this.length += n
    return this
  }
  /** GBK text right-padded with 0x00 to exactly n bytes (longer text is an error). */
  fixedString(text: string, n: number, what = 'string'): this {
    const enc = encodeGbk(text)
    if (enc.length > n) throw new CodecFault('BAD_FIELD', `${what} "${text}" is ${enc.length} bytes, field holds ${n}`)
    this.ensure(n)
    this.buf.set(enc, this.length)
    this.buf.fill(0, this.length + enc.length, this.length + n)
    this.length += n
    return this
  }
  string(text: string): this {
    return this.bytes(encodeGbk(text))
  }
  /** A BYTE length followed by GBK text. */
  lengthPrefixedString(text: string, what = 'string'): this {
    const enc = encodeGbk(text)
    if (enc.length > 255) throw new CodecFault('BAD_FIELD', `${what} longer than 255 bytes`)
    return this.u8(enc.length).bytes(enc)
  }
  /** A BYTE length followed by bytes. */
  prefixed(b: Uint8Array, what = 'field'): this {
    if (b.length > 255) throw new CodecFault('BAD_FIELD', `${what} longer than 255 bytes`)
    return this.u8(b.length).bytes(b)
  }
  /** Fixed-width text: the bytes as sent when holder.asSent still matches the text, else 0x00-padded GBK. */
  fixedText(text: string, n: number, field: string, holder: HasAsSent): this {
    const sent = sentBytes(holder, field, text, true)
    if (sent && sent.length === n) return this.bytes(sent)
    return this.fixedString(text ?? '', n, field)
  }
  /** Variable-length text (no length prefix). */
  text(text: string, field: string, holder: HasAsSent): this {
    return this.bytes(sentBytes(holder, field, text, false) ?? encodeGbk(text ?? ''))
  }
  /** A BYTE length followed by text. */
  prefixedText(text: string, field: string, holder: HasAsSent): this {
    return this.prefixed(sentBytes(holder, field, text, false) ?? encodeGbk(text ?? ''), field)
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.length)
  }
}

/**
 * Text fields whose bytes a plain re-encode of the decoded text would not reproduce (space or
 * leading-zero padding, invalid GBK), by field name, as hex. Encoders use them only while the
 * text still matches, so an edited value is encoded normally.
 */
export type AsSent = Record<string, string>
export interface HasAsSent {
  asSent?: AsSent
}

/** A STRING field: GBK, without the 0x00 terminator / padding some devices append. */
export function decodeStringField(raw: Uint8Array): string {
  let end = raw.length
  while (end > 0 && raw[end - 1] === 0) end--
  return decodeGbk(raw.subarray(0, end))
}

function textOf(raw: Buffer, field: string, holder: HasAsSent): string {
  const text = decodeStringField(raw)
  const canonical = raw.length === 0 || (raw[raw.length - 1] !== 0 && (isAscii(raw) || encodeGbk(text).equals(raw)))
  if (!canonical) (holder.asSent ??= {})[field] = raw.toString('hex')
  return text
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return false
  return true
}

/** True when raw is exactly the GBK text followed by 0x00 padding. */
function isCanonicalFixed(raw: Buffer, text: string): boolean {
  const enc = isAscii(raw) ? null : encodeGbk(text)
  const len = enc ? enc.length : text.length
  if (len > raw.length) return false
  for (let i = 0; i < len; i++) if (raw[i] !== (enc ? enc[i] : text.charCodeAt(i))) return false
  for (let i = len; i < raw.length; i++) if (raw[i] !== 0) return false
  return true
}

function sentBytes(holder: HasAsSent, field: string, text: string, fixed: boolean): Buffer | null {
  const hex = holder.asSent?.[field]
  if (hex === undefined) return null
  const raw = Buffer.from(hex, 'hex')
  return (fixed ? decodeFixedGbk(raw) : decodeStringField(raw)) === text ? raw : null
}

export function toHex(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('hex')
}
