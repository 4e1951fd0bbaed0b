/**
 * Geofences the matcher consults: speed-limit zones (办法 Art. 46: highway ≤ 80, other roads ≤ 60,
 * a lower posted limit wins) and areas named by night bans. The API stores geofences; the
 * matcher service builds a ZoneIndex from them. Any other source can implement ZoneLookup.
 */
import { prepareArea } from '../geo.js'
import type { LonLat } from '../domain.js'

export interface SpeedLimitHit {
  limitKmh: number
  zoneId: string | null
}

/** The pluggable lookup: pure, synchronous, fast (called for every position). */
export interface ZoneLookup {
  /** The lowest limit among zones containing the point, or null for "no zone: use the default". */
  speedLimitAt(lon: number, lat: number): SpeedLimitHit | null
  inZone(zoneId: string, lon: number, lat: number): boolean
}

export interface Geofence {
  id: string
  /** GeoJSON Polygon coordinates: outer ring first, then holes */
  polygon?: LonLat[][]
  /** or a road segment, buffered by bufferKm */
  line?: LonLat[]
  bufferKm?: number
  /** posted limit inside the zone */
  speedLimitKmh?: number
  /** "other" marks non-highway roads: the hazmat limit there is otherRoadSpeedLimitKmh */
  roadClass?: 'highway' | 'other'
}

export const NO_ZONES: ZoneLookup = {
  speedLimitAt: () => null,
  inZone: () => false,
}

interface Prepared {
  id: string
  limit: number | null
  minLon: number
  maxLon: number
  minLat: number
  maxLat: number
  contains(lon: number, lat: number): boolean
}

const CELL_DEG = 0.1

/** Geofences on a 0.1° grid: a lookup tests only the zones whose box touches the point's cell. */
export class ZoneIndex implements ZoneLookup {
  private readonly cells = new Map<number, Prepared[]>()
  private readonly byId = new Map<string, Prepared>()

  constructor(fences: Geofence[], otherRoadLimitKmh = 60) {
    for (const f of fences) {
      const p = prepare(f, otherRoadLimitKmh)
      if (!p) continue
      this.byId.set(p.id, p)
      for (let x = cellOf(p.minLon); x <= cellOf(p.maxLon); x++) {
        for (let y = cellOf(p.minLat); y <= cellOf(p.maxLat); y++) {
          const key = x * 4096 + y
          const list = this.cells.get(key)
          if (list) list.push(p)
          else this.cells.set(key, [p])
        }
      }
    }
  }

  get size(): number {
    return this.byId.size
  }

  speedLimitAt(lon: number, lat: number): SpeedLimitHit | null {
    const list = this.cells.get(cellOf(lon) * 4096 + cellOf(lat))
    if (!list) return null
    let best: SpeedLimitHit | null = null
    for (const p of list) {
      if (p.limit === null || (best && p.limit >= best.limitKmh)) continue
      if (lon < p.minLon || lon > p.maxLon || lat < p.minLat || lat > p.maxLat) continue
      if (p.contains(lon, lat)) best = { limitKmh: p.limit, zoneId: p.id }
    }
    return best
  }

  inZone(zoneId: string, lon: number, lat: number): boolean {
    const p = this.byId.get(zoneId)
    return !!p && lon >= p.minLon && lon <= p.maxLon && lat >= p.minLat && lat <= p.maxLat && p.contains(lon, lat)
  }
}

function cellOf(deg: number): number {
  return Math.floor(deg / CELL_DEG) + 2048
}

function prepare(f: Geofence, otherRoadLimitKmh: number): Prepared | null {
  const limit = f.speedLimitKmh ?? (f.roadClass === 'other' ? otherRoadLimitKmh : null)
  const area =
    f.polygon && f.polygon.length ? prepareArea({ type: 'Polygon', coordinates: f.polygon }, 0) : f.line ? prepareArea({ type: 'LineString', coordinates: f.line }, f.bufferKm ?? 0.05) : null
  if (!area) return null
  const [minLon, minLat, maxLon, maxLat] = area.box
  return { id: f.id, limit, minLon, maxLon, minLat, maxLat, contains: area.contains }
}

/** A geofence as the API stores it (Geofence in src/domain.ts), structurally. */
export interface StoredGeofence {
  id: number
  name: string
  roadClass: 'highway' | 'other' | null
  speedLimit: number | null
  geometry: { type: 'Polygon'; coordinates: number[][][] } | { type: 'LineString'; coordinates: number[][] }
  bufferMeters: number | null
}

/**
 * The API's geofences as matcher zones. Each is known by its id and by its name (night bans
 * name their zone either way).
 */
export function zonesFromGeofences(rows: readonly StoredGeofence[], otherRoadLimitKmh = 60): ZoneIndex {
  const fences: Geofence[] = []
  for (const g of rows) {
    const common = { speedLimitKmh: g.speedLimit ?? undefined, roadClass: g.roadClass ?? undefined }
    const shape: Pick<Geofence, 'polygon' | 'line' | 'bufferKm'> =
      g.geometry.type === 'Polygon'
        ? { polygon: g.geometry.coordinates.map((ring) => ring.map(([lon, lat]) => [lon, lat] as LonLat)) }
        : { line: g.geometry.coordinates.map(([lon, lat]) => [lon, lat] as LonLat), bufferKm: (g.bufferMeters ?? 50) / 1000 }
    fences.push({ id: String(g.id), ...common, ...shape })
    if (g.name && g.name !== String(g.id)) fences.push({ id: g.name, ...shape })
  }
  return new ZoneIndex(fences, otherRoadLimitKmh)
}
