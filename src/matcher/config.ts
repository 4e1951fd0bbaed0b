/**
 * Every threshold of the rule catalogue, with the defaults of docs/rules.md. Provinces differ: each
 * value is overridable per deployment (matcherConfig({ ... }) merges a partial over these).
 * Values marked "unsourced" are working defaults no regulation fixes.
 */
import { readFileSync } from 'node:fs'
import { HOUR, MINUTE, type AnomalyType, type Severity } from '../domain.js'

export interface NightBanWindow {
  id: string
  /** "HH:MM" Beijing time */
  from: string
  to: string
  /** geofence/zone id the ban applies in (e.g. a province's highways); absent = everywhere */
  zone?: string
}

export interface MatcherConfig {
  /** Rules switched off are neither evaluated nor emitted. */
  enabled: Record<AnomalyType, boolean>
  severity: Record<AnomalyType, Severity>

  // --- validity (JT/T 809-2011 §4.5.8 via the 2016 assessment rules)
  /** device time may run ahead of the receive time by this much (clock skew) */
  futureSkewMs: number
  bounds: { lonMin: number; lonMax: number; latMin: number; latMax: number; speedMax: number; altMin: number; altMax: number }
  /** treat points without the "fixed" status bit as invalid (unsourced; default off) */
  requireFix: boolean

  // --- motion (GB/T 19056-2012 §3.3–3.4)
  /** speed above which a sample counts as moving (standard: > 0) */
  movingSpeedKmh: number
  /** driving starts after speed > 0 for longer than this, ends after speed = 0 for longer than this */
  startStopMs: number
  /** consecutive points further apart than this are a gap (unsourced: 5 min) */
  gapMs: number
  /** a gap counts as driving when the straight-line speed across it reaches this (unsourced) */
  gapDrivingSpeedKmh: number

  // --- driving time (道路交通安全法实施条例 §62(7); 动态监督管理办法)
  continuousDrivingMs: number
  minRestMs: number
  nightDrivingMs: number
  /** night window, Beijing time (unsourced window) */
  nightFrom: string
  nightTo: string
  dailyDrivingMs: number

  // --- waybill join
  /** widens [loading date 00:00, expected arrival 24:00] on both sides (unsourced) */
  waybillGraceMs: number
  runningWithoutWaybillMs: number
  runningWithoutWaybillKm: number
  waybillSilenceMs: number

  // --- speed (办法 Art. 46; 2016 assessment rules)
  defaultSpeedLimitKmh: number
  /** limit inside a geofence that marks "other roads" without its own limit */
  otherRoadSpeedLimitKmh: number
  overspeedMinMs: number
  overspeedMergeMs: number
  /** overspeed at or above limit × this is critical (unsourced) */
  overspeedCriticalRatio: number

  // --- route
  defaultCorridorKm: number
  routeDeviationMs: number

  // --- drift (unsourced: implied speed between consecutive valid points)
  driftSpeedKmh: number
  /** jumps shorter than this are GPS noise, never drift (unsourced) */
  driftMinKm: number
  /** after this many consecutive rejected points that agree with each other, trust them instead */
  driftReanchorPoints: number

  // --- terminal alarms
  /** bits that open TERMINAL_ALARM (default: every defined bit) */
  alarmMask: number
  /** bits whose anomaly is critical */
  criticalAlarmMask: number

  nightBans: NightBanWindow[]

  // --- late data and bookkeeping
  /** late points older than this behind the vehicle's newest point are counted and ignored */
  lateHorizonMs: number
  /** open anomalies emit "updated" at most this often (device time) when their evidence changes */
  updateEveryMs: number
  /** evidence keeps at most this many sample points */
  evidencePoints: number
}

/** alarm bits defined by JT/T 808-2019 (15–17 reserved in 2013; 31 reserved in 2019 but illegal door open in 2013) */
const ALL_ALARM_BITS = 0xffffffff >>> 0
/** emergency (0), danger warning (3), collision/rollover (29), rollover warning (30) */
const CRITICAL_ALARM_BITS = ((1 << 0) | (1 << 3) | (1 << 29) | (1 << 30)) >>> 0

