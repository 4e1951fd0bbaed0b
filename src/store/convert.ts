/** Small conversions between database values and the domain records (times are UTC epoch ms). */

/** timestamptz → epoch ms (Date from both drivers; strings/numbers tolerated). */
export function toMs(v: unknown): number {
  if (v instanceof Date) return v.getTime()
  if (typeof v === 'number') return v
  return Date.parse(String(v))
}

export function toMsOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : toMs(v)
}

/** epoch ms → a parameter both drivers read as timestamptz. */
export function iso(ms: number): string {
  return new Date(ms).toISOString()
}

export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v)
}

export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v)
}

/** A timestamptz column as epoch ms in the select list (float8: both drivers return a number). */
export const msColumn = (column: string): string => `(extract(epoch from ${column}) * 1000)::float8`

/** A json/jsonb value: PGlite may hand it over as text, node-postgres as the parsed value. */
export function fromJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T
}
