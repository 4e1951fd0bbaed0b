/** Geofences (key road segments, speed-limit zones) and the corridor statistics' box pre-filter. */
import type { Geofence, GeofenceGeometry, GeofenceKind } from '../domain.js'
import { fromJson, iso, msColumn } from './convert.js'
import type { GeofenceStore } from './port.js'
import type { Sql } from './sql.js'

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
const GEOFENCE_COLUMNS = `id, name, kind, road_class, speed_limit, geometry, buffer_m, min_lon, min_lat, max_lon, max_lat, ${msColumn('created_at')} AS created_at`
const geofenceFromRow = (r: GeofenceRow): Geofence => ({
  id: Number(r.id),
  name: r.name,
  kind: r.kind,
  roadClass: r.road_class,
  speedLimit: r.speed_limit,
  geometry: fromJson<GeofenceGeometry>(r.geometry),
  bufferMeters: r.buffer_m,
  bbox: [Number(r.min_lon), Number(r.min_lat), Number(r.max_lon), Number(r.max_lat)],
  createdAt: Number(r.created_at),
})

export function geofenceQueries(sql: Sql): GeofenceStore {
  return {
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
        `SELECT vehicle_id, ${msColumn('device_time')} AS t, lon, lat FROM positions
          WHERE device_time >= $1::timestamptz AND device_time <= $2::timestamptz
            AND lon >= $3 AND lon <= $5 AND lat >= $4 AND lat <= $6
          ORDER BY vehicle_id, device_time LIMIT $7`,
        [iso(from), iso(to), bbox[0], bbox[1], bbox[2], bbox[3], limit],
      )
      return rows.map((r) => ({ vehicleId: Number(r.vehicle_id), deviceTime: Number(r.t), longitude: Number(r.lon), latitude: Number(r.lat) }))
    },
  }
}
