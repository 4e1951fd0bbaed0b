/**
 * AnomalyStore: anomalies as the matcher last reported them (upsert by their stable id), listed
 * newest first in a stable order (`seq`, fixed at first insert) with an opaque cursor.
 */
import { canonicalPlate, type Anomaly, type AnomalyStatus, type AnomalyType, type Severity } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso, num, toMs, toMsOrNull } from './convert.js'
import { clampLimit, Conditions, cursorSeq, pageOf } from './paging.js'
import type { AnomalyStore } from './port.js'

interface AnomalyRow {
  seq: string | number
  id: string
  type: AnomalyType
  status: AnomalyStatus
  severity: Severity
  vehicle_id: number
  plate: string
  plate_color: number
  waybill_no: string | null
  enterprise_license_no: string | null
  started_at: Date
  ended_at: Date | null
  last_seen_at: Date
  evidence: Record<string, unknown> | string
  resolved_by_late_data: boolean
}

const COLUMNS = `seq, id, type, status, severity, vehicle_id, plate, plate_color, waybill_no, enterprise_license_no,
  started_at, ended_at, last_seen_at, evidence, resolved_by_late_data`

function toAnomaly(r: AnomalyRow): Anomaly {
  const a: Anomaly = {
    id: r.id,
    type: r.type,
    status: r.status,
    severity: r.severity,
    vehicleId: num(r.vehicle_id),
    plate: r.plate,
    plateColor: num(r.plate_color),
    waybillNo: r.waybill_no,
    enterpriseLicenseNo: r.enterprise_license_no,
    startedAt: toMs(r.started_at),
    endedAt: toMsOrNull(r.ended_at),
    lastSeenAt: toMs(r.last_seen_at),
    evidence: typeof r.evidence === 'string' ? (JSON.parse(r.evidence) as Record<string, unknown>) : r.evidence,
  }
  if (r.resolved_by_late_data) a.resolvedByLateData = true
  return a
}

