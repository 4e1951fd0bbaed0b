/**
 * The point rules as a list, the way the engine runs them: one entry per anomaly type, with what
 * it looks at, how it steps on a fix, ticks, ends a late segment, and how its per-vehicle state
 * is written to a checkpoint and read back. The engine keeps each vehicle's busy rule states in
 * one map keyed by the entry and knows no rule by name (except the 0x8203 confirmation, which
 * only TERMINAL_ALARM takes). Adding a point rule is one entry in POINT_RULES (and its docs).
 *
 * The rules themselves (rules.ts) report through an AnomalySink: live fixes to the anomaly book,
 * a late batch to a fresh state map whose rules report to the historical sink (late.ts).
 */
import type { Anomaly, AnomalyType, CommittedPosition } from '../domain.js'
import type { Tracked } from './book.js'
import type { MatcherConfig } from './config.js'
import type { WaybillCover } from './cover.js'
import { AlarmRule, DriftRule, NightBanRule, OverspeedRule, RouteDeviationRule, type AnomalySink } from './rules.js'
import { restoreRule, snapshotRule, type AlarmSnapshot, type RuleSnapshot } from './snapshot.js'
import { inDailyWindow } from '../domain.js'
import type { VehicleState } from './vehicle-state.js'
import type { ZoneLookup } from './zones.js'

/** What the rules consult besides the fix: configuration, zones, waybill cover. */
export interface RuleEnv {
  readonly cfg: MatcherConfig
  zones: ZoneLookup
  hasZones: boolean
  /** the night-ban windows' daily clock times, parsed once */
  readonly nightBanClock: ReadonlyArray<readonly [number, number]>
  readonly cover: WaybillCover
  /** the enabled rules by phase (enabledRules(cfg)) */
  readonly phases: RulePhases
}

/** The engine's verdict on a fix's jump from the anchor, for the rules that look at it. */
export interface DriftVerdict {
  drift: boolean
  impliedKmh: number
  jumpKm: number
  anchor: [number, number, number] | null
  /** the rejected fixes agreed: the engine re-anchors on them */
  reanchor: boolean
}

/** The verdict on the fixes that were not drift (shared: the common case allocates nothing). */
export const NOT_DRIFT: DriftVerdict = Object.freeze({ drift: false, impliedKmh: 0, jumpKm: 0, anchor: null, reanchor: false })
/** The verdict when the engine re-anchors on the rejected fixes. */
export const REANCHOR: DriftVerdict = Object.freeze({ drift: false, impliedKmh: 0, jumpKm: 0, anchor: null, reanchor: true })

/**
 * One point rule. `on` says which fixes it sees: 'every' fix with an orderable time (before the
 * validity check), 'judged' valid fixes with the drift verdict, or 'valid' fixes that were not
 * drift. It runs while cfg.enabled[type]. step gets the rule's state (null: idle), the fix, its
 * vehicle, the sink a rule created now reports to (bound for its lifetime), and for 'judged'
 * rules the drift verdict; it returns the new state (null: idle again, the map forgets it).
 */
export interface PointRule<S> {
  readonly type: AnomalyType
  readonly on: 'every' | 'judged' | 'valid'
  step(s: S | null, p: CommittedPosition, v: VehicleState, sink: AnomalySink<Tracked>, env: RuleEnv, drift?: DriftVerdict): S | null
  /** wall-clock progress with no fix (only rules whose episodes can end by time alone) */
  tick?(s: S, now: number): S | null
  /** when a tick must next look at the vehicle for this rule */
  due?(s: S): number
  /** the end of a late segment: what is still running ends at t */
  finish(s: S, t: number): void
  /** how far apart a late episode and a live one may be and still be one */
  lateSlackMs(cfg: MatcherConfig): number
  /** the state as plain data for a checkpoint; anomalies as indexes into the vehicle's list */
  save(s: S, indexOf: (h: Tracked) => number): unknown
  load(data: unknown, sink: AnomalySink<Tracked>, cfg: MatcherConfig, at: (i: number) => Tracked | null): S | null
  /** takes over an anomaly of its type found open in the store; rules without it see theirs closed at restart */
  adopt?(s: S | null, tr: Tracked, sink: AnomalySink<Tracked>, cfg: MatcherConfig): S | null
  /** the sub-key (alarm bit, night-ban window) of a stored anomaly of this type */
  subOf?(a: Anomaly): number
}

