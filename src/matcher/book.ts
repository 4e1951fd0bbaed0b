/**
 * The anomaly book: the anomalies the engine follows per vehicle, and every event about them.
 * Rules report through its sinks — `live` for fixes in order, `historical` for a late batch
 * replayed on its own (staged, merged afterwards by late.ts) — and the long rules' episodes are
 * reconciled with what it holds. It opens, touches, closes, refutes, emits, and takes over
 * anomalies found open in the store at start.
 */
import type { Anomaly, AnomalyEventKind, AnomalyType, AnomalyEvent, Severity } from '../domain.js'
import type { MatcherConfig } from './config.js'
import type { Episode } from './long-rules.js'
import type { AnomalySink } from './rules.js'
import { beijingDayStart } from '../domain.js'
import type { VehicleState } from './vehicle-state.js'

/** An anomaly the engine is following. */
export interface Tracked {
  a: Anomaly
  anchor: number
  sub: number
  /** device time of the last event sent for it */
  lastEmit: number
  /** loaded from the store at start: its history is not in the timeline */
  restored: boolean
  refuted: boolean
  /** late replay only: not yet merged into the vehicle's anomalies */
  staged: boolean
  /** late replay only: too short alone; it may only extend an episode it touches */
  fragment?: boolean
}

export interface BookOptions {
  cfg: MatcherConfig
  emit: (event: AnomalyEvent) => void
  clock: () => number
  /** the vehicle's own waybill active at t, for anomalies that do not name one */
  waybillNoAt: (v: VehicleState, t: number) => string | null
  /** which anomaly types the long rules derive (reconciled, not stepped) */
  long: ReadonlySet<AnomalyType>
}

export class AnomalyBook {
  /** the vehicle whose input is being processed (live rules report for it) */
  current: VehicleState | null = null
  /** set while replaying a late batch, so events say where they came from */
  replaying = false
  /** The sink live rules report to. */
  readonly live: AnomalySink<Tracked>
  /** The sink late replays report to: collects, merged afterwards. */
  readonly historical: AnomalySink<Tracked>
  private staged: Tracked[] = []
  private stagedVehicle: VehicleState | null = null
  private readonly cfg: MatcherConfig
  private readonly emitFn: (e: AnomalyEvent) => void
  private readonly clock: () => number
  private readonly waybillNoAt: BookOptions['waybillNoAt']
  private readonly long: ReadonlySet<AnomalyType>

  constructor(o: BookOptions) {
    this.cfg = o.cfg
    this.emitFn = o.emit
    this.clock = o.clock
    this.waybillNoAt = o.waybillNoAt
    this.long = o.long
    this.live = {
      open: (type, sub, start, t, evidence, severity) => this.open(this.current!, type, sub, start, t, evidence, severity),
      touch: (h, t, evidence, severity) => this.touch(h, t, evidence, severity),
      close: (h, end, t, evidence) => this.close(h, end, t, evidence),
    }
    this.historical = {
      open: (type, sub, start, t, evidence, severity) => {
        const tr = this.newTracked(this.stagedVehicle!, type, sub, start, t, evidence, severity, start)
        tr.staged = true
        this.staged.push(tr)
        return tr
      },
      touch: (h, t, evidence, severity) => {
        h.a.lastSeenAt = Math.max(h.a.lastSeenAt, t)
        Object.assign(h.a.evidence, evidence)
        if (severity && rank(severity) > rank(h.a.severity)) h.a.severity = severity
      },
      close: (h, end, t, evidence) => {
        Object.assign(h.a.evidence, evidence)
        h.a.status = 'closed'
        h.a.endedAt = end
        h.a.lastSeenAt = Math.max(h.a.lastSeenAt, end)
      },
      fragment: (type, sub, start, end, evidence) => {
        const tr = this.newTracked(this.stagedVehicle!, type, sub, start, end, evidence, undefined, start)
        tr.staged = true
        tr.fragment = true
        tr.a.status = 'closed'
        tr.a.endedAt = end
        this.staged.push(tr)
      },
    }
  }

  /** From here the historical sink records for v. */
  beginStaging(v: VehicleState): void {
    this.stagedVehicle = v
    this.staged = []
  }

  /** What the historical sink recorded since beginStaging(). */
  endStaging(): Tracked[] {
    const staged = this.staged
    this.staged = []
    this.stagedVehicle = null
    return staged
  }

  newTracked(
    v: VehicleState,
    type: AnomalyType,
    sub: number,
    start: number,
    t: number,
    evidence: Record<string, unknown>,
    severity: Severity | undefined,
    anchor: number,
    waybillNo: string | null = null,
  ): Tracked {
    const ref = v.id > 0 ? String(v.id) : v.key.replace('|', '-')
    const id = `${type}-${ref}-${start}${sub >= 0 ? `-${sub}` : ''}`
    const a: Anomaly = {
      id,
      type,
      status: 'open',
      severity: severity ?? this.cfg.severity[type],
      vehicleId: v.id,
      plate: v.plate,
      plateColor: v.plateColor,
      waybillNo: waybillNo ?? this.waybillNoAt(v, start),
      enterpriseLicenseNo: v.enterprise,
      startedAt: start,
      endedAt: null,
      lastSeenAt: Math.max(t, start),
      evidence: { ...evidence },
    }
    return { a, anchor, sub, lastEmit: t, restored: false, refuted: false, staged: false }
  }

