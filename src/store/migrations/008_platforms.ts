/**
 * JT/T 809 platform links (issue 13): the platforms we exchange with, as data.
 *   role 'lower':    a lower platform (enterprise / operator) that logs in to us; its password is
 *                    stored hashed; the enterprises it may report for.
 *   role 'superior': a platform we log in to and forward to; its password must be sent, so it is
 *                    kept (never returned by the API nor logged); the enterprises / vehicles to forward.
 * platform_forwarding holds each superior's durable forwarding position over the positions table.
 */
import type { Migration } from './index.js'

const STATEMENTS: string[] = [
  `CREATE TABLE IF NOT EXISTS platforms (
     id serial PRIMARY KEY,
     role text NOT NULL CHECK (role IN ('lower', 'superior')),
     name text NOT NULL,
     access_code bigint NOT NULL CHECK (access_code >= 0 AND access_code <= 4294967295),
     user_id bigint NOT NULL CHECK (user_id >= 0 AND user_id <= 4294967295),
     password_hash text,
     password text,
     edition smallint NOT NULL CHECK (edition IN (2011, 2019)),
     encryption jsonb,
     allowed_addresses text[] NOT NULL DEFAULT '{}',
     enterprise_licences text[] NOT NULL DEFAULT '{}',
     vehicles jsonb NOT NULL DEFAULT '[]'::jsonb,
     unknown_vehicles text NOT NULL DEFAULT 'refuse' CHECK (unknown_vehicles IN ('enrol', 'refuse')),
     host text,
     port integer CHECK (port > 0 AND port < 65536),
     enabled boolean NOT NULL DEFAULT true,
     created_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL,
     CHECK ((role = 'lower') = (password_hash IS NOT NULL)),
     CHECK ((role = 'superior') = (password IS NOT NULL AND host IS NOT NULL AND port IS NOT NULL))
   )`,
  // one lower platform per access code (it names itself by it at login); superiors may share ours
  `CREATE UNIQUE INDEX IF NOT EXISTS platforms_lower_access_code ON platforms (access_code) WHERE role = 'lower'`,
  // a vehicle enrolled because a lower platform reported it (policy "enrol")
  `ALTER TABLE vehicles ADD COLUMN IF NOT EXISTS reported_by_platform integer`,
  `CREATE TABLE IF NOT EXISTS platform_forwarding (
     platform_id integer PRIMARY KEY REFERENCES platforms (id) ON DELETE CASCADE,
     received_at timestamptz NOT NULL,
     vehicle_id integer NOT NULL,
     device_time timestamptz NOT NULL,
     updated_at timestamptz NOT NULL
   )`,
  // 查岗: post queries sent to lower platforms (direction 'out') or received from superiors ('in'), and their answers
  `CREATE TABLE IF NOT EXISTS platform_post_queries (
     id bigserial PRIMARY KEY,
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     direction text NOT NULL DEFAULT 'out' CHECK (direction IN ('out', 'in')),
     info_id bigint NOT NULL,
     msg_sn bigint NOT NULL,
     object_type smallint NOT NULL,
     object_id text NOT NULL,
     question text NOT NULL,
     asked_by text,
     sent_at timestamptz NOT NULL,
     deadline_at timestamptz NOT NULL,
     answered_at timestamptz,
     answer text,
     responder text,
     responder_tel text
   )`,
  `CREATE INDEX IF NOT EXISTS platform_post_queries_platform ON platform_post_queries (platform_id, id)`,
  // 督办: supervision requests sent to a lower platform about an anomaly, and its 0x1401 reply
  `CREATE TABLE IF NOT EXISTS platform_supervisions (
     id bigserial PRIMARY KEY,
     platform_id integer NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
     anomaly_id text NOT NULL,
     supervision_id bigint NOT NULL,
     sent_at timestamptz NOT NULL,
     replied_at timestamptz,
     result smallint
   )`,
  `CREATE INDEX IF NOT EXISTS platform_supervisions_key ON platform_supervisions (platform_id, supervision_id)`,
  `CREATE INDEX IF NOT EXISTS platform_supervisions_anomaly ON platform_supervisions (anomaly_id)`,
]

export const migration: Migration = {
  id: '008_platforms',
  async up(sql) {
    for (const statement of STATEMENTS) await sql.query(statement)
  },
}
