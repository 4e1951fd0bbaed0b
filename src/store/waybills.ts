/**
 * WaybillStore: electronic waybills (the JSON of the 29 fields in `data`, the columns the
 * queries filter on beside it), their status history, and the terminals' 0x0701 reports.
 * Status moves are compare-and-set, so two writers cannot both move the same waybill.
 */
import { activityWindow, canonicalPlate, newWaybill, type Waybill, type WaybillInput, type WaybillStatus, type WaybillStatusChange } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso, num, toMs } from './convert.js'
import { clampLimit, Conditions, cursorSeq, pageOf } from './paging.js'
import type { WaybillStore } from './port.js'
import type { Sql } from './sql.js'

interface WaybillRow {
  seq: string | number
  data: WaybillInput | string
  status: WaybillStatus
  created_at: Date | string
  updated_at: Date | string
  history: Array<{ status: WaybillStatus; at: number | string; by: string | null; note: string | null }> | string | null
  changed_at?: Date | string
}

const SELECT = `SELECT w.seq, w.data, w.status, w.created_at, w.updated_at, w.changed_at,
  (SELECT json_agg(json_build_object('status', h.status, 'at', floor(extract(epoch FROM h.at) * 1000)::int8, 'by', h.by, 'note', h.note) ORDER BY h.id)
     FROM waybill_status_history h WHERE h.waybill_no = w.waybill_no) AS history
  FROM waybills w`

function parseJson<T>(v: T | string): T {
  return typeof v === 'string' ? (JSON.parse(v) as T) : v
}

function toWaybill(r: WaybillRow): Waybill {
  const data = parseJson(r.data)
  const history = parseJson(r.history ?? []) ?? []
  return {
    ...data,
    status: r.status,
    createdAt: toMs(r.created_at),
    updatedAt: toMs(r.updated_at),
    statusHistory: history.map((h) => ({
      status: h.status,
      at: num(h.at),
      ...(h.by ? { by: h.by } : {}),
      ...(h.note ? { note: h.note } : {}),
    })),
  }
}

/** The input fields alone (what `data` holds): status and history live in their own columns/table. */
function inputOf(w: WaybillInput): WaybillInput {
  const { status: _s, createdAt: _c, updatedAt: _u, statusHistory: _h, ...input } = w as Waybill
  return input
}

function windowOf(w: WaybillInput): [number, number] {
  const win = activityWindow(w)
  if (!win) throw new RangeError(`waybill ${w.waybillNo}: loadingDate/expectedArrivalDate are not dates`)
  return win
}

async function insertRow(sql: Sql, w: Waybill): Promise<boolean> {
  const [from, to] = windowOf(w)
  const res = await sql.query(
    `INSERT INTO waybills (waybill_no, plate, plate_color, trailer_plate, carrier_license_no, driver_qualification_no, escort_qualification_no,
       status, window_start, window_end, data, created_at, updated_at, changed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, date_trunc('milliseconds', clock_timestamp()))
     ON CONFLICT (waybill_no) DO NOTHING`,
    [
      w.waybillNo,
      canonicalPlate(w.plate),
      w.plateColor,
      w.trailerPlate ? canonicalPlate(w.trailerPlate) : null,
      w.carrierLicenseNo,
      w.driverQualificationNo,
      w.escortQualificationNo,
      w.status,
      iso(from),
      iso(to),
      JSON.stringify(inputOf(w)),
      iso(w.createdAt),
      iso(w.updatedAt),
    ],
  )
  if (!res.rowCount) return false
  for (const h of w.statusHistory) await insertHistory(sql, w.waybillNo, h)
  return true
}

/** One waybill with its history, on the given handle (a transaction's, to read inside it). */
export async function readWaybill(db: Sql, no: string): Promise<Waybill | null> {
  const { rows } = await db.query<WaybillRow>(`${SELECT} WHERE w.waybill_no = $1`, [no])
  return rows[0] ? toWaybill(rows[0]) : null
}

/** Replaces a stored waybill's fields (status and history untouched); used by imports and corrections. */
export async function updateWaybillRow(sql: Sql, input: WaybillInput, at: number): Promise<void> {
  const [from, to] = windowOf(input)
  await sql.query(
    `UPDATE waybills SET plate = $2, plate_color = $3, trailer_plate = $4, carrier_license_no = $5, driver_qualification_no = $6,
       escort_qualification_no = $7, window_start = $8, window_end = $9, data = $10::jsonb, updated_at = $11, changed_at = date_trunc('milliseconds', clock_timestamp())
     WHERE waybill_no = $1`,
    [
      input.waybillNo,
      canonicalPlate(input.plate),
      input.plateColor,
      input.trailerPlate ? canonicalPlate(input.trailerPlate) : null,
      input.carrierLicenseNo,
      input.driverQualificationNo,
      input.escortQualificationNo,
      iso(from),
      iso(to),
      JSON.stringify(inputOf(input)),
      iso(at),
    ],
  )
}

async function insertHistory(sql: Sql, no: string, h: WaybillStatusChange): Promise<void> {
  await sql.query(`INSERT INTO waybill_status_history (waybill_no, status, at, by, note) VALUES ($1, $2, $3, $4, $5)`, [no, h.status, iso(h.at), h.by ?? null, h.note ?? null])
}

