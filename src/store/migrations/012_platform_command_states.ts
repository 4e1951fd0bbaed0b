/**
 * 012_platform_command_states: what a lower platform's reply (0x1500) to a command we sent it
 * through JT/T 809 (0x9502 photo, 0x9503 text) is matched by, kept with the command's status row
 * instead of in the memory of the process that sent it — so a reply that comes after a restart,
 * or after the platform logged in again to another worker, still settles its command, and
 * GET /commands/{id} answers the same from every process:
 *   msg_sn        the MSG_SN of the 0x9500 frame (2019 replies name it as SOURCE_MSG_SN)
 *   msg_sequence  the text's MSG_SEQUENCE (a 2011 0x1503 names it as MSG_ID)
 *   plate, plate_color  the vehicle as sent (a 2011 0x1502 names nothing else: oldest first)
 * The partial index holds only commands still waiting for a platform's reply (a handful), not the
 * terminals' command history beside them.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS msg_sn bigint`,
  `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS msg_sequence bigint`,
  `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS plate text`,
  `ALTER TABLE command_status ADD COLUMN IF NOT EXISTS plate_color smallint`,
  `CREATE INDEX IF NOT EXISTS command_status_platform_waiting ON command_status (platform_id, created_at) WHERE platform_id IS NOT NULL AND status = 'delivered'`,
]

export const migration: Migration = {
  id: '012_platform_command_states',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
