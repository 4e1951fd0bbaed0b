/**
 * What the REST API keeps for itself: bearer tokens (sha256 hashes only), the audit log of every
 * write, the handling history of anomalies (notify → rectify → confirm | dismiss), geofences
 * (key road segments and speed-limit zones), and small platform settings such as the SM2 key
 * pair that signs waybill QR codes. Tables come from migrations/003_api.ts.
 */
import type { Sql } from './sql.js'

export type Role = 'supervisor' | 'enterprise' | 'inspector'
export const ROLES: readonly Role[] = ['supervisor', 'enterprise', 'inspector']

export interface ApiToken {
  id: string
  role: Role
  /** set for (and only for) the enterprise role: the carrier licence number it is confined to */
  enterpriseLicenseNo: string | null
  label: string | null
  createdAt: number
  revokedAt: number | null
}

export interface NewApiToken {
  id: string
  /** sha256 hex of the secret; the secret itself is never stored */
  tokenHash: string
  role: Role
  enterpriseLicenseNo: string | null
  label: string | null
  createdAt: number
}

export interface AuditEntry {
  at: number
  tokenId: string | null
  role: Role | null
  enterpriseLicenseNo: string | null
  method: string
  /** the route pattern, e.g. "/api/v1/waybills/:waybillNo" */
  route: string
  /** what was acted on: a plate, waybill no., anomaly id… */
  target: string | null
  status: number
  requestId: string | null
  details: Record<string, unknown>
}

export interface AuditFilter {
  tokenId?: string
  /** the route pattern, exactly ("/api/v1/tokens") */
  route?: string
  method?: string
  target?: string
  enterpriseLicenseNo?: string
  from?: number
  /** exclusive */
  to?: number
  /** entries with a smaller id only (paging: the last id of the previous page) */
  beforeId?: string
  limit?: number
}

export type HandlingAction = 'notify' | 'rectify' | 'confirm' | 'dismiss'

export interface HandlingEntry {
  id: string
  anomalyId: string
  action: HandlingAction
  note: string | null
  tokenId: string | null
  role: Role | null
  enterpriseLicenseNo: string | null
  at: number
}

export type NewHandlingEntry = Omit<HandlingEntry, 'id'>

export type ApplyHandlingResult = { ok: true; entry: HandlingEntry } | { ok: false; current: HandlingAction | null }

/** GeoJSON geometries a geofence may have: an area, or a road line widened by bufferMeters. */
export type GeofenceGeometry = { type: 'Polygon'; coordinates: number[][][] } | { type: 'LineString'; coordinates: number[][] }

export type GeofenceKind = 'bridge' | 'tunnel' | 'key-segment' | 'speed-zone'

export interface Geofence {
  id: number
  name: string
  kind: GeofenceKind
  /** 'highway' (80 km/h for hazmat) or 'other' (60 km/h); null: not a road-class marking */
  roadClass: 'highway' | 'other' | null
  /** km/h; a per-geofence limit that wins over the road class */
  speedLimit: number | null
  geometry: GeofenceGeometry
  /** half-width of a LineString corridor; null for polygons */
  bufferMeters: number | null
  /** [minLon, minLat, maxLon, maxLat], buffer included: the cheap pre-filter */
  bbox: [number, number, number, number]
  createdAt: number
}

export type NewGeofence = Omit<Geofence, 'id' | 'createdAt'>

export interface BoxFix {
  vehicleId: number
  deviceTime: number
  longitude: number
  latitude: number
}

export interface ApiStore {
  createToken(token: NewApiToken): Promise<void>
  /** Makes an unrevoked token with exactly this hash exist (the bootstrap token); an existing row keeps its role and id. */
  ensureToken(token: NewApiToken): Promise<ApiToken>
  /** Unrevoked token by hash, or null. */
  findToken(tokenHash: string): Promise<ApiToken | null>
  listTokens(): Promise<ApiToken[]>
  revokeToken(id: string, at: number): Promise<boolean>

  appendAudit(entry: AuditEntry): Promise<void>
  /** Newest first. */
  listAudit(filter?: AuditFilter): Promise<(AuditEntry & { id: string })[]>

