/**
 * 011 (issue 13): what JT/T 809 platforms tell each other about vehicles and alarms besides
 * positions, kept rather than only logged.
 *   platform_vehicle_registrations  0x1201 from a lower platform: the terminal a vehicle carries
 *                       (platform id, producer, model, IMEI, terminal id, SIM), one row per platform
 *                       and vehicle, the latest wins.
 *   platform_static_info  static vehicle information (0x1601 CAR_INFO) a lower platform sent, and
 *                       our 0x9601 request for it; one row per platform and vehicle, the latest wins.
 *   platform_alarm_refs  each 0x1402 a lower platform sent: its MSG_SN (and 2011 INFO_ID) → the anomaly
 *                       it became, so its handling result (2011 0x1403 by INFO_ID, 2019 0x1412 by
 *                       SOURCE_MSG_SN) finds it; a re-sent report adds a row for the same anomaly.
 *   platform_alarm_results  those handling results as received (anomaly null when none matched).
 *   platform_alarm_notices  alarm notices received: a superior's 0x9402 / 0x9403, a lower platform's
 *                       2019 0x1403 forecast; the vehicle and its enterprise when known.
 *   platform_outbox     gains kind 'handling' (our handling result of an anomaly, sent up as 0x1403 /
 *                       0x1412 once the anomaly's handling ends) and msg_sn, the MSG_SN an item last
 *                       went out with (a 2019 result names its alarm's).
 *   platform_forwarding gains the handling scan's mark and floor (anomaly_handling.id), like the
 *                       anomaly scan's.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS platform_vehicle_registrations (
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     vehicle_id integer NOT NULL,
     plate text NOT NULL,
     plate_color smallint NOT NULL,
     platform_code text NOT NULL,
     producer_id text NOT NULL,
     model text NOT NULL,
     imei text,
     terminal_id text NOT NULL,
     sim_code text NOT NULL,
     received_at timestamptz NOT NULL,
     PRIMARY KEY (platform_id, vehicle_id)
   )`,
  `CREATE INDEX IF NOT EXISTS platform_vehicle_registrations_vehicle ON platform_vehicle_registrations (vehicle_id)`,
  `CREATE TABLE IF NOT EXISTS platform_static_info (
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     vehicle_id integer NOT NULL,
     plate text NOT NULL,
     plate_color smallint NOT NULL,
     requested_at timestamptz,
     request_msg_sn bigint,
     requested_by text,
     car_info text,
     fields jsonb,
     received_at timestamptz,
     PRIMARY KEY (platform_id, vehicle_id)
   )`,
  `CREATE INDEX IF NOT EXISTS platform_static_info_vehicle ON platform_static_info (vehicle_id)`,
  `CREATE TABLE IF NOT EXISTS platform_alarm_refs (
     id bigserial PRIMARY KEY,
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     msg_sn bigint NOT NULL,
     info_id bigint,
     anomaly_id text NOT NULL,
     received_at timestamptz NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS platform_alarm_refs_sn ON platform_alarm_refs (platform_id, msg_sn, id)`,
  `CREATE INDEX IF NOT EXISTS platform_alarm_refs_info ON platform_alarm_refs (platform_id, info_id, id) WHERE info_id IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS platform_alarm_results (
     id bigserial PRIMARY KEY,
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     data_type integer NOT NULL,
     info_id bigint,
     source_msg_sn bigint,
     result smallint NOT NULL,
     anomaly_id text,
     received_at timestamptz NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS platform_alarm_results_anomaly ON platform_alarm_results (anomaly_id, id)`,
  `CREATE TABLE IF NOT EXISTS platform_alarm_notices (
     id bigserial PRIMARY KEY,
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     data_type integer NOT NULL,
     msg_sn bigint NOT NULL,
     vehicle_id integer,
     plate text NOT NULL,
     plate_color smallint NOT NULL,
     enterprise_license_no text,
     warn_src smallint,
     warn_type integer NOT NULL,
     warn_time timestamptz,
     start_time timestamptz,
     end_time timestamptz,
     source_platform_id text,
     content text NOT NULL,
     received_at timestamptz NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS platform_alarm_notices_vehicle ON platform_alarm_notices (vehicle_id, id)`,
  `CREATE INDEX IF NOT EXISTS platform_alarm_notices_platform ON platform_alarm_notices (platform_id, id)`,
  // the CHECK of 009 named by PostgreSQL's default (<table>_<column>_check), replaced by a wider one
  `ALTER TABLE platform_outbox DROP CONSTRAINT IF EXISTS platform_outbox_kind_check`,
  `ALTER TABLE platform_outbox ADD CONSTRAINT platform_outbox_kind_check CHECK (kind IN ('anomaly', 'waybill', 'handling'))`,
  `ALTER TABLE platform_outbox ADD COLUMN IF NOT EXISTS msg_sn bigint`,
  `ALTER TABLE platform_forwarding ADD COLUMN IF NOT EXISTS outbox_handling_id bigint`,
  `ALTER TABLE platform_forwarding ADD COLUMN IF NOT EXISTS outbox_handling_floor bigint`,
]

export const migration: Migration = {
  id: '011_platform_info_alarm_results',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
