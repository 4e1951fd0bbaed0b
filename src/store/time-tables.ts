/**
 * Time-partitioned tables: one description drives both backends.
 *   - TimescaleDB: a hypertable on the time column, compressed after 7 days (segment by the
 *     owner column, ordered by time), with a retention policy.
 *   - Plain PostgreSQL: native RANGE partitioning by day (or month), partitions created ahead
 *     by ensurePartitions(), retention by dropping whole partitions in applyRetention().
 *
 * A migration creates such a table with createTimeTable(); an engineer adding one appends its
 * spec to TIME_TABLES so partition upkeep and retention cover it too.
 */
import type { Config } from '../config/index.js'
import type { Sql } from './sql.js'

export interface TimeTableSpec {
  table: string
  timeColumn: string
  /** Plain PostgreSQL partition width. Day for high-volume tables, month for long-kept small ones. */
  partition: 'day' | 'month'
  /** Which retention setting (days) applies. */
  retention: keyof Config['retention']
  /** TimescaleDB chunk interval: 'fleet' = derived from fleet size and report rate (chunkIntervalSeconds), else seconds. */
  chunk: 'fleet' | number
  /** TimescaleDB compression: segment by this column, order by time descending. */
  compressSegmentBy: string
}

export const TIME_TABLES: TimeTableSpec[] = [
  { table: 'positions', timeColumn: 'device_time', partition: 'day', retention: 'positionsDays', chunk: 'fleet', compressSegmentBy: 'vehicle_id' },
  { table: 'raw_frames', timeColumn: 'received_at', partition: 'day', retention: 'rawFramesDays', chunk: 'fleet', compressSegmentBy: 'phone' },
  { table: 'alarm_transitions', timeColumn: 'device_time', partition: 'month', retention: 'alarmsDays', chunk: 30 * 86_400, compressSegmentBy: 'vehicle_id' },
]

export function timeTable(name: string): TimeTableSpec {
  const spec = TIME_TABLES.find((t) => t.table === name)
  if (!spec) throw new Error(`no time table "${name}"`)
  return spec
}

/** Compression starts on chunks older than this (they are rarely written after: blind-area data is late by hours, not weeks). */
export const COMPRESS_AFTER_DAYS = 7

/**
 * Average bytes one position adds to the indexes of the chunk being written: the primary key
 * btree on (vehicle_id int4, device_time timestamptz) holds 24-byte tuples plus a 4-byte line
 * pointer; inserts land in per-vehicle key ranges, so leaf pages run ~70 % full → ≈ 40 B/row.
 */
export const INDEX_BYTES_PER_ROW = 40

/**
 * The chunk interval rule: the indexes of the chunks being written must stay in memory, or every
 * insert reads index pages from disk. We give them about 25 % of shared_buffers:
 *
 *   rows/s       = fleetSize / reportIntervalSeconds
 *   chunk (s)    = 0.25 × shared_buffers / (rows/s × INDEX_BYTES_PER_ROW)
 *
 * rounded down to whole hours and kept within 1 hour … 7 days. Example: 10 000 vehicles every
 * 30 s on 8 GB shared_buffers → 333 rows/s → 2 GiB / 13.3 kB/s ≈ 44 h; on the 128 MB default
 * the 1-hour floor applies (the server is then undersized for that fleet).
 */
export function chunkIntervalSeconds(fleetSize: number, reportIntervalSeconds: number, sharedBuffersBytes: number): number {
  const rowsPerSecond = fleetSize / Math.max(1, reportIntervalSeconds)
  const seconds = (0.25 * sharedBuffersBytes) / (rowsPerSecond * INDEX_BYTES_PER_ROW)
  const hours = Math.floor(seconds / 3600)
  return Math.min(7 * 24, Math.max(1, hours)) * 3600
}

export async function sharedBuffersBytes(sql: Sql): Promise<number> {
  const { rows } = await sql.query<{ bytes: number }>(`SELECT pg_size_bytes(current_setting('shared_buffers'))::int8 AS bytes`)
  return Number(rows[0]?.bytes ?? 128 * 1024 * 1024)
}

