/**
 * The one geometry of the project (WGS-84 sphere approximation, good to well under 1 % at the
 * scales used here: metres to hundreds of km). Coordinates are degrees, GeoJSON order [lon, lat]
 * in shapes; distances are km. The matcher's corridors and zones, the API's geofences and
 * statistics and the simulator measure with the same earth and answer "inside" the same way.
 */

/** Mean earth radius (IUGG R1), km. */
export const R_KM = 6371.0088
export const RAD = Math.PI / 180
/** km in one degree of latitude (and of longitude at the equator) on that sphere */
export const KM_PER_DEG = R_KM * RAD

/** Great-circle distance (haversine). */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * RAD
  const dLon = (lon2 - lon1) * RAD
  const s1 = Math.sin(dLat / 2)
  const s2 = Math.sin(dLon / 2)
  const a = s1 * s1 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * s2 * s2
  return 2 * R_KM * Math.asin(Math.min(1, Math.sqrt(a)))
}

type Ring = ReadonlyArray<ReadonlyArray<number>>

/** Even-odd point-in-polygon on lon/lat for one ring of [lon, lat] pairs (inPolygon handles holes). */
export function pointInRing(lon: number, lat: number, ring: Ring): boolean {
  let inside = false
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]
    const [xj, yj] = ring[j]
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside
  }
  return inside
}

/** Inside the outer ring (the first) and in none of the holes. */
export function inPolygon(rings: ReadonlyArray<Ring>, lon: number, lat: number): boolean {
  if (!rings.length || !pointInRing(lon, lat, rings[0])) return false
  for (let h = 1; h < rings.length; h++) if (pointInRing(lon, lat, rings[h])) return false
  return true
}

/** [minLon, minLat, maxLon, maxLat] */
export type Box = [number, number, number, number]

/**
 * The box of the points widened by bufferKm on every side. Conservative: the longitude pad uses
 * the cosine of the highest latitude the widened box reaches, so no point within bufferKm of a
 * vertex falls outside it.
 */
export function boxAround(points: Iterable<ReadonlyArray<number>>, bufferKm: number): Box {
  let minLon = Infinity,
    minLat = Infinity,
    maxLon = -Infinity,
    maxLat = -Infinity
  for (const [lon, lat] of points) {
    if (lon < minLon) minLon = lon
    if (lon > maxLon) maxLon = lon
    if (lat < minLat) minLat = lat
    if (lat > maxLat) maxLat = lat
  }
  if (!(bufferKm > 0)) return [minLon, minLat, maxLon, maxLat]
  const dLat = bufferKm / KM_PER_DEG
  const cos = Math.cos(Math.min(90, Math.max(Math.abs(minLat), Math.abs(maxLat)) + dLat) * RAD)
  const dLon = bufferKm / (KM_PER_DEG * Math.max(0.01, cos))
  return [minLon - dLon, minLat - dLat, maxLon + dLon, maxLat + dLat]
}

/**
 * A polyline prepared for repeated "how far is this point" questions: vertices in a flat array,
 * and a bounding box so points far outside are answered without scanning.
 */
export class Polyline {
  /** lon0, lat0, lon1, lat1, … */
  readonly coords: Float64Array
  readonly minLon: number
  readonly maxLon: number
  readonly minLat: number
  readonly maxLat: number

  constructor(points: ReadonlyArray<ReadonlyArray<number>>) {
    this.coords = new Float64Array(points.length * 2)
    points.forEach(([lon, lat], i) => {
      this.coords[2 * i] = lon
      this.coords[2 * i + 1] = lat
    })
    ;[this.minLon, this.minLat, this.maxLon, this.maxLat] = boxAround(points, 0)
  }

  get segments(): number {
    return this.coords.length / 2 - 1
  }

  /** Distance from the point to segment i, on a local equirectangular projection around the point. */
  segmentDistanceKm(i: number, lat: number, lon: number): number {
    const c = this.coords
    const kx = Math.cos(lat * RAD) * RAD * R_KM
    const ky = RAD * R_KM
    const ax = (c[2 * i] - lon) * kx,
      ay = (c[2 * i + 1] - lat) * ky
    const bx = (c[2 * i + 2] - lon) * kx,
      by = (c[2 * i + 3] - lat) * ky
    const dx = bx - ax,
      dy = by - ay
    const len2 = dx * dx + dy * dy
    let t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0
    if (t < 0) t = 0
    else if (t > 1) t = 1
    const px = ax + t * dx,
      py = ay + t * dy
    return Math.sqrt(px * px + py * py)
  }

  /**
   * Distance from the point to the line, and the nearest segment. `hint` (the last nearest
   * segment) lets a vehicle that follows the route be answered from a few segments; `withinKm`
   * stops as soon as a segment is closer than that (we only need "inside the corridor or not").
   */
  distanceKm(lat: number, lon: number, hint = 0, withinKm = 0): { km: number; segment: number } {
    const n = this.segments
    let best = Infinity,
      bestI = 0
    const from = Math.max(0, Math.min(n - 1, hint) - 3),
      to = Math.min(n - 1, Math.max(0, hint) + 3)
    for (let i = from; i <= to; i++) {
      const d = this.segmentDistanceKm(i, lat, lon)
      if (d < best) {
        best = d
        bestI = i
      }
    }
    if (best <= withinKm) return { km: best, segment: bestI }
    for (let i = 0; i < n; i++) {
      if (i >= from && i <= to) continue
      const d = this.segmentDistanceKm(i, lat, lon)
      if (d < best) {
        best = d
        bestI = i
      }
      if (best <= withinKm) break
    }
    return { km: best, segment: bestI }
  }
}

/** A GeoJSON geometry a geofence may have: an area, or a road buffered on both sides. */
export type FenceGeometry = { type: 'Polygon'; coordinates: ReadonlyArray<Ring> } | { type: 'LineString'; coordinates: Ring }

/** A geofence prepared for "is this point inside": its box (buffer included) and the test itself. */
export interface Area {
  readonly box: Box
  /** the point is inside (callers may have checked the box already; contains checks it again) */
  contains(lon: number, lat: number): boolean
}

/**
 * The one answer to "inside this geofence": a polygon (outer ring with at least 3 positions,
 * holes excluded), or points within bufferKm of a line of at least 2 positions. Null for a
 * shape too small to enclose anything.
 */
export function prepareArea(g: FenceGeometry, bufferKm: number): Area | null {
  if (g.type === 'Polygon') {
    const rings = g.coordinates
    if (!rings.length || rings[0].length < 3) return null
    const box = boxAround(rings[0], 0)
    return { box, contains: (lon, lat) => inBox(box, lon, lat) && inPolygon(rings, lon, lat) }
  }
  if (g.coordinates.length < 2) return null
  const line = new Polyline(g.coordinates)
  const box = boxAround(g.coordinates, bufferKm)
  // a vehicle moves along the road: start from the segment the last question ended on
  let hint = 0
  return {
    box,
    contains: (lon, lat) => {
      if (!inBox(box, lon, lat)) return false
      const r = line.distanceKm(lat, lon, hint, bufferKm)
      hint = r.segment
      return r.km <= bufferKm
    },
  }
}

export function inBox(b: Box, lon: number, lat: number): boolean {
  return lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]
}
