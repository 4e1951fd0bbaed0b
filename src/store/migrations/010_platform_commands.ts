/**
 * 010_platform_commands: a command to a vehicle reached through a lower platform (0x9502 photo,
 * 0x9503 text over JT/T 809) has a status row like a terminal's, named by its vehicle and the
 * platform that carried it (phone is '' there: no terminal of ours is involved).
 * And positions by received time (positions_received), only where a superior platform exists:
 * its backlog (positionsToForward) pages through them in that order after an outage — without the
 * index every page of 500 rows scanned and sorted the whole table (bench/platform.ts forward: the
 * drain ran at ~440 rows/s) — but the index costs every position insert, so a deployment with no
 * superior does without it; createPlatform builds it when the first superior is added.
 */
import { ensureForwardingIndex } from '../platforms.js'
import type { Migration } from './index.js'

const STATEMENTS: string[] = [`ALTER TABLE command_status ADD COLUMN IF NOT EXISTS vehicle_id bigint`, `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS platform_id bigint`]

export const migration: Migration = {
  id: '010_platform_commands',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
    const { rows } = await sql.query(`SELECT 1 FROM platforms WHERE role = 'superior' LIMIT 1`)
    if (rows.length) await ensureForwardingIndex(sql)
  },
}
