/**
 * Sql over a real PostgreSQL / TimescaleDB server through `pg` (used when DATABASE_URL is set).
 *
 * Result types are normalised to what the PGlite driver returns, so query modules never branch
 * on the driver: int8 (and int8[]) → number, timestamptz → Date, jsonb → parsed value,
 * bytea → Buffer, numeric → string (both drivers). Parameters: pass jsonb as a JSON string
 * (`$1::text::jsonb`) — pg would turn a JS array into a PostgreSQL array literal.
 */
import { Worker } from 'node:worker_threads'
import pg from 'pg'
import copyStreams from 'pg-copy-streams'
import type { CopyReply, CopyRequest, CopyWorkerData } from './pg-copy-worker.js'
import type { QueryResult, Sql } from './sql.js'

export interface PgDriverOptions {
  connectionString: string
  /**
   * Schema to work in: created if missing and put first on every connection's search_path
   * (then `public`, where extensions such as timescaledb live). Lets each test file own a schema.
   */
  schema?: string
  /** Pool size (default 10). */
  max?: number
  /**
   * Server-side statement timeout (default 30 s): a stuck statement fails and the caller retries,
   * instead of holding the ingest batch (and every ack behind it) forever.
   */
  statementTimeoutMs?: number
  /** Giving up on connecting (default 10 s). */
  connectTimeoutMs?: number
  /** Called for errors of idle pooled connections (server restart...), which pg would otherwise throw. */
  onIdleError?: (err: Error) => void
  /**
   * Run copyFrom outside transactions (the ingest's direct COPY) on a worker thread with its own
   * connections (default false; the gateway turns it on): see pg-copy-worker.ts for why.
   */
  copyInWorker?: boolean
}

const INT8 = 20
const INT8_ARRAY = 1016
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary') {
      if (oid === INT8) return (v: string) => Number(v)
      if (oid === INT8_ARRAY) {
        const parseArray = (pg.types.getTypeParser as (oid: number, format: 'text') => (v: string) => Array<string | null>)(INT8_ARRAY, 'text')
        return (v: string) => parseArray(v).map((x) => (x === null ? null : Number(x)))
      }
    }
    return pg.types.getTypeParser(oid, format ?? 'text')
  }) as pg.CustomTypesConfig['getTypeParser'],
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/**
 * The URL's own `options` (libpq startup options, e.g. `?options=-c%20wal_init_zero%3Doff`) taken
 * out of the connection string: pg lets a URL's `options` replace the `options` it is given, so
 * left in, they would silently drop the schema's search_path. Key/value strings pass unchanged.
 */
export function splitUrlOptions(connectionString: string): { connectionString: string; options: string | undefined } {
  let url: URL
  try {
    url = new URL(connectionString)
  } catch {
    return { connectionString, options: undefined }
  }
  const options = url.searchParams.get('options') ?? undefined
  if (options === undefined) return { connectionString, options }
  url.searchParams.delete('options')
  return { connectionString: url.href, options }
}

