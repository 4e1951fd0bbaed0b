/**
 * MaintenanceStore: migrations, TimescaleDB detection, partition upkeep and retention.
 */
import type { MaintenanceStore, MigrationReport } from './port.js'
import type { StoreContext } from './context.js'
import { MIGRATIONS, type Migration, type MigrationContext } from './migrations/index.js'
import { dropPartitionsBefore, ensurePartitionsCovering, tableExists } from './partitions.js'
import type { Sql } from './sql.js'
import { chunkIntervalSeconds, chunkSecondsFor, partitionStartsBetween, sharedBuffersBytes, TIME_TABLES } from './time-tables.js'

const DAY_MS = 86_400_000

export class TimescaleUnavailableError extends Error {
  constructor(reason: string) {
    super(`TimescaleDB was required but is not available: ${reason}`)
    this.name = 'TimescaleUnavailableError'
  }
}

async function extensionInstalled(sql: Sql): Promise<boolean> {
  const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`)
  return (rows[0]?.n ?? 0) > 0
}

async function isHypertable(sql: Sql, table: string): Promise<boolean> {
  const { rows } = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM timescaledb_information.hypertables
      WHERE hypertable_schema = current_schema() AND hypertable_name = $1`,
    [table],
  )
  return (rows[0]?.n ?? 0) > 0
}

/**
 * Decides the storage mode. An existing schema keeps the shape it was created with (positions is
 * a hypertable or it is not). A fresh one uses TimescaleDB when the extension is installed or can
 * be created (it must be in shared_preload_libraries on a server), unless forced off.
 */
export async function detectTimescale(sql: Sql, option: 'auto' | boolean): Promise<boolean> {
  if (await tableExists(sql, 'positions')) {
    return (await extensionInstalled(sql)) && (await isHypertable(sql, 'positions'))
  }
  if (option === false) return false
  if (await extensionInstalled(sql)) return true
  const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'timescaledb'`)
  if (!rows[0]?.n) {
    if (option === true) throw new TimescaleUnavailableError('the server has no timescaledb extension')
    return false
  }
  try {
    await sql.query(`CREATE EXTENSION IF NOT EXISTS timescaledb`)
    return true
  } catch (e) {
    if (option === true) throw new TimescaleUnavailableError((e as Error).message)
    return false
  }
}

export async function migrationContext(ctx: StoreContext): Promise<MigrationContext> {
  const fleetChunkSeconds = ctx.mode.timescale ? chunkIntervalSeconds(ctx.config.fleetSize, ctx.config.reportIntervalSeconds, await sharedBuffersBytes(ctx.sql)) : 86_400
  return { timescale: ctx.mode.timescale, fleetChunkSeconds, retention: ctx.config.retention, config: ctx.config }
}

/**
 * Applies pending migrations in one transaction under an advisory lock (per schema), so several
 * gateway processes starting at once apply each migration exactly once.
 */
export async function runMigrations(ctx: StoreContext, migrations: Migration[] = MIGRATIONS): Promise<MigrationReport> {
  ctx.mode.timescale = await detectTimescale(ctx.sql, ctx.timescaleOption)
  const mctx = await migrationContext(ctx)
  await ctx.sql.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    timescale boolean NOT NULL
  )`)
  const report = await ctx.sql.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.jt808_migrations'))`)
    const { rows } = await tx.query<{ id: string }>(`SELECT id FROM schema_migrations`)
    const done = new Set(rows.map((r) => r.id))
    const applied: string[] = []
    const alreadyApplied: string[] = []
    for (const m of migrations) {
      if (done.has(m.id)) {
        alreadyApplied.push(m.id)
        continue
      }
      try {
        await m.up(tx, mctx)
      } catch (e) {
        const err = e as Error
        err.message = `migration ${m.id} failed: ${err.message}`
        throw err
      }
      await tx.query(`INSERT INTO schema_migrations (id, timescale) VALUES ($1, $2)`, [m.id, mctx.timescale])
      applied.push(m.id)
    }
    return { applied, alreadyApplied, timescale: mctx.timescale }
  })
  if (mctx.timescale) await syncTimescalePolicies(ctx, mctx.fleetChunkSeconds)
  return report
}

