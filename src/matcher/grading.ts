/**
 * Red / yellow / green grading of enterprises and drivers for a period (seed 001: 红 problem
 * serious, 黄 some problems, 绿 well managed). No regulation fixes the scoring: it is
 * configuration, and this is the default (documented in src/matcher/README.md):
 *
 *   score = Σ weight(type) × severityFactor(severity) × count  ÷ units  × 30 / periodDays
 *         + quality penalties (enterprises only, when quality figures are given)
 *
 * units: an enterprise's registered vehicles, a driver's waybills (trips) in the period — so
 * the score reads "weighted anomalies per vehicle (or trip) per 30 days".
 * Grade: red when score ≥ red, or any vehicle/trip has ≥ redOnAnyCount anomalies of a redOnTypes
 * type; yellow when score ≥ yellow; green otherwise. Refuted anomalies are never counted.
 */
import { DAY, type AnomalyType, type Severity } from '../domain.js'
import type { AnomalyCount } from '../store/port.js'
import type { GroupQuality } from './quality.js'

export type Grade = 'red' | 'yellow' | 'green'

export interface GradingConfig {
  weights: Record<AnomalyType, number>
  severityFactor: Record<Severity, number>
  yellow: number
  red: number
  /** one vehicle (or trip) with this many anomalies of these types makes the subject red by itself */
  redOnTypes: AnomalyType[]
  redOnAnyCount: number
  /** points added when an enterprise quality figure misses its pass line */
  qualityPenalty: { completeness: number; validRate: number; driftRate: number; networkRate: number }
}

export const DEFAULT_GRADING_CONFIG: GradingConfig = {
  weights: {
    RUNNING_WITHOUT_WAYBILL: 5,
    WAYBILL_WITHOUT_POSITION: 3,
    OVERSPEED: 2,
    FATIGUE_DRIVING: 5,
    NIGHT_FATIGUE_DRIVING: 5,
    DAILY_DRIVING_EXCEEDED: 3,
    DRIVER_NOT_ON_WAYBILL: 5,
    ROUTE_DEVIATION: 2,
    POSITION_DRIFT: 0.5,
    TERMINAL_ALARM: 1,
    NIGHT_DRIVING_RESTRICTED: 4,
  },
  severityFactor: { info: 0.5, warning: 1, critical: 2 },
  yellow: 3,
  red: 10,
  redOnTypes: ['FATIGUE_DRIVING', 'NIGHT_FATIGUE_DRIVING', 'DRIVER_NOT_ON_WAYBILL'],
  redOnAnyCount: 3,
  qualityPenalty: { completeness: 2, validRate: 2, driftRate: 1, networkRate: 2 },
}

export interface GradeResult {
  subject: string
  kind: 'enterprise' | 'driver'
  grade: Grade
  score: number
  units: number
  anomalies: number
  byType: Partial<Record<AnomalyType, number>>
  reasons: string[]
}

/**
 * Grades one subject from its anomaly counts (already restricted to it and the period).
 * `unitOf` tells which vehicle or trip each count belongs to (for the red-on-any rule).
 */
export function grade(
  subject: string,
  kind: 'enterprise' | 'driver',
  counts: readonly AnomalyCount[],
  units: number,
  periodMs: number,
  cfg: GradingConfig = DEFAULT_GRADING_CONFIG,
  quality?: GroupQuality | null,
  unitOf: (c: AnomalyCount) => string = (c) => String(c.vehicleId),
): GradeResult {
  let weighted = 0
  let total = 0
  const byType: Partial<Record<AnomalyType, number>> = {}
  const perUnit = new Map<string, number>()
  for (const c of counts) {
    weighted += cfg.weights[c.type] * cfg.severityFactor[c.severity] * c.count
    total += c.count
    byType[c.type] = (byType[c.type] ?? 0) + c.count
    if (cfg.redOnTypes.includes(c.type)) {
      const k = `${unitOf(c)}|${c.type}`
      perUnit.set(k, (perUnit.get(k) ?? 0) + c.count)
    }
  }
  const periodDays = Math.max(1, periodMs / DAY)
  let score = (weighted / Math.max(1, units)) * (30 / periodDays)
  const reasons: string[] = []
  if (quality) {
    const p = quality.pass
    const penalties: Array<[boolean | null, number, string]> = [
      [p.completeness, cfg.qualityPenalty.completeness, `track completeness ${pct(quality.completeness)} below the pass line`],
      [p.validRate, cfg.qualityPenalty.validRate, `valid-data rate ${pct(quality.validRate)} below the pass line`],
      [p.driftRate, cfg.qualityPenalty.driftRate, `drift rate ${pct(quality.driftRate)} above the pass line`],
      [p.networkRate, cfg.qualityPenalty.networkRate, `network rate ${pct(quality.networkRate)} below the pass line`],
    ]
    for (const [ok, points, why] of penalties) {
      if (ok === false) {
        score += points
        reasons.push(why)
      }
    }
  }
  score = Math.round(score * 100) / 100
  let g: Grade = score >= cfg.red ? 'red' : score >= cfg.yellow ? 'yellow' : 'green'
  for (const [k, n] of perUnit) {
    if (n >= cfg.redOnAnyCount) {
      const [unit, type] = k.split('|')
      g = 'red'
      reasons.push(`${n} × ${type} on ${kind === 'driver' ? 'waybill' : 'vehicle'} ${unit}`)
    }
  }
  if (score >= cfg.yellow) reasons.unshift(`score ${score} (yellow from ${cfg.yellow}, red from ${cfg.red})`)
  return { subject, kind, grade: g, score, units, anomalies: total, byType, reasons }
}

