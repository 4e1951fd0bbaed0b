/**
 * AdminStore: what the admin surface reads and changes beyond the other areas — a queued
 * command's status, the terminals' sessions, vehicle retirement, geofence changes, waybill
 * corrections with their history. Tables from migrations/004_admin.ts (and 001/003).
 */
import type { Waybill, WaybillInput } from '../domain.js'
import type { StoreContext } from './context.js'
import { fromJson, iso, num, numOrNull, toMs } from './convert.js'
import { readWaybill, updateWaybillRow } from './waybills.js'

export type CommandState = 'queued' | 'delivered' | 'answered' | 'failed' | 'expired'

export interface CommandStatus {
  id: string
  phone: string
  msgId: number
  status: CommandState
  createdAt: number
  expiresAt: number
  updatedAt: number
  /** the terminal's failure result (status failed) */
  result: number | null
  /** the terminal's answer (status answered): { msgId, body } */
  answer: unknown
  /** a command sent through a lower platform (JT/T 809): its vehicle and platform; else null */
  vehicleId: number | null
  platformId: number | null
}

/** What became of a delivered command (the gateway reports it). */
export type CommandResult = { status: 'answered'; answer: unknown } | { status: 'failed'; result: number }

/** A command to a vehicle through a lower platform, with what its reply will be matched by (migration 011). */
export interface NewPlatformCommand {
  id: string
  vehicleId: number
  platformId: number
  /** 0x9502 photo / 0x9503 text */
  msgId: number
  createdAt: number
  expiresAt: number
  /** the vehicle as the 0x9500 names it */
  plate: string
  plateColor: number
  /** a text's MSG_SEQUENCE (null: a photo request) */
  msgSequence: number | null
}

/**
 * What a platform's reply names its command by: SOURCE_MSG_SN (2019; and the vehicle of its
 * envelope when it names one, so a number reused on a newer link cannot hand one vehicle's answer
 * to another's command), MSG_ID = MSG_SEQUENCE (2011 text), the vehicle only (2011 photo).
 */
export type PlatformReplyMatch = { msgSn: number; vehicle: { plate: string; plateColor: number } | null } | { msgSequence: number } | { photoOf: { plate: string; plateColor: number } }

/** A terminal whose last session event is "online", with what it told us about itself. */
export interface TerminalSession {
  phone: string
  nodeId: string
  since: number
  address: string
  vehicleId: number | null
  plate: string | null
  plateColor: number | null
  enterpriseLicenseNo: string | null
  protocolVersion: number | null
  manufacturer: string | null
  model: string | null
  imei: string | null
  firmware: string | null
}

export interface WaybillCorrection {
  id: string
  waybillNo: string
  at: number
  by: string | null
  /** field → { from, to } */
  changes: Record<string, { from: unknown; to: unknown }>
}

export type CorrectWaybillResult = { ok: true; waybill: Waybill; correction: WaybillCorrection | null } | { ok: false; reason: 'not-found' } | { ok: false; reason: 'not-created'; status: string }

export interface AdminStore {
  getCommandStatus(id: string, now: number): Promise<CommandStatus | null>
  /** Retention: status rows of commands created before cutoff; returns how many. */
  deleteCommandStatusBefore(cutoff: number): Promise<number>
  /** Records the answer (or failure) of a delivered queued command. */
  recordCommandResult(id: string, result: CommandResult, at: number): Promise<void>
  /** A command sent through a lower platform (0x9502/0x9503): status 'delivered' until its 0x1500 reply. */
  createPlatformCommand(c: NewPlatformCommand): Promise<void>
  /**
   * The MSG_SN its 0x9500 frame went out with. A link numbers its frames from 0 again after every
   * login: an older command still waiting with the same number on that platform gives it up (a
   * reply naming it is for the newer one).
   */
  platformCommandSent(id: string, platformId: number, msgSn: number): Promise<void>
  /**
   * A lower platform's final reply (0x1503 / 0x1502): the oldest of its commands still waiting
   * (delivered, not expired at `at`) that the reply names gets the result. Its id; null when none waits.
   */
  settlePlatformCommand(platformId: number, by: PlatformReplyMatch, result: CommandResult, at: number): Promise<string | null>

  /** Terminals whose newest session event is online (the caller checks the live state), oldest session first. */
  onlineSessionCandidates(filter: { enterpriseLicenseNo?: string; limit: number }): Promise<TerminalSession[]>

  /** Sets (retire) or clears (reinstate) the retirement time; false when the vehicle is unknown. */
  setVehicleRetired(vehicleId: number, at: number | null): Promise<boolean>
  /** Retirement time by vehicle id, for the given ids (absent: active). */
  vehicleRetirements(vehicleIds: number[]): Promise<Map<number, number>>
  /** Retired vehicles' ids (newest retirement first), optionally of one licence. */
  retiredVehicleIds(filter?: { enterpriseLicenseNo?: string }): Promise<number[]>

