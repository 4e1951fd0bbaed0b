/** Building 0x0200 bodies from plain numbers (degrees, km/h, UTC ms), as a terminal would report them. */
import { beijingIso, STATUS, type Location, type LocationExtras } from '../../protocol/index.js'

export interface Fix {
  latitude: number
  longitude: number
  /** km/h */
  speed: number
  /** 0-359 */
  direction: number
  /** UTC ms (the device's clock) */
  time: number
  /** m */
  altitude?: number
  alarm?: number
  /** Extra status bits on top of ACC/fixed/hemisphere (which are derived). */
  status?: number
  accOn?: boolean
  extras?: LocationExtras
}

/** A Location the codec encodes: raw 1e-6 degree values, hemisphere bits and Beijing time filled in. */
export function locationOf(fix: Fix): Location {
  let status = (fix.status ?? 0) | STATUS.FIXED
  if (fix.accOn ?? true) status |= STATUS.ACC_ON
  if (fix.latitude < 0) status |= STATUS.SOUTH
  if (fix.longitude < 0) status |= STATUS.WEST
  const extras = fix.extras ?? {}
  return {
    alarm: fix.alarm ?? 0,
    status,
    latitude: fix.latitude,
    longitude: fix.longitude,
    latitudeRaw: Math.round(Math.abs(fix.latitude) * 1e6),
    longitudeRaw: Math.round(Math.abs(fix.longitude) * 1e6),
    altitude: Math.round(fix.altitude ?? 0),
    // The wire carries 0.1 km/h: round here so what is sent is what decodes.
    speed: Math.round(fix.speed * 10) / 10,
    direction: ((Math.round(fix.direction) % 360) + 360) % 360,
    time: beijingIso(fix.time),
    timeMs: Math.floor(fix.time / 1000) * 1000,
    extras,
    unknown: [],
    itemOrder: [],
  }
}
