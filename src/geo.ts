/**
 * Shared spherical geometry (WGS-84 sphere approximation, good to well under 1 % at the scales
 * used here: metres to hundreds of km). Coordinates are degrees; distances are km. The matcher,
 * the API's statistics and the simulator measure with the same earth.
 */

/** Mean earth radius (IUGG R1), km. */
export const R_KM = 6371.0088
export const RAD = Math.PI / 180

/** Great-circle distance (haversine). */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * RAD
  const dLon = (lon2 - lon1) * RAD
  const s1 = Math.sin(dLat / 2)
  const s2 = Math.sin(dLon / 2)
  const a = s1 * s1 + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * s2 * s2
  return 2 * R_KM * Math.asin(Math.min(1, Math.sqrt(a)))
}

/** Even-odd point-in-polygon on lon/lat for one ring of [lon, lat] pairs (callers handle holes). */
export function pointInRing(lon: number, lat: number, ring: ReadonlyArray<ReadonlyArray<number>>): boolean {
  let inside = false
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]
    const [xj, yj] = ring[j]
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside
  }
  return inside
}
