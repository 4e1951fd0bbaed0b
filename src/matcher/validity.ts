/**
 * Is a fix a valid position (JT/T 809-2011 §4.5.8 via the 2016 assessment rules, docs/rules.md)?
 * time ≤ receive time + skew, longitude 73°33′E–135°05′E, latitude 3°51′N–53°33′N, speed
 * 0–160 km/h, altitude −200–6500 m, direction 0–359. Drift (an implied speed too high between
 * consecutive valid points) is judged separately, since it needs the previous point.
 */
import type { PositionRecord } from '../domain.js'
import type { MatcherConfig } from './config.js'

export type InvalidReason = 'time' | 'longitude' | 'latitude' | 'speed' | 'altitude' | 'direction' | 'not-fixed'

/** The fields of a position the checks read. */
export type FixFields = Pick<PositionRecord, 'deviceTime' | 'receivedAt' | 'latitude' | 'longitude' | 'altitude' | 'speed' | 'direction' | 'status'>

const STATUS_FIXED = 1 << 1

/** null when valid, else the first failed check. */
export function invalidReason(p: FixFields, cfg: Pick<MatcherConfig, 'bounds' | 'futureSkewMs' | 'requireFix'>): InvalidReason | null {
  const b = cfg.bounds
  if (!(p.deviceTime <= p.receivedAt + cfg.futureSkewMs)) return 'time'
  if (!(p.longitude >= b.lonMin && p.longitude <= b.lonMax)) return 'longitude'
  if (!(p.latitude >= b.latMin && p.latitude <= b.latMax)) return 'latitude'
  if (!(p.speed >= 0 && p.speed <= b.speedMax)) return 'speed'
  if (!(p.altitude >= b.altMin && p.altitude <= b.altMax)) return 'altitude'
  if (!(p.direction >= 0 && p.direction <= 359)) return 'direction'
  if (cfg.requireFix && (p.status & STATUS_FIXED) === 0) return 'not-fixed'
  return null
}