  /** An anomaly found open in the store, followed as if this engine had opened it. */
  adopt(v: VehicleState, a: Anomaly, sub: number): Tracked {
    const tr: Tracked = { a: { ...a, evidence: { ...a.evidence } }, anchor: restoredAnchor(a, this.cfg), sub, lastEmit: a.lastSeenAt, restored: true, refuted: false, staged: false }
    v.anoms.push(tr)
    return tr
  }

  open(v: VehicleState, type: AnomalyType, sub: number, start: number, t: number, evidence: Record<string, unknown>, severity?: Severity, anchor = start, waybillNo: string | null = null): Tracked {
    const tr = this.newTracked(v, type, sub, start, t, evidence, severity, anchor, waybillNo)
    tr.a.id = uniqueId(v, tr.a.id)
    if (this.replaying) tr.a.evidence.lateData = true
    v.anoms.push(tr)
    this.emit(tr, 'anomaly.opened', t)
    return tr
  }

  touch(tr: Tracked, t: number, evidence: Record<string, unknown>, severity?: Severity): void {
    const a = tr.a
    if (t > a.lastSeenAt) a.lastSeenAt = t
    Object.assign(a.evidence, evidence)
    const escalated = !!severity && rank(severity) > rank(a.severity)
    if (escalated) a.severity = severity!
    if (escalated || t - tr.lastEmit >= this.cfg.updateEveryMs) this.emit(tr, 'anomaly.updated', t)
  }

  close(tr: Tracked, end: number, t: number, evidence: Record<string, unknown>): void {
    const a = tr.a
    Object.assign(a.evidence, evidence)
    if (a.status === 'closed') return
    a.status = 'closed'
    a.endedAt = Math.max(end, a.startedAt)
    if (a.endedAt > a.lastSeenAt) a.lastSeenAt = a.endedAt
    if (a.type !== 'WAYBILL_WITHOUT_POSITION') a.evidence.durationMs = a.endedAt - a.startedAt
    this.emit(tr, 'anomaly.closed', t)
  }

  emit(tr: Tracked, kind: AnomalyEventKind, t: number): void {
    tr.lastEmit = Math.max(tr.lastEmit, t)
    if (kind !== 'anomaly.closed' && tr.a.type !== 'WAYBILL_WITHOUT_POSITION' && tr.a.status === 'open') tr.a.evidence.durationMs = tr.a.lastSeenAt - tr.a.startedAt
    this.emitFn({ event: kind, anomaly: copyAnomaly(tr.a), at: this.clock() })
  }

  /** The open one of this type, if any. */
  openOf(v: VehicleState, type: AnomalyType): Tracked | undefined {
    return v.anoms.find((tr) => tr.a.type === type && tr.a.status === 'open')
  }

  // ------------------------------------------------------------------ long rules

  /** An in-order fix that did not change the timeline's shape: open long anomalies were seen again. */
  touchLong(v: VehicleState, t: number): void {
    for (const tr of v.anoms) {
      if (tr.a.status !== 'open' || !this.long.has(tr.a.type) || tr.a.type === 'WAYBILL_WITHOUT_POSITION') continue
      tr.a.lastSeenAt = t
      if (t - tr.lastEmit >= this.cfg.updateEveryMs) this.emit(tr, 'anomaly.updated', t)
    }
  }

  /** Matches the long rules' episodes with the anomalies followed: extend, close, reopen, open or refute. */
  reconcile(v: VehicleState, episodes: Episode[], late: boolean, horizon: number): void {
    const candidates = v.anoms.filter((tr) => this.long.has(tr.a.type) && !tr.refuted && (tr.a.status === 'open' || tr.anchor >= horizon))
    if (!episodes.length && !candidates.length) return
    const matched = new Set<Tracked>()
    const pairs: Array<[Episode, Tracked | null]> = []
    for (const e of episodes) {
      let best: Tracked | null = null
      let bestScore = -Infinity
      for (const tr of candidates) {
        if (tr.a.type !== e.type || matched.has(tr)) continue
        const score = tr.anchor === e.anchor ? Infinity : overlap(tr.a.startedAt, tr.a.endedAt, e.start, e.end)
        if (score > bestScore && (score > 0 || score === Infinity)) {
          best = tr
          bestScore = score
        }
      }
      if (best) matched.add(best)
      pairs.push([e, best])
    }
    for (const [e, tr] of pairs) {
      if (tr) this.applyEpisode(tr, e, late)
      else {
        const t = e.end ?? e.lastSeen
        const created = this.open(v, e.type, -1, e.start, Math.max(e.lastSeen, e.start), late ? { ...e.evidence, lateData: true } : e.evidence, undefined, e.anchor, e.waybillNo)
        if (e.end !== null) this.close(created, e.end, t, {})
      }
    }
    for (const tr of candidates) {
      if (matched.has(tr)) continue
      if (tr.restored) {
        // history from before the restart is gone: once fixes show the vehicle again, let it go
        if (!Number.isNaN(v.lastT) && tr.a.status === 'open') this.close(tr, Math.max(tr.a.startedAt, v.timeline.firstT), v.lastT, { closedBy: 'restart' })
        continue
      }
      this.refute(tr, late)
    }
  }