export function anomalyQueries(ctx: StoreContext): AnomalyStore {
  const { sql } = ctx
  return {
    async upsertAnomalies(rows) {
      if (!rows.length) return
      const payload = rows.map((a) => ({
        id: a.id,
        type: a.type,
        status: a.status,
        severity: a.severity,
        vehicle_id: a.vehicleId,
        plate: a.plate,
        plate_key: canonicalPlate(a.plate),
        plate_color: a.plateColor,
        waybill_no: a.waybillNo,
        enterprise_license_no: a.enterpriseLicenseNo,
        started_at: iso(a.startedAt),
        ended_at: a.endedAt === null ? null : iso(a.endedAt),
        last_seen_at: iso(a.lastSeenAt),
        evidence: a.evidence,
        resolved_by_late_data: !!a.resolvedByLateData,
      }))
      await sql.query(
        `INSERT INTO anomalies (id, type, status, severity, vehicle_id, plate, plate_key, plate_color, waybill_no, enterprise_license_no,
           started_at, ended_at, last_seen_at, evidence, resolved_by_late_data, updated_at)
         SELECT id, type, status, severity, vehicle_id, plate, plate_key, plate_color, waybill_no, enterprise_license_no,
           started_at, ended_at, last_seen_at, evidence, resolved_by_late_data, clock_timestamp()
         FROM jsonb_to_recordset($1::jsonb) AS r(id text, type text, status text, severity text, vehicle_id int4, plate text, plate_key text, plate_color int2,
           waybill_no text, enterprise_license_no text, started_at timestamptz, ended_at timestamptz, last_seen_at timestamptz,
           evidence jsonb, resolved_by_late_data boolean)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, severity = EXCLUDED.severity, vehicle_id = EXCLUDED.vehicle_id,
           waybill_no = EXCLUDED.waybill_no, enterprise_license_no = EXCLUDED.enterprise_license_no, started_at = EXCLUDED.started_at,
           ended_at = EXCLUDED.ended_at, last_seen_at = EXCLUDED.last_seen_at, evidence = EXCLUDED.evidence,
           resolved_by_late_data = EXCLUDED.resolved_by_late_data, updated_at = EXCLUDED.updated_at`,
        [JSON.stringify(payload)],
      )
    },

    async getAnomaly(id) {
      const { rows } = await sql.query<AnomalyRow>(`SELECT ${COLUMNS} FROM anomalies WHERE id = $1`, [id])
      return rows[0] ? toAnomaly(rows[0]) : null
    },

    async listAnomalies(filter = {}) {
      const c = new Conditions()
      if (filter.type !== undefined) c.add('type = ANY(?::text[])', Array.isArray(filter.type) ? filter.type : [filter.type])
      if (filter.status) c.add('status = ?', filter.status)
      if (filter.severity !== undefined) c.add('severity = ANY(?::text[])', Array.isArray(filter.severity) ? filter.severity : [filter.severity])
      if (filter.plate) c.add('plate_key = ?', canonicalPlate(filter.plate))
      if (filter.plateColor !== undefined) c.add('plate_color = ?', filter.plateColor)
      if (filter.vehicleId !== undefined) c.add('vehicle_id = ?', filter.vehicleId)
      if (filter.enterpriseLicenseNo) c.add('enterprise_license_no = ?', filter.enterpriseLicenseNo)
      if (filter.waybillNo) c.add('waybill_no = ?', filter.waybillNo)
      if (filter.to !== undefined) c.add('started_at <= ?', iso(filter.to))
      if (filter.from !== undefined) c.add('(ended_at IS NULL OR ended_at >= ?)', iso(filter.from))
      if (filter.cursor) c.add('seq < ?', cursorSeq(filter.cursor))
      const limit = clampLimit(filter.limit)
      const { rows } = await sql.query<AnomalyRow>(`SELECT ${COLUMNS} FROM anomalies ${c.where} ORDER BY seq DESC LIMIT ${c.param(limit + 1)}`, c.params)
      return pageOf(rows, limit, toAnomaly)
    },

    async openAnomalies(vehicleIds, partition) {
      const { rows } = vehicleIds
        ? await sql.query<AnomalyRow>(`SELECT ${COLUMNS} FROM anomalies WHERE status = 'open' AND vehicle_id = ANY($1::int4[]) ORDER BY seq`, [vehicleIds])
        : partition
          ? // a partition's new owner: 1/P of the open anomalies, not all of them once per partition
            await sql.query<AnomalyRow>(`SELECT ${COLUMNS} FROM anomalies WHERE status = 'open' AND (vehicle_id % $1 = $2 OR ($2 = 0 AND vehicle_id <= 0)) ORDER BY seq`, [
              partition.parts,
              partition.part,
            ])
          : await sql.query<AnomalyRow>(`SELECT ${COLUMNS} FROM anomalies WHERE status = 'open' ORDER BY seq`)
      return rows.map(toAnomaly)
    },

    async anomalyCounts(filter) {
      const params: unknown[] = [iso(filter.from), iso(filter.to)]
      let extra = ''
      if (filter.enterpriseLicenseNo) {
        params.push(filter.enterpriseLicenseNo)
        extra += ` AND enterprise_license_no = $${params.length}`
      }
      if (filter.vehicleIds) {
        params.push(filter.vehicleIds)
        extra += ` AND vehicle_id = ANY($${params.length}::int4[])`
      }
      const { rows } = await sql.query<{
        vehicle_id: number
        plate: string
        plate_color: number
        enterprise_license_no: string | null
        waybill_no: string | null
        type: AnomalyType
        severity: Severity
        count: string | number
      }>(
        `SELECT vehicle_id, plate, plate_color, enterprise_license_no, waybill_no, type, severity, count(*) AS count
         FROM anomalies
         WHERE started_at < $2 AND (ended_at IS NULL OR ended_at >= $1) AND NOT (evidence ? 'refuted')${extra}
         GROUP BY vehicle_id, plate, plate_color, enterprise_license_no, waybill_no, type, severity
         ORDER BY vehicle_id, type`,
        params,
      )
      return rows.map((r) => ({
        vehicleId: num(r.vehicle_id),
        plate: r.plate,
        plateColor: num(r.plate_color),
        enterpriseLicenseNo: r.enterprise_license_no,
        waybillNo: r.waybill_no,
        type: r.type,
        severity: r.severity,
        count: num(r.count),
      }))
    },

    async deleteAnomaliesBefore(cutoff) {
      const res = await sql.query(`DELETE FROM anomalies WHERE status = 'closed' AND ended_at < $1`, [iso(cutoff)])
      return res.rowCount
    },
  }
}
