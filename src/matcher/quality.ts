/**
 * Data quality per vehicle and per enterprise, per Beijing day — the platform assessment
 * indicators of docs/rules.md (2016 联网联控 assessment rules):
 *
 *   入网率 network rate     = networked vehicles ÷ vehicles that must be networked     pass ≥ 90 %
 *   上线率 online rate      = vehicles online in the period ÷ networked vehicles       scored by rate
 *   轨迹完整率 completeness = complete mileage ÷ total mileage                         pass ≥ 70 %
 *   数据合格率 valid rate   = valid points ÷ all points                                pass ≥ 80 %
 *   漂移车辆率 drift rate   = vehicles with drift ÷ online vehicles                    pass ≤ 5 %
 *
 * What makes mileage incomplete and a point drift is unsourced and configurable: a gap is more
 * than gapMs between consecutive valid points while moving, or a jump of more than gapJumpKm;
 * its straight-line length is the incomplete mileage. Drift is an implied speed above
 * driftSpeedKmh from the previous valid point (that point is then invalid, as in the matcher).
 * A vehicle is online on a day when it sent at least one valid point that day.
 */
import { beijingDate, beijingDayStart, DAY, MINUTE, type PositionRecord } from '../domain.js'
import { distanceKm } from '../geo.js'
import { DEFAULT_MATCHER_CONFIG, type MatcherConfig } from './config.js'
import { invalidReason } from './validity.js'

export interface QualityConfig {
  gapMs: number
  gapJumpKm: number
  driftSpeedKmh: number
  driftMinKm: number
  /** validity rules (bounds, skew, fix bit) are the matcher's */
  validity: Pick<MatcherConfig, 'bounds' | 'futureSkewMs' | 'requireFix'>
  passLines: { networkRate: number; onlineRate: number | null; completeness: number; validRate: number; driftRateMax: number }
}

export const DEFAULT_QUALITY_CONFIG: QualityConfig = {
  gapMs: 5 * MINUTE,
  gapJumpKm: 2,
  driftSpeedKmh: DEFAULT_MATCHER_CONFIG.driftSpeedKmh,
  driftMinKm: DEFAULT_MATCHER_CONFIG.driftMinKm,
  validity: DEFAULT_MATCHER_CONFIG,
  passLines: { networkRate: 0.9, onlineRate: null, completeness: 0.7, validRate: 0.8, driftRateMax: 0.05 },
}

export interface VehicleDayQuality {
  vehicleId: number
  /** yyyy-mm-dd, Beijing */
  day: string
  points: number
  validPoints: number
  driftPoints: number
  online: boolean
  totalKm: number
  completeKm: number
  gaps: number
  /** null when there were no points / no mileage */
  validRate: number | null
  completeness: number | null
  hasDrift: boolean
  pass: { validRate: boolean | null; completeness: boolean | null }
}

type Fix = Pick<PositionRecord, 'deviceTime' | 'receivedAt' | 'latitude' | 'longitude' | 'altitude' | 'speed' | 'direction' | 'status'>

/**
 * One vehicle's points of one day (any order; times outside the day are ignored), judged against
 * the previous valid point before the day when given (so the first point can be checked for drift
 * and a gap across midnight is counted once, on the day it ends).
 */
export function vehicleDayQuality(vehicleId: number, dayStart: number, points: readonly Fix[], cfg: QualityConfig = DEFAULT_QUALITY_CONFIG, previous?: Fix | null): VehicleDayQuality {
  const day0 = beijingDayStart(dayStart)
  const inDay = points.filter((p) => p.deviceTime >= day0 && p.deviceTime < day0 + DAY).sort((a, b) => a.deviceTime - b.deviceTime)
  let valid = 0,
    drift = 0,
    totalKm = 0,
    gapKm = 0,
    gaps = 0
  let last: Fix | null = previous ?? null
  for (const p of inDay) {
    if (invalidReason(p, cfg.validity) !== null) continue
    if (last && p.deviceTime > last.deviceTime) {
      const km = distanceKm(last.latitude, last.longitude, p.latitude, p.longitude)
      const dt = p.deviceTime - last.deviceTime
      if ((km / dt) * 3_600_000 > cfg.driftSpeedKmh && km > cfg.driftMinKm) {
        drift++
        continue
      }
      const moving = last.speed > 0 || p.speed > 0 || km > 0.05
      totalKm += km
      if ((dt > cfg.gapMs && moving) || km > cfg.gapJumpKm) {
        gapKm += km
        gaps++
      }
    } else if (last && p.deviceTime === last.deviceTime) continue
    valid++
    last = p
  }
  const n = inDay.length
  const validRate = n ? valid / n : null
  const completeness = totalKm > 0 ? (totalKm - gapKm) / totalKm : null
  return {
    vehicleId,
    day: beijingDate(day0),
    points: n,
    validPoints: valid,
    driftPoints: drift,
    online: valid > 0,
    totalKm: round3(totalKm),
    completeKm: round3(totalKm - gapKm),
    gaps,
    validRate,
    completeness,
    hasDrift: drift > 0,
    pass: {
      validRate: validRate === null ? null : validRate >= cfg.passLines.validRate,
      completeness: completeness === null ? null : completeness >= cfg.passLines.completeness,
    },
  }
}

