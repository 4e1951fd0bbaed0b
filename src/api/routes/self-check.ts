/**
 * The enterprise's pre-trip self-check (seed 001; 办法 Art. 25): a clear pass/fail with reasons.
 *   terminal-online        the terminal holds a session now
 *   reporting              its newest fix is recent
 *   last-trip-track        the track of its last waybill's trip has no long gaps while moving
 *   no-critical-anomalies  no open critical anomaly
 *   transport-certificate  the road transport certificate is registered and valid today
 *   business-scope         the certificate's scope covers the hazard classes of the next waybill
 * Thresholds are the data-quality defaults of ../shared/rules.md (a gap is > 5 min between
 * fixes while moving, or a > 2 km jump; the completeness pass line is 70 %).
 */
import type { Vehicle } from '../../domain.js'
import { activeIntervals, type Waybill } from '../../matcher/waybill.js'
import type { AnomalyStore } from '../../store/anomalies.js'
import type { WaybillStore } from '../../store/waybills.js'
import { haversineMeters } from '../geo.js'
import { iso } from '../present.js'
import type { ApiContext } from '../server.js'

export const SELF_CHECK_DEFAULTS = {
  /** newest fix no older than this counts as reporting */
  reportingWithinMs: 10 * 60_000,
  /** a gap between consecutive fixes longer than this while moving is incomplete track */
  gapMs: 5 * 60_000,
  /** or a jump longer than this */
  gapJumpMeters: 2_000,
  /** track completeness pass line (assessment rules: ≥ 70 %) */
  completenessPassLine: 0.7,
  /** at most this much of the last trip is examined */
  maxTripMs: 3 * 86_400_000,
}

export const selfCheckSchema = {
  type: 'object',
  properties: {
    plate: { type: 'string' },
    plateColor: { type: 'integer' },
    pass: { type: 'boolean' },
    checkedAt: { type: 'string', format: 'date-time' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, pass: { type: 'boolean' }, reason: { type: 'string' }, details: { type: 'object', additionalProperties: true } },
      },
    },
  },
} as const

interface Check {
  name: string
  pass: boolean
  reason: string
  details: Record<string, unknown>
}

const BEIJING_MS = 8 * 3_600_000
/** yyyy-mm-dd of the Beijing calendar day containing t. */
export const beijingDate = (t: number) => new Date(t + BEIJING_MS).toISOString().slice(0, 10)

/** A scope entry covers a class when it names it, or its class ("2" covers "2.1"); compatibility letters ("1.1D") are ignored. */
export function scopeCovers(scope: string[], hazardClass: string): boolean {
  const cls = hazardClass.replace(/[A-Z]+$/i, '')
  const main = cls.split('.')[0]
  return scope.some((s) => {
    const entry = s.trim().replace(/[A-Z]+$/i, '')
    return entry === cls || entry === main
  })
}