  /**
   * Appends a handling step if `canApply(current)` accepts the anomaly's current handling state;
   * the check and the append are atomic, so two concurrent steps cannot both pass.
   */
  applyHandling(entry: NewHandlingEntry, canApply: (current: HandlingAction | null) => boolean): Promise<ApplyHandlingResult>
  /** Oldest first. */
  listHandling(anomalyId: string): Promise<HandlingEntry[]>
  /** The last action per anomaly id (ids without history are absent). */
  handlingStates(anomalyIds: string[]): Promise<Map<string, HandlingAction>>

  createGeofence(geofence: NewGeofence, at: number): Promise<Geofence>
  listGeofences(): Promise<Geofence[]>
  getGeofence(id: number): Promise<Geofence | null>
  /** Replaces every field but id and createdAt; null when unknown. */
  updateGeofence(id: number, geofence: NewGeofence): Promise<Geofence | null>
  deleteGeofence(id: number): Promise<boolean>

  /**
   * Valid-looking fixes inside a bounding box in [from, to], by vehicle then device time (the
   * corridor statistics' pre-filter; the exact geofence test is done by the caller).
   */
  positionsInBox(bbox: [number, number, number, number], from: number, to: number, limit: number): Promise<BoxFix[]>

  getSetting<T>(key: string): Promise<T | null>
  /** Stores value under key unless one is there already; returns whichever is stored (first writer wins). */
  putSettingIfAbsent<T>(key: string, value: T): Promise<T>
}

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`
const iso = (t: number) => new Date(t).toISOString()

interface TokenRow {
  id: string
  role: Role
  enterprise_license_no: string | null
  label: string | null
  created_at: number
  revoked_at: number | null
}
const TOKEN_COLUMNS = `id, role, enterprise_license_no, label, ${ms('created_at')} AS created_at, ${ms('revoked_at')} AS revoked_at`
const tokenFromRow = (r: TokenRow): ApiToken => ({
  id: r.id,
  role: r.role,
  enterpriseLicenseNo: r.enterprise_license_no,
  label: r.label,
  createdAt: Number(r.created_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
})

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
const HANDLING_COLUMNS = `id::text AS id, anomaly_id, action, note, token_id, role, enterprise_license_no, ${ms('at')} AS at`
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

interface GeofenceRow {
  id: number
  name: string
  kind: GeofenceKind
  road_class: 'highway' | 'other' | null
  speed_limit: number | null
  geometry: GeofenceGeometry | string
  buffer_m: number | null
  min_lon: number
  min_lat: number
  max_lon: number
  max_lat: number
  created_at: number
}
const GEOFENCE_COLUMNS = `id, name, kind, road_class, speed_limit, geometry, buffer_m, min_lon, min_lat, max_lon, max_lat, ${ms('created_at')} AS created_at`
const geofenceFromRow = (r: GeofenceRow): Geofence => ({
  id: Number(r.id),
  name: r.name,
  kind: r.kind,
  roadClass: r.road_class,
  speedLimit: r.speed_limit,
  geometry: typeof r.geometry === 'string' ? (JSON.parse(r.geometry) as GeofenceGeometry) : r.geometry,
  bufferMeters: r.buffer_m,
  bbox: [Number(r.min_lon), Number(r.min_lat), Number(r.max_lon), Number(r.max_lat)],
  createdAt: Number(r.created_at),
})

const parseJson = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T))

/** The API's queries over the Sql seam; spread into the Store by openStore. */
export function apiQueries(sql: Sql): ApiStore {
  return {
    async createToken(t) {
      await sql.query(
        `INSERT INTO api_tokens (id, token_hash, role, enterprise_license_no, label, created_at) VALUES ($1, $2, $3, $4, $5, $6::timestamptz)`,
        [t.id, t.tokenHash, t.role, t.enterpriseLicenseNo, t.label, iso(t.createdAt)],
      )
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
        `SELECT id::text AS id, ${ms('at')} AS at, token_id, role, enterprise_license_no, method, route, target, status, request_id, details
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
        details: parseJson<Record<string, unknown>>(r.details),
      }))
    },

    async applyHandling(entry, canApply) {
      return sql.transaction(async (tx) => {
        // The state row is the lock: its first insert or a FOR UPDATE read serialises concurrent steps.
        await tx.query(`INSERT INTO anomaly_handling_state (anomaly_id, action, at) VALUES ($1, NULL, $2::timestamptz) ON CONFLICT (anomaly_id) DO NOTHING`, [
          entry.anomalyId,
          iso(entry.at),
        ])
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
      const { rows } = await sql.query<{ anomaly_id: string; action: HandlingAction | null }>(
        `SELECT anomaly_id, action FROM anomaly_handling_state WHERE anomaly_id = ANY($1::text[])`,
        [anomalyIds],
      )
      for (const r of rows) if (r.action) out.set(r.anomaly_id, r.action)
      return out
    },

    async createGeofence(g, at) {
      const { rows } = await sql.query<GeofenceRow>(
        `INSERT INTO geofences (name, kind, road_class, speed_limit, geometry, buffer_m, min_lon, min_lat, max_lon, max_lat, created_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11::timestamptz) RETURNING ${GEOFENCE_COLUMNS}`,
        [g.name, g.kind, g.roadClass, g.speedLimit, JSON.stringify(g.geometry), g.bufferMeters, g.bbox[0], g.bbox[1], g.bbox[2], g.bbox[3], iso(at)],
      )
      return geofenceFromRow(rows[0])
    },

    async listGeofences() {
      const { rows } = await sql.query<GeofenceRow>(`SELECT ${GEOFENCE_COLUMNS} FROM geofences ORDER BY id`)
      return rows.map(geofenceFromRow)
    },

    async getGeofence(id) {
      const { rows } = await sql.query<GeofenceRow>(`SELECT ${GEOFENCE_COLUMNS} FROM geofences WHERE id = $1`, [id])
      return rows.length ? geofenceFromRow(rows[0]) : null
    },

    async updateGeofence(id, g) {
      const { rows } = await sql.query<GeofenceRow>(
        `UPDATE geofences SET name = $2, kind = $3, road_class = $4, speed_limit = $5, geometry = $6::jsonb, buffer_m = $7, min_lon = $8, min_lat = $9, max_lon = $10, max_lat = $11
          WHERE id = $1 RETURNING ${GEOFENCE_COLUMNS}`,
        [id, g.name, g.kind, g.roadClass, g.speedLimit, JSON.stringify(g.geometry), g.bufferMeters, g.bbox[0], g.bbox[1], g.bbox[2], g.bbox[3]],
      )
      return rows.length ? geofenceFromRow(rows[0]) : null
    },

    async deleteGeofence(id) {
      const r = await sql.query(`DELETE FROM geofences WHERE id = $1`, [id])
      return r.rowCount > 0
    },

    async positionsInBox(bbox, from, to, limit) {
      const { rows } = await sql.query<{ vehicle_id: number; t: number; lon: number; lat: number }>(
        `SELECT vehicle_id, ${ms('device_time')} AS t, lon, lat FROM positions
          WHERE device_time >= $1::timestamptz AND device_time <= $2::timestamptz
            AND lon >= $3 AND lon <= $5 AND lat >= $4 AND lat <= $6
          ORDER BY vehicle_id, device_time LIMIT $7`,
        [iso(from), iso(to), bbox[0], bbox[1], bbox[2], bbox[3], limit],
      )
      return rows.map((r) => ({ vehicleId: Number(r.vehicle_id), deviceTime: Number(r.t), longitude: Number(r.lon), latitude: Number(r.lat) }))
    },

    async getSetting<T>(key: string) {
      const { rows } = await sql.query<{ value: unknown }>(`SELECT value FROM platform_settings WHERE key = $1`, [key])
      return rows.length ? parseJson<T>(rows[0].value) : null
    },

    async putSettingIfAbsent<T>(key: string, value: T) {
      await sql.query(`INSERT INTO platform_settings (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO NOTHING`, [key, JSON.stringify(value)])
      const { rows } = await sql.query<{ value: unknown }>(`SELECT value FROM platform_settings WHERE key = $1`, [key])
      return parseJson<T>(rows[0].value)
    },
  }
}
