/**
 * 004_admin: what the admin surface keeps — the status of every queued downlink command (the
 * 202's id: queued → delivered → answered | failed, or expired), a vehicle's retirement (it
 * leaves active lists; its positions and anomalies stay), and the history of corrections made to
 * a waybill while it is still `created`.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS command_status (
     id text PRIMARY KEY,
     phone text NOT NULL,
     msg_id integer NOT NULL,
     status text NOT NULL CHECK (status IN ('queued', 'delivered', 'answered', 'failed', 'expired')),
     created_at timestamptz NOT NULL,
     expires_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL,
     result integer,
     answer jsonb
   )`,
  `CREATE INDEX IF NOT EXISTS command_status_created ON command_status (created_at)`,
  `ALTER TABLE vehicles ADD COLUMN IF NOT EXISTS retired_at timestamptz`,
  `CREATE TABLE IF NOT EXISTS waybill_corrections (
     id bigserial PRIMARY KEY,
     waybill_no text NOT NULL REFERENCES waybills (waybill_no) ON DELETE CASCADE,
     at timestamptz NOT NULL,
     by text,
     changes jsonb NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS waybill_corrections_no ON waybill_corrections (waybill_no, id)`,
]

export const migration: Migration = {
  id: '004_admin',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
