/**
 * The enterprise self-check before a trip (seed 001: 自检不通过，不能生成电子运单，不能出车;
 * 办法 Art. 25: the terminal must be checked and recorded before departure). For a vehicle:
 *
 *   terminal-online          the terminal holds a session now
 *   reporting-normally       its newest fix is recent and valid
 *   last-trip-track-complete its last waybill's track met the completeness and valid-data lines
 *   no-open-critical         no critical anomaly is open for it
 *   certificate-valid        the road transport certificate has not expired (when known)
 *   scope-covers-cargo       the certificate's business scope covers the next waybill's classes
 *
 * pass = every check passed. Each check says why it failed, with details.
 */
import { activityWindow, beijingDate, beijingDayStart, DAY, MINUTE, type Anomaly, type PositionRecord, type Vehicle, type Waybill } from '../domain.js'
import type { SessionInfo } from '../state/port.js'
import { DEFAULT_QUALITY_CONFIG, vehicleDayQuality, type QualityConfig } from './quality.js'
import { invalidReason } from './validity.js'

export interface SelfCheckConfig {
  /** the newest fix must be younger than this */
  maxSilenceMs: number
  quality: QualityConfig
}

export const DEFAULT_SELF_CHECK_CONFIG: SelfCheckConfig = {
  maxSilenceMs: 10 * MINUTE,
  quality: DEFAULT_QUALITY_CONFIG,
}

export interface SelfCheckItem {
  name: string
  pass: boolean
  reason: string | null
  details: Record<string, unknown>
}

export interface SelfCheckResult {
  plate: string
  pass: boolean
  /** ISO 8601 */
  checkedAt: string
  checks: SelfCheckItem[]
}

export interface SelfCheckInput {
  vehicle: Vehicle
  now: number
  session: SessionInfo | null
  lastPosition: PositionRecord | null
  /** the last trip: its waybill and the track of its window (null: no earlier trip) */
  lastTrip: { waybill: Waybill; track: PositionRecord[] } | null
  openAnomalies: Anomaly[]
  /** the trip about to start, when known */
  nextWaybill: Waybill | null
}

export function selfCheck(input: SelfCheckInput, cfg: SelfCheckConfig = DEFAULT_SELF_CHECK_CONFIG): SelfCheckResult {
  const { vehicle, now } = input
  const checks: SelfCheckItem[] = []
  const add = (name: string, pass: boolean, reason: string | null, details: Record<string, unknown> = {}) => checks.push({ name, pass, reason: pass ? null : reason, details })

  add('terminal-online', !!input.session, vehicle.terminalPhone ? `terminal ${vehicle.terminalPhone} is not connected` : 'no terminal is bound to the vehicle', {
    terminalPhone: vehicle.terminalPhone,
    since: input.session ? new Date(input.session.since).toISOString() : null,
  })

  const last = input.lastPosition
  if (!last) add('reporting-normally', false, 'no position received yet', {})
  else {
    const age = now - last.deviceTime
    const invalid = invalidReason(last, cfg.quality.validity)
    const ok = age <= cfg.maxSilenceMs && invalid === null
    add(
      'reporting-normally',
      ok,
      invalid !== null ? `the newest position is invalid (${invalid})` : `no position for ${Math.round(age / MINUTE)} min (at most ${Math.round(cfg.maxSilenceMs / MINUTE)})`,
      {
        lastPositionAt: new Date(last.deviceTime).toISOString(),
        ageMs: age,
      },
    )
  }

  if (!input.lastTrip) add('last-trip-track-complete', true, null, { lastWaybillNo: null, note: 'no earlier trip' })
  else {
    const { waybill, track } = input.lastTrip
    const q = tripQuality(vehicle.id, track, cfg.quality)
    const lines = cfg.quality.passLines
    const okCompleteness = q.completeness === null || q.completeness >= lines.completeness
    const okValid = q.validRate !== null && q.validRate >= lines.validRate
    const reason =
      q.points === 0
        ? `no positions during waybill ${waybill.waybillNo}`
        : !okCompleteness
          ? `track completeness ${pct(q.completeness)} below ${pct(lines.completeness)}`
          : `valid-data rate ${pct(q.validRate)} below ${pct(lines.validRate)}`
    add('last-trip-track-complete', q.points > 0 && okCompleteness && okValid, reason, { lastWaybillNo: waybill.waybillNo, ...q })
  }

  const critical = input.openAnomalies.filter((a) => a.status === 'open' && a.severity === 'critical')
  add('no-open-critical', critical.length === 0, `${critical.length} critical anomal${critical.length === 1 ? 'y is' : 'ies are'} open: ${[...new Set(critical.map((a) => a.type))].join(', ')}`, {
    anomalies: critical.map((a) => ({ id: a.id, type: a.type, startedAt: new Date(a.startedAt).toISOString() })),
  })

  if (vehicle.transportCertValidUntil) {
    const today = beijingDate(now)
    add('certificate-valid', vehicle.transportCertValidUntil >= today, `road transport certificate expired on ${vehicle.transportCertValidUntil}`, { validUntil: vehicle.transportCertValidUntil })
  }

  if (input.nextWaybill) {
    const classes = [...new Set(input.nextWaybill.goods.map((g) => g.hazardClass))]
    const uncovered = classes.filter((c) => !scopeCovers(vehicle.businessScope, c))
    add('scope-covers-cargo', uncovered.length === 0, `business scope ${JSON.stringify(vehicle.businessScope)} does not cover class ${uncovered.join(', ')}`, {
      waybillNo: input.nextWaybill.waybillNo,
      classes,
      businessScope: vehicle.businessScope,
    })
  }

  return { plate: vehicle.plate, pass: checks.every((c) => c.pass), checkedAt: new Date(now).toISOString(), checks }
}

