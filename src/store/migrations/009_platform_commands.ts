/**
 * 009_platform_commands: a command to a vehicle reached through a lower platform (0x9502 photo,
 * 0x9503 text over JT/T 809) has a status row like a terminal's, named by its vehicle and the
 * platform that carried it (phone is '' there: no terminal of ours is involved).
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS vehicle_id bigint`,
  `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS platform_id bigint`,
]

export const migration: Migration = {
  id: '009_platform_commands',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
