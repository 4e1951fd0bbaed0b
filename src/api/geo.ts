/**
 * Plane geometry for geofences, good to a few metres at road scale: point in polygon (with
 * holes), distance from a point to a polyline on a local equirectangular projection, bounding
 * boxes widened by a buffer. Coordinates are GeoJSON order [lon, lat] in degrees.
 */
import { pointInRing } from '../geo.js'
import type { Geofence, GeofenceGeometry } from '../domain.js'

const M_PER_DEG_LAT = 111_320

export function inPolygon(rings: number[][][], lon: number, lat: number): boolean {
  if (!rings.length || !pointInRing(lon, lat, rings[0])) return false
  for (let h = 1; h < rings.length; h++) if (pointInRing(lon, lat, rings[h])) return false
  return true
}

/** Shortest distance in metres from the point to the polyline. */
export function distanceToLineMeters(line: number[][], lon: number, lat: number): number {
  const kx = M_PER_DEG_LAT * Math.cos((lat * Math.PI) / 180)
  let best = Infinity
  for (let i = 0; i + 1 < line.length; i++) {
    const ax = (line[i][0] - lon) * kx
    const ay = (line[i][1] - lat) * M_PER_DEG_LAT
    const bx = (line[i + 1][0] - lon) * kx
    const by = (line[i + 1][1] - lat) * M_PER_DEG_LAT
    const dx = bx - ax
    const dy = by - ay
    const len2 = dx * dx + dy * dy
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2))
    best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy))
  }
  if (line.length === 1) best = Math.hypot((line[0][0] - lon) * kx, (line[0][1] - lat) * M_PER_DEG_LAT)
  return best
}

export function inGeofence(g: Pick<Geofence, 'geometry' | 'bufferMeters' | 'bbox'>, lon: number, lat: number): boolean {
  const [minLon, minLat, maxLon, maxLat] = g.bbox
  if (lon < minLon || lon > maxLon || lat < minLat || lat > maxLat) return false
  if (g.geometry.type === 'Polygon') return inPolygon(g.geometry.coordinates, lon, lat)
  return distanceToLineMeters(g.geometry.coordinates, lon, lat) <= (g.bufferMeters ?? 0)
}

/** [minLon, minLat, maxLon, maxLat] of the geometry, widened by bufferMeters. */
export function bboxOf(geometry: GeofenceGeometry, bufferMeters: number | null): [number, number, number, number] {
  const points = geometry.type === 'Polygon' ? geometry.coordinates.flat() : geometry.coordinates
  let minLon = Infinity
  let minLat = Infinity
  let maxLon = -Infinity
  let maxLat = -Infinity
  for (const [lon, lat] of points) {
    minLon = Math.min(minLon, lon)
    maxLon = Math.max(maxLon, lon)
    minLat = Math.min(minLat, lat)
    maxLat = Math.max(maxLat, lat)
  }
  const b = bufferMeters ?? 0
  const dLat = b / M_PER_DEG_LAT
  const dLon = b / (M_PER_DEG_LAT * Math.max(0.01, Math.cos((Math.max(Math.abs(minLat), Math.abs(maxLat)) * Math.PI) / 180)))
  return [minLon - dLon, minLat - dLat, maxLon + dLon, maxLat + dLat]
}

/** Field errors for a geofence geometry (closed rings, enough points, coordinates in range). */
export function geometryProblems(geometry: GeofenceGeometry, bufferMeters: number | null | undefined): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = []
  const checkPoint = (p: number[], field: string) => {
    if (p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90) out.push({ field, message: 'must be [lon, lat] in degrees' })
  }
  if (geometry.type === 'Polygon') {
    geometry.coordinates.forEach((ring, r) => {
      if (ring.length < 4) out.push({ field: `body/geometry/coordinates/${r}`, message: 'a ring needs at least 4 positions' })
      const [a, z] = [ring[0], ring[ring.length - 1]]
      if (a && z && (a[0] !== z[0] || a[1] !== z[1])) out.push({ field: `body/geometry/coordinates/${r}`, message: 'a ring must end where it starts' })
      ring.forEach((p, i) => checkPoint(p, `body/geometry/coordinates/${r}/${i}`))
    })
    if (bufferMeters) out.push({ field: 'body/bufferMeters', message: 'applies to LineString corridors only' })
  } else {
    geometry.coordinates.forEach((p, i) => checkPoint(p, `body/geometry/coordinates/${i}`))
    if (!bufferMeters) out.push({ field: 'body/bufferMeters', message: 'a LineString corridor needs its half-width in metres' })
  }
  return out
}
