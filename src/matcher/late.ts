/**
 * Late-data replay: fixes older than the vehicle's newest (blind-area batches, retransmissions)
 * are judged on their own once the batch is in. The point rules run on fresh state per segment
 * and report to the book's historical sink; what they find extends the live episode it touches
 * or is recorded as it was. The timeline GAPs the fixes fall in are spliced and the long rules
 * judged again, so what a gap produced is shortened, closed or refuted (resolvedByLateData).
 */
import type { CommittedPosition } from '../domain.js'
import { distanceKm } from '../geo.js'
import { rank, uniqueId, type AnomalyBook, type Tracked } from './book.js'
import type { MatcherConfig } from './config.js'
import { finishRules, pointRuleOf, stepRules, type RuleEnv, type RuleHolder } from './point-rules.js'
import type { Fix } from './rules.js'
import { invalidReason } from './validity.js'
import type { VehicleState } from './vehicle-state.js'

/** What the replay needs from the engine. */
export interface LateHost {
  readonly cfg: MatcherConfig
  readonly env: RuleEnv
  readonly book: AnomalyBook
  readonly counters: { duplicates: number; invalid: number; drift: number }
  deriveLong(v: VehicleState, now: number, late: boolean): void
  nowFor(v: VehicleState): number
  schedule(v: VehicleState): void
}

export function replayLate(host: LateHost, v: VehicleState, batch: CommittedPosition[]): void {
  const { cfg, env, book, counters } = host
  batch.sort((x, y) => x.deviceTime - y.deviceTime)
  book.current = v
  book.replaying = true
  book.beginStaging(v)
  // fixes grouped by the timeline GAP they fall in (or none)
  const groups = new Map<number, Fix[]>()
  let seg: RuleHolder = { rules: null }
  let prevT = NaN
  let prevGap = -2
  let anchor: { t: number; lat: number; lon: number } | null = null
  const sink = book.historical
  for (const p of batch) {
    if (p.deviceTime === prevT) {
      counters.duplicates++
      continue
    }
    const gapIdx = v.timeline.gapContaining(p.deviceTime)
    const split = !Number.isNaN(prevT) && (p.deviceTime - prevT > cfg.gapMs || gapIdx !== prevGap)
    if (split) {
      finishRules(seg.rules, prevT)
      seg = { rules: null }
    }
    if (split || Number.isNaN(prevT)) {
      // a segment inside a gap is judged for drift against the fix before the gap
      const g = gapIdx >= 0 ? v.timeline.items[gapIdx] : null
      anchor = g ? { t: g.start, lat: g.aLat, lon: g.aLon } : null
    }
    prevT = p.deviceTime
    prevGap = gapIdx
    stepRules('every', seg, p, v, sink, env)
    if (invalidReason(p, cfg) !== null) {
      counters.invalid++
      continue
    }
    if (anchor) {
      const km = distanceKm(anchor.lat, anchor.lon, p.latitude, p.longitude)
      const implied = (km / (p.deviceTime - anchor.t)) * 3_600_000
      const drift = implied > cfg.driftSpeedKmh && km > cfg.driftMinKm
      stepRules('judged', seg, p, v, sink, env, { drift, impliedKmh: implied, jumpKm: km, anchor: [round6(anchor.lon), round6(anchor.lat), anchor.t], reanchor: false })
      if (drift) {
        counters.drift++
        continue
      }
    }
    anchor = { t: p.deviceTime, lat: p.latitude, lon: p.longitude }
    stepRules('valid', seg, p, v, sink, env)
    if (gapIdx >= 0) {
      const list = groups.get(gapIdx)
      if (list) list.push(p)
      else groups.set(gapIdx, [p])
    }
  }
  if (!Number.isNaN(prevT)) finishRules(seg.rules, prevT)
  // splice from the last gap backwards so earlier indexes stay valid
  const idx = [...groups.keys()].sort((a, b) => b - a)
  for (const i of idx) v.timeline.spliceGap(i, groups.get(i)!)
  if (idx.length || v.deferDerive) {
    v.deferDerive = false
    host.deriveLong(v, host.nowFor(v), true)
  }
  book.replaying = false
  for (const h of book.endStaging()) mergeHistorical(host, v, h)
  host.schedule(v)
}

/** A point-rule episode found in late data: extends the live one it touches, or is recorded as it was. */
function mergeHistorical(host: LateHost, v: VehicleState, h: Tracked): void {
  const a = h.a
  const slack = pointRuleOf(a.type)?.lateSlackMs(host.cfg) ?? 0
  const end = a.endedAt ?? a.lastSeenAt
  const hit = v.anoms.find((tr) => tr.a.type === a.type && tr.sub === h.sub && !tr.refuted && tr.a.startedAt - slack <= end && (tr.a.endedAt === null ? Infinity : tr.a.endedAt + slack) >= a.startedAt)
  if (hit) {
    const b = hit.a
    const before = `${b.startedAt}/${b.endedAt}`
    b.startedAt = Math.min(b.startedAt, a.startedAt)
    if (b.endedAt !== null) b.endedAt = Math.max(b.endedAt, end)
    for (const [k, val] of Object.entries(a.evidence)) {
      const cur = b.evidence[k]
      if (k.startsWith('max') && typeof val === 'number' && typeof cur === 'number') b.evidence[k] = Math.max(cur, val)
    }
    b.evidence.lateData = true
    if (rank(a.severity) > rank(b.severity)) b.severity = a.severity
    if (`${b.startedAt}/${b.endedAt}` !== before) host.book.emit(hit, 'anomaly.updated', Math.max(b.lastSeenAt, end))
    return
  }
  if (h.fragment) return
  a.evidence.lateData = true
  h.staged = false
  h.a.id = uniqueId(v, h.a.id)
  v.anoms.push(h)
  const closedAt = a.endedAt ?? end
  a.status = 'open'
  a.endedAt = null
  host.book.emit(h, 'anomaly.opened', a.startedAt)
  a.status = 'closed'
  a.endedAt = closedAt
  host.book.emit(h, 'anomaly.closed', closedAt)
}

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6
}
