/**
 * 007_matcher_checkpoints: the matcher's per-vehicle state, so a new owner of a partition or a
 * restarted process continues each vehicle's runs and days instead of starting from nothing
 * (issue 19). One row per vehicle, overwritten; `part`/`parts` let a new owner load a whole
 * partition in one indexed query.
 */
import type { Migration } from './index.js'

export const migration: Migration = {
  id: '007_matcher_checkpoints',
  async up(sql) {
    await sql.query(`CREATE TABLE IF NOT EXISTS matcher_checkpoints (
      vehicle_id integer PRIMARY KEY,
      part integer NOT NULL,
      parts integer NOT NULL,
      watermark timestamptz NOT NULL,
      saved_at timestamptz NOT NULL,
      state text NOT NULL
    )`)
    await sql.query(`CREATE INDEX IF NOT EXISTS matcher_checkpoints_part ON matcher_checkpoints (parts, part)`)
    // A round rewrites every driving vehicle's 2.5 KB: pglz compression of the TOASTed text was
    // most of an upsert's time (bench/RESULTS.md, 2026-12-05); lz4 where the server has it, else none.
    const { rows } = await sql.query<{ lz4: boolean }>(`SELECT coalesce(bool_or('lz4' = ANY(enumvals)), false) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`)
    if (rows[0]?.lz4) await sql.query(`ALTER TABLE matcher_checkpoints ALTER COLUMN state SET COMPRESSION lz4`)
    else await sql.query(`ALTER TABLE matcher_checkpoints ALTER COLUMN state SET STORAGE EXTERNAL`)
  },
}
