/**
 * 002_waybills_anomalies (matcher): electronic waybills with their status history, the terminals'
 * own 0x0701 waybill reports, and anomalies.
 *
 * Both are small, long-kept tables (waybills ≥ 12 months, 办法 Art. 24; violation records ≥ 3
 * years, seed 003), updated in place as a waybill moves through its lifecycle and an anomaly is
 * updated or closed — so plain tables with retention by DELETE, not time partitions (a row whose
 * start time is corrected by late data would otherwise have to move partition).
 *
 * `seq` gives listings a stable order and cursor: it never changes once a row exists.
 * `waybills.changed_at` (the database clock of the last write) lets matcher processes hear of
 * changes made by any process (API, CLI import) by polling.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS waybills (
     seq bigserial UNIQUE,
     waybill_no text PRIMARY KEY,
     plate text NOT NULL,
     plate_color smallint NOT NULL,
     trailer_plate text,
     carrier_license_no text NOT NULL,
     driver_qualification_no text NOT NULL,
     escort_qualification_no text NOT NULL,
     status text NOT NULL CHECK (status IN ('created', 'dispatched', 'in_transit', 'completed', 'cancelled')),
     window_start timestamptz NOT NULL,
     window_end timestamptz NOT NULL,
     data jsonb NOT NULL,
     created_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL,
     changed_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp())
   )`,
  `CREATE INDEX IF NOT EXISTS waybills_changed ON waybills (changed_at)`,
  `CREATE INDEX IF NOT EXISTS waybills_plate ON waybills (plate, plate_color, window_start)`,
  `CREATE INDEX IF NOT EXISTS waybills_trailer ON waybills (trailer_plate) WHERE trailer_plate IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS waybills_carrier ON waybills (carrier_license_no, seq)`,
  `CREATE INDEX IF NOT EXISTS waybills_status_window ON waybills (status, window_end)`,
  `CREATE INDEX IF NOT EXISTS waybills_updated ON waybills (updated_at)`,
  `CREATE TABLE IF NOT EXISTS waybill_status_history (
     id bigserial PRIMARY KEY,
     waybill_no text NOT NULL REFERENCES waybills (waybill_no) ON DELETE CASCADE,
     status text NOT NULL,
     at timestamptz NOT NULL,
     by text,
     note text
   )`,
  `CREATE INDEX IF NOT EXISTS waybill_status_history_no ON waybill_status_history (waybill_no, id)`,
  `CREATE TABLE IF NOT EXISTS terminal_waybill_reports (
     id bigserial PRIMARY KEY,
     phone text NOT NULL,
     vehicle_id integer,
     received_at timestamptz NOT NULL,
     body jsonb NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS terminal_waybill_reports_vehicle ON terminal_waybill_reports (vehicle_id, received_at)`,
  `CREATE INDEX IF NOT EXISTS terminal_waybill_reports_received ON terminal_waybill_reports (received_at)`,
  `CREATE TABLE IF NOT EXISTS anomalies (
     seq bigserial UNIQUE,
     id text PRIMARY KEY,
     type text NOT NULL,
     status text NOT NULL CHECK (status IN ('open', 'closed')),
     severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
     vehicle_id integer NOT NULL,
     plate text NOT NULL,
     plate_color smallint NOT NULL,
     waybill_no text,
     enterprise_license_no text,
     started_at timestamptz NOT NULL,
     ended_at timestamptz,
     last_seen_at timestamptz NOT NULL,
     evidence jsonb NOT NULL,
     resolved_by_late_data boolean NOT NULL DEFAULT false,
     updated_at timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX IF NOT EXISTS anomalies_type ON anomalies (type, seq)`,
  `CREATE INDEX IF NOT EXISTS anomalies_plate ON anomalies (plate, seq)`,
  `CREATE INDEX IF NOT EXISTS anomalies_enterprise ON anomalies (enterprise_license_no, seq)`,
  `CREATE INDEX IF NOT EXISTS anomalies_vehicle ON anomalies (vehicle_id, started_at)`,
  `CREATE INDEX IF NOT EXISTS anomalies_open ON anomalies (vehicle_id) WHERE status = 'open'`,
  `CREATE INDEX IF NOT EXISTS anomalies_started ON anomalies (started_at)`,
  `CREATE INDEX IF NOT EXISTS anomalies_waybill ON anomalies (waybill_no) WHERE waybill_no IS NOT NULL`,
]

export const migration: Migration = {
  id: '002_waybills_anomalies',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
