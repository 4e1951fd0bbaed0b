/**
 * PositionStore: the batch write path and track queries.
 *
 * Every transport stores a retransmitted position once (primary key (vehicle_id, device_time)):
 *   - 'unnest':       one prepared INSERT … SELECT FROM unnest($1::int4[], …) ON CONFLICT DO NOTHING.
 *   - 'copy-staging': binary COPY into a per-connection temp table, then INSERT … SELECT …
 *                     ON CONFLICT DO NOTHING.
 *   - 'copy' (default): one binary COPY straight into positions, as its own statement outside
 *                     any explicit transaction (autocommit: the COPY is atomic and commits by
 *                     itself, so a batch costs one round trip, not BEGIN/SAVEPOINT/COPY/RELEASE/
 *                     COMMIT). Only when it hits a duplicate (SQLSTATE 23505: nothing was written)
 *                     is the batch written the 'copy-staging' way. After such a conflict the next
 *                     batches go straight to staging for a while (retransmissions come in bursts,
 *                     e.g. after a reconnect), then the direct COPY is tried again.
 *
 * Why 'copy': it is the fastest transport that deduplicates, at every batch size measured
 * (bench/ingest.ts transports; the figures are in bench/RESULTS.md, "bench/ingest transports").
 * unnest pays for text array parsing server-side and for ON CONFLICT's speculative insertion;
 * staging removes the parsing but writes every row twice; the direct COPY does neither, and
 * steady-state batches have no duplicates, so the fallback is rarely taken.
 */
import type { PositionRecord } from '../domain.js'
import { BinaryCopyWriter, type CopyType } from './binary-copy.js'
import type { StoreContext } from './context.js'
import { iso, num, numOrNull, toMs } from './convert.js'
import { ensurePartitionsCovering } from './partitions.js'
import type { HourlyVehicleStats, InsertPositionsResult, PositionStore } from './port.js'
import type { Sql } from './sql.js'
import { partitionStart, timeTable } from './time-tables.js'

export type PositionTransport = 'copy' | 'copy-staging' | 'unnest'

export const DEFAULT_TRANSPORT: PositionTransport = 'copy'

/** Batches written via staging after a duplicate was met, before the direct COPY is tried again. */
const STAGING_AFTER_CONFLICT = 50

const COLUMNS = 'vehicle_id, device_time, received_at, lat, lon, altitude, speed, direction, alarm, status, mileage, extras, blind_area, source_msg_id'

const INSERT_UNNEST = `INSERT INTO positions (${COLUMNS})
SELECT v, to_timestamp(dt / 1000.0), to_timestamp(ra / 1000.0), la, lo, al, sp, di, am, st, mi, ex::jsonb, bl, sm
  FROM unnest($1::int4[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::int4[], $7::float8[],
              $8::int2[], $9::int8[], $10::int8[], $11::float8[], $12::text[], $13::bool[], $14::int4[])
    AS u(v, dt, ra, la, lo, al, sp, di, am, st, mi, ex, bl, sm)
ON CONFLICT DO NOTHING`

const COPY_TYPES: CopyType[] = ['int4', 'timestamptz', 'timestamptz', 'float8', 'float8', 'int4', 'float8', 'int2', 'int8', 'int8', 'float8', 'jsonb', 'bool', 'int4']
const STAGE_DDL = `CREATE TEMP TABLE IF NOT EXISTS positions_stage (
  vehicle_id int4, device_time timestamptz, received_at timestamptz, lat float8, lon float8, altitude int4,
  speed float8, direction int2, alarm int8, status int8, mileage float8, extras jsonb, blind_area bool, source_msg_id int4
) ON COMMIT DELETE ROWS`
const COPY_STAGE = `COPY positions_stage (${COLUMNS}) FROM STDIN WITH (FORMAT binary)`
const COPY_DIRECT = `COPY positions (${COLUMNS}) FROM STDIN WITH (FORMAT binary)`
const INSERT_FROM_STAGE = `INSERT INTO positions (${COLUMNS}) SELECT ${COLUMNS} FROM positions_stage ON CONFLICT DO NOTHING`

export const SELECT_RECORD = `vehicle_id, device_time, received_at, lat, lon, altitude, speed, direction, alarm, status, mileage, extras, blind_area, source_msg_id`

export interface PositionRow {
  vehicle_id: number
  device_time: Date
  received_at: Date
  lat: number
  lon: number
  altitude: number
  speed: number
  direction: number
  alarm: number
  status: number
  mileage: number | null
  extras: Record<string, unknown> | null
  blind_area: boolean
  source_msg_id: number
}

