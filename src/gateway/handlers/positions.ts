/**
 * Positions: 0x0200, every item of 0x0704 (type 1 = blind-area backfill), 0x0201 (answer to
 * 0x8201). They become CommittedPosition rows for the ingest queue, and the terminal's 0x8001
 * is written only in the queue's callback, after the batch holding them committed. A position
 * without a valid device time is never stored: it is counted, and a message holding only such
 * positions is answered "message error" (2) so it is not mistaken for stored.
 */
import type { Location, Message } from '../../../protocol/index.js'
import type { LocationReply } from '../../../protocol/messages/0201-location-reply.js'
import type { LocationBatch } from '../../../protocol/messages/0704-location-batch.js'
import type { AlarmTransition, CommittedPosition, VehicleRef } from '../../domain.js'
import type { Connection } from '../connection.js'
import { safeTexts } from '../text.js'
import { CONFIRMABLE_ALARM_BITS } from '../types.js'
import type { GatewayContext, Handler } from './context.js'

export function toPosition(conn: Connection, v: VehicleRef, loc: Location, receivedAt: number, sourceMsgId: number, blindArea: boolean): CommittedPosition | null {
  if (loc.timeMs === null) return null
  const { mileage, ...rest } = loc.extras
  // the only text in a position: its extras (an active-safety alarm flag's terminal ID, say)
  const extras: Record<string, unknown> = safeTexts(rest)
  if (loc.unknown.length) extras.unknown = loc.unknown
  if (loc.itemsError !== undefined) extras.itemsError = loc.itemsError
  if (loc.itemsTail !== undefined) extras.itemsTail = loc.itemsTail
  return {
    vehicleId: v.id,
    deviceTime: loc.timeMs,
    receivedAt,
    latitude: loc.latitude,
    longitude: loc.longitude,
    altitude: loc.altitude,
    speed: loc.speed,
    direction: loc.direction,
    alarm: loc.alarm,
    status: loc.status,
    mileage: mileage ?? null,
    extras,
    blindArea,
    sourceMsgId,
    phone: conn.key as string,
    plate: v.plate,
    plateColor: v.plateColor,
    enterpriseLicenseNo: v.enterpriseLicenseNo,
    alarmTransition: null,
  }
}

/**
 * Hands positions to the ingest queue; `ack` true writes the 0x8001 once they are committed.
 * On a commit failure nothing is acknowledged: the terminal retransmits, and the store
 * deduplicates (vehicle, device time). Alarm transitions ride on their rows
 * (row.alarmTransition) and are recorded by a consumer of committed batches (src/pipeline.ts).
 */
function submit(ctx: GatewayContext, conn: Connection, m: Message, rows: CommittedPosition[], ack: boolean, transitions: AlarmTransition[] | null = null): void {
  const serial = m.serial
  const msgId = m.msgId
  const phone = m.phone
  conn.submitted()
  ctx.ingest.submit(rows, (err, result) => {
    conn.settled()
    if (err) {
      // Overload, shutdown: nothing committed, nothing acknowledged; the terminal retransmits.
      // Its alarm transitions were not stored either: step the connection's alarm word back so the
      // retransmission records them again (unless a later report has moved it on meanwhile).
      if (transitions && conn.lastAlarm === transitions[transitions.length - 1].alarm) {
        const first = transitions[0]
        conn.lastAlarm = ((first.alarm & ~first.raised) | first.cleared) >>> 0
      }
      ctx.metrics.acksWithheld.inc({ reason: 'not_committed' })
      if (conn.logLazy) conn.log.debug({ err: err.message, msgId }, 'positions not committed: no ack')
      return
    }
    if (!ack) return
    // Every row refused by validation (future or expired device time …, counted by the queue):
    // "message error", so the terminal does not take it for stored.
    const allRefused = result !== undefined && result.rejected > 0 && result.inserted + result.duplicates === 0
    if (!conn.reply({ msgId, serial, phone }, allRefused ? 2 : 0)) ctx.metrics.acksWithheld.inc({ reason: 'connection_closed' })
  })
}

