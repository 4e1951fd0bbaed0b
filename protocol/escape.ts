/**
 * JT/T 808 transparent transmission: 0x7e -> 0x7d 0x02, 0x7d -> 0x7d 0x01, applied to
 * header, body and checksum alike. The frame delimiters themselves are not part of these buffers.
 */
import { fail, ok, type Result } from './errors.js'

export const FLAG = 0x7e
export const ESC = 0x7d

/**
 * Reverses the escaping. Returns the input itself (no copy) when it holds no 0x7d.
 * `lenient`: a 0x7d not followed by 0x01/0x02 is taken literally — some terminals never escape
 * 0x7d (seen in the wild: a checksum that only adds up that way) — instead of BAD_ESCAPE.
 *
 * The plain reference version. Frame decoding (codec.ts checkFrame/unescapeFrom) runs its own
 * loop fused with the checksum and a reusable scratch buffer; sharing this one there costs
 * ≈ 80 ns per escaped frame (bench/decode, 2026-11-21), and the fuzz/property tests check the
 * two against each other.
 */
export function unescape(src: Uint8Array, lenient = false): Result<Buffer> {
  const first = src.indexOf(ESC)
  const input = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength)
  if (first < 0) return ok(input)
  const out = Buffer.allocUnsafe(src.length)
  input.copy(out, 0, 0, first)
  let o = first
  for (let i = first; i < src.length; i++) {
    const b = src[i]
    if (b === ESC) {
      const n = src[++i]
      if (n === 0x01) out[o++] = ESC
      else if (n === 0x02) out[o++] = FLAG
      else if (lenient) {
        out[o++] = ESC
        i-- // the next byte is data of its own
      } else if (n === undefined) return fail('BAD_ESCAPE', `0x7d at the end of the frame (offset ${i - 1})`)
      else return fail('BAD_ESCAPE', `0x7d followed by 0x${n.toString(16).padStart(2, '0')} at offset ${i - 1}`)
    } else if (b === FLAG) {
      return fail('BAD_ESCAPE', `unescaped 0x7e inside the frame at offset ${i}`)
    } else {
      out[o++] = b
    }
  }
  return ok(out.subarray(0, o))
}

/** Escapes header+body+checksum and wraps the result in 0x7e delimiters. */
export function escapeAndWrap(src: Uint8Array): Buffer {
  let extra = 0
  for (let i = 0; i < src.length; i++) if (src[i] === FLAG || src[i] === ESC) extra++
  const out = Buffer.allocUnsafe(src.length + extra + 2)
  out[0] = FLAG
  let o = 1
  for (let i = 0; i < src.length; i++) {
    const b = src[i]
    if (b === FLAG) {
      out[o++] = ESC
      out[o++] = 0x02
    } else if (b === ESC) {
      out[o++] = ESC
      out[o++] = 0x01
    } else out[o++] = b
  }
  out[o] = FLAG
  return out
}

/** XOR of bytes [start, end). */
export function xor(buf: Uint8Array, start = 0, end = buf.length): number {
  let x = 0
  for (let i = start; i < end; i++) x ^= buf[i]
  return x
}