export function rowToPosition(r: PositionRow): PositionRecord {
  return {
    vehicleId: num(r.vehicle_id),
    deviceTime: toMs(r.device_time),
    receivedAt: toMs(r.received_at),
    latitude: num(r.lat),
    longitude: num(r.lon),
    altitude: num(r.altitude),
    speed: num(r.speed),
    direction: num(r.direction),
    alarm: num(r.alarm),
    status: num(r.status),
    mileage: numOrNull(r.mileage),
    extras: r.extras ?? {},
    blindArea: r.blind_area,
    sourceMsgId: num(r.source_msg_id),
  }
}

function extrasJson(p: PositionRecord): string {
  const extras = p.extras
  if (extras) for (const _ in extras) return JSON.stringify(extras) // (a key exists: no Object.keys array per row)
  return '{}'
}

/** Column arrays for the unnest statement. */
export function unnestParams(batch: readonly PositionRecord[]): unknown[] {
  const n = batch.length
  const cols: unknown[][] = Array.from({ length: 14 }, () => new Array(n))
  for (let i = 0; i < n; i++) {
    const p = batch[i]!
    cols[0]![i] = p.vehicleId
    cols[1]![i] = p.deviceTime
    cols[2]![i] = p.receivedAt
    cols[3]![i] = p.latitude
    cols[4]![i] = p.longitude
    cols[5]![i] = p.altitude
    cols[6]![i] = p.speed
    cols[7]![i] = p.direction
    cols[8]![i] = p.alarm
    cols[9]![i] = p.status
    cols[10]![i] = p.mileage
    cols[11]![i] = extrasJson(p)
    cols[12]![i] = p.blindArea
    cols[13]![i] = p.sourceMsgId
  }
  return cols
}

/** The batch in binary COPY format (column order = COLUMNS = COPY_TYPES). */
export function copyPayload(batch: readonly PositionRecord[]): Buffer {
  const w = new BinaryCopyWriter(COPY_TYPES, batch.length * 160 + 64)
  for (const p of batch) {
    w.beginRow(14)
    w.int4(p.vehicleId)
    w.timestamptz(p.deviceTime)
    w.timestamptz(p.receivedAt)
    w.float8(p.latitude)
    w.float8(p.longitude)
    w.int4(p.altitude)
    w.float8(p.speed)
    w.int2(p.direction)
    w.int8(p.alarm)
    w.int8(p.status)
    if (p.mileage === null || p.mileage === undefined) w.null()
    else w.float8(p.mileage)
    w.jsonb(extrasJson(p))
    w.bool(p.blindArea)
    w.int4(p.sourceMsgId)
  }
  return w.finish()
}

async function writeUnnest(tx: Sql, batch: readonly PositionRecord[]): Promise<number> {
  return (await tx.query(INSERT_UNNEST, unnestParams(batch))).rowCount
}

async function writeViaStaging(tx: Sql, payload: Buffer): Promise<number> {
  await tx.query(STAGE_DDL)
  await tx.copyFrom(COPY_STAGE, payload)
  return (await tx.query(INSERT_FROM_STAGE)).rowCount
}

/** Direct COPY, autocommitted; false (nothing written) when the batch holds a duplicate. */
async function tryDirectCopy(sql: Sql, payload: Buffer): Promise<boolean> {
  try {
    await sql.copyFrom(COPY_DIRECT, payload)
    return true
  } catch (e) {
    if ((e as { code?: string }).code !== '23505') throw e
    return false
  }
}

/**
 * Which rows of the batch were duplicates. A row repeated inside the batch: every occurrence
 * after the first. A row already stored: its stored received_at differs from ours (received_at
 * is the moment this copy arrived; a retransmission arrives later than the original).
 */
async function findDuplicates(tx: Sql, batch: readonly PositionRecord[]): Promise<number[]> {
  const first = new Map<string, number>()
  const dup: number[] = []
  batch.forEach((p, i) => {
    const key = `${p.vehicleId}:${p.deviceTime}`
    if (first.has(key)) dup.push(i)
    else first.set(key, i)
  })
  const idx = [...first.values()]
  const { rows } = await tx.query<{ i: number }>(
    `SELECT (u.i - 1)::int AS i
       FROM unnest($1::int4[], $2::float8[], $3::float8[]) WITH ORDINALITY AS u(v, dt, ra, i)
       JOIN positions p ON p.vehicle_id = u.v AND p.device_time = to_timestamp(u.dt / 1000.0)
      WHERE p.received_at <> to_timestamp(u.ra / 1000.0)`,
    [idx.map((i) => batch[i]!.vehicleId), idx.map((i) => batch[i]!.deviceTime), idx.map((i) => batch[i]!.receivedAt)],
  )
  for (const r of rows) dup.push(idx[num(r.i)]!)
  return dup.sort((a, b) => a - b)
}