/**
 * Keeps retention policies and chunk intervals in line with the current configuration (both
 * may change between starts). Chunk interval changes apply to chunks created from now on.
 */
async function syncTimescalePolicies(ctx: StoreContext, fleetChunkSeconds: number): Promise<void> {
  for (const spec of TIME_TABLES) {
    if (!(await isHypertable(ctx.sql, spec.table))) continue
    const days = ctx.config.retention[spec.retention]
    const { rows } = await ctx.sql.query<{ drop_after: string | null }>(
      `SELECT config->>'drop_after' AS drop_after FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_retention' AND hypertable_schema = current_schema() AND hypertable_name = $1`,
      [spec.table],
    )
    const wanted = `${days} days`
    if (rows[0]?.drop_after !== wanted) {
      await ctx.sql.query(`SELECT remove_retention_policy($1::regclass, if_exists => true)`, [spec.table])
      await ctx.sql.query(`SELECT add_retention_policy($1::regclass, make_interval(days => $2::int))`, [spec.table, days])
    }
    await ctx.sql.query(`SELECT set_chunk_time_interval($1::regclass, make_interval(secs => $2::int))`, [spec.table, chunkSecondsFor(spec, fleetChunkSeconds)])
  }
}

/** refreshHourlyBacklog is the hourly aggregate's (hourly.ts), composed in index.ts. */
export function maintenanceQueries(ctx: StoreContext): Omit<MaintenanceStore, 'timescale' | 'refreshHourlyBacklog'> {
  return {
    migrate: () => runMigrations(ctx),

    async ensurePartitions(now: number, daysAhead = 7): Promise<string[]> {
      if (ctx.mode.timescale) return []
      const created: string[] = []
      for (const spec of TIME_TABLES) {
        if (!(await tableExists(ctx.sql, spec.table))) continue
        const starts = partitionStartsBetween(spec, now - DAY_MS, now + daysAhead * DAY_MS)
        created.push(...(await ensurePartitionsCovering(ctx, spec, starts)))
      }
      return created
    },

    async applyRetention(now: number): Promise<string[]> {
      const dropped: string[] = []
      for (const spec of TIME_TABLES) {
        if (!(await tableExists(ctx.sql, spec.table))) continue
        const cutoff = now - ctx.config.retention[spec.retention] * DAY_MS
        if (ctx.mode.timescale) {
          // The policies do this on the server's clock; here with the caller's (tests, manual runs).
          const { rows } = await ctx.sql.query<{ chunk: string }>(`SELECT drop_chunks($1::regclass, older_than => $2::timestamptz)::text AS chunk`, [spec.table, new Date(cutoff).toISOString()])
          dropped.push(...rows.map((r) => r.chunk))
        } else {
          dropped.push(...(await dropPartitionsBefore(ctx, spec, cutoff)))
        }
      }
      // Small tables: plain deletes.
      const r = ctx.config.retention
      const cut = (days: number) => new Date(now - days * DAY_MS).toISOString()
      const deletes: Array<[string, string]> = [
        [`DELETE FROM sessions WHERE at < $1`, cut(r.positionsDays)],
        [`DELETE FROM media WHERE received_at < $1`, cut(r.positionsDays)],
        [`DELETE FROM driver_card_events WHERE time < $1`, cut(r.alarmsDays)],
        [`DELETE FROM queued_commands WHERE expires_at < $1`, new Date(now).toISOString()],
      ]
      for (const [text, param] of deletes) {
        const res = await ctx.sql.query(text, [param])
        if (res.rowCount) dropped.push(`${text.split(' ')[2]}: ${res.rowCount} rows`)
      }
      return dropped
    },

    async ping(): Promise<void> {
      await ctx.sql.query('SELECT 1')
    },

    close: () => ctx.sql.close(),
  }
}
