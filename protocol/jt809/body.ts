/**
 * The shape of a JT/T 809 body codec, and the field kinds the bodies are written in. Every body
 * decodes and encodes side by side (messages/*.ts) through a BodyReader / BodyWriter shared with
 * the 808 codec; per-edition layouts are two field lists. Tolerated sender quirks are counted
 * into the Quirks list handed to decode.
 */
import { BodyReader, BodyWriter, type HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { Edition, Header809 } from './header.js'
import { readFixedText, writeFixedText } from './text.js'

/**
 * Deviations from the standard a decode accepted; each one is listed once per occurrence in
 * Decoded809.quirks. The list is the one place the names live (metrics labels derive from it):
 *   unescaped    the sender did not escape 0x5a/0x5b/0x5d/0x5e
 *   editionFlag  the header's shape is not the edition the link is configured for (options.edition)
 *   strayBytes   bytes after the CRC inside the frame, or after what a body's layout holds
 *   textLength   a length-prefixed text whose declared length is not its byte count (UTF-8 counted)
 *   dataLength   a sub-business DATA_LENGTH (or PHOTO_LEN …) that is not the bytes present
 *   badLayout    a sub-business DATA of a known type that does not fit its layout (kept raw)
 *   alarmLayout  a 2019 alarm without WARN_TIME (START_TIME and END_TIME only), as one platform sends it
 *   badCrc       a wrong CRC accepted (lenient decode)
 */
export const QUIRKS_809 = ['unescaped', 'editionFlag', 'strayBytes', 'textLength', 'dataLength', 'badLayout', 'alarmLayout', 'badCrc'] as const

export type Quirk = (typeof QUIRKS_809)[number]

export interface Context809 {
  header: Header809
  quirks: Quirk[]
}

export interface BodyCodec809<B> {
  /** Reads the whole body or throws CodecFault (caught at the frame boundary). */
  decode(r: BodyReader, ctx: Context809): B
  encode(w: BodyWriter, body: B, header: Header809): void
}

/** A body kept as bytes (hex): ids without a codec, ciphertext without keys, unknown sub-business types. */
export interface RawBody {
  raw: string
}

/**
 * Declared lengths a sender got wrong, by field, so the frame re-encodes exactly (a text whose
 * length prefix counted UTF-8 bytes, a DATA_LENGTH off by some bytes). Ignored when absent.
 */
export interface HasDeclared {
  declared?: Record<string, number>
}

/** Kinds of field in a body layout (all big-endian). */
export type FieldKind =
  | 'u8'
  | 'u16'
  | 'u32'
  /** UINT64 UTC seconds */
  | 'time'
  /** fixed-width GBK text, 0x00-padded: [kind, key, width] */
  | 'text'
  /** BCD digits of the given byte width */
  | 'bcd'
  /** DWORD length then GBK text */
  | 'text32'
  /** WORD length then GBK text */
  | 'text16'
  /** DWORD length then bytes (hex) */
  | 'bytes32'
  /** GBK text to the end of the body */
  | 'restText'
  /** bytes to the end of the body (hex) */
  | 'restBytes'

export type Field<T> = readonly [FieldKind, keyof T & string, number?]

type Bag = Record<string, unknown> & HasAsSent & HasDeclared

/** A codec from one field list per edition (the 2019 list defaults to the 2011 one). */
export function fields<T extends object>(list2011: readonly Field<T>[], list2019: readonly Field<T>[] = list2011): BodyCodec809<T> {
  return {
    decode(r, ctx) {
      const list = ctx.header.edition === 2019 ? list2019 : list2011
      const bag: Bag = {}
      for (const f of list) readField(r, f, bag, ctx)
      return bag as T
    },
    encode(w, body, h) {
      const list = h.edition === 2019 ? list2019 : list2011
      const bag = body as Bag
      for (const f of list) writeField(w, f, bag)
    },
  }
}

const MAX_SAFE_HI = 0x1fffff

export function readTime(r: BodyReader, what: string): number {
  const hi = r.u32(what)
  const lo = r.u32(what)
  if (hi > MAX_SAFE_HI) throw new CodecFault('BAD_FIELD', `${what} 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is no time`)
  return hi * 0x1_0000_0000 + lo
}

export function writeTime(w: BodyWriter, t: number, what: string): void {
  if (!Number.isSafeInteger(t) || t < 0) throw new CodecFault('BAD_FIELD', `${what} ${t} is not a count of seconds`)
  w.u32(Math.floor(t / 0x1_0000_0000)).u32(t % 0x1_0000_0000)
}

/** Reads a length-prefixed text, tolerating a length that runs past the body (counted as textLength). */
function readCounted(r: BodyReader, declared: number, key: string, bag: Bag, ctx: Context809): string {
  let n = declared
  if (n > r.remaining) {
    n = r.remaining
    ctx.quirks.push('textLength')
    ;(bag.declared ??= {})[key] = declared
  }
  return r.text(n, key, bag)
}

function readField<T>(r: BodyReader, [kind, k, width]: Field<T>, bag: Bag, ctx: Context809): void {
  const key: string = k
  switch (kind) {
    case 'u8':
      bag[key] = r.u8(key)
      return
    case 'u16':
      bag[key] = r.u16(key)
      return
    case 'u32':
      bag[key] = r.u32(key)
      return
    case 'time':
      bag[key] = readTime(r, key)
      return
    case 'text':
      bag[key] = readFixedText(r, width ?? 0, key, bag)
      return
    case 'bcd':
      bag[key] = r.bcd(width ?? 0, key)
      return
    case 'text32':
      bag[key] = readCounted(r, r.u32(`${key} length`), key, bag, ctx)
      return
    case 'text16':
      bag[key] = readCounted(r, r.u16(`${key} length`), key, bag, ctx)
      return
    case 'bytes32': {
      let n = r.u32(`${key} length`)
      if (n > r.remaining) {
        ;(bag.declared ??= {})[key] = n
        ctx.quirks.push('dataLength')
        n = r.remaining
      }
      bag[key] = r.bytes(n, key).toString('hex')
      return
    }
    case 'restText':
      bag[key] = r.restText(key, bag)
      return
    case 'restBytes':
      bag[key] = r.rest().toString('hex')
      return
  }
}

function writeField<T>(w: BodyWriter, [kind, k, width]: Field<T>, bag: Bag): void {
  const key: string = k
  const v = bag[key]
  switch (kind) {
    case 'u8':
      w.u8(num(v, key, 0xff))
      return
    case 'u16':
      w.u16(num(v, key, 0xffff))
      return
    case 'u32':
      w.u32(num(v, key, 0xffffffff))
      return
    case 'time':
      writeTime(w, num(v, key, Number.MAX_SAFE_INTEGER), key)
      return
    case 'text':
      writeFixedText(w, str(v, key), width ?? 0, key, bag)
      return
    case 'bcd':
      w.bcd(str(v, key), width ?? 0)
      return
    case 'text32':
    case 'text16': {
      const sub = new BodyWriter(32)
      sub.text(str(v, key), key, bag)
      const bytes = sub.finish()
      const n = bag.declared?.[key] ?? bytes.length
      if (kind === 'text32') w.u32(n)
      else w.u16(n)
      w.bytes(bytes)
      return
    }
    case 'bytes32': {
      const bytes = hex(v, key)
      w.u32(bag.declared?.[key] ?? bytes.length).bytes(bytes)
      return
    }
    case 'restText':
      w.text(str(v, key), key, bag)
      return
    case 'restBytes':
      w.bytes(hex(v, key))
      return
  }
}

export function num(v: unknown, key: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new CodecFault('BAD_FIELD', `${key} must be an integer 0..${max}, got ${JSON.stringify(v)}`)
  return v
}

export function str(v: unknown, key: string): string {
  if (typeof v !== 'string') throw new CodecFault('BAD_FIELD', `${key} must be a string, got ${JSON.stringify(v)}`)
  return v
}

export function hex(v: unknown, key: string): Buffer {
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) throw new CodecFault('BAD_FIELD', `${key} must be hex, got ${JSON.stringify(v)}`)
  return Buffer.from(v, 'hex')
}

/** Reader over bytes [start, end) of buf (a sub-business data block). */
export function subReader(buf: Buffer, start: number, end: number): BodyReader {
  return new BodyReader(buf, start, end)
}

export type { Edition }
