/**
 * Fixed-width GBK text fields (plates, platform ids, names) on the per-frame path. iconv-lite
 * costs microseconds per call, more than the rest of a 0x1202 decode, and a link carries the same
 * few thousand plates all day: ASCII is read directly, other text goes through small bounded
 * caches (decode: direct-mapped by the field's bytes, confirmed byte for byte; encode: a Map
 * cleared when full). Same results as BodyReader/BodyWriter.fixedText, asSent included
 * (property-tested through the codec).
 */
import { decodeFixedGbk, encodeGbk, type BodyReader, type BodyWriter, type HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'

const SLOTS = 4096
const slotBytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(SLOTS).fill(undefined)
const slotText: string[] = new Array<string>(SLOTS).fill('')
const slotCanonical = new Uint8Array(SLOTS)

/** Reads n bytes of 0x00-padded GBK text; bytes a re-encode would not reproduce are kept in holder.asSent[field]. */
export function readFixedText(r: BodyReader, n: number, field: string, holder: HasAsSent): string {
  if (r.remaining < n) r.bytes(n, field) // throws TRUNCATED
  // Read in place: a subarray per field costs more than the rest of the field.
  const buf = r.buf
  const at = r.offset
  r.offset += n
  let ascii = true
  let h = 0x811c9dc5
  for (let i = at; i < at + n; i++) {
    const b = buf[i]
    if (b >= 0x80) ascii = false
    h = Math.imul(h ^ b, 0x01000193)
  }
  let text: string
  let canonical: boolean
  if (ascii) {
    let end = at + n
    while (end > at && (buf[end - 1] === 0x00 || buf[end - 1] === 0x20)) end--
    let start = at
    while (start < end && buf[start] === 0x00) start++
    text = start === end ? '' : buf.toString('latin1', start, end)
    canonical = start === at
    for (let i = end; i < at + n && canonical; i++) if (buf[i] !== 0) canonical = false
  } else {
    const slot = (h >>> 0) & (SLOTS - 1)
    const cached = slotBytes[slot]
    if (cached !== undefined && sameBytes(cached, buf, at, n)) {
      text = slotText[slot]
      canonical = slotCanonical[slot] === 1
    } else {
      const raw = Buffer.from(buf.subarray(at, at + n))
      text = decodeFixedGbk(raw)
      canonical = isCanonical(raw, encodeGbk(text))
      slotBytes[slot] = raw
      slotText[slot] = text
      slotCanonical[slot] = canonical ? 1 : 0
    }
  }
  if (!canonical) (holder.asSent ??= {})[field] = buf.toString('hex', at, at + n)
  return text
}

function sameBytes(a: Buffer, b: Buffer, at: number, n: number): boolean {
  if (a.length !== n) return false
  for (let i = 0; i < n; i++) if (a[i] !== b[at + i]) return false
  return true
}

/** raw is exactly the encoded text followed by 0x00 padding. */
function isCanonical(raw: Buffer, enc: Buffer): boolean {
  if (enc.length > raw.length) return false
  for (let i = 0; i < enc.length; i++) if (raw[i] !== enc[i]) return false
  for (let i = enc.length; i < raw.length; i++) if (raw[i] !== 0) return false
  return true
}

const ENCODED = new Map<string, Buffer>()
const ENCODED_MAX = 4096
const ZEROS = Buffer.alloc(256)
// eslint-disable-next-line no-control-regex
// biome-ignore lint/suspicious/noControlCharactersInRegex: the range is all of ASCII, control characters included
const ASCII = /^[\x00-\x7f]*$/

/** GBK bytes of text (cached; the caller must not modify them). */
export function gbkBytes(text: string): Buffer {
  let b = ENCODED.get(text)
  if (b === undefined) {
    if (ENCODED.size >= ENCODED_MAX) ENCODED.clear()
    b = ASCII.test(text) ? Buffer.from(text, 'latin1') : encodeGbk(text)
    ENCODED.set(text, b)
  }
  return b
}

/** Writes text as n bytes of 0x00-padded GBK, or the bytes as sent while holder.asSent still matches. */
export function writeFixedText(w: BodyWriter, text: string, n: number, field: string, holder: HasAsSent): void {
  if (holder.asSent?.[field] !== undefined) {
    w.fixedText(text, n, field, holder)
    return
  }
  if (typeof text !== 'string') throw new CodecFault('BAD_FIELD', `${field} must be a string, got ${JSON.stringify(text)}`)
  const enc = gbkBytes(text)
  if (enc.length > n) throw new CodecFault('BAD_FIELD', `${field} "${text}" is ${enc.length} bytes, field holds ${n}`)
  w.bytes(enc)
  if (enc.length < n) w.bytes(ZEROS.subarray(0, n - enc.length))
}
