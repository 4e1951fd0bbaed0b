/**
 * JT/T 808 BCD[6] time (YYMMDDhhmmss) is Beijing time (UTC+8). We expose the instant (UTC
 * epoch ms) and the original as ISO 8601 with +08:00; a field that is not a real date keeps
 * its 12 digits as sent so it still round-trips.
 */
import { CodecFault } from './errors.js'

const BEIJING_OFFSET_MS = 8 * 3600_000

export interface BcdTime {
  /** "2018-10-15T10:10:10+08:00", or the 12 BCD digits as sent when they are not a valid time. */
  text: string
  /** UTC epoch milliseconds, or null when the field is not a valid time. */
  ms: number | null
}

/** Reads BCD[6] at offset. Years are 2000–2099. */
export function readBcdTime(buf: Uint8Array, offset: number): BcdTime {
  const yy = buf[offset], mo = buf[offset + 1], dd = buf[offset + 2]
  const hh = buf[offset + 3], mi = buf[offset + 4], ss = buf[offset + 5]
  const y = bcdByte(yy), m = bcdByte(mo), d = bcdByte(dd), h = bcdByte(hh), n = bcdByte(mi), s = bcdByte(ss)
  const raw = hex2(yy) + hex2(mo) + hex2(dd) + hex2(hh) + hex2(mi) + hex2(ss)
  if (y < 0 || m < 1 || m > 12 || d < 1 || d > 31 || h < 0 || h > 23 || n < 0 || n > 59 || s < 0 || s > 59) {
    return { text: raw, ms: null }
  }
  const ms = Date.UTC(2000 + y, m - 1, d, h, n, s) - BEIJING_OFFSET_MS
  // Date.UTC rolls 31 Feb over into March: such a field is not a real date.
  if (new Date(ms + BEIJING_OFFSET_MS).getUTCDate() !== d) return { text: raw, ms: null }
  return {
    text: `20${raw.slice(0, 2)}-${raw.slice(2, 4)}-${raw.slice(4, 6)}T${raw.slice(6, 8)}:${raw.slice(8, 10)}:${raw.slice(10, 12)}+08:00`,
    ms,
  }
}

const ISO_BEIJING = /^20(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\+08:00$/

/** The 12 BCD digits for a time given as ISO (+08:00 kept verbatim; other zones converted) or as raw digits. */
export function bcdTimeDigits(text: string): string {
  const m = ISO_BEIJING.exec(text)
  if (m) return m.slice(1).join('')
  if (/^[0-9a-fA-F]{12}$/.test(text)) return text
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new CodecFault('BAD_FIELD', `"${text}" is not a time`)
  return bcdDigitsFromMs(ms)
}

export function bcdDigitsFromMs(ms: number): string {
  const d = new Date(ms + BEIJING_OFFSET_MS)
  const p = (v: number) => String(v).padStart(2, '0')
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds())
}

/** ISO 8601 with +08:00 for a UTC instant. */
export function beijingIso(ms: number): string {
  const b = bcdDigitsFromMs(ms)
  return `20${b.slice(0, 2)}-${b.slice(2, 4)}-${b.slice(4, 6)}T${b.slice(6, 8)}:${b.slice(8, 10)}:${b.slice(10, 12)}+08:00`
}

function bcdByte(b: number): number {
  const hi = b >> 4, lo = b & 15
  return hi > 9 || lo > 9 ? -1 : hi * 10 + lo
}

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
function hex2(b: number): string {
  return HEX2[b]
}
