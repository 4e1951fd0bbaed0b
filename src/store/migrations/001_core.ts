/**
 * 001_core: registry, positions, terminal events, sessions, media, raw-frame archive, command queue.
 * Times are timestamptz (UTC instants); 32-bit protocol DWORDs (alarm, status, alarm bits) are int8
 * because they exceed int4's range.
 */
import { createTimeTable, timeTable } from '../time-tables.js'
import type { Migration } from './index.js'

export const migration: Migration = {
  id: '001_core',
  async up(sql, ctx) {
    const q = (text: string) => sql.query(text)

    // ---- registry ----
    await q(`CREATE TABLE IF NOT EXISTS vehicles (
      id serial PRIMARY KEY,
      plate text NOT NULL,
      plate_color smallint NOT NULL,
      terminal_phone text,
      terminal_id text,
      enterprise_license_no text,
      enterprise_name text,
      transport_cert_no text,
      transport_cert_valid_until date,
      business_scope text[] NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (plate, plate_color)
    )`)
    await q(`CREATE INDEX IF NOT EXISTS vehicles_terminal_phone ON vehicles (terminal_phone)`)
    await q(`CREATE INDEX IF NOT EXISTS vehicles_enterprise ON vehicles (enterprise_license_no)`)
    await q(`CREATE TABLE IF NOT EXISTS terminals (
      phone text PRIMARY KEY,
      terminal_id text,
      vehicle_id integer REFERENCES vehicles (id) ON DELETE SET NULL,
      auth_code_hash text,
      protocol_version smallint,
      manufacturer text,
      model text,
      imei text,
      firmware text,
      registered_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`)
    await q(`CREATE INDEX IF NOT EXISTS terminals_vehicle ON terminals (vehicle_id)`)

    // ---- positions: the primary key is the dedupe rule (a retransmission has the same vehicle and device time) ----
    await createTimeTable(
      sql,
      ctx,
      timeTable('positions'),
      `vehicle_id integer NOT NULL,
       device_time timestamptz NOT NULL,
       received_at timestamptz NOT NULL,
       lat double precision NOT NULL,
       lon double precision NOT NULL,
       altitude integer NOT NULL,
       speed double precision NOT NULL,
       direction smallint NOT NULL,
       alarm bigint NOT NULL,
       status bigint NOT NULL,
       mileage double precision,
       extras jsonb NOT NULL DEFAULT '{}',
       blind_area boolean NOT NULL DEFAULT false,
       source_msg_id integer NOT NULL,
       PRIMARY KEY (vehicle_id, device_time)`,
    )

    // ---- terminal alarm transitions (bits raised/cleared between consecutive reports) ----
    await createTimeTable(
      sql,
      ctx,
      timeTable('alarm_transitions'),
      `vehicle_id integer NOT NULL,
       device_time timestamptz NOT NULL,
       raised bigint NOT NULL,
       cleared bigint NOT NULL,
       alarm bigint NOT NULL,
       PRIMARY KEY (vehicle_id, device_time)`,
    )

    // ---- raw-frame archive (audit, export, replay) ----
    await createTimeTable(
      sql,
      ctx,
      timeTable('raw_frames'),
      `received_at timestamptz NOT NULL,
       phone text NOT NULL,
       connection text NOT NULL,
       frame bytea NOT NULL`,
    )
    await q(`CREATE INDEX IF NOT EXISTS raw_frames_phone_time ON raw_frames (phone, received_at)`)

    // ---- driver identity (0x0702); unique key absorbs retransmissions ----
    await q(`CREATE TABLE IF NOT EXISTS driver_card_events (
      id bigserial PRIMARY KEY,
      vehicle_id integer NOT NULL,
      phone text NOT NULL,
      status smallint NOT NULL,
      time timestamptz NOT NULL,
      read_result smallint,
      driver_name text,
      qualification_no text,
      issuer text,
      valid_until text,
      id_number text,
      UNIQUE (phone, time, status)
    )`)
    await q(`CREATE INDEX IF NOT EXISTS driver_card_events_vehicle_time ON driver_card_events (vehicle_id, time)`)

    // ---- sessions (online / offline) ----
    await q(`CREATE TABLE IF NOT EXISTS sessions (
      id bigserial PRIMARY KEY,
      phone text NOT NULL,
      vehicle_id integer,
      node_id text NOT NULL,
      address text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('online', 'offline')),
      at timestamptz NOT NULL,
      reason text
    )`)
    await q(`CREATE INDEX IF NOT EXISTS sessions_phone_at ON sessions (phone, at)`)
    await q(`CREATE INDEX IF NOT EXISTS sessions_at ON sessions (at)`)

    // ---- multimedia (0x0801); a re-sent upload of the same media id is stored once ----
    await q(`CREATE TABLE IF NOT EXISTS media (
      phone text NOT NULL,
      media_id bigint NOT NULL,
      vehicle_id integer,
      type smallint NOT NULL,
      format smallint NOT NULL,
      event smallint NOT NULL,
      channel smallint NOT NULL,
      location jsonb,
      data bytea NOT NULL,
      received_at timestamptz NOT NULL,
      PRIMARY KEY (phone, media_id)
    )`)
    await q(`CREATE INDEX IF NOT EXISTS media_received_at ON media (received_at)`)

    // ---- downlink commands waiting for offline terminals ----
    await q(`CREATE TABLE IF NOT EXISTS queued_commands (
      id text PRIMARY KEY,
      phone text NOT NULL,
      msg_id integer NOT NULL,
      body jsonb NOT NULL,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL
    )`)
    await q(`CREATE INDEX IF NOT EXISTS queued_commands_phone ON queued_commands (phone, created_at)`)

    // ---- hourly per-vehicle figures: distance from the odometer item (0x01), as regulators count mileage ----
    if (ctx.timescale) {
      // Real-time aggregate (materialized_only = false): the latest hour is computed on the fly.
      // The refresh window reaches back 7 days, as far as blind-area uploads usually lag; older
      // hours are refreshed by the store when late rows arrive and by its upkeep (../hourly.ts,
      // whose HOURLY_POLICY repeats these figures).
      await q(`CREATE MATERIALIZED VIEW IF NOT EXISTS positions_hourly
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT vehicle_id,
               time_bucket(INTERVAL '1 hour', device_time) AS bucket,
               count(*) AS points,
               max(mileage) - min(mileage) AS distance_km,
               max(speed) AS max_speed
        FROM positions
        GROUP BY vehicle_id, time_bucket(INTERVAL '1 hour', device_time)
        WITH NO DATA`)
      await q(`SELECT add_continuous_aggregate_policy('positions_hourly',
        start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour',
        schedule_interval => INTERVAL '30 minutes', if_not_exists => true)`)
    } else {
      // Same columns, computed on read from the partitioned table. Truncated in UTC so the session
      // TimeZone cannot shift the buckets (time_bucket on timestamptz is UTC-based too).
      await q(`CREATE OR REPLACE VIEW positions_hourly AS
        SELECT vehicle_id,
               date_trunc('hour', device_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,
               count(*) AS points,
               max(mileage) - min(mileage) AS distance_km,
               max(speed) AS max_speed
        FROM positions
        GROUP BY vehicle_id, date_trunc('hour', device_time AT TIME ZONE 'UTC')`)
    }
  },
}
