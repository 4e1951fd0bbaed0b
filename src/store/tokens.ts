/** Bearer tokens of the REST API: sha256 hashes only, never the secret (migrations/003_api.ts). */
import { iso, msColumn } from './convert.js'
import type { ApiToken, Role, TokenStore } from './port.js'
import type { Sql } from './sql.js'

interface TokenRow {
  id: string
  role: Role
  enterprise_license_no: string | null
  label: string | null
  created_at: number
  revoked_at: number | null
}
const TOKEN_COLUMNS = `id, role, enterprise_license_no, label, ${msColumn('created_at')} AS created_at, ${msColumn('revoked_at')} AS revoked_at`
const tokenFromRow = (r: TokenRow): ApiToken => ({
  id: r.id,
  role: r.role,
  enterpriseLicenseNo: r.enterprise_license_no,
  label: r.label,
  createdAt: Number(r.created_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
})

export function tokenQueries(sql: Sql): TokenStore {
  return {
    async createToken(t) {
      await sql.query(`INSERT INTO api_tokens (id, token_hash, role, enterprise_license_no, label, created_at) VALUES ($1, $2, $3, $4, $5, $6::timestamptz)`, [
        t.id,
        t.tokenHash,
        t.role,
        t.enterpriseLicenseNo,
        t.label,
        iso(t.createdAt),
      ])
    },

    async ensureToken(t) {
      await sql.query(
        `INSERT INTO api_tokens (id, token_hash, role, enterprise_license_no, label, created_at) VALUES ($1, $2, $3, $4, $5, $6::timestamptz)
         ON CONFLICT (token_hash) DO UPDATE SET revoked_at = NULL`,
        [t.id, t.tokenHash, t.role, t.enterpriseLicenseNo, t.label, iso(t.createdAt)],
      )
      const { rows } = await sql.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1`, [t.tokenHash])
      return tokenFromRow(rows[0])
    },

    async findToken(tokenHash) {
      const { rows } = await sql.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, [tokenHash])
      return rows.length ? tokenFromRow(rows[0]) : null
    },

    async listTokens() {
      const { rows } = await sql.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id`)
      return rows.map(tokenFromRow)
    },

    async revokeToken(id, at) {
      const r = await sql.query(`UPDATE api_tokens SET revoked_at = $2::timestamptz WHERE id = $1 AND revoked_at IS NULL`, [id, iso(at)])
      return r.rowCount > 0
    },
  }
}