  /**
   * Replaces a waybill's fields while its status is `created`, and records what changed (who,
   * when, field by field) — atomically with the status check.
   */
  correctWaybill(waybillNo: string, input: WaybillInput, at: number, by: string, diff: (before: Waybill) => WaybillCorrection['changes']): Promise<CorrectWaybillResult>
  listWaybillCorrections(waybillNo: string): Promise<WaybillCorrection[]>
}

interface CommandRow {
  id: string
  phone: string
  msg_id: number
  status: CommandState
  created_at: Date
  expires_at: Date
  updated_at: Date
  result: number | null
  answer: unknown
  vehicle_id: number | string | null
  platform_id: number | string | null
}

/** Protocol bodies hold bigints and Buffers: store them as decimal text and hex. */
function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return Buffer.from((v as { data: number[] }).data).toString('hex')
  return v
}

export function adminQueries(ctx: StoreContext): AdminStore {
  const { sql } = ctx
  return {
    async getCommandStatus(id, now) {
      const { rows } = await sql.query<CommandRow>(`SELECT id, phone, msg_id, status, created_at, expires_at, updated_at, result, answer, vehicle_id, platform_id FROM command_status WHERE id = $1`, [
        id,
      ])
      const r = rows[0]
      if (!r) return null
      const expiresAt = toMs(r.expires_at)
      const platformId = r.platform_id === null || r.platform_id === undefined ? null : num(r.platform_id)
      // A command still waiting past its expiry will never be delivered: say so, whether or not a terminal came back to find it gone.
      // One sent through a platform and unanswered past its expiry will not be answered any more either.
      const waiting = r.status === 'queued' || (platformId !== null && r.status === 'delivered')
      const status: CommandState = waiting && expiresAt <= now ? 'expired' : r.status
      return {
        id: r.id,
        phone: r.phone,
        msgId: num(r.msg_id),
        status,
        createdAt: toMs(r.created_at),
        expiresAt,
        updatedAt: toMs(r.updated_at),
        result: numOrNull(r.result),
        answer: r.answer === null || r.answer === undefined ? null : fromJson(r.answer),
        vehicleId: r.vehicle_id === null || r.vehicle_id === undefined ? null : num(r.vehicle_id),
        platformId,
      }
    },

    async deleteCommandStatusBefore(cutoff) {
      const r = await sql.query(`DELETE FROM command_status WHERE created_at < $1 AND id NOT IN (SELECT id FROM queued_commands)`, [iso(cutoff)])
      return r.rowCount
    },

    async recordCommandResult(id, result, at) {
      await sql.query(`UPDATE command_status SET status = $2, result = $3, answer = $4::text::jsonb, updated_at = $5 WHERE id = $1`, [
        id,
        result.status,
        result.status === 'failed' ? result.result : null,
        result.status === 'answered' ? JSON.stringify(result.answer ?? null, jsonSafe) : null,
        iso(at),
      ])
    },

    async createPlatformCommand(c) {
      await sql.query(
        `INSERT INTO command_status (id, phone, msg_id, status, created_at, expires_at, updated_at, vehicle_id, platform_id, plate, plate_color, msg_sequence)
         VALUES ($1, '', $2, 'delivered', $3, $4, $3, $5, $6, $7, $8, $9)`,
        [c.id, c.msgId, iso(c.createdAt), iso(c.expiresAt), c.vehicleId, c.platformId, c.plate, c.plateColor, c.msgSequence],
      )
    },

    async platformCommandSent(id, platformId, msgSn) {
      await sql.transaction(async (tx) => {
        await tx.query(`UPDATE command_status SET msg_sn = NULL WHERE platform_id = $1 AND status = 'delivered' AND msg_sn = $2 AND id <> $3`, [platformId, msgSn, id])
        await tx.query(`UPDATE command_status SET msg_sn = $2 WHERE id = $1`, [id, msgSn])
      })
    },

    async settlePlatformCommand(platformId, by, result, at) {
      const params: unknown[] = [
        platformId,
        iso(at),
        result.status,
        result.status === 'failed' ? result.result : null,
        result.status === 'answered' ? JSON.stringify(result.answer ?? null, jsonSafe) : null,
      ]
      const named =
        'msgSn' in by
          ? `msg_sn = $${params.push(by.msgSn)}${by.vehicle ? ` AND plate = $${params.push(by.vehicle.plate)} AND plate_color = $${params.push(by.vehicle.plateColor)}` : ''}`
          : 'msgSequence' in by
            ? `msg_id = ${0x9503} AND msg_sequence = $${params.push(by.msgSequence)}`
            : `msg_id = ${0x9502} AND plate = $${params.push(by.photoOf.plate)} AND plate_color = $${params.push(by.photoOf.plateColor)}`
      const { rows } = await sql.query<{ id: string }>(
        `UPDATE command_status SET status = $3, result = $4, answer = $5::text::jsonb, updated_at = $2
          WHERE id = (SELECT id FROM command_status
                       WHERE platform_id = $1 AND status = 'delivered' AND expires_at > $2 AND ${named}
                       ORDER BY created_at, id LIMIT 1)
          RETURNING id`,
        params,
      )
      return rows[0]?.id ?? null
    },

    async onlineSessionCandidates(filter) {
      const params: unknown[] = [filter.limit]
      const licence = filter.enterpriseLicenseNo === undefined ? '' : `AND v.enterprise_license_no = $${params.push(filter.enterpriseLicenseNo)}`
      const { rows } = await sql.query<{
        phone: string
        node_id: string
        at: Date
        address: string
        vehicle_id: number | null
        plate: string | null
        plate_color: number | null
        enterprise_license_no: string | null
        protocol_version: number | null
        manufacturer: string | null
        model: string | null
        imei: string | null
        firmware: string | null
      }>(
        `SELECT s.phone, s.node_id, s.at, s.address, COALESCE(t.vehicle_id, s.vehicle_id) AS vehicle_id, v.plate, v.plate_color, v.enterprise_license_no,
                t.protocol_version, t.manufacturer, t.model, t.imei, t.firmware
           FROM (SELECT DISTINCT ON (phone) phone, node_id, at, address, vehicle_id, kind FROM sessions ORDER BY phone, at DESC, id DESC) s
           LEFT JOIN terminals t ON t.phone = s.phone
           LEFT JOIN vehicles v ON v.id = COALESCE(t.vehicle_id, s.vehicle_id)
          WHERE s.kind = 'online' ${licence}
          ORDER BY s.at, s.phone LIMIT $1`,
        params,
      )
      return rows.map((r) => ({
        phone: r.phone,
        nodeId: r.node_id,
        since: toMs(r.at),
        address: r.address,
        vehicleId: numOrNull(r.vehicle_id),
        plate: r.plate,
        plateColor: numOrNull(r.plate_color),
        enterpriseLicenseNo: r.enterprise_license_no,
        protocolVersion: numOrNull(r.protocol_version),
        manufacturer: r.manufacturer,
        model: r.model,
        imei: r.imei,
        firmware: r.firmware,
      }))
    },

    async setVehicleRetired(vehicleId, at) {
      const r = await sql.query(`UPDATE vehicles SET retired_at = $2, updated_at = now() WHERE id = $1`, [vehicleId, at === null ? null : iso(at)])
      return r.rowCount > 0
    },

    async vehicleRetirements(vehicleIds) {
      const out = new Map<number, number>()
      if (!vehicleIds.length) return out
      const { rows } = await sql.query<{ id: number; retired_at: Date }>(`SELECT id, retired_at FROM vehicles WHERE id = ANY($1::integer[]) AND retired_at IS NOT NULL`, [vehicleIds])
      for (const r of rows) out.set(num(r.id), toMs(r.retired_at))
      return out
    },

    async retiredVehicleIds(filter = {}) {
      const { rows } =
        filter.enterpriseLicenseNo === undefined
          ? await sql.query<{ id: number }>(`SELECT id FROM vehicles WHERE retired_at IS NOT NULL ORDER BY retired_at DESC, id`)
          : await sql.query<{ id: number }>(`SELECT id FROM vehicles WHERE retired_at IS NOT NULL AND enterprise_license_no = $1 ORDER BY retired_at DESC, id`, [filter.enterpriseLicenseNo])
      return rows.map((r) => num(r.id))
    },

    correctWaybill(no, input, at, by, diff) {
      return sql.transaction(async (tx) => {
        // The row lock orders a correction against a concurrent lifecycle move.
        const { rows } = await tx.query<{ status: string }>(`SELECT status FROM waybills WHERE waybill_no = $1 FOR UPDATE`, [no])
        if (!rows.length) return { ok: false as const, reason: 'not-found' as const }
        if (rows[0].status !== 'created') return { ok: false as const, reason: 'not-created' as const, status: rows[0].status }
        const before = await readWaybill(tx, no)
        if (!before) return { ok: false as const, reason: 'not-found' as const }
        const changes = diff(before)
        if (!Object.keys(changes).length) return { ok: true as const, waybill: before, correction: null }
        await updateWaybillRow(tx, input, at)
        const inserted = await tx.query<{ id: string }>(`INSERT INTO waybill_corrections (waybill_no, at, by, changes) VALUES ($1, $2, $3, $4::text::jsonb) RETURNING id::text AS id`, [
          no,
          iso(at),
          by,
          JSON.stringify(changes),
        ])
        const after = (await readWaybill(tx, no)) ?? before
        return { ok: true as const, waybill: after, correction: { id: inserted.rows[0].id, waybillNo: no, at, by, changes } }
      })
    },

    async listWaybillCorrections(no) {
      const { rows } = await sql.query<{ id: string; waybill_no: string; at: Date; by: string | null; changes: unknown }>(
        `SELECT id::text AS id, waybill_no, at, by, changes FROM waybill_corrections WHERE waybill_no = $1 ORDER BY id`,
        [no],
      )
      return rows.map((r) => ({ id: r.id, waybillNo: r.waybill_no, at: toMs(r.at), by: r.by, changes: fromJson<WaybillCorrection['changes']>(r.changes) }))
    },
  }
}
