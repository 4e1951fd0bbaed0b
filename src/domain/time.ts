/**
 * Beijing-time (UTC+8, no daylight saving) calendar arithmetic on UTC epoch milliseconds.
 * Calendar days, nights and daily driving limits are Beijing-time concepts (docs/rules.md, "Time").
 */

export const MINUTE = 60_000
export const HOUR = 3_600_000
export const DAY = 86_400_000
export const BEIJING_OFFSET_MS = 8 * HOUR

/** UTC ms of 00:00 Beijing time of the day that contains t. */
export function beijingDayStart(t: number): number {
  return Math.floor((t + BEIJING_OFFSET_MS) / DAY) * DAY - BEIJING_OFFSET_MS
}

/** Milliseconds since 00:00 Beijing time of the day that contains t. */
export function beijingTimeOfDay(t: number): number {
  const r = (t + BEIJING_OFFSET_MS) % DAY
  return r < 0 ? r + DAY : r
}

/** "yyyy-mm-dd" of the Beijing calendar day containing t. */
export function beijingDate(t: number): string {
  const d = new Date(t + BEIJING_OFFSET_MS)
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`
}

/**
 * UTC ms of 00:00 Beijing time on a calendar date given as yyyymmdd or yyyy-mm-dd;
 * null when it is not a real date.
 */
export function beijingMidnight(date: string): number | null {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(date)
  if (!m) return null
  const y = Number(m[1]),
    mo = Number(m[2]),
    d = Number(m[3])
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return null
  const utc = Date.UTC(y, mo - 1, d)
  const back = new Date(utc)
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null
  return utc - BEIJING_OFFSET_MS
}

/** Parses "HH:MM" into ms after midnight; null when malformed. "24:00" is allowed (end of day). */
export function parseClock(text: string): number | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text)
  if (!m) return null
  const h = Number(m[1]),
    mi = Number(m[2])
  if (mi > 59 || h > 24 || (h === 24 && mi !== 0)) return null
  return h * HOUR + mi * MINUTE
}

/**
 * The daily window [from, to) in Beijing time (to < from wraps over midnight, e.g. 22:00–06:00):
 * returns the occurrences [start, end) in UTC ms that intersect [a, b].
 */
export function dailyWindowsBetween(fromMs: number, toMs: number, a: number, b: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  const len = toMs > fromMs ? toMs - fromMs : DAY - fromMs + toMs
  // A wrapping window that started the day before can still cover a.
  for (let day = beijingDayStart(a) - DAY; day <= b; day += DAY) {
    const s = day + fromMs
    const e = s + len
    if (e > a && s < b) out.push([s, e])
  }
  return out
}

/** True when t lies in the daily window [from, to) (Beijing time; wraps when to < from). */
export function inDailyWindow(t: number, fromMs: number, toMs: number): boolean {
  const tod = beijingTimeOfDay(t)
  return fromMs <= toMs ? tod >= fromMs && tod < toMs : tod >= fromMs || tod < toMs
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n)
}
