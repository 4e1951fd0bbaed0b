/**
 * Geofences as the API stores them, seen through the one geometry (src/geo.ts): their stored
 * bounding box, their "inside" test, and the checks a new geometry must pass.
 */
import { boxAround, prepareArea, type Area, type Box } from '../geo.js'
import type { Geofence, GeofenceGeometry } from '../domain.js'

/** [minLon, minLat, maxLon, maxLat] of the geometry, widened by bufferMeters (stored with the geofence). */
export function bboxOf(geometry: GeofenceGeometry, bufferMeters: number | null): Box {
  return boxAround(geometry.type === 'Polygon' ? geometry.coordinates.flat() : geometry.coordinates, (bufferMeters ?? 0) / 1000)
}

/** The geofence as the shared geometry answers "inside" for it (src/geo.ts). */
export function geofenceArea(g: Pick<Geofence, 'geometry' | 'bufferMeters'>): Area | null {
  return prepareArea(g.geometry, (g.bufferMeters ?? 0) / 1000)
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
      for (const [i, p] of ring.entries()) checkPoint(p, `body/geometry/coordinates/${r}/${i}`)
    })
    if (bufferMeters) out.push({ field: 'body/bufferMeters', message: 'applies to LineString corridors only' })
  } else {
    for (const [i, p] of geometry.coordinates.entries()) checkPoint(p, `body/geometry/coordinates/${i}`)
    if (!bufferMeters) out.push({ field: 'body/bufferMeters', message: 'a LineString corridor needs its half-width in metres' })
  }
  return out
}