export function chunkSecondsFor(spec: TimeTableSpec, fleetChunkSeconds: number): number {
  return spec.chunk === 'fleet' ? fleetChunkSeconds : spec.chunk
}

// ---- plain PostgreSQL partitions ----------------------------------------------------------

const DAY_MS = 86_400_000

/** Start (UTC ms) of the partition holding `t`. */
export function partitionStart(spec: TimeTableSpec, t: number): number {
  if (spec.partition === 'day') return t - (((t % DAY_MS) + DAY_MS) % DAY_MS) // per row on the write path: no Date
  const d = new Date(t)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

export function partitionEnd(spec: TimeTableSpec, start: number): number {
  const d = new Date(start)
  return spec.partition === 'day' ? start + DAY_MS : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
}

/** positions_p20250301 (day) / alarm_transitions_p202503 (month). */
export function partitionName(spec: TimeTableSpec, start: number): string {
  const iso = new Date(start).toISOString()
  const stamp = spec.partition === 'day' ? iso.slice(0, 10).replace(/-/g, '') : iso.slice(0, 7).replace(/-/g, '')
  return `${spec.table}_p${stamp}`
}

/** Inverse of partitionName; null for names this code did not make. */
export function parsePartitionName(spec: TimeTableSpec, name: string): number | null {
  const prefix = `${spec.table}_p`
  if (!name.startsWith(prefix)) return null
  const stamp = name.slice(prefix.length)
  const m = spec.partition === 'day' ? /^(\d{4})(\d{2})(\d{2})$/.exec(stamp) : /^(\d{4})(\d{2})$/.exec(stamp)
  if (!m) return null
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] ? Number(m[3]) : 1)
}

/** Partition starts covering [from, to]. */
export function partitionStartsBetween(spec: TimeTableSpec, from: number, to: number): number[] {
  const out: number[] = []
  for (let s = partitionStart(spec, from); s <= to; s = partitionEnd(spec, s)) out.push(s)
  return out
}

// ---- creation (used by migrations) ----------------------------------------------------------

export interface TimeTableContext {
  timescale: boolean
  /** Chunk interval derived from the fleet (seconds). */
  fleetChunkSeconds: number
  retention: Config['retention']
}

/**
 * Creates `spec.table` with the given column/constraint list in the shape the backend wants.
 * Idempotent. Retention policies and chunk intervals are re-synchronised with the configuration
 * at every start (syncTimescalePolicies), so they are not fixed here forever.
 */
export async function createTimeTable(sql: Sql, ctx: TimeTableContext, spec: TimeTableSpec, columns: string): Promise<void> {
  if (!ctx.timescale) {
    await sql.query(`CREATE TABLE IF NOT EXISTS ${spec.table} (${columns}) PARTITION BY RANGE (${spec.timeColumn})`)
    return
  }
  await sql.query(`CREATE TABLE IF NOT EXISTS ${spec.table} (${columns})`)
  const chunk = chunkSecondsFor(spec, ctx.fleetChunkSeconds)
  await sql.query(
    `SELECT create_hypertable('${spec.table}', '${spec.timeColumn}', chunk_time_interval => make_interval(secs => ${chunk}),
       if_not_exists => true, create_default_indexes => false)`,
  )
  await sql.query(
    `ALTER TABLE ${spec.table} SET (timescaledb.compress, timescaledb.compress_segmentby = '${spec.compressSegmentBy}',
       timescaledb.compress_orderby = '${spec.timeColumn} DESC')`,
  )
  await sql.query(`SELECT add_compression_policy('${spec.table}', make_interval(days => ${COMPRESS_AFTER_DAYS}), if_not_exists => true)`)
  await sql.query(`SELECT add_retention_policy('${spec.table}', make_interval(days => ${ctx.retention[spec.retention]}), if_not_exists => true)`)
}
