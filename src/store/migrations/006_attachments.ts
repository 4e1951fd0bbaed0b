/**
 * Active-safety attachments: one row per alarm the platform sent 0x9208 for (its 32-byte alarm
 * number is the key the terminal quotes back), one row per file the terminal announced. The
 * bytes live in the object store (src/attachments/object-store.ts); rows name them by key.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS attachment_alarms (
     alarm_number text PRIMARY KEY,
     alarm_key text NOT NULL UNIQUE,
     phone text NOT NULL,
     vehicle_id integer NOT NULL,
     plate text NOT NULL,
     plate_color integer NOT NULL,
     enterprise_license_no text,
     variant text NOT NULL CHECK (variant IN ('jsatl12', 'gdrta')),
     kind text NOT NULL CHECK (kind IN ('adas', 'dsm', 'tpms', 'bsd')),
     alarm_type integer,
     alarm_level integer,
     alarm_id jsonb NOT NULL,
     device_time timestamptz NOT NULL,
     expected_files integer NOT NULL,
     anomaly_id text NOT NULL,
     state text NOT NULL CHECK (state IN ('instructed', 'uploading', 'complete', 'failed')),
     created_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS attachment_alarms_created ON attachment_alarms (created_at)`,
  `CREATE INDEX IF NOT EXISTS attachment_alarms_anomaly ON attachment_alarms (anomaly_id)`,
  `CREATE TABLE IF NOT EXISTS attachment_files (
     id bigserial PRIMARY KEY,
     alarm_number text NOT NULL REFERENCES attachment_alarms (alarm_number) ON DELETE CASCADE,
     name text NOT NULL,
     file_type integer NOT NULL,
     size bigint NOT NULL,
     received bigint NOT NULL,
     state text NOT NULL CHECK (state IN ('pending', 'complete', 'failed')),
     rounds integer NOT NULL,
     content_type text,
     sha256 text,
     object_key text,
     failure text,
     started_at timestamptz NOT NULL,
     completed_at timestamptz,
     UNIQUE (alarm_number, name)
   )`,
]

export const migration: Migration = {
  id: '006_attachments',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