/** A vehicle's (or a late segment's) busy rule states. */
export type RuleStates = Map<PointRule<unknown>, unknown>

/** Who keeps rule states: null while no rule is busy (most vehicles, most of the time: no Map). */
export interface RuleHolder {
  rules: RuleStates | null
}

/** Lets a typed entry stand in the list (the list is heterogeneous in S). */
function entry<S>(r: PointRule<S>): PointRule<unknown> {
  return r as unknown as PointRule<unknown>
}

function timed<R extends { timer: object; handle: Tracked | null }>(s: R, indexOf: (h: Tracked) => number): RuleSnapshot {
  return snapshotRule(s, indexOf)
}

export const OVERSPEED = entry<OverspeedRule<Tracked>>({
  type: 'OVERSPEED',
  on: 'valid',
  step(s, p, _v, sink, env) {
    const cfg = env.cfg
    let limit = cfg.defaultSpeedLimitKmh
    let zone: string | null = null
    if (env.hasZones) {
      const hit = env.zones.speedLimitAt(p.longitude, p.latitude)
      if (hit && hit.limitKmh < limit) {
        limit = hit.limitKmh
        zone = hit.zoneId
      }
    }
    if (!(p.speed > limit) && !s) return null
    const rule = s ?? new OverspeedRule(sink, cfg)
    rule.step(p, limit, zone)
    return rule.idle ? null : rule
  },
  tick(s, now) {
    s.tick(now)
    return s.idle ? null : s
  },
  due: (s) => s.timer.due,
  finish: (s, t) => s.finish(t),
  lateSlackMs: (cfg) => cfg.overspeedMergeMs,
  save: timed,
  load: (data, sink, cfg, at) => restoreRule(new OverspeedRule(sink, cfg), data as RuleSnapshot, at),
})

interface RouteState {
  rule: RouteDeviationRule<Tracked> | null
  /** the route segment the last fix was nearest to (where the next search starts) */
  hint: number
}

export const ROUTE_DEVIATION = entry<RouteState>({
  type: 'ROUTE_DEVIATION',
  on: 'valid',
  step(s, p, v, sink, env) {
    if (!env.cover.mayCover(v)) return s
    const e = env.cover.ownEntryAt(v, p.deviceTime)
    if (e?.route) {
      const st: RouteState = s ?? { rule: null, hint: 0 }
      const r = e.route.distanceKm(p.latitude, p.longitude, st.hint, e.corridorKm)
      st.hint = r.segment
      if (r.km > e.corridorKm || st.rule) {
        const rule = (st.rule ??= new RouteDeviationRule(sink, env.cfg))
        rule.step(p, r.km, e.corridorKm, e.no)
        if (rule.idle) st.rule = null
      }
      return st
    }
    if (s?.rule) {
      s.rule.finish(p.deviceTime)
      s.rule = null
    }
    return s
  },
  finish: (s, t) => s.rule?.finish(t),
  lateSlackMs: () => 0,
  save: (s, indexOf) => ({ rule: s.rule ? timed(s.rule, indexOf) : null, hint: s.hint }),
  load(data, sink, cfg, at) {
    const d = data as { rule: RuleSnapshot | null; hint: number }
    return { rule: d.rule ? restoreRule(new RouteDeviationRule(sink, cfg), d.rule, at) : null, hint: d.hint }
  },
})

