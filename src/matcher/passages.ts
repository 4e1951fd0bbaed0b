/**
 * Corridor passages (seed 000 ch.3: hazmat traffic through key bridges, tunnels and segments),
 * judged beside the other rules and pure: the API fetches fixes, vehicles and waybills and only
 * presents what these functions count.
 */
import type { Area } from '../geo.js'

/** Fixes of one vehicle inside a segment closer than this in time belong to one passage. */
export const PASSAGE_GAP_MS = 10 * 60_000

export interface PassageFix {
  vehicleId: number
  deviceTime: number
  longitude: number
  latitude: number
}

/** A vehicle entering the segment: its first fix inside. */
export interface Passage {
  vehicleId: number
  at: number
}

/**
 * The passages through the area, from fixes ordered by vehicle and then device time (as
 * positionsInBox returns them): a fix inside starts one unless the same vehicle was inside
 * less than gapMs before.
 */
export function passagesThrough(area: Area, fixes: Iterable<PassageFix>, gapMs = PASSAGE_GAP_MS): Passage[] {
  const out: Passage[] = []
  let lastVehicle = -1
  let lastInside = -Infinity
  for (const fix of fixes) {
    if (!area.contains(fix.longitude, fix.latitude)) continue
    const fresh = fix.vehicleId !== lastVehicle || fix.deviceTime - lastInside > gapMs
    lastVehicle = fix.vehicleId
    lastInside = fix.deviceTime
    if (fresh) out.push({ vehicleId: fix.vehicleId, at: fix.deviceTime })
  }
  return out
}

/** A passage with what was carried: the hazard classes of the waybill active then, or null without one. */
export interface Carried {
  vehicleId: number
  hazardClasses: readonly string[] | null
}

export interface PassageCount {
  passages: number
  vehicles: number
  /** passages per hazard class (a waybill with goods of two classes counts once in each) */
  byHazardClass: Record<string, number>
  withoutWaybill: number
}

export function countPassages(list: Iterable<Carried>): PassageCount {
  let passages = 0
  let withoutWaybill = 0
  const vehicles = new Set<number>()
  const byHazardClass: Record<string, number> = {}
  for (const c of list) {
    passages++
    vehicles.add(c.vehicleId)
    if (!c.hazardClasses) withoutWaybill++
    else for (const cls of new Set(c.hazardClasses)) byHazardClass[cls] = (byHazardClass[cls] ?? 0) + 1
  }
  return { passages, vehicles: vehicles.size, byHazardClass, withoutWaybill }
}
