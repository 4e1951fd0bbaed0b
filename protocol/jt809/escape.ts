/**
 * JT/T 809 transparent transmission. Between the 0x5b head flag and the 0x5d end flag:
 *   0x5b -> 0x5a 0x01, 0x5a -> 0x5a 0x02, 0x5d -> 0x5e 0x01, 0x5e -> 0x5e 0x02
 * applied to header, body and CRC alike.
 */

export const HEAD = 0x5b
export const TAIL = 0x5d
const ESC_HEAD = 0x5a
const ESC_TAIL = 0x5e

/** Bytes [start, end) of src with the escaping reversed, and whether some 0x5a/0x5e started no escape. */
export interface Unescaped {
  bytes: Buffer
  /** A 0x5a or 0x5e not followed by 0x01/0x02 (kept as a byte of its own): a sender that does not escape. */
  stray: boolean
}

export function unescape809(src: Uint8Array): Unescaped {
  const input = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength)
  let first = -1
  for (let i = 0; i < input.length; i++) {
    const b = input[i]
    if (b === ESC_HEAD || b === ESC_TAIL) {
      first = i
      break
    }
  }
  if (first < 0) return { bytes: input, stray: false }
  const out = Buffer.allocUnsafe(input.length)
  input.copy(out, 0, 0, first)
  let o = first
  let stray = false
  for (let i = first; i < input.length; i++) {
    const b = input[i]
    if (b === ESC_HEAD || b === ESC_TAIL) {
      const n = input[i + 1]
      if (n === 0x01) {
        out[o++] = b === ESC_HEAD ? HEAD : TAIL
        i++
        continue
      }
      if (n === 0x02) {
        out[o++] = b
        i++
        continue
      }
      stray = true
    }
    out[o++] = b
  }
  return { bytes: out.subarray(0, o), stray }
}

/** Whether bytes hold any 0x5a or 0x5e (which an escaping sender never leaves alone). */
export function holdsEscapeBytes(src: Uint8Array): boolean {
  for (let i = 0; i < src.length; i++) if (src[i] === ESC_HEAD || src[i] === ESC_TAIL) return true
  return false
}

/** Escapes header+body+CRC and wraps them in 0x5b … 0x5d; `escape: false` wraps them as they are. */
export function escapeAndWrap809(src: Uint8Array, escape = true): Buffer {
  let extra = 0
  if (escape) for (let i = 0; i < src.length; i++) if (src[i] === HEAD || src[i] === ESC_HEAD || src[i] === TAIL || src[i] === ESC_TAIL) extra++
  const out = Buffer.allocUnsafe(src.length + extra + 2)
  out[0] = HEAD
  let o = 1
  for (let i = 0; i < src.length; i++) {
    const b = src[i]
    if (escape && (b === HEAD || b === ESC_HEAD)) {
      out[o++] = ESC_HEAD
      out[o++] = b === HEAD ? 0x01 : 0x02
    } else if (escape && (b === TAIL || b === ESC_TAIL)) {
      out[o++] = ESC_TAIL
      out[o++] = b === TAIL ? 0x01 : 0x02
    } else out[o++] = b
  }
  out[o] = TAIL
  return out
}