/** What grading reads from the store. */
export interface GradingSource {
  listVehicles(filter?: { enterpriseLicenseNo?: string }): Promise<Array<{ id: number; enterpriseLicenseNo: string | null }>>
  anomalyCounts(filter: { from: number; to: number; enterpriseLicenseNo?: string }): Promise<AnomalyCount[]>
  listWaybills(filter: { from?: number; to?: number; carrierLicenseNo?: string; cursor?: string | null; limit?: number }): Promise<{
    items: Array<{ waybillNo: string; driverQualificationNo: string; driverName: string; carrierLicenseNo: string; status: string }>
    nextCursor: string | null
  }>
}

/** Every enterprise (or one) graded for [from, to); quality figures per enterprise are optional (they read tracks). */
export async function gradeEnterprises(
  source: GradingSource,
  q: { from: number; to: number; enterpriseLicenseNo?: string },
  cfg: GradingConfig = DEFAULT_GRADING_CONFIG,
  quality?: Map<string, GroupQuality>,
): Promise<GradeResult[]> {
  const vehicles = await source.listVehicles(q.enterpriseLicenseNo ? { enterpriseLicenseNo: q.enterpriseLicenseNo } : undefined)
  const counts = await source.anomalyCounts({ from: q.from, to: q.to, ...(q.enterpriseLicenseNo ? { enterpriseLicenseNo: q.enterpriseLicenseNo } : {}) })
  const units = new Map<string, number>()
  for (const v of vehicles) if (v.enterpriseLicenseNo) units.set(v.enterpriseLicenseNo, (units.get(v.enterpriseLicenseNo) ?? 0) + 1)
  for (const c of counts) if (c.enterpriseLicenseNo && !units.has(c.enterpriseLicenseNo)) units.set(c.enterpriseLicenseNo, 0)
  const out: GradeResult[] = []
  for (const [ent, n] of units) {
    out.push(
      grade(
        ent,
        'enterprise',
        counts.filter((c) => c.enterpriseLicenseNo === ent),
        n,
        q.to - q.from,
        cfg,
        quality?.get(ent) ?? null,
      ),
    )
  }
  return out.sort((a, b) => b.score - a.score || a.subject.localeCompare(b.subject))
}

/** Drivers (by qualification number) graded for [from, to) from the anomalies of their waybills. */
export async function gradeDrivers(source: GradingSource, q: { from: number; to: number; carrierLicenseNo?: string }, cfg: GradingConfig = DEFAULT_GRADING_CONFIG): Promise<GradeResult[]> {
  const driverOf = new Map<string, string>()
  const trips = new Map<string, number>()
  let cursor: string | null = null
  do {
    const page: Awaited<ReturnType<GradingSource['listWaybills']>> = await source.listWaybills({
      from: q.from,
      to: q.to,
      cursor,
      limit: 1000,
      ...(q.carrierLicenseNo ? { carrierLicenseNo: q.carrierLicenseNo } : {}),
    })
    for (const w of page.items) {
      if (w.status === 'created' || w.status === 'cancelled') continue
      driverOf.set(w.waybillNo, w.driverQualificationNo)
      trips.set(w.driverQualificationNo, (trips.get(w.driverQualificationNo) ?? 0) + 1)
    }
    cursor = page.nextCursor
  } while (cursor)
  const counts = (await source.anomalyCounts({ from: q.from, to: q.to, ...(q.carrierLicenseNo ? { enterpriseLicenseNo: q.carrierLicenseNo } : {}) })).filter(
    (c) => c.waybillNo && driverOf.has(c.waybillNo),
  )
  const out: GradeResult[] = []
  for (const [driver, n] of trips) {
    out.push(
      grade(
        driver,
        'driver',
        counts.filter((c) => driverOf.get(c.waybillNo!) === driver),
        n,
        q.to - q.from,
        cfg,
        null,
        (c) => c.waybillNo ?? '?',
      ),
    )
  }
  return out.sort((a, b) => b.score - a.score || a.subject.localeCompare(b.subject))
}

function pct(x: number | null): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`
}