export const POSITION_DRIFT = entry<DriftRule<Tracked>>({
  type: 'POSITION_DRIFT',
  on: 'judged',
  step(s, p, _v, sink, env, d) {
    if (!d || (!s && !d.drift)) return s
    // what lies between the old anchor and the new one is unknown: the episode says so
    if (d.reanchor && s?.handle) Object.assign(s.handle.a.evidence, { reanchored: true })
    const rule = s ?? new DriftRule(sink, env.cfg)
    rule.step(p, d.drift, d.impliedKmh, d.jumpKm, d.anchor)
    return d.reanchor || rule.idle ? null : rule
  },
  finish: (s, t) => s.finish(t),
  lateSlackMs: () => 0,
  save: timed,
  load: (data, sink, cfg, at) => restoreRule(new DriftRule(sink, cfg), data as RuleSnapshot, at),
})

export const TERMINAL_ALARM = entry<AlarmRule<Tracked>>({
  type: 'TERMINAL_ALARM',
  on: 'every',
  step(s, p, _v, sink, env) {
    if (!s && p.alarm === 0) return null
    const rule = s ?? new AlarmRule(sink, env.cfg)
    rule.step(p.deviceTime, p.alarm)
    return rule.idle ? null : rule
  },
  finish: (s, t) => s.finish(t),
  lateSlackMs: (cfg) => cfg.gapMs,
  save: (s, indexOf): AlarmSnapshot => ({ bits: s.bits, confirmed: s.confirmed, lastT: s.lastT, open: [...s.open].map(([b, h]) => [b, indexOf(h)] as [number, number]) }),
  load(data, sink, cfg, at) {
    const d = data as AlarmSnapshot
    const rule = new AlarmRule(sink, cfg)
    rule.bits = d.bits
    rule.confirmed = d.confirmed
    rule.lastT = d.lastT
    for (const [b, i] of d.open) {
      const h = at(i)
      if (h) rule.open.set(b, h)
    }
    return rule
  },
  adopt(s, tr, sink, cfg) {
    const bit = tr.a.evidence.bit
    if (typeof bit !== 'number') return s
    const rule = s ?? new AlarmRule(sink, cfg)
    rule.open.set(bit, tr)
    rule.bits = (rule.bits | (1 << bit)) >>> 0
    return rule
  },
  subOf: (a) => (typeof a.evidence.bit === 'number' ? a.evidence.bit : -1),
})

export const NIGHT_DRIVING_RESTRICTED = entry<Array<NightBanRule<Tracked> | null>>({
  type: 'NIGHT_DRIVING_RESTRICTED',
  on: 'valid',
  step(s, p, _v, sink, env) {
    const cfg = env.cfg
    if (!cfg.nightBans.length) return s
    const rules = s ?? cfg.nightBans.map(() => null)
    for (let i = 0; i < cfg.nightBans.length; i++) {
      const w = cfg.nightBans[i]
      const [from, to] = env.nightBanClock[i]
      const inBan = inDailyWindow(p.deviceTime, from, to) && (!w.zone || env.zones.inZone(w.zone, p.longitude, p.latitude))
      if (!inBan && !rules[i]) continue
      const rule = (rules[i] ??= new NightBanRule(sink, cfg, i, w))
      rule.step(p, inBan)
      if (rule.idle) rules[i] = null
    }
    return rules
  },
  finish: (s, t) => {
    for (const r of s) r?.finish(t)
  },
  lateSlackMs: (cfg) => cfg.startStopMs,
  save: (s, indexOf) => s.map((r) => (r ? timed(r, indexOf) : null)),
  load(data, sink, cfg, at) {
    const d = data as Array<RuleSnapshot | null>
    return cfg.nightBans.map((w, i) => (d[i] ? restoreRule(new NightBanRule(sink, cfg, i, w), d[i]!, at) : null))
  },
})