export const DEFAULT_MATCHER_CONFIG: MatcherConfig = {
  enabled: {
    RUNNING_WITHOUT_WAYBILL: true,
    WAYBILL_WITHOUT_POSITION: true,
    OVERSPEED: true,
    FATIGUE_DRIVING: true,
    NIGHT_FATIGUE_DRIVING: true,
    DAILY_DRIVING_EXCEEDED: true,
    DRIVER_NOT_ON_WAYBILL: true,
    ROUTE_DEVIATION: true,
    POSITION_DRIFT: true,
    TERMINAL_ALARM: true,
    // No national night ban; provincial notices only (e.g. Shandong highways 19:00–06:00).
    NIGHT_DRIVING_RESTRICTED: false,
  },
  severity: {
    RUNNING_WITHOUT_WAYBILL: 'warning',
    WAYBILL_WITHOUT_POSITION: 'warning',
    OVERSPEED: 'warning',
    FATIGUE_DRIVING: 'critical',
    NIGHT_FATIGUE_DRIVING: 'critical',
    DAILY_DRIVING_EXCEEDED: 'warning',
    DRIVER_NOT_ON_WAYBILL: 'critical',
    ROUTE_DEVIATION: 'warning',
    POSITION_DRIFT: 'info',
    TERMINAL_ALARM: 'warning',
    NIGHT_DRIVING_RESTRICTED: 'critical',
  },
  futureSkewMs: 5 * MINUTE,
  bounds: { lonMin: 73.55, lonMax: 135.0834, latMin: 3.85, latMax: 53.55, speedMax: 160, altMin: -200, altMax: 6500 },
  requireFix: false,
  movingSpeedKmh: 0,
  startStopMs: 10_000,
  gapMs: 5 * MINUTE,
  gapDrivingSpeedKmh: 10,
  continuousDrivingMs: 4 * HOUR,
  minRestMs: 20 * MINUTE,
  nightDrivingMs: 2 * HOUR,
  nightFrom: '22:00',
  nightTo: '06:00',
  dailyDrivingMs: 8 * HOUR,
  waybillGraceMs: 0,
  runningWithoutWaybillMs: 5 * MINUTE,
  runningWithoutWaybillKm: 2,
  waybillSilenceMs: 20 * MINUTE,
  defaultSpeedLimitKmh: 80,
  otherRoadSpeedLimitKmh: 60,
  overspeedMinMs: 30_000,
  overspeedMergeMs: 60_000,
  overspeedCriticalRatio: 1.2,
  defaultCorridorKm: 5,
  routeDeviationMs: 5 * MINUTE,
  driftSpeedKmh: 160,
  driftMinKm: 0.2,
  driftReanchorPoints: 3,
  alarmMask: ALL_ALARM_BITS,
  criticalAlarmMask: CRITICAL_ALARM_BITS,
  nightBans: [],
  lateHorizonMs: 24 * HOUR,
  updateEveryMs: 5 * MINUTE,
  evidencePoints: 8,
}

export type MatcherConfigInput = Partial<Omit<MatcherConfig, 'enabled' | 'severity' | 'bounds'>> & {
  enabled?: Partial<MatcherConfig['enabled']>
  severity?: Partial<MatcherConfig['severity']>
  bounds?: Partial<MatcherConfig['bounds']>
}

/** Defaults overlaid with a partial configuration (nested records merge key by key). */
export function matcherConfig(overrides: MatcherConfigInput = {}): MatcherConfig {
  const base = DEFAULT_MATCHER_CONFIG
  return {
    ...base,
    ...overrides,
    enabled: { ...base.enabled, ...overrides.enabled },
    severity: { ...base.severity, ...overrides.severity },
    bounds: { ...base.bounds, ...overrides.bounds },
    nightBans: overrides.nightBans ?? base.nightBans,
  }
}

export class MatcherConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid matcher configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'MatcherConfigError'
  }
}

/**
 * The deployment's thresholds (JT808_MATCHER_CONFIG): a JSON object, or the path of a JSON file
 * holding one, overlaid on the defaults. Unknown keys and wrong types are errors, all reported.
 */
export function loadMatcherConfig(source: string | null, readFile: (path: string) => string = defaultReadFile): MatcherConfig {
  if (!source) return matcherConfig()
  const text = source.trim().startsWith('{') ? source : readFile(source)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new MatcherConfigError([`not JSON: ${(e as Error).message}`])
  }
  const problems: string[] = []
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MatcherConfigError(['expected a JSON object'])
  const base = DEFAULT_MATCHER_CONFIG as unknown as Record<string, unknown>
  for (const [key, value] of Object.entries(raw)) {
    const dflt = base[key]
    if (dflt === undefined) problems.push(`${key}: not a matcher setting`)
    else if (key === 'nightBans') checkNightBans(value, problems)
    else if (typeof dflt === 'object' && dflt !== null) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push(`${key}: expected an object`)
        continue
      }
      for (const [k, v] of Object.entries(value)) {
        const d = (dflt as Record<string, unknown>)[k]
        if (d === undefined) problems.push(`${key}.${k}: not a known key`)
        else if (key === 'severity' && !['info', 'warning', 'critical'].includes(v as string)) problems.push(`${key}.${k}: expected info, warning or critical`)
        else if (typeof v !== typeof d) problems.push(`${key}.${k}: expected a ${typeof d}`)
      }
    } else if (typeof value !== typeof dflt || (typeof value === 'number' && !Number.isFinite(value))) problems.push(`${key}: expected a ${typeof dflt}`)
    else if (typeof value === 'number' && value < 0) problems.push(`${key}: must not be negative`)
  }
  if (problems.length) throw new MatcherConfigError(problems)
  return matcherConfig(raw as MatcherConfigInput)
}

function checkNightBans(value: unknown, problems: string[]): void {
  if (!Array.isArray(value)) {
    problems.push('nightBans: expected an array')
    return
  }
  value.forEach((w, i) => {
    const b = w as Partial<NightBanWindow>
    if (typeof b?.id !== 'string') problems.push(`nightBans[${i}].id: expected a string`)
    for (const k of ['from', 'to'] as const) if (typeof b?.[k] !== 'string' || !/^\d{1,2}:\d{2}$/.test(b[k]!)) problems.push(`nightBans[${i}].${k}: expected "HH:MM"`)
    if (b?.zone !== undefined && typeof b.zone !== 'string') problems.push(`nightBans[${i}].zone: expected a geofence id`)
  })
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8')
}