export interface GroupQuality {
  /** enterprise licence number, or null for "all" */
  enterpriseLicenseNo: string | null
  day: string | null
  mustBeNetworked: number
  networked: number
  online: number
  networkRate: number | null
  onlineRate: number | null
  completeness: number | null
  validRate: number | null
  driftRate: number | null
  pass: { networkRate: boolean | null; onlineRate: boolean | null; completeness: boolean | null; validRate: boolean | null; driftRate: boolean | null }
}

/**
 * Sums vehicle-days into group figures. `mustBeNetworked` and `networked` come from the registry
 * (all registered vehicles, and those with a terminal bound); vehicle-days list the networked ones
 * that were looked at.
 */
export function groupQuality(
  rows: readonly VehicleDayQuality[],
  counts: { mustBeNetworked: number; networked: number },
  enterpriseLicenseNo: string | null,
  day: string | null,
  cfg: QualityConfig = DEFAULT_QUALITY_CONFIG,
): GroupQuality {
  const onlineVehicles = new Set<number>()
  const driftVehicles = new Set<number>()
  let points = 0,
    valid = 0,
    total = 0,
    complete = 0
  for (const r of rows) {
    if (r.online) onlineVehicles.add(r.vehicleId)
    if (r.hasDrift) driftVehicles.add(r.vehicleId)
    points += r.points
    valid += r.validPoints
    total += r.totalKm
    complete += r.completeKm
  }
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null)
  const networkRate = ratio(counts.networked, counts.mustBeNetworked)
  const onlineRate = ratio(onlineVehicles.size, counts.networked)
  const completeness = ratio(complete, total)
  const validRate = ratio(valid, points)
  const driftRate = ratio([...driftVehicles].filter((v) => onlineVehicles.has(v)).length, onlineVehicles.size)
  const atLeast = (x: number | null, line: number | null) => (x === null || line === null ? null : x >= line)
  return {
    enterpriseLicenseNo,
    day,
    mustBeNetworked: counts.mustBeNetworked,
    networked: counts.networked,
    online: onlineVehicles.size,
    networkRate,
    onlineRate,
    completeness,
    validRate,
    driftRate,
    pass: {
      networkRate: atLeast(networkRate, cfg.passLines.networkRate),
      onlineRate: atLeast(onlineRate, cfg.passLines.onlineRate),
      completeness: atLeast(completeness, cfg.passLines.completeness),
      validRate: atLeast(validRate, cfg.passLines.validRate),
      driftRate: driftRate === null ? null : driftRate <= cfg.passLines.driftRateMax,
    },
  }
}

/** The store and registry calls the report needs. */
export interface QualitySource {
  listVehicles(filter?: { enterpriseLicenseNo?: string }): Promise<Array<{ id: number; enterpriseLicenseNo: string | null; terminalPhone: string | null }>>
  track(vehicleId: number, from: number, to: number, options?: { limit?: number }): Promise<PositionRecord[]>
}

export interface QualityReport {
  from: string
  to: string
  vehicles: VehicleDayQuality[]
  /** per enterprise and day, then per enterprise over the whole period */
  enterprises: GroupQuality[]
}

/**
 * Quality for [from, to) by Beijing day: every networked vehicle (optionally of one enterprise)
 * day by day, then the enterprise figures. Reads one vehicle-day of track at a time.
 */
export async function qualityReport(
  source: QualitySource,
  q: { from: number; to: number; enterpriseLicenseNo?: string; vehicleIds?: number[] },
  cfg: QualityConfig = DEFAULT_QUALITY_CONFIG,
): Promise<QualityReport> {
  const registered = await source.listVehicles(q.enterpriseLicenseNo ? { enterpriseLicenseNo: q.enterpriseLicenseNo } : undefined)
  const scope = q.vehicleIds ? registered.filter((v) => q.vehicleIds!.includes(v.id)) : registered
  const networked = scope.filter((v) => v.terminalPhone)
  const days: number[] = []
  for (let d = beijingDayStart(q.from); d < q.to; d += DAY) days.push(d)
  const vehicles: VehicleDayQuality[] = []
  for (const v of networked) {
    let previous: Fix | null = null
    for (const d of days) {
      const pts = await source.track(v.id, d, d + DAY - 1, { limit: 200_000 })
      const row = vehicleDayQuality(v.id, d, pts, cfg, previous)
      vehicles.push(row)
      for (let i = pts.length - 1; i >= 0; i--) {
        if (invalidReason(pts[i], cfg.validity) === null) {
          previous = pts[i]
          break
        }
      }
    }
  }
  const byEnterprise = new Map<string | null, typeof scope>()
  for (const v of scope) {
    const list = byEnterprise.get(v.enterpriseLicenseNo)
    if (list) list.push(v)
    else byEnterprise.set(v.enterpriseLicenseNo, [v])
  }
  const enterprises: GroupQuality[] = []
  for (const [ent, list] of byEnterprise) {
    const ids = new Set(list.map((v) => v.id))
    const counts = { mustBeNetworked: list.length, networked: list.filter((v) => v.terminalPhone).length }
    for (const d of days) {
      const day = beijingDate(d)
      enterprises.push(
        groupQuality(
          vehicles.filter((r) => ids.has(r.vehicleId) && r.day === day),
          counts,
          ent,
          day,
          cfg,
        ),
      )
    }
    enterprises.push(
      groupQuality(
        vehicles.filter((r) => ids.has(r.vehicleId)),
        counts,
        ent,
        null,
        cfg,
      ),
    )
  }
  return { from: beijingDate(q.from), to: beijingDate(q.to - 1), vehicles, enterprises }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
