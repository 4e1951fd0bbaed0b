/**
 * Filtered lists paged newest first over a table's `seq` column (fixed at first insert, so pages
 * stay stable while rows are added or updated). The cursor is the last seq served, as decimal
 * text; a query fetches one row past the limit to learn whether another page follows.
 */

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

/** WHERE clauses written with `?` placeholders, numbered $1, $2 … as they are added. */
export class Conditions {
  readonly params: unknown[] = []
  private readonly clauses: string[] = []

  /** One clause; its `?`s take `values` in order. */
  add(clause: string, ...values: unknown[]): void {
    let c = clause
    for (const v of values) c = c.replace('?', this.param(v))
    this.clauses.push(c)
  }

  /** Adds a parameter and returns its placeholder. */
  param(value: unknown): string {
    this.params.push(value)
    return `$${this.params.length}`
  }

  /** "WHERE a AND b …", or '' when nothing was added. */
  get where(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : ''
  }
}

/** The seq a cursor names; anything but decimal digits is refused. */
export function cursorSeq(cursor: string): string {
  if (!/^\d{1,18}$/.test(cursor)) throw new RangeError(`invalid cursor "${cursor}"`)
  return cursor
}

/** Page size: default 100, at most 1000. */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return 100
  return Math.max(1, Math.min(1000, Math.floor(limit)))
}

/** The page out of `rows` fetched with LIMIT limit + 1, newest first. */
export function pageOf<R extends { seq: string | number }, T>(rows: R[], limit: number, toItem: (row: R) => T): Page<T> {
  const page = rows.slice(0, limit)
  return { items: page.map((r) => toItem(r)), nextCursor: rows.length > limit ? String(page[page.length - 1].seq) : null }
}
