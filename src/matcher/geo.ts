/**
 * The matcher's route geometry: corridors as prepared polylines. Distances are km on the shared
 * sphere of src/geo.ts (distanceKm and pointInRing live there).
 */
import { R_KM, RAD } from '../geo.js'

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

  constructor(points: ReadonlyArray<readonly [number, number]>) {
    this.coords = new Float64Array(points.length * 2)
    let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity
    points.forEach(([lon, lat], i) => {
      this.coords[2 * i] = lon
      this.coords[2 * i + 1] = lat
      if (lon < minLon) minLon = lon
      if (lon > maxLon) maxLon = lon
      if (lat < minLat) minLat = lat
      if (lat > maxLat) maxLat = lat
    })
    this.minLon = minLon
    this.maxLon = maxLon
    this.minLat = minLat
    this.maxLat = maxLat
  }

  get segments(): number {
    return this.coords.length / 2 - 1
  }

  /** Distance from the point to segment i, on a local equirectangular projection around the point. */
  segmentDistanceKm(i: number, lat: number, lon: number): number {
    const c = this.coords
    const kx = Math.cos(lat * RAD) * RAD * R_KM
    const ky = RAD * R_KM
    const ax = (c[2 * i] - lon) * kx, ay = (c[2 * i + 1] - lat) * ky
    const bx = (c[2 * i + 2] - lon) * kx, by = (c[2 * i + 3] - lat) * ky
    const dx = bx - ax, dy = by - ay
    const len2 = dx * dx + dy * dy
    let t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0
    if (t < 0) t = 0
    else if (t > 1) t = 1
    const px = ax + t * dx, py = ay + t * dy
    return Math.sqrt(px * px + py * py)
  }

  /**
   * Distance from the point to the line, and the nearest segment. `hint` (the last nearest
   * segment) lets a vehicle that follows the route be answered from a few segments; `withinKm`
   * stops as soon as a segment is closer than that (we only need "inside the corridor or not").
   */
  distanceKm(lat: number, lon: number, hint = 0, withinKm = 0): { km: number; segment: number } {
    const n = this.segments
    let best = Infinity, bestI = 0
    const from = Math.max(0, Math.min(n - 1, hint) - 3), to = Math.min(n - 1, Math.max(0, hint) + 3)
    for (let i = from; i <= to; i++) {
      const d = this.segmentDistanceKm(i, lat, lon)
      if (d < best) { best = d; bestI = i }
    }
    if (best <= withinKm) return { km: best, segment: bestI }
    for (let i = 0; i < n; i++) {
      if (i >= from && i <= to) continue
      const d = this.segmentDistanceKm(i, lat, lon)
      if (d < best) { best = d; bestI = i }
      if (best <= withinKm) break
    }
    return { km: best, segment: bestI }
  }
}
