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
  const n = input.length
  let i = 0
  while (i < n && input[i] !== 0x5a && input[i] !== 0x5e) i++
  if (i === n) return { bytes: input, stray: false }
  const out = Buffer.allocUnsafe(n)
  // A byte loop, not Buffer#copy: for frames this size the copy's JS wrapper costs more.
  for (let k = 0; k < i; k++) out[k] = input[k]
  let o = i
  let stray = false
  for (; i < n; i++) {
    const b = input[i]
    if (b === 0x5a || b === 0x5e) {
      const next = input[i + 1]
      if (next === 0x01) {
        out[o++] = b === 0x5a ? 0x5b : 0x5d
        i++
        continue
      }
      if (next === 0x02) {
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
  const n = src.length
  let extra = 0
  // 0x5a, 0x5b, 0x5d, 0x5e are 0x5a + {0, 1, 3, 4}: one range test per byte.
  if (escape) for (let i = 0; i < n; i++) if ((src[i] - 0x5a) >>> 0 <= 4 && src[i] !== 0x5c) extra++
  const out = Buffer.allocUnsafe(n + extra + 2)
  out[0] = 0x5b
  if (extra === 0) {
    out.set(src, 1)
    out[n + 1] = 0x5d
    return out
  }
  let o = 1
  for (let i = 0; i < n; i++) {
    const b = src[i]
    if ((b - 0x5a) >>> 0 <= 4 && b !== 0x5c) {
      out[o++] = b <= 0x5b ? 0x5a : 0x5e
      out[o++] = b === 0x5b || b === 0x5d ? 0x01 : 0x02
    } else out[o++] = b
  }
  out[o] = 0x5d
  return out
}