/** A scope entry covers its class and divisions: "2" covers "2.1"; "2.1" covers only "2.1" (and "2.1x"). */
export function scopeCovers(scope: readonly string[], hazardClass: string): boolean {
  const c = hazardClass.trim()
  return scope.some((s) => {
    const e = s.trim()
    return c === e || c.startsWith(`${e}.`) || (e.includes('.') && c.startsWith(e))
  })
}

/** The last trip's figures over its whole window (day by day, summed). */
function tripQuality(vehicleId: number, track: PositionRecord[], cfg: QualityConfig): { points: number; validRate: number | null; completeness: number | null; gaps: number; totalKm: number } {
  if (!track.length) return { points: 0, validRate: null, completeness: null, gaps: 0, totalKm: 0 }
  let points = 0,
    valid = 0,
    total = 0,
    complete = 0,
    gaps = 0
  let previous: PositionRecord | null = null
  const first = beijingDayStart(track[0].deviceTime)
  const lastT = track[track.length - 1].deviceTime
  for (let d = first; d <= lastT; d += DAY) {
    const day = track.filter((p) => p.deviceTime >= d && p.deviceTime < d + DAY)
    const q = vehicleDayQuality(vehicleId, d, day, cfg, previous)
    points += q.points
    valid += q.validPoints
    total += q.totalKm
    complete += q.completeKm
    gaps += q.gaps
    for (let i = day.length - 1; i >= 0; i--) {
      if (invalidReason(day[i], cfg.validity) === null) {
        previous = day[i]
        break
      }
    }
  }
  return { points, validRate: points ? valid / points : null, completeness: total > 0 ? complete / total : null, gaps, totalKm: Math.round(total * 1000) / 1000 }
}

/** What runSelfCheck reads. */
export interface SelfCheckSource {
  store: {
    lastWaybillFor(plate: string, plateColor: number, before: number): Promise<Waybill | null>
    listWaybills(filter: { plate?: string; plateColor?: number; status?: Array<Waybill['status']>; limit?: number }): Promise<{ items: Waybill[] }>
    track(vehicleId: number, from: number, to: number, options?: { limit?: number }): Promise<PositionRecord[]>
    listAnomalies(filter: { vehicleId?: number; status?: 'open'; limit?: number }): Promise<{ items: Anomaly[] }>
  }
  state: {
    getSession(phone: string): Promise<SessionInfo | null>
    getLastPosition(vehicleId: number): Promise<PositionRecord | null>
  }
}

/**
 * Gathers the inputs and runs the check. The last trip is the newest waybill whose window
 * started before now and is not the next one (created/dispatched and not yet ended).
 */
export async function runSelfCheck(src: SelfCheckSource, vehicle: Vehicle, now: number, cfg: SelfCheckConfig = DEFAULT_SELF_CHECK_CONFIG, nextWaybill?: Waybill | null): Promise<SelfCheckResult> {
  const [session, lastPosition, open, upcoming] = await Promise.all([
    vehicle.terminalPhone ? src.state.getSession(vehicle.terminalPhone) : Promise.resolve(null),
    src.state.getLastPosition(vehicle.id),
    src.store.listAnomalies({ vehicleId: vehicle.id, status: 'open', limit: 1000 }),
    nextWaybill !== undefined
      ? Promise.resolve(nextWaybill)
      : src.store.listWaybills({ plate: vehicle.plate, plateColor: vehicle.plateColor, status: ['created', 'dispatched'], limit: 1 }).then((p) => p.items[0] ?? null),
  ])
  let lastTrip: SelfCheckInput['lastTrip'] = null
  const previous = await src.store.lastWaybillFor(vehicle.plate, vehicle.plateColor, now)
  const candidate = previous && previous.waybillNo !== upcoming?.waybillNo ? previous : null
  if (candidate) {
    const win = activityWindow(candidate)
    if (win) {
      const [from, to] = [win[0], Math.min(win[1], now)]
      lastTrip = { waybill: candidate, track: await src.store.track(vehicle.id, from, to, { limit: 500_000 }) }
    }
  }
  return selfCheck({ vehicle, now, session, lastPosition, lastTrip, openAnomalies: open.items, nextWaybill: upcoming }, cfg)
}

function pct(x: number | null): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`
}
