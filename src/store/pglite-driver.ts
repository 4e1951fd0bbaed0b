/**
 * Sql over embedded PGlite (the default when DATABASE_URL is unset), in-process, with a data
 * directory or in memory. PGlite's API is called directly: pglite-socket breaks on COPY FROM STDIN,
 * so copyFrom rewrites `FROM STDIN` to PGlite's `FROM '/dev/blob'` and hands the payload as the blob.
 *
 * PGlite is a single connection. Its own transaction() holds an exclusive lock: statements issued
 * outside the transaction wait until it ends, and the transaction body must use the handle it is
 * given (which the Sql seam enforces). Result types match pg-driver.ts: int8 → number,
 * timestamptz → Date, jsonb → parsed value, bytea → Buffer, numeric → string.
 */
import { mkdirSync } from 'node:fs'
import type { QueryResult, Sql } from './sql.js'

/** The part of PGlite's API this driver uses; both @electric-sql/pglite and its TimescaleDB build provide it. */
export interface PGliteQueryOptions {
  blob?: Blob
  parsers?: Record<number, (value: string, typeId: number) => unknown>
}
export interface PGliteResultsLike {
  rows: unknown[]
  affectedRows?: number
}
export interface PGliteTxLike {
  query(text: string, params?: unknown[], options?: PGliteQueryOptions): Promise<PGliteResultsLike>
}
export interface PGliteLike extends PGliteTxLike {
  transaction<T>(fn: (tx: PGliteTxLike) => Promise<T>): Promise<T>
  close(): Promise<void>
  readonly closed: boolean
}

const BYTEA = 17
/** PGlite returns bytea as Uint8Array; pg returns Buffer. Agree on Buffer. */
const PARSERS: PGliteQueryOptions['parsers'] = {
  [BYTEA]: (v: string) => Buffer.from(v.startsWith('\\x') ? v.slice(2) : v, 'hex'),
}

export interface PGliteDriverOptions {
  /** Directory holding the database files; omitted: in memory. */
  dataDir?: string
  /** An already created PGlite instance (e.g. the TimescaleDB build in tests); the driver owns it from now on. */
  instance?: PGliteLike
}

export async function openPGliteSql(opts: PGliteDriverOptions = {}): Promise<Sql> {
  let db = opts.instance
  if (!db) {
    const { PGlite } = await import('@electric-sql/pglite')
    if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true })
    db = (await PGlite.create(opts.dataDir)) as unknown as PGliteLike
  }
  return new PGliteSql(db)
}

function toResult<R>(res: PGliteResultsLike): QueryResult<R> {
  // affectedRows is 0 for SELECT; pg's rowCount counts the rows returned there.
  return { rows: res.rows as R[], rowCount: Math.max(res.affectedRows ?? 0, res.rows.length) }
}

const FROM_STDIN = /\bFROM\s+STDIN\b/i

async function copyVia(on: PGliteTxLike, statement: string, payload: Buffer): Promise<void> {
  if (!FROM_STDIN.test(statement)) throw new Error(`copyFrom expects "COPY ... FROM STDIN ...", got: ${statement}`)
  const text = statement.replace(FROM_STDIN, "FROM '/dev/blob'")
  await on.query(text, [], { blob: new Blob([payload]), parsers: PARSERS })
}

class PGliteSql implements Sql {
  readonly kind = 'pglite' as const
  constructor(private readonly db: PGliteLike) {}

  async query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    return toResult<R>(await this.db.query(text, params, { parsers: PARSERS }))
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PGliteTxSql(tx)))
  }

  copyFrom(statement: string, payload: Buffer): Promise<void> {
    return copyVia(this.db, statement, payload)
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close()
  }
}

class PGliteTxSql implements Sql {
  readonly kind = 'pglite' as const
  constructor(private readonly tx: PGliteTxLike) {}

  async query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    return toResult<R>(await this.tx.query(text, params, { parsers: PARSERS }))
  }

  /** Nested: joins the enclosing transaction (PGlite has one connection; a second BEGIN would deadlock). */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return fn(this)
  }

  copyFrom(statement: string, payload: Buffer): Promise<void> {
    return copyVia(this.tx, statement, payload)
  }

  async close(): Promise<void> {
    throw new Error('close() on a transaction handle: close the store instead')
  }
}
