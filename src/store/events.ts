/**
 * EventStore: alarm transitions, driver card events, sessions, media and the raw-frame archive.
 * Retransmissions are absorbed by unique keys (ON CONFLICT DO NOTHING) where a terminal may resend.
 */
import type { MediaRecord, RawFrame } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso, toMs } from './convert.js'
import { ensurePartitionsCovering } from './partitions.js'
import type { EventStore } from './port.js'
import { partitionStart, timeTable, type TimeTableSpec } from './time-tables.js'

/** Rows fetched per round trip by exportFrames. */
const EXPORT_PAGE = 1000

interface MediaRow {
  phone: string
  media_id: string | number
  vehicle_id: string | number | null
  type: number
  format: number
  event: number
  channel: number
  location: MediaRecord['location']
  data: string
  received_at: Date | string
}

export function eventQueries(ctx: StoreContext): EventStore {
  const { sql } = ctx

  async function ensureCovering(spec: TimeTableSpec, times: number[]): Promise<void> {
    if (ctx.mode.timescale) return
    await ensurePartitionsCovering(ctx, spec, [...new Set(times.map((t) => partitionStart(spec, t)))])
  }

  return {
    async insertAlarmTransitions(rows) {
      if (!rows.length) return
      await ensureCovering(
        timeTable('alarm_transitions'),
        rows.map((r) => r.deviceTime),
      )
      await sql.query(
        `INSERT INTO alarm_transitions (vehicle_id, device_time, raised, cleared, alarm)
         SELECT v, to_timestamp(t / 1000.0), r, c, a FROM unnest($1::int4[], $2::float8[], $3::int8[], $4::int8[], $5::int8[]) AS u(v, t, r, c, a)
         ON CONFLICT DO NOTHING`,
        [rows.map((r) => r.vehicleId), rows.map((r) => r.deviceTime), rows.map((r) => r.raised), rows.map((r) => r.cleared), rows.map((r) => r.alarm)],
      )
    },

    async insertDriverCardEvent(e) {
      await sql.query(
        `INSERT INTO driver_card_events (vehicle_id, phone, status, time, read_result, driver_name, qualification_no, issuer, valid_until, id_number)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (phone, time, status) DO NOTHING`,
        [e.vehicleId, e.phone, e.status, iso(e.time), e.readResult, e.driverName, e.qualificationNo, e.issuer, e.validUntil, e.idNumber],
      )
    },

    async recordSessionEvents(rows) {
      if (!rows.length) return
      // One statement per batch: a reconnect storm is thousands of these a second.
      await sql.query(
        `INSERT INTO sessions (phone, vehicle_id, node_id, address, kind, at, reason)
         SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])`,
        [
          rows.map((e) => e.phone),
          rows.map((e) => e.vehicleId),
          rows.map((e) => e.nodeId),
          rows.map((e) => e.address),
          rows.map((e) => e.kind),
          rows.map((e) => iso(e.at)),
          rows.map((e) => e.reason ?? null),
        ],
      )
    },

    async insertMedia(m) {
      await sql.query(
        `INSERT INTO media (phone, media_id, vehicle_id, type, format, event, channel, location, data, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, decode($9, 'hex'), $10) ON CONFLICT (phone, media_id) DO NOTHING`,
        [m.phone, m.mediaId, m.vehicleId, m.type, m.format, m.event, m.channel, m.location === null ? null : JSON.stringify(m.location), m.data.toString('hex'), iso(m.receivedAt)],
      )
    },

    async findMedia(phones, since, mediaIds) {
      const { rows } = await sql.query<MediaRow>(
        `SELECT phone, media_id, vehicle_id, type, format, event, channel, location, encode(data, 'hex') AS data, received_at FROM media
          WHERE phone = ANY($1::text[]) AND received_at >= $2 AND type = 0 AND ($3::bigint[] IS NULL OR media_id = ANY($3::bigint[]))
          ORDER BY received_at, media_id LIMIT 1`,
        [phones, iso(since), mediaIds],
      )
      const r = rows[0]
      if (!r) return null
      return {
        phone: r.phone,
        mediaId: Number(r.media_id),
        vehicleId: r.vehicle_id === null ? null : Number(r.vehicle_id),
        type: r.type,
        format: r.format,
        event: r.event,
        channel: r.channel,
        location: r.location,
        data: Buffer.from(r.data, 'hex'),
        receivedAt: toMs(r.received_at),
      }
    },

    async archiveFrames(rows) {
      if (!rows.length) return
      await ensureCovering(
        timeTable('raw_frames'),
        rows.map((r) => r.receivedAt),
      )
      await sql.query(
        `INSERT INTO raw_frames (received_at, phone, connection, frame)
         SELECT to_timestamp(t / 1000.0), p, c, decode(f, 'hex') FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[]) AS u(t, p, c, f)`,
        [rows.map((r) => r.receivedAt), rows.map((r) => r.phone), rows.map((r) => r.connection), rows.map((r) => r.frame.toString('hex'))],
      )
    },

    exportFrames(phone, from, to) {
      return pageFrames(ctx, phone, from, to)
    },
  }
}

interface FrameRow {
  received_at: Date
  connection: string
  frame: Buffer
}

function toFrame(phone: string, r: FrameRow): RawFrame {
  return { phone, receivedAt: toMs(r.received_at), connection: r.connection, frame: Buffer.from(r.frame) }
}

/**
 * Streams frames in receive order, a page at a time (bounded memory on both drivers). raw_frames has
 * no unique key, so a page never splits the frames sharing its last timestamp: they are fetched whole.
 */
async function* pageFrames(ctx: StoreContext, phone: string, from: number, to: number): AsyncGenerator<RawFrame> {
  let cursor = iso(from)
  let inclusive = true
  const toIso = iso(to)
  for (;;) {
    const { rows } = await ctx.sql.query<FrameRow>(
      `SELECT received_at, connection, frame FROM raw_frames
        WHERE phone = $1 AND received_at ${inclusive ? '>=' : '>'} $2 AND received_at <= $3
        ORDER BY received_at LIMIT ${EXPORT_PAGE}`,
      [phone, cursor, toIso],
    )
    if (rows.length < EXPORT_PAGE) {
      for (const r of rows) yield toFrame(phone, r)
      return
    }
    const lastMs = toMs(rows[rows.length - 1]!.received_at)
    for (const r of rows) if (toMs(r.received_at) < lastMs) yield toFrame(phone, r)
    const tie = await ctx.sql.query<FrameRow>(`SELECT received_at, connection, frame FROM raw_frames WHERE phone = $1 AND received_at = $2 ORDER BY connection`, [phone, iso(lastMs)])
    for (const r of tie.rows) yield toFrame(phone, r)
    cursor = iso(lastMs)
    inclusive = false
  }
}
