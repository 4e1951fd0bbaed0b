/** The handling history of anomalies (notify → rectify → confirm | dismiss), one step at a time. */
import { iso, msColumn } from './convert.js'
import type { HandlingAction, HandlingEntry, HandlingStore, Role } from './port.js'
import type { Sql } from './sql.js'

interface HandlingRow {
  id: string
  anomaly_id: string
  action: HandlingAction
  note: string | null
  token_id: string | null
  role: Role | null
  enterprise_license_no: string | null
  at: number
}
const HANDLING_COLUMNS = `id::text AS id, anomaly_id, action, note, token_id, role, enterprise_license_no, ${msColumn('at')} AS at`
const handlingFromRow = (r: HandlingRow): HandlingEntry => ({
  id: r.id,
  anomalyId: r.anomaly_id,
  action: r.action,
  note: r.note,
  tokenId: r.token_id,
  role: r.role,
  enterpriseLicenseNo: r.enterprise_license_no,
  at: Number(r.at),
})

export function handlingQueries(sql: Sql): HandlingStore {
  return {
    async applyHandling(entry, canApply) {
      return sql.transaction(async (tx) => {
        // The state row is the lock: its first insert or a FOR UPDATE read serialises concurrent steps.
        await tx.query(`INSERT INTO anomaly_handling_state (anomaly_id, action, at) VALUES ($1, NULL, $2::timestamptz) ON CONFLICT (anomaly_id) DO NOTHING`, [entry.anomalyId, iso(entry.at)])
        const { rows } = await tx.query<{ action: HandlingAction | null }>(`SELECT action FROM anomaly_handling_state WHERE anomaly_id = $1 FOR UPDATE`, [entry.anomalyId])
        const current = rows[0]?.action ?? null
        if (!canApply(current)) return { ok: false as const, current }
        await tx.query(`UPDATE anomaly_handling_state SET action = $2, at = $3::timestamptz WHERE anomaly_id = $1`, [entry.anomalyId, entry.action, iso(entry.at)])
        const inserted = await tx.query<HandlingRow>(
          `INSERT INTO anomaly_handling (anomaly_id, action, note, token_id, role, enterprise_license_no, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz) RETURNING ${HANDLING_COLUMNS}`,
          [entry.anomalyId, entry.action, entry.note, entry.tokenId, entry.role, entry.enterpriseLicenseNo, iso(entry.at)],
        )
        return { ok: true as const, entry: handlingFromRow(inserted.rows[0]) }
      })
    },

    async listHandling(anomalyId) {
      const { rows } = await sql.query<HandlingRow>(`SELECT ${HANDLING_COLUMNS} FROM anomaly_handling WHERE anomaly_id = $1 ORDER BY id`, [anomalyId])
      return rows.map(handlingFromRow)
    },

    async handlingStates(anomalyIds) {
      const out = new Map<string, HandlingAction>()
      if (!anomalyIds.length) return out
      const { rows } = await sql.query<{ anomaly_id: string; action: HandlingAction | null }>(`SELECT anomaly_id, action FROM anomaly_handling_state WHERE anomaly_id = ANY($1::text[])`, [anomalyIds])
      for (const r of rows) if (r.action) out.set(r.anomaly_id, r.action)
      return out
    },
  }
}