function rejectNoTime(ctx: GatewayContext, n: number): void {
  if (n > 0) ctx.metrics.positionsRejected.inc({ reason: 'no_device_time' }, n)
}

export const location: Handler = {
  cleansOwnText: true,
  handle(ctx, conn, m) {
    const loc = m.body as Location
    const v = conn.vehicle as VehicleRef
    const row = toPosition(conn, v, loc, ctx.now(), 0x0200, false)
    if (row === null) {
      rejectNoTime(ctx, 1)
      conn.reply(m, 2)
      return
    }
    const tr = alarmTransition(ctx, conn, v, m, loc, row.deviceTime)
    row.alarmTransition = tr
    submit(ctx, conn, m, [row], true, tr ? [tr] : null)
  },
}

export const locationBatch: Handler = {
  cleansOwnText: true,
  handle(ctx, conn, m) {
    const b = m.body as LocationBatch
    const v = conn.vehicle as VehicleRef
    const now = ctx.now()
    const blind = b.type === 1
    const rows: CommittedPosition[] = []
    let transitions: AlarmTransition[] | null = null
    for (const item of b.items) {
      const row = toPosition(conn, v, item, now, 0x0704, blind)
      if (!row) continue
      rows.push(row)
      // A normal batch is the live stream sent in bulk; a blind-area batch is history.
      const tr = blind ? null : alarmTransition(ctx, conn, v, m, item, row.deviceTime)
      row.alarmTransition = tr
      if (tr) (transitions ??= []).push(tr)
    }
    rejectNoTime(ctx, b.items.length - rows.length)
    // Items that are not a location (kept by the codec, counted here); the good ones are stored.
    const malformed = (b.badItems?.length ?? 0) + (b.tail ? 1 : 0)
    if (malformed) ctx.metrics.positionsRejected.inc({ reason: 'malformed_item' }, malformed)
    if (rows.length === 0) {
      conn.reply(m, b.items.length === 0 && malformed === 0 ? 0 : 2)
      return
    }
    submit(ctx, conn, m, rows, true, transitions)
  },
}

/** 0x0201 answers a 0x8201 query: it settles the command and is stored; the platform does not ack it. */
export const locationReply: Handler = {
  isReply: true,
  handle(ctx, conn, m) {
    ctx.commands.onTerminalReply(conn, m)
    const b = m.body as LocationReply
    const v = conn.vehicle as VehicleRef
    const row = toPosition(conn, v, b.location, ctx.now(), 0x0201, false)
    if (row === null) {
      rejectNoTime(ctx, 1)
      return
    }
    submit(ctx, conn, m, [row], false)
  },
}

/**
 * Real-time reports carry the alarm word: bits that changed since the previous report are a
 * transition (stored once the position committed); bits that turned on and need the platform's
 * 0x8203 confirmation are announced at once (the API confirms them). The previous word survives
 * reconnects: authentication seeds it from the state's last position of the vehicle.
 */
function alarmTransition(ctx: GatewayContext, conn: Connection, v: VehicleRef, m: Message, loc: Location, deviceTime: number): AlarmTransition | null {
  const alarm = loc.alarm >>> 0
  const prev = Math.max(conn.lastAlarm, 0)
  conn.lastAlarm = alarm
  if (alarm === prev) return null
  const raised = (alarm & ~prev) >>> 0
  const cleared = (prev & ~alarm) >>> 0
  if ((raised & CONFIRMABLE_ALARM_BITS) !== 0) {
    ctx.emitEvent('alarm', { phone: conn.key as string, vehicleId: v.id, serial: m.serial, alarm, raised, deviceTime })
  }
  return { vehicleId: v.id, deviceTime, raised, cleared, alarm }
}
