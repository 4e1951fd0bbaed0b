/**
 * The REST API's tables: tokens (hashes only), the audit log of writes, anomaly handling (history
 * plus the current step, which serialises concurrent steps), geofences, platform settings.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS api_tokens (
     id text PRIMARY KEY,
     token_hash text NOT NULL UNIQUE,
     role text NOT NULL CHECK (role IN ('supervisor', 'enterprise', 'inspector')),
     enterprise_license_no text,
     label text,
     created_at timestamptz NOT NULL,
     revoked_at timestamptz,
     CHECK ((role = 'enterprise') = (enterprise_license_no IS NOT NULL))
   )`,
  `CREATE TABLE IF NOT EXISTS audit_log (
     id bigserial PRIMARY KEY,
     at timestamptz NOT NULL,
     token_id text,
     role text,
     enterprise_license_no text,
     method text NOT NULL,
     route text NOT NULL,
     target text,
     status integer NOT NULL,
     request_id text,
     details jsonb NOT NULL DEFAULT '{}'::jsonb
   )`,
  `CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)`,
  `CREATE INDEX IF NOT EXISTS audit_log_token ON audit_log (token_id, id)`,
  `CREATE TABLE IF NOT EXISTS anomaly_handling (
     id bigserial PRIMARY KEY,
     anomaly_id text NOT NULL,
     action text NOT NULL CHECK (action IN ('notify', 'rectify', 'confirm', 'dismiss')),
     note text,
     token_id text,
     role text,
     enterprise_license_no text,
     at timestamptz NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS anomaly_handling_anomaly ON anomaly_handling (anomaly_id, id)`,
  `CREATE TABLE IF NOT EXISTS anomaly_handling_state (
     anomaly_id text PRIMARY KEY,
     action text CHECK (action IN ('notify', 'rectify', 'confirm', 'dismiss')),
     at timestamptz NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS geofences (
     id serial PRIMARY KEY,
     name text NOT NULL,
     kind text NOT NULL CHECK (kind IN ('bridge', 'tunnel', 'key-segment', 'speed-zone')),
     road_class text CHECK (road_class IN ('highway', 'other')),
     speed_limit integer CHECK (speed_limit > 0),
     geometry jsonb NOT NULL,
     buffer_m integer,
     min_lon double precision NOT NULL,
     min_lat double precision NOT NULL,
     max_lon double precision NOT NULL,
     max_lat double precision NOT NULL,
     created_at timestamptz NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS platform_settings (
     key text PRIMARY KEY,
     value jsonb NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
]

export const migration: Migration = {
  id: '003_api',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
