/** The audit log: every API write, who made it and what it acted on (migrations/003_api.ts). */
import { fromJson, iso, msColumn } from './convert.js'
import type { AuditStore, Role } from './port.js'
import type { Sql } from './sql.js'

export function auditQueries(sql: Sql): AuditStore {
  return {
    async appendAudit(e) {
      await sql.query(
        `INSERT INTO audit_log (at, token_id, role, enterprise_license_no, method, route, target, status, request_id, details)
         VALUES ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
        [iso(e.at), e.tokenId, e.role, e.enterpriseLicenseNo, e.method, e.route, e.target, e.status, e.requestId, JSON.stringify(e.details)],
      )
    },

    async listAudit(filter = {}) {
      const where: string[] = []
      const params: unknown[] = []
      if (filter.tokenId) where.push(`token_id = $${params.push(filter.tokenId)}`)
      if (filter.from !== undefined) where.push(`at >= $${params.push(iso(filter.from))}::timestamptz`)
      if (filter.to !== undefined) where.push(`at < $${params.push(iso(filter.to))}::timestamptz`)
      if (filter.route) where.push(`route = $${params.push(filter.route)}`)
      if (filter.method) where.push(`method = $${params.push(filter.method)}`)
      if (filter.target) where.push(`target = $${params.push(filter.target)}`)
      if (filter.enterpriseLicenseNo) where.push(`enterprise_license_no = $${params.push(filter.enterpriseLicenseNo)}`)
      if (filter.beforeId) where.push(`id < $${params.push(filter.beforeId)}::bigint`)
      const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000)
      // Ordered by the bigint column: the select list's text alias "id" would sort "10" before "9".
      const { rows } = await sql.query<{
        id: string
        at: number
        token_id: string | null
        role: Role | null
        enterprise_license_no: string | null
        method: string
        route: string
        target: string | null
        status: number
        request_id: string | null
        details: unknown
      }>(
        `SELECT id::text AS id, ${msColumn('at')} AS at, token_id, role, enterprise_license_no, method, route, target, status, request_id, details
         FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY audit_log.id DESC LIMIT ${limit}`,
        params,
      )
      return rows.map((r) => ({
        id: r.id,
        at: Number(r.at),
        tokenId: r.token_id,
        role: r.role,
        enterpriseLicenseNo: r.enterprise_license_no,
        method: r.method,
        route: r.route,
        target: r.target,
        status: Number(r.status),
        requestId: r.request_id,
        details: fromJson<Record<string, unknown>>(r.details),
      }))
    },
  }
}
