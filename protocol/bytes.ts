/** Reading and writing body fields: big-endian integers, BCD, GBK strings. */
import iconv from 'iconv-lite'
import { CodecFault } from './errors.js'

const HEX = '0123456789abcdef'

/** BCD bytes as their hex digits, exactly as sent (a BCD field may carry non-decimal nibbles). */
export function bcdToString(buf: Uint8Array, start: number, length: number): string {
  let s = ''
  for (let i = start; i < start + length; i++) {
    const b = buf[i]
    s += HEX[b >> 4] + HEX[b & 15]
  }
  return s
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

/** A bounds-checked cursor over a message body. Overruns throw CodecFault (caught in decodeFrame). */
export class BodyReader {
  offset = 0
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.offset
  }

  private need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) {
      throw new CodecFault('TRUNCATED', `body ends before ${what} (need ${n} bytes at offset ${this.offset}, have ${this.buf.length - this.offset})`)
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
  finish(): Buffer {
    return this.buf.subarray(0, this.length)
  }
}

export function toHex(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('hex')
}
