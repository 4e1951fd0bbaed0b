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
  const ms = bcdTimeMs(buf, offset)
  return { text: bcdTimeText(buf, offset, ms), ms }
}

/**
 * UTC epoch ms of the Beijing time in BCD[6] at offset, or null when the field is not a real
 * date and time (non-decimal nibbles, month 13, 31 February, ...). Runs once per position
 * report, so the validated minute (YYMMDDhhmm) comes from a small cache: reports arriving
 * together nearly all share it.
 */
export function bcdTimeMs(buf: Uint8Array, o: number): number | null {
  const s = BCD[buf[o + 5]]
  if (s < 0 || s > 59) return null
  const minute = minuteOf(buf, o)
  return minute === null ? null : minute.ms + s * 1000
}

/** The field as ISO 8601 +08:00 when `ms` says it is valid, else its 12 digits as sent. */
export function bcdTimeText(buf: Uint8Array, o: number, ms: number | null): string {
  if (ms === null) return HEX2[buf[o]] + HEX2[buf[o + 1]] + HEX2[buf[o + 2]] + HEX2[buf[o + 3]] + HEX2[buf[o + 4]] + HEX2[buf[o + 5]]
  return (minuteOf(buf, o) as Minute).text + SECOND_SUFFIX[BCD[buf[o + 5]]]
}

export interface Minute {
  /** "2024-05-20T14:31:" */
  text: string
  /** UTC epoch ms of second 0 of that Beijing minute */
  ms: number
}

/** Validated minutes by key (see minuteOf); null for fields that are not a real minute. */
const MINUTES = new Map<number, Minute | null>()
const MINUTES_MAX = 4096
let lastKey = -1
let lastMinute: Minute | null = null
/** "00+08:00" … "59+08:00" */
export const SECOND_SUFFIX = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0') + '+08:00')

/** The validated minute of the BCD[6] time at o (its first 5 bytes), cached; null when not a real minute. */
export function minuteOf(buf: Uint8Array, o: number): Minute | null {
  const y = BCD[buf[o]],
    m = BCD[buf[o + 1]],
    d = BCD[buf[o + 2]],
    h = BCD[buf[o + 3]],
    n = BCD[buf[o + 4]]
  if (y < 0 || m < 1 || m > 12 || d < 1 || d > 31 || h < 0 || h > 23 || n < 0 || n > 59) return null
  // Below 2^30: a small integer key, no allocation to look it up.
  const key = (((y * 13 + m) * 32 + d) * 24 + h) * 60 + n
  if (key === lastKey) return lastMinute
  let minute = MINUTES.get(key)
  if (minute === undefined) {
    minute = computeMinute(y, m, d, h, n)
    if (MINUTES.size >= MINUTES_MAX) MINUTES.clear()
    MINUTES.set(key, minute)
  }
  lastKey = key
  lastMinute = minute
  return minute
}

function computeMinute(y: number, m: number, d: number, h: number, n: number): Minute | null {
  const year = 2000 + y
  if (d > (m === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : MONTH_DAYS[m])) return null
  const p = (v: number) => String(v).padStart(2, '0')
  return {
    text: `${year}-${p(m)}-${p(d)}T${p(h)}:${p(n)}:`,
    ms: ((daysFromCivil(year, m, d) * 24 + h) * 60 + n) * 60_000 - BEIJING_OFFSET_MS,
  }
}

const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
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

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
/** Decimal value of a BCD byte, -1 when a nibble is not a digit. */
export const BCD: Int8Array = Int8Array.from({ length: 256 }, (_, i) => (i >> 4 > 9 || (i & 15) > 9 ? -1 : (i >> 4) * 10 + (i & 15)))