export async function openPgSql(opts: PgDriverOptions): Promise<Sql> {
  const fromUrl = splitUrlOptions(opts.connectionString)
  const connectionString = fromUrl.connectionString
  let options = fromUrl.options
  if (opts.schema !== undefined) {
    if (!SCHEMA_NAME.test(opts.schema)) throw new Error(`invalid schema name "${opts.schema}"`)
    const admin = new pg.Client({ connectionString: opts.connectionString })
    await admin.connect()
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`)
    } catch (e) {
      // Two processes creating the same schema at once: the loser sees a unique violation.
      if ((e as { code?: string }).code !== '23505') throw e
    } finally {
      await admin.end()
    }
    // libpq `options`: applied by the server at connection start, so pooled connections can never miss it.
    options = [options, `-c search_path=${quoteIdent(opts.schema)},public`].filter(Boolean).join(' ')
  }
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    types,
    options,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
  })
  pool.on('error', (err) => opts.onIdleError?.(err))
  const worker = opts.copyInWorker
    ? new CopyWorker({
        kind: 'jt808-pg-copy',
        connectionString,
        options,
        statementTimeoutMs: opts.statementTimeoutMs ?? 30_000,
        connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
        max: 4,
      })
    : null
  return new PoolSql(pool, worker)
}

/** The main-thread end of pg-copy-worker.ts: one COPY per message, answers matched by id. */
class CopyWorker {
  private worker: Worker | null = null
  private nextId = 1
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()

  constructor(private readonly data: CopyWorkerData) {}

  copy(statement: string, payload: Buffer): Promise<void> {
    const worker = (this.worker ??= this.start())
    const id = this.nextId++
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      worker.ref() // work in flight keeps the process alive
      worker.postMessage({ id, statement, payload } satisfies CopyRequest)
    })
  }

  private start(): Worker {
    // Built, the sibling is .js. From source (tsx) it is .ts, and the loader hooks that
    // `--import tsx` registered do not reach worker threads (Node 20): the worker registers tsx first.
    const fromSource = import.meta.url.endsWith('.ts')
    const url = new URL(`./pg-copy-worker${fromSource ? '.ts' : '.js'}`, import.meta.url)
    const worker = fromSource
      ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}) })`, {
          eval: true,
          workerData: this.data,
        })
      : new Worker(url, { workerData: this.data })
    worker.unref()
    worker.on('message', (reply: CopyReply) => {
      const w = this.waiting.get(reply.id)
      if (!w) return
      this.waiting.delete(reply.id)
      if (!this.waiting.size) worker.unref()
      if (reply.error) w.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name, code: reply.error.code }))
      else w.resolve()
    })
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null
      for (const w of this.waiting.values()) w.reject(err)
      this.waiting.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the COPY worker exited (${code})`)))
    return worker
  }

  async close(): Promise<void> {
    const worker = this.worker
    if (!worker) return
    this.worker = null
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage('close')
    const timer = setTimeout(() => void worker.terminate(), 5000)
    await exited
    clearTimeout(timer)
  }
}

type Queryable = pg.Pool | pg.PoolClient

async function runQuery<R>(on: Queryable, text: string, params?: unknown[]): Promise<QueryResult<R>> {
  const res = await on.query(text, params as unknown[] | undefined)
  return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 }
}

/** One COPY on a pooled connection; a connection that broke is not returned to the pool. */
export async function copyOnPool(pool: pg.Pool, statement: string, payload: Buffer): Promise<void> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await copyInto(client, statement, payload)
  } catch (e) {
    if (isConnectionError(e)) broken = e as Error
    throw e
  } finally {
    client.release(broken)
  }
}

async function copyInto(client: pg.PoolClient, statement: string, payload: Buffer): Promise<void> {
  const stream = client.query(copyStreams.from(statement))
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('finish', resolve)
    stream.end(payload)
  })
}

class PoolSql implements Sql {
  readonly kind = 'pg' as const
  constructor(
    private readonly pool: pg.Pool,
    private readonly copyWorker: CopyWorker | null = null,
  ) {}

  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    return runQuery<R>(this.pool, text, params)
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    try {
      try {
        await client.query('BEGIN')
      } catch (e) {
        if (isConnectionError(e)) broken = e as Error
        throw e
      }
      let out: T
      try {
        out = await fn(new ClientSql(client))
      } catch (e) {
        // A failed ROLLBACK means the connection is unusable: do not return it to the pool.
        await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr))
        throw e
      }
      try {
        await client.query('COMMIT')
      } catch (e) {
        if (isConnectionError(e)) broken = e as Error
        throw e
      }
      return out
    } finally {
      client.release(broken)
    }
  }

  async copyFrom(statement: string, payload: Buffer): Promise<void> {
    if (this.copyWorker) return this.copyWorker.copy(statement, payload)
    return copyOnPool(this.pool, statement, payload)
  }

  async close(): Promise<void> {
    await this.copyWorker?.close()
    await this.pool.end()
  }
}

/** The Sql handed to a transaction body: every statement on the transaction's connection. */
class ClientSql implements Sql {
  readonly kind = 'pg' as const
  constructor(private readonly client: pg.PoolClient) {}

  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    return runQuery<R>(this.client, text, params)
  }

  /** Nested: joins the enclosing transaction (no savepoint). */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return fn(this)
  }

  copyFrom(statement: string, payload: Buffer): Promise<void> {
    return copyInto(this.client, statement, payload)
  }

  async close(): Promise<void> {
    throw new Error('close() on a transaction handle: close the store instead')
  }
}

/** Errors after which a pooled connection must be discarded rather than reused. */
function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string }).code
  if (typeof code !== 'string') return true // socket errors, timeouts: no SQLSTATE
  return code.startsWith('08') || code.startsWith('57P')
}
