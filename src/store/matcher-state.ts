/**
 * MatcherStateStore: the matcher's per-vehicle checkpoints, and the stored positions since each
 * one (issue 19). A new owner of a partition loads the partition's checkpoints in one query and
 * the positions since them in one query per chunk of vehicles — a hand-over of a whole fleet is
 * tens of queries, not one per vehicle.
 */
import type { PositionRecord } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso, num, toMs } from './convert.js'
import { rowToPosition, SELECT_RECORD, type PositionRow } from './positions.js'

export interface MatcherCheckpoint {
  vehicleId: number
  /** the vehicle's partition under `parts` partitions (1 and 0 in a single process) */
  part: number
  parts: number
  /** newest device time the checkpoint includes */
  watermark: number
  /** wall clock when it was taken */
  savedAt: number
  /** the engine's encoded snapshot (src/matcher/snapshot.ts) */
  state: string
}

export interface MatcherStateStore {
  /** Inserts or replaces each vehicle's checkpoint, in one statement (vehicle ids distinct); never one with a newer watermark. */
  saveCheckpoints(rows: MatcherCheckpoint[]): Promise<void>
  /**
   * Checkpoints saved at or after `since`, by vehicle id, at most `limit` (default 2,000) after
   * `afterVehicleId` (paging); only those of partition `part` of `parts` when given.
   */
  loadCheckpoints(filter: { since: number; part?: number; parts?: number; afterVehicleId?: number; limit?: number }): Promise<MatcherCheckpoint[]>
  /** Each vehicle's positions with device time in (after, until], ordered by vehicle then device time. */
  positionsAfter(from: Array<{ vehicleId: number; after: number }>, until: number): Promise<PositionRecord[]>
  /** Retention: checkpoints not saved since cutoff (vehicles long gone quiet). */
  deleteCheckpointsBefore(cutoff: number): Promise<number>
}

interface CheckpointRow {
  vehicle_id: number
  part: number
  parts: number
  watermark: Date
  saved_at: Date
  state: string
}

export function matcherStateQueries(ctx: StoreContext): MatcherStateStore {
  const { sql } = ctx
  return {
    async saveCheckpoints(rows) {
      if (!rows.length) return
      // json_to_recordset: a text[] parameter of JSON strings (quotes escaped twice) parsed 3x slower
      const payload = rows.map((r) => ({ vehicle_id: r.vehicleId, part: r.part, parts: r.parts, watermark: iso(r.watermark), saved_at: iso(r.savedAt), state: r.state }))
      await sql.query(
        `INSERT INTO matcher_checkpoints (vehicle_id, part, parts, watermark, saved_at, state)
         SELECT vehicle_id, part, parts, watermark, saved_at, state
           FROM json_to_recordset($1::json) AS r(vehicle_id int4, part int4, parts int4, watermark timestamptz, saved_at timestamptz, state text)
         ON CONFLICT (vehicle_id) DO UPDATE SET part = EXCLUDED.part, parts = EXCLUDED.parts, watermark = EXCLUDED.watermark,
           saved_at = EXCLUDED.saved_at, state = EXCLUDED.state
         -- a process that lost a partition without knowing it must not overwrite the new owner's newer state
         WHERE matcher_checkpoints.watermark <= EXCLUDED.watermark`,
        [JSON.stringify(payload)],
      )
    },

    async loadCheckpoints(f) {
      const params: unknown[] = [iso(f.since), f.afterVehicleId ?? -1, f.limit ?? 2000]
      let where = 'saved_at >= $1 AND vehicle_id > $2'
      if (f.part !== undefined && f.parts !== undefined) {
        params.push(f.parts, f.part)
        where += ` AND parts = $4 AND part = $5`
      }
      const { rows } = await sql.query<CheckpointRow>(`SELECT vehicle_id, part, parts, watermark, saved_at, state FROM matcher_checkpoints WHERE ${where} ORDER BY vehicle_id LIMIT $3`, params)
      return rows.map((r) => ({ vehicleId: num(r.vehicle_id), part: num(r.part), parts: num(r.parts), watermark: toMs(r.watermark), savedAt: toMs(r.saved_at), state: r.state }))
    },

    async positionsAfter(from, until) {
      if (!from.length) return []
      let lowest = Infinity
      for (const f of from) if (f.after < lowest) lowest = f.after
      // the constant lower bound lets the planner skip older partitions/chunks
      const { rows } = await sql.query<PositionRow>(
        `SELECT ${SELECT_RECORD.split(', ')
          .map((c) => `p.${c}`)
          .join(', ')}
           FROM unnest($1::int4[], $2::timestamptz[]) AS c(vid, after)
           JOIN positions p ON p.vehicle_id = c.vid AND p.device_time > c.after
          WHERE p.device_time > $3 AND p.device_time <= $4
          ORDER BY p.vehicle_id, p.device_time`,
        [from.map((f) => f.vehicleId), from.map((f) => iso(f.after)), iso(lowest), iso(until)],
      )
      return rows.map(rowToPosition)
    },

    async deleteCheckpointsBefore(cutoff) {
      const res = await sql.query(`DELETE FROM matcher_checkpoints WHERE saved_at < $1`, [iso(cutoff)])
      return res.rowCount
    },
  }
}