export function waybillQueries(ctx: StoreContext): WaybillStore {
  const { sql } = ctx

  const get = readWaybill

  return {
    insertWaybill: (w) => sql.transaction((tx) => insertRow(tx, w)),

    async upsertWaybills(inputs, opts = {}) {
      const at = opts.at ?? Date.now()
      return sql.transaction(async (tx) => {
        let inserted = 0,
          updated = 0
        for (const input of inputs) {
          if (await insertRow(tx, newWaybill(inputOf(input), at, opts.by ?? 'import', opts.status ?? 'created'))) {
            inserted++
            continue
          }
          await updateWaybillRow(tx, input, at)
          updated++
        }
        return { inserted, updated }
      })
    },

    getWaybill: (no) => get(sql, no),

    async listWaybills(filter = {}) {
      const c = new Conditions()
      if (filter.plate) c.add('(w.plate = ? OR w.trailer_plate = ?)', canonicalPlate(filter.plate), canonicalPlate(filter.plate))
      if (filter.plateColor !== undefined) c.add('w.plate_color = ?', filter.plateColor)
      if (filter.status !== undefined) c.add('w.status = ANY(?::text[])', Array.isArray(filter.status) ? filter.status : [filter.status])
      if (filter.carrierLicenseNo) c.add('w.carrier_license_no = ?', filter.carrierLicenseNo)
      if (filter.from !== undefined) c.add('w.window_end >= ?', iso(filter.from))
      if (filter.to !== undefined) c.add('w.window_start <= ?', iso(filter.to))
      if (filter.cursor) c.add('w.seq < ?', cursorSeq(filter.cursor))
      const limit = clampLimit(filter.limit)
      const { rows } = await sql.query<WaybillRow>(`${SELECT} ${c.where} ORDER BY w.seq DESC LIMIT ${c.param(limit + 1)}`, c.params)
      return pageOf(rows, limit, toWaybill)
    },

    updateWaybillStatus(no, from, change) {
      return sql.transaction(async (tx) => {
        const res = await tx.query(`UPDATE waybills SET status = $3, updated_at = $4, changed_at = date_trunc('milliseconds', clock_timestamp()) WHERE waybill_no = $1 AND status = $2`, [
          no,
          from,
          change.status,
          iso(change.at),
        ])
        if (!res.rowCount) return null
        await insertHistory(tx, no, change)
        return get(tx, no)
      })
    },

    async waybillChangesSince(sinceMs, limit = 1000) {
      const { rows } = await sql.query<WaybillRow>(`${SELECT} WHERE w.changed_at > $1 ORDER BY w.changed_at, w.seq LIMIT $2`, [iso(sinceMs), limit])
      return rows.map((r) => ({ waybill: toWaybill(r), changedAt: toMs(r.changed_at!) }))
    },

    async waybillsInEffect(at) {
      const { rows } = await sql.query<WaybillRow>(
        `${SELECT} WHERE w.window_end >= $1 AND w.status <> 'created'
           AND (w.status IN ('dispatched', 'in_transit') OR w.updated_at >= $2)
         ORDER BY w.seq`,
        [iso(at - 86_400_000 * 2), iso(at - 86_400_000 * 2)],
      )
      return rows.map(toWaybill)
    },

    async activeWaybillFor(plate, plateColor, at, graceMs = 0) {
      const p = canonicalPlate(plate)
      const { rows } = await sql.query<WaybillRow>(
        `${SELECT} WHERE (w.plate = $1 AND w.plate_color = $2 OR w.trailer_plate = $1)
           AND w.status IN ('dispatched', 'in_transit') AND w.window_start <= $3 AND w.window_end >= $4
         ORDER BY (w.plate = $1) DESC, (w.status = 'in_transit') DESC, w.window_start DESC LIMIT 1`,
        [p, plateColor, iso(at + graceMs), iso(at - graceMs)],
      )
      return rows[0] ? toWaybill(rows[0]) : null
    },

    async lastWaybillFor(plate, plateColor, before) {
      const { rows } = await sql.query<WaybillRow>(
        `${SELECT} WHERE w.plate = $1 AND w.plate_color = $2 AND w.window_start < $3 AND w.status IN ('in_transit', 'completed')
         ORDER BY w.window_start DESC, w.seq DESC LIMIT 1`,
        [canonicalPlate(plate), plateColor, iso(before)],
      )
      return rows[0] ? toWaybill(rows[0]) : null
    },

    async insertWaybillReport(r) {
      await sql.query(`INSERT INTO terminal_waybill_reports (phone, vehicle_id, received_at, body) VALUES ($1, $2, $3, $4::jsonb)`, [
        r.phone,
        r.vehicleId,
        iso(r.receivedAt),
        JSON.stringify(r.body ?? null, jsonSafe),
      ])
    },

    async listWaybillReports(vehicleId, from, to) {
      const { rows } = await sql.query<{ phone: string; vehicle_id: number | null; received_at: Date; body: unknown }>(
        `SELECT phone, vehicle_id, received_at, body FROM terminal_waybill_reports WHERE vehicle_id = $1 AND received_at >= $2 AND received_at < $3 ORDER BY received_at, id`,
        [vehicleId, iso(from), iso(to)],
      )
      return rows.map((r) => ({ phone: r.phone, vehicleId: r.vehicle_id === null ? null : num(r.vehicle_id), receivedAt: toMs(r.received_at), body: parseJson(r.body as string) }))
    },

    async deleteWaybillsBefore(cutoff) {
      const a = await sql.query(`DELETE FROM waybills WHERE window_end < $1 AND updated_at < $1`, [iso(cutoff)])
      const b = await sql.query(`DELETE FROM terminal_waybill_reports WHERE received_at < $1`, [iso(cutoff)])
      return a.rowCount + b.rowCount
    },
  }
}

/** Buffers in a decoded 0x0701 body are kept as hex. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { hex: Buffer.from((value as { data: number[] }).data).toString('hex') }
  }
  if (typeof value === 'bigint') return value.toString()
  return value
}
