/**
 * Versioned schema migrations, applied in list order by `jt808 migrate` and at every start.
 *
 * Format — to add a migration, create `NNN_name.ts` next to this file exporting
 *
 *     export const migration: Migration = {
 *       id: '002_waybills_anomalies',            // unique, never renamed once released
 *       async up(sql, ctx) { await sql.query('CREATE TABLE IF NOT EXISTS ...') },
 *     }
 *
 * and append it to MIGRATIONS below (keep the numeric order). Rules:
 *   - `up` runs inside the migration transaction (all pending migrations commit together or not at
 *     all) and is recorded in schema_migrations; it never runs twice on a database. Still write
 *     `IF NOT EXISTS` DDL: a half-provisioned database (restored dump, manual fix) must not break it.
 *   - One statement per sql.query() call (PGlite's extended protocol takes one statement at a time).
 *   - Never edit a released migration; add a new one.
 *   - Both backends: branch on ctx.timescale where they differ. A time-series table is created with
 *     createTimeTable(sql, ctx, spec, columns) (src/store/time-tables.ts) after appending its spec
 *     to TIME_TABLES, so partitions, compression and retention cover it.
 *   - Unqualified names only: the store runs in whatever schema its connection's search_path names.
 */
import type { Config } from '../../config/index.js'
import type { Sql } from '../sql.js'
import type { TimeTableContext } from '../time-tables.js'
import { migration as core } from './001_core.js'
import { migration as waybillsAnomalies } from './002_waybills_anomalies.js'
import { migration as api } from './003_api.js'
import { migration as admin } from './004_admin.js'
import { migration as plateKey } from './005_plate_key.js'
import { migration as attachments } from './006_attachments.js'
import { migration as matcherCheckpoints } from './007_matcher_checkpoints.js'
import { migration as platforms } from './008_platforms.js'
import { migration as platformWaybillsAlarms } from './009_platform_waybills_alarms.js'
import { migration as platformCommands } from './010_platform_commands.js'
import { migration as platformInfoAlarmResults } from './011_platform_info_alarm_results.js'
import { migration as platformCommandStates } from './012_platform_command_states.js'

export interface MigrationContext extends TimeTableContext {
  /** TimescaleDB is installed and the schema uses hypertables; false: native partitions. */
  timescale: boolean
  /** Chunk interval (seconds) for high-volume hypertables, from chunkIntervalSeconds(). */
  fleetChunkSeconds: number
  retention: Config['retention']
  config: Config
}

export interface Migration {
  id: string
  up(sql: Sql, ctx: MigrationContext): Promise<void>
}

export const MIGRATIONS: Migration[] = [
  core,
  waybillsAnomalies,
  api,
  admin,
  plateKey,
  attachments,
  matcherCheckpoints,
  platforms,
  platformWaybillsAlarms,
  platformCommands,
  platformInfoAlarmResults,
  platformCommandStates,
]
