/**
 * Worker-thread side of the pg driver's autocommitted COPY (see PgDriverOptions.copyInWorker):
 * its own small pool, one COPY per message, the outcome posted back as { id } or { id, error }.
 *
 * Why a thread: under load the gateway's event loop is busy with tens of thousands of socket
 * reads and ack writes per second, and each protocol turn of a COPY (CopyInResponse,
 * CommandComplete, ReadyForQuery) waited its turn behind them — measured at 40,000 reports/s:
 * ~200 ms from flush to commit while PostgreSQL sat 80 % idle. Here the turns run on a loop of
 * their own; the main thread pays one message each way.
 */
import { parentPort, workerData } from 'node:worker_threads'
import pg from 'pg'
import { copyOnPool } from './pg-driver.js'

export interface CopyWorkerData {
  kind: 'jt808-pg-copy'
  connectionString: string
  options?: string
  statementTimeoutMs: number
  connectTimeoutMs: number
  max: number
}

export interface CopyRequest {
  id: number
  statement: string
  payload: Uint8Array
}

export type CopyReply = { id: number; error?: undefined } | { id: number; error: { message: string; code?: string; name: string } }

const data = workerData as CopyWorkerData | undefined
if (parentPort && data?.kind === 'jt808-pg-copy') {
  const port = parentPort
  const pool = new pg.Pool({
    connectionString: data.connectionString,
    options: data.options,
    max: data.max,
    statement_timeout: data.statementTimeoutMs,
    connectionTimeoutMillis: data.connectTimeoutMs,
  })
  // An idle connection dropped by the server: the pool replaces it; the next COPY reports errors.
  pool.on('error', () => undefined)
  port.on('message', (req: CopyRequest | 'close') => {
    if (req === 'close') {
      void pool.end().finally(() => port.close())
      return
    }
    void copyOnPool(pool, req.statement, Buffer.from(req.payload.buffer, req.payload.byteOffset, req.payload.byteLength)).then(
      () => port.postMessage({ id: req.id } satisfies CopyReply),
      (e: Error & { code?: string }) => port.postMessage({ id: req.id, error: { message: e.message, code: typeof e.code === 'string' ? e.code : undefined, name: e.name } } satisfies CopyReply),
    )
  })
}