const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`

/** Completeness of a track over an interval: 1 − (time inside long gaps while moving) / interval. */
export function trackCompleteness(points: { deviceTime: number; latitude: number; longitude: number; speed: number }[], from: number, to: number, gapMs: number, jumpMeters: number) {
  const span = Math.max(1, to - from)
  if (!points.length) return { completeness: 0, gaps: 0, missingMs: span, points: 0 }
  let missing = 0
  let gaps = 0
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]
    const b = points[i]
    const dt = b.deviceTime - a.deviceTime
    const moved = a.speed > 0 || b.speed > 0 || haversineMeters(a.longitude, a.latitude, b.longitude, b.latitude) > 50
    const jump = haversineMeters(a.longitude, a.latitude, b.longitude, b.latitude) > jumpMeters
    if ((dt > gapMs && moved) || jump) {
      gaps++
      missing += dt
    }
  }
  // Silence at the ends of the interval counts too.
  const head = points[0].deviceTime - from
  const tail = to - points[points.length - 1].deviceTime
  if (head > gapMs) (missing += head), gaps++
  if (tail > gapMs) (missing += tail), gaps++
  return { completeness: Math.max(0, 1 - missing / span), gaps, missingMs: missing, points: points.length }
}

export async function runSelfCheck(ctx: ApiContext, vehicle: Vehicle, now: number, opts = SELF_CHECK_DEFAULTS) {
  const store = ctx.deps.store as ApiContext['deps']['store'] & WaybillStore & AnomalyStore
  const checks: Check[] = []

  const live = await ctx.liveState(vehicle)
  checks.push(
    live.online
      ? { name: 'terminal-online', pass: true, reason: `online since ${live.session?.since}`, details: { nodeId: live.session?.nodeId } }
      : { name: 'terminal-online', pass: false, reason: vehicle.terminalPhone ? `terminal ${vehicle.terminalPhone} is not connected` : 'no terminal is bound to this vehicle', details: {} },
  )

  const last = live.lastPosition
  const age = last ? now - Date.parse(last.deviceTime) : null
  checks.push(
    age !== null && age <= opts.reportingWithinMs
      ? { name: 'reporting', pass: true, reason: `last fix ${minutes(Math.max(0, age))} ago`, details: { lastFix: last!.deviceTime } }
      : { name: 'reporting', pass: false, reason: age === null ? 'no position has been received' : `last fix ${minutes(age)} ago (limit ${minutes(opts.reportingWithinMs)})`, details: { lastFix: last?.deviceTime ?? null } },
  )

  const trip = await store.lastWaybillFor(vehicle.plate, vehicle.plateColor, now)
  const intervals = trip ? activeIntervals(trip).map(([a, b]) => [a, Math.min(b, now)] as [number, number]).filter(([a, b]) => b > a) : []
  if (!trip || !intervals.length) {
    checks.push({ name: 'last-trip-track', pass: true, reason: trip ? `waybill ${trip.waybillNo} has not run yet` : 'no previous trip on record', details: { waybillNo: trip?.waybillNo ?? null } })
  } else {
    let missing = 0
    let span = 0
    let gaps = 0
    let points = 0
    for (const [a, b0] of intervals) {
      const b = Math.min(b0, a + opts.maxTripMs)
      const track = await ctx.deps.store.track(vehicle.id, a, b, { limit: 200_000 })
      const c = trackCompleteness(track, a, b, opts.gapMs, opts.gapJumpMeters)
      missing += c.missingMs
      span += b - a
      gaps += c.gaps
      points += c.points
    }
    const completeness = Math.max(0, 1 - missing / Math.max(1, span))
    const pct = Math.round(completeness * 1000) / 10
    checks.push({
      name: 'last-trip-track',
      pass: completeness >= opts.completenessPassLine,
      reason: `waybill ${trip.waybillNo}: track ${pct} % complete (${gaps} gap${gaps === 1 ? '' : 's'}; pass line ${opts.completenessPassLine * 100} %)`,
      details: { waybillNo: trip.waybillNo, completeness, gaps, points },
    })
  }

  const critical = await store.listAnomalies({ vehicleId: vehicle.id, status: 'open', severity: 'critical', limit: 20 })
  checks.push(
    critical.items.length
      ? { name: 'no-critical-anomalies', pass: false, reason: `open critical anomalies: ${[...new Set(critical.items.map((a) => a.type))].join(', ')}`, details: { ids: critical.items.map((a) => a.id) } }
      : { name: 'no-critical-anomalies', pass: true, reason: 'none open', details: {} },
  )

  const today = beijingDate(now)
  const until = vehicle.transportCertValidUntil
  checks.push(
    !vehicle.transportCertNo || !until
      ? { name: 'transport-certificate', pass: false, reason: 'no road transport certificate is registered for this vehicle', details: {} }
      : until < today
        ? { name: 'transport-certificate', pass: false, reason: `certificate ${vehicle.transportCertNo} expired on ${until}`, details: { validUntil: until } }
        : { name: 'transport-certificate', pass: true, reason: `certificate ${vehicle.transportCertNo} valid until ${until}`, details: { validUntil: until } },
  )

  const next = await nextWaybill(store, vehicle, now)
  if (!next) checks.push({ name: 'business-scope', pass: true, reason: 'no upcoming waybill to compare with', details: {} })
  else {
    const classes = [...new Set(next.goods.map((g) => g.hazardClass))]
    const uncovered = classes.filter((c) => !scopeCovers(vehicle.businessScope ?? [], c))
    checks.push(
      uncovered.length
        ? { name: 'business-scope', pass: false, reason: `waybill ${next.waybillNo} carries class ${uncovered.join(', ')} outside the certificate's scope (${(vehicle.businessScope ?? []).join(', ') || 'none'})`, details: { waybillNo: next.waybillNo, classes, uncovered } }
        : { name: 'business-scope', pass: true, reason: `scope covers waybill ${next.waybillNo} (class ${classes.join(', ')})`, details: { waybillNo: next.waybillNo, classes } },
    )
  }

  return { plate: vehicle.plate, plateColor: vehicle.plateColor, pass: checks.every((c) => c.pass), checkedAt: iso(now), checks }
}

/** The trip about to start or under way: in transit, else dispatched, else the earliest created one not yet over. */
async function nextWaybill(store: WaybillStore, vehicle: Vehicle, now: number): Promise<Waybill | null> {
  const page = await store.listWaybills({ plate: vehicle.plate, plateColor: vehicle.plateColor, status: ['in_transit', 'dispatched', 'created'], from: now, limit: 100 })
  const rank = { in_transit: 0, dispatched: 1, created: 2, completed: 3, cancelled: 4 } as const
  const own = page.items.filter((w) => w.plate.replace(/\s+/g, '').toUpperCase() === vehicle.plate.replace(/\s+/g, '').toUpperCase())
  own.sort((a, b) => rank[a.status] - rank[b.status] || a.loadingDate.localeCompare(b.loadingDate))
  return own[0] ?? null
}