/** 23514 "no partition of relation … found for row": another process dropped a partition we cached. */
function isMissingPartition(e: unknown): boolean {
  return (e as { code?: string }).code === '23514' && /no partition/i.test((e as Error).message)
}

export interface PositionQueryOptions {
  transport?: PositionTransport
  /** Called with each batch once it is committed (the hourly aggregate's late-data refresh). */
  afterInsert?: (batch: readonly PositionRecord[]) => void
}

export function positionQueries(ctx: StoreContext, opts: PositionQueryOptions = {}): PositionStore {
  const transport = opts.transport ?? DEFAULT_TRANSPORT
  const spec = timeTable('positions')

  async function ensureDays(batch: readonly PositionRecord[]): Promise<void> {
    if (ctx.mode.timescale) return
    const starts = new Set<number>()
    for (const p of batch) starts.add(partitionStart(spec, p.deviceTime))
    await ensurePartitionsCovering(ctx, spec, [...starts])
  }

  /** 'copy' only: batches left to write via staging since the last duplicate. */
  let stagingLeft = 0

  async function insertOnce(batch: readonly PositionRecord[]): Promise<InsertPositionsResult> {
    await ensureDays(batch)
    const payload = transport === 'unnest' ? null : copyPayload(batch)
    if (payload && transport === 'copy') {
      if (stagingLeft === 0) {
        if (await tryDirectCopy(ctx.sql, payload)) return { inserted: batch.length, duplicates: 0, duplicateIndexes: [] }
        stagingLeft = STAGING_AFTER_CONFLICT
      } else stagingLeft--
    }
    return ctx.sql.transaction(async (tx) => {
      const inserted = payload ? await writeViaStaging(tx, payload) : await writeUnnest(tx, batch)
      const duplicateIndexes = inserted < batch.length ? await findDuplicates(tx, batch) : []
      return { inserted, duplicates: batch.length - inserted, duplicateIndexes }
    })
  }

  return {
    async insertPositions(batch) {
      if (!batch.length) return { inserted: 0, duplicates: 0, duplicateIndexes: [] }
      let result: InsertPositionsResult
      try {
        result = await insertOnce(batch)
      } catch (e) {
        if (!isMissingPartition(e)) throw e
        ctx.knownPartitions.clear()
        result = await insertOnce(batch)
      }
      if (result.inserted > 0) opts.afterInsert?.(batch)
      return result
    },

    async track(vehicleId, from, to, options = {}) {
      const limit = options.limit ?? 100_000
      const every = options.everySeconds
      const text =
        every && every > 0
          ? `SELECT ${SELECT_RECORD} FROM (
               SELECT DISTINCT ON (floor(extract(epoch FROM device_time) / $4)) ${SELECT_RECORD}
                 FROM positions WHERE vehicle_id = $1 AND device_time >= $2 AND device_time <= $3
                ORDER BY floor(extract(epoch FROM device_time) / $4), device_time
             ) s ORDER BY device_time LIMIT $5`
          : `SELECT ${SELECT_RECORD} FROM positions
              WHERE vehicle_id = $1 AND device_time >= $2 AND device_time <= $3
              ORDER BY device_time LIMIT $4`
      const params = every && every > 0 ? [vehicleId, iso(from), iso(to), every, limit] : [vehicleId, iso(from), iso(to), limit]
      const { rows } = await ctx.sql.query<PositionRow>(text, params)
      return rows.map(rowToPosition)
    },

    async countPositions(vehicleId) {
      const { rows } =
        vehicleId === undefined
          ? await ctx.sql.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM positions`)
          : await ctx.sql.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM positions WHERE vehicle_id = $1`, [vehicleId])
      return num(rows[0]?.n ?? 0)
    },

    async hourlyStats(vehicleId, from, to): Promise<HourlyVehicleStats[]> {
      const { rows } = await ctx.sql.query<{ bucket: Date; points: number; distance_km: number | null; max_speed: number }>(
        `SELECT bucket, points::int8 AS points, distance_km, max_speed FROM positions_hourly
          WHERE vehicle_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket`,
        [vehicleId, iso(from), iso(to)],
      )
      return rows.map((r) => ({ vehicleId, bucket: toMs(r.bucket), points: num(r.points), distanceKm: numOrNull(r.distance_km), maxSpeed: num(r.max_speed) }))
    },
  }
}
