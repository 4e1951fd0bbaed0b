/**
 * The one SQL seam. Both backends speak PostgreSQL's dialect ($1 parameters), so every query in
 * src/store is written once against this interface; only the drivers differ:
 *   - pg-driver.ts:     a real PostgreSQL / TimescaleDB server through `pg` (DATABASE_URL set)
 *   - pglite-driver.ts: embedded PGlite in-process (the default), or its TimescaleDB build in tests
 */
export interface QueryResult<R> {
  rows: R[]
  rowCount: number
}

export interface Sql {
  readonly kind: 'pg' | 'pglite'
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>
  /** Runs fn in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>
  /** COPY ... FROM STDIN with the whole payload in one buffer (binary or text format, as the statement says). */
  copyFrom(statement: string, payload: Buffer): Promise<void>
  close(): Promise<void>
}
