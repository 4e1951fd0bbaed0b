/**
 * 009 (issue 13): JT/T 809 waybills and alarms.
 *   platform_waybills   what lower platforms reported as electronic waybills (0x120D, and 0x120B
 *                       answering our 0x920B), kept as received: the text, the platform, the vehicle,
 *                       and the waybill it became when it parsed into our fields (else why not).
 *   platform_outbox     anomalies and waybill changes to send up to each superior (0x1402, 0x120D):
 *                       one row per item and version, enqueued once (primary key), confirmed when a
 *                       link test answered after it was written proves it arrived; unconfirmed rows
 *                       go up after a reconnection, so nothing is lost while a superior is down.
 *   platform_forwarding gains the two scan marks the outbox is filled from (anomalies.seq,
 *                       waybills.changed_at): rows are rescanned a little behind them (never
 *                       behind where they started), the primary key dropping what is enqueued already.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS platform_waybills (
     id bigserial PRIMARY KEY,
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     data_type integer NOT NULL,
     plate text NOT NULL,
     plate_color smallint NOT NULL,
     vehicle_id integer,
     received_at timestamptz NOT NULL,
     text text NOT NULL,
     format text NOT NULL CHECK (format IN ('json', 'pairs', 'text')),
     waybill_no text,
     errors jsonb
   )`,
  `CREATE INDEX IF NOT EXISTS platform_waybills_vehicle ON platform_waybills (vehicle_id, received_at)`,
  `CREATE INDEX IF NOT EXISTS platform_waybills_platform ON platform_waybills (platform_id, id)`,
  `CREATE TABLE IF NOT EXISTS platform_outbox (
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     kind text NOT NULL CHECK (kind IN ('anomaly', 'waybill')),
     ref text NOT NULL,
     version text NOT NULL,
     enqueued_at timestamptz NOT NULL,
     confirmed_at timestamptz,
     PRIMARY KEY (platform_id, kind, ref, version)
   )`,
  `CREATE INDEX IF NOT EXISTS platform_outbox_pending ON platform_outbox (platform_id, enqueued_at) WHERE confirmed_at IS NULL`,
  `ALTER TABLE platform_forwarding ADD COLUMN IF NOT EXISTS outbox_anomaly_seq bigint`,
  `ALTER TABLE platform_forwarding ADD COLUMN IF NOT EXISTS outbox_waybill_changed_at timestamptz`,
  // where the marks started: the rescan behind them never reaches what existed before the superior
  `ALTER TABLE platform_forwarding ADD COLUMN IF NOT EXISTS outbox_anomaly_floor bigint`,
  `ALTER TABLE platform_forwarding ADD COLUMN IF NOT EXISTS outbox_waybill_floor timestamptz`,
]

export const migration: Migration = {
  id: '009_platform_waybills_alarms',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