/**
 * Every point rule, in the order they run on a fix within their phase and end a late segment.
 * (The long rules — fatigue, daily driving, waybill cover — are derived from the timeline in
 * long-rules.ts; DRIVER_NOT_ON_WAYBILL follows card and waybill events in the engine.)
 */
export const POINT_RULES: readonly PointRule<unknown>[] = [OVERSPEED, ROUTE_DEVIATION, POSITION_DRIFT, TERMINAL_ALARM, NIGHT_DRIVING_RESTRICTED]

/** The enabled rules by phase, for a configuration (the engine computes it once). */
export type RulePhases = Readonly<Record<PointRule<unknown>['on'], readonly PointRule<unknown>[]>>

export function enabledRules(cfg: MatcherConfig): RulePhases {
  const on = (phase: PointRule<unknown>['on']) => POINT_RULES.filter((r) => r.on === phase && cfg.enabled[r.type])
  return { every: on('every'), judged: on('judged'), valid: on('valid') }
}

/** The rules a tick must look at (those with a due time). */
const WITH_DUE = POINT_RULES.filter((r) => r.due)
const BY_TYPE = new Map<AnomalyType, PointRule<unknown>>(POINT_RULES.map((r) => [r.type, r]))

export function pointRuleOf(type: AnomalyType): PointRule<unknown> | undefined {
  return BY_TYPE.get(type)
}

/** Steps the enabled rules of one phase on a fix, keeping their states in `states`. */
export function stepRules(phase: PointRule<unknown>['on'], holder: RuleHolder, p: CommittedPosition, v: VehicleState, sink: AnomalySink<Tracked>, env: RuleEnv, drift?: DriftVerdict): void {
  const rules = env.phases[phase]
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]
    const states = holder.rules
    const s = states ? (states.get(r) ?? null) : null
    const next = r.step(s, p, v, sink, env, drift)
    if (next === null) {
      if (s !== null) forget(holder, r)
    } else if (next !== s) (holder.rules ??= new Map()).set(r, next)
  }
}

function forget(holder: RuleHolder, r: PointRule<unknown>): void {
  const states = holder.rules!
  states.delete(r)
  if (!states.size) holder.rules = null
}

/** Wall-clock progress for the rules that can end by time alone. */
export function tickRules(holder: RuleHolder, now: number): void {
  const states = holder.rules
  if (!states) return
  for (const [r, s] of states) {
    if (!r.tick) continue
    const next = r.tick(s, now)
    if (next === null) states.delete(r)
    else if (next !== s) states.set(r, next)
  }
  if (!states.size) holder.rules = null
}

/** The earliest moment a busy rule wants a tick. */
export function rulesDue(states: RuleStates | null): number {
  let due = Infinity
  if (!states) return due
  for (const r of WITH_DUE) {
    const s = states.get(r)
    if (s !== undefined) due = Math.min(due, r.due!(s))
  }
  return due
}

/** End of a late segment: each busy rule ends at t, in list order. */
export function finishRules(states: RuleStates | null, t: number): void {
  if (!states) return
  for (const r of POINT_RULES) {
    const s = states.get(r)
    if (s !== undefined) r.finish(s, t)
  }
}

/** The states as checkpoint data, keyed by anomaly type. */
export function saveRules(states: RuleStates | null, indexOf: (h: Tracked) => number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (!states) return out
  for (const r of POINT_RULES) {
    const s = states.get(r)
    if (s !== undefined) out[r.type] = r.save(s, indexOf)
  }
  return out
}

/** Reads states back from checkpoint data; a type no rule knows any more is dropped. */
export function loadRules(data: Record<string, unknown>, sink: AnomalySink<Tracked>, cfg: MatcherConfig, at: (i: number) => Tracked | null): RuleStates | null {
  const states: RuleStates = new Map()
  for (const r of POINT_RULES) {
    const d = data[r.type]
    if (d === undefined || d === null) continue
    const s = r.load(d, sink, cfg, at)
    if (s !== null) states.set(r, s)
  }
  return states.size ? states : null
}