  private applyEpisode(tr: Tracked, e: Episode, late: boolean): void {
    const a = tr.a
    const start = tr.restored && a.startedAt < e.start ? a.startedAt : e.start
    const moved = a.startedAt !== start || (a.endedAt !== null && e.end !== null && a.endedAt !== e.end)
    if (late && moved) a.resolvedByLateData = true
    a.startedAt = start
    tr.anchor = e.anchor
    // the terminal's own fatigue alarms are news to the supervisor: announced at once, not at the next periodic update
    const dsmNews = e.evidence.dsmFatigueAlarms !== undefined && e.evidence.dsmFatigueAlarms !== a.evidence.dsmFatigueAlarms
    Object.assign(a.evidence, e.evidence)
    if (e.waybillNo && !a.waybillNo) a.waybillNo = e.waybillNo
    const t = Math.max(a.lastSeenAt, e.lastSeen)
    if (a.status === 'open' && e.end !== null) {
      if (late && (a.type === 'WAYBILL_WITHOUT_POSITION' || a.type === 'RUNNING_WITHOUT_WAYBILL')) a.resolvedByLateData = true
      this.close(tr, e.end, t, {})
      return
    }
    if (a.status === 'closed' && e.end === null) {
      a.status = 'open'
      a.endedAt = null
      a.lastSeenAt = t
      this.emit(tr, 'anomaly.updated', t)
      return
    }
    if (a.status === 'closed' && a.endedAt !== e.end) {
      a.endedAt = e.end
      a.lastSeenAt = Math.max(a.lastSeenAt, e.end ?? 0)
      this.emit(tr, 'anomaly.updated', t)
      return
    }
    a.lastSeenAt = t
    if (moved || dsmNews || t - tr.lastEmit >= this.cfg.updateEveryMs) this.emit(tr, 'anomaly.updated', t)
  }

  /** New data shows it did not happen: closed with no duration, kept for the record. */
  private refute(tr: Tracked, late: boolean): void {
    const a = tr.a
    tr.refuted = true
    a.evidence.refuted = true
    if (late) a.resolvedByLateData = true
    a.endedAt = a.startedAt
    if (a.status === 'open') {
      a.status = 'closed'
      this.emit(tr, 'anomaly.closed', a.lastSeenAt)
    } else this.emit(tr, 'anomaly.updated', a.lastSeenAt)
  }
}

/** The id, or the id with ~2, ~3, … when the vehicle already follows one so named. */
export function uniqueId(v: VehicleState, id: string): string {
  if (!v.anoms.some((tr) => tr.a.id === id)) return id
  for (let n = 2; ; n++) {
    const candidate = `${id}~${n}`
    if (!v.anoms.some((tr) => tr.a.id === candidate)) return candidate
  }
}

export function rank(s: Severity): number {
  return s === 'critical' ? 2 : s === 'warning' ? 1 : 0
}

function overlap(s1: number, e1: number | null, s2: number, e2: number | null): number {
  const a = Math.max(s1, s2)
  const b = Math.min(e1 ?? Infinity, e2 ?? Infinity)
  if (b > a) return b - a
  // touching zero-length intervals still belong together
  return b === a ? 0.5 : b - a
}

/** A copy for an event: later changes to the followed anomaly must not show in events already sent. */
export function copyAnomaly(a: Anomaly): Anomaly {
  const evidence: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(a.evidence)) evidence[k] = Array.isArray(v) ? v.slice() : v
  return { ...a, evidence }
}

/** Where the history an anomaly stands on begins (its run, its night, its day). */
export function restoredAnchor(a: Anomaly, cfg: MatcherConfig): number {
  switch (a.type) {
    case 'FATIGUE_DRIVING':
      return typeof a.evidence.runStartedAt === 'number' ? a.evidence.runStartedAt : a.startedAt - cfg.continuousDrivingMs
    case 'NIGHT_FATIGUE_DRIVING':
      return a.startedAt - cfg.nightDrivingMs
    case 'DAILY_DRIVING_EXCEEDED':
      return beijingDayStart(a.startedAt)
    default:
      return a.startedAt
  }
}
