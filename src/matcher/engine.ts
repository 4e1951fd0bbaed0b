/**
 * The matcher engine: pure and deterministic, no I/O. It is fed committed positions, waybill
 * changes, driver-card events, platform alarm confirmations and a clock tick, and reports
 * AnomalyEvents (opened / updated / closed) through a callback.
 *
 * Everything is judged in device time, per vehicle. A fix older than the vehicle's newest is
 * late (blind-area batches, retransmissions): it is held until flushLate() (the service calls
 * it after each batch, tick() calls it too), then replayed on its own — point rules on fresh
 * state, and the timeline GAP it falls in is spliced, so absence and driving-time anomalies
 * that the gap produced are shortened, closed or refuted (resolvedByLateData) and nothing false
 * is opened.
 *
 * Per vehicle the state is a few dozen numbers, a short timeline, and the rule objects that are
 * currently busy (created on demand, dropped when idle).
 */
import type { Anomaly, AnomalyEvent, AnomalyEventKind, AnomalyType, CommittedPosition, DriverCardEvent, Severity } from '../domain.js'
import { distanceKm } from '../geo.js'
import { DEFAULT_MATCHER_CONFIG, type MatcherConfig } from './config.js'
import { Polyline } from './geo.js'
import { deriveLongRules, type Cover, type Episode } from './long-rules.js'
import { AlarmRule, DriftRule, NightBanRule, OverspeedRule, RouteDeviationRule, type AnomalySink, type Fix } from './rules.js'
import { beijingDayStart, DAY, inDailyWindow, parseClock } from '../domain.js'
import { GAP, Motion, Timeline } from './timeline.js'
import { invalidReason } from './validity.js'
import { restoreRule, snapshotRule, SNAPSHOT_VERSION, type RuleSnapshot, type VehicleSnapshot } from './snapshot.js'
import { activeIntervals, normalizeQualification, plateKey, type VehicleRef, type Waybill } from '../domain.js'
import { NO_ZONES, type ZoneLookup } from './zones.js'

export const LONG_RULES: readonly AnomalyType[] = [
  'FATIGUE_DRIVING', 'NIGHT_FATIGUE_DRIVING', 'DAILY_DRIVING_EXCEEDED', 'RUNNING_WITHOUT_WAYBILL', 'WAYBILL_WITHOUT_POSITION',
]
const LONG = new Set<AnomalyType>(LONG_RULES)

export interface EngineOptions {
  config?: MatcherConfig
  zones?: ZoneLookup
  /** receives every event, synchronously, in order */
  emit: (event: AnomalyEvent) => void
  /** wall clock for AnomalyEvent.at (default Date.now) */
  clock?: () => number
  /**
   * Since when the matcher has been watching: an active waybill whose vehicle sent nothing is
   * only judged from here. Default: the first tick, or the first fix seen.
   */
  since?: number
}

export interface EngineStats {
  positions: number
  invalid: number
  drift: number
  duplicates: number
  late: number
  tooLate: number
  vehicles: number
  waybills: number
  openAnomalies: number
}

/** An anomaly the engine is following. */
interface Tracked {
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

interface WaybillEntry {
  no: string
  key: string
  trailerKey: string | null
  intervals: Array<[number, number]>
  driverQ: string
  escortQ: string
  route: Polyline | null
  corridorKm: number
  carrier: string
}

export interface Card {
  q: string
  name: string | null
  at: number
}

class VehicleState {
  id: number
  plate: string
  plateColor: number
  key: string
  enterprise: string | null
  /** newest device time processed (any fix with a valid time): the late-data watermark */
  wm = -Infinity
  /** newest valid fix */
  lastT = NaN
  lastLat = 0
  lastLon = 0
  lastSpeed = 0
  readonly timeline: Timeline
  readonly motion: Motion
  /** device time at which the long rules must be recomputed */
  deadline = Infinity
  /** wall-clock time the next tick must look at this vehicle */
  tickDue = Infinity
  silenceOpen = false
  overspeed: OverspeedRule<Tracked> | null = null
  route: RouteDeviationRule<Tracked> | null = null
  routeHint = 0
  drift: DriftRule<Tracked> | null = null
  /** consecutive rejected fixes that agree with each other */
  driftAgree = 0
  rejT = NaN
  rejLat = 0
  rejLon = 0
  nightBans: Array<NightBanRule<Tracked> | null> | null = null
  alarms: AlarmRule<Tracked> | null = null
  card: Card | null = null
  /** device times of the terminal's own DSM fatigue alarms (item 0x65 type 1), sorted, bounded: evidence for the fatigue rules */
  dsmFatigue: number[] = []
  anoms: Tracked[] = []
  late: CommittedPosition[] | null = null
  /** in-order blind-area fixes arrived: the long rules are judged at the next flushLate() */
  deferDerive = false
  /** listed for the next flushLate() */
  queued = false
  coverVersion = -1
  /** engine-wide waybill version when coverVersion was last checked */
  coverSeen = -1
  cover: Cover[] = []
  ownCover: Cover[] = []
  entries: WaybillEntry[] = []

  constructor(ref: VehicleRef, cfg: MatcherConfig) {
    this.id = ref.id
    this.plate = ref.plate
    this.plateColor = ref.plateColor
    this.key = plateKey(ref.plate, ref.plateColor)
    this.enterprise = ref.enterpriseLicenseNo ?? null
    this.timeline = new Timeline(cfg)
    this.motion = new Motion(this.timeline, cfg)
  }
}

export class MatcherEngine {
  readonly cfg: MatcherConfig
  private zones: ZoneLookup
  private hasZones: boolean
  private readonly emitFn: (e: AnomalyEvent) => void
  private readonly clock: () => number
  private since: number
  private readonly byId = new Map<number, VehicleState>()
  private readonly byKey = new Map<string, VehicleState>()
  private readonly waybills = new Map<string, WaybillEntry>()
  private readonly waybillsByKey = new Map<string, WaybillEntry[]>()
  private readonly keyVersion = new Map<string, number>()
  private waybillVersion = 0
  private lastWaybillPrune = -Infinity
  private lateDirty: VehicleState[] = []
  private readonly nightBanClock: Array<[number, number]>
  private counters = { positions: 0, invalid: 0, drift: 0, duplicates: 0, late: 0, tooLate: 0 }
  /** set while replaying a late batch, so events say where they came from */
  private replaying = false
  /** newest tick time (wall clock) */
  private lastTick = -Infinity
  /** vehicles whose state changed since takeChanged() (checkpoints) */
  private changed = new Set<VehicleState>()

  /** The sink live rules report to. */
  private readonly live: AnomalySink<Tracked>
  /** The sink late replays report to: collects, merged afterwards. */
  private staged: Tracked[] = []
  private stagedVehicle: VehicleState | null = null
  private readonly historical: AnomalySink<Tracked>

  constructor(opts: EngineOptions) {
    this.cfg = opts.config ?? DEFAULT_MATCHER_CONFIG
    this.zones = opts.zones ?? NO_ZONES
    this.hasZones = this.zones !== NO_ZONES
    this.emitFn = opts.emit
    this.clock = opts.clock ?? Date.now
    this.since = opts.since ?? NaN
    this.nightBanClock = this.cfg.nightBans.map((w) => [parseClock(w.from) ?? 0, parseClock(w.to) ?? 0])
    const self = this
    this.live = {
      open: (type, sub, start, t, evidence, severity) => self.openAnomaly(self.current!, type, sub, start, t, evidence, severity),
      touch: (h, t, evidence, severity) => self.touch(h, t, evidence, severity),
      close: (h, end, t, evidence) => self.closeAnomaly(h, end, t, evidence),
    }
    this.historical = {
      open: (type, sub, start, t, evidence, severity) => {
        const v = self.stagedVehicle!
        const tr = self.newTracked(v, type, sub, start, t, evidence, severity, start)
        tr.staged = true
        self.staged.push(tr)
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
        const v = self.stagedVehicle!
        const tr = self.newTracked(v, type, sub, start, end, evidence, undefined, start)
        tr.staged = true
        tr.fragment = true
        tr.a.status = 'closed'
        tr.a.endedAt = end
        self.staged.push(tr)
      },
    }
  }

  /** the vehicle whose input is being processed (rules report for it) */
  private current: VehicleState | null = null

  // ------------------------------------------------------------------ inputs

  /** One committed position. Late ones are held for flushLate(). */
  position(p: CommittedPosition): void {
    this.counters.positions++
    const v = this.vehicleFor(p)
    const t = p.deviceTime
    if (Number.isNaN(this.since)) this.since = t
    // A time in the future is not a time we can order by: the fix is only counted.
    if (!(t <= p.receivedAt + this.cfg.futureSkewMs)) {
      this.counters.invalid++
      return
    }
    if (t <= v.wm) {
      if (t === v.wm) {
        this.counters.duplicates++
        return
      }
      if (t < v.wm - this.cfg.lateHorizonMs) {
        this.counters.tooLate++
        return
      }
      this.counters.late++
      // a late DSM fatigue alarm changes no timeline but the fatigue evidence: judged at flushLate()
      if (noteDsmFatigue(v, p)) v.deferDerive = true
      ;(v.late ??= []).push(p)
      this.markDirty(v)
      return
    }
    v.wm = t
    this.current = v
    const dsm = noteDsmFatigue(v, p)
    if (this.cfg.enabled.TERMINAL_ALARM && (p.alarm !== 0 || v.alarms)) {
      const rule = (v.alarms ??= new AlarmRule(this.live, this.cfg))
      rule.step(t, p.alarm)
      if (rule.idle) v.alarms = null
    }
    if (invalidReason(p, this.cfg) !== null) {
      this.counters.invalid++
      this.schedule(v)
      return
    }
    if (!Number.isNaN(v.lastT) && this.judgeDrift(v, p)) {
      this.schedule(v)
      return
    }
    const changed = v.motion.push(t, p.latitude, p.longitude, p.speed)
    v.lastT = t
    v.lastLat = p.latitude
    v.lastLon = p.longitude
    v.lastSpeed = p.speed
    this.pointRules(v, p, this.live)
    if (p.blindArea) {
      // blind-area data arriving in order is still late data: judge the batch once, at flushLate()
      v.deferDerive = true
      this.markDirty(v)
    } else if (changed || dsm || t >= v.deadline || v.silenceOpen || v.deferDerive) {
      v.deferDerive = false
      this.deriveLong(v, t, false)
    } else this.touchLong(v, t)
    this.schedule(v)
  }

  /**
   * A waybill was created, changed status, or was edited. `vehicle` is its vehicle from the
   * registry when known. watch = false: index it (for vehicles this engine follows, e.g. as
   * trailer) but do not start watching its own vehicle — another process owns that one.
   */
  waybill(w: Waybill, vehicle?: VehicleRef, watch = true): void {
    const entry: WaybillEntry = {
      no: w.waybillNo,
      key: plateKey(w.plate, w.plateColor),
      trailerKey: w.trailerPlate ? plateKey(w.trailerPlate, w.plateColor) : null,
      intervals: activeIntervals(w, this.cfg.waybillGraceMs),
      driverQ: normalizeQualification(w.driverQualificationNo),
      escortQ: normalizeQualification(w.escortQualificationNo),
      route: w.plannedRoute && w.plannedRoute.coordinates.length >= 2 ? new Polyline(w.plannedRoute.coordinates) : null,
      corridorKm: w.corridorKm ?? this.cfg.defaultCorridorKm,
      carrier: w.carrierLicenseNo,
    }
    const old = this.waybills.get(w.waybillNo)
    if (old) this.unindex(old)
    if (entry.intervals.length) {
      this.waybills.set(entry.no, entry)
      this.index(entry)
    } else this.waybills.delete(entry.no)
    const keys = new Set([entry.key, entry.trailerKey, old?.key, old?.trailerKey].filter((k): k is string => !!k))
    // the vehicle of a waybill is watched even before its first fix (WAYBILL_WITHOUT_POSITION)
    if (watch && entry.intervals.length && !this.byKey.has(entry.key)) {
      const ref: VehicleRef = vehicle ?? { id: 0, plate: w.plate, plateColor: w.plateColor, enterpriseLicenseNo: w.carrierLicenseNo }
      const v = new VehicleState(ref, this.cfg)
      if (!v.enterprise) v.enterprise = w.carrierLicenseNo
      this.byKey.set(v.key, v)
      if (v.id > 0) this.byId.set(v.id, v)
    }
    // the change itself says what time it is at least (a dispatch at 08:04 is news at 08:04)
    const changedAt = w.updatedAt
    for (const k of keys) {
      const v = this.byKey.get(k)
      if (!v) continue
      this.current = v
      const now = Math.max(this.nowFor(v), changedAt)
      this.deriveLong(v, now, false)
      this.checkDriver(v, now)
      this.schedule(v)
    }
  }

  /** A waybill deleted outright (not a lifecycle move). */
  removeWaybill(waybillNo: string): void {
    const old = this.waybills.get(waybillNo)
    if (!old) return
    this.unindex(old)
    this.waybills.delete(waybillNo)
    for (const k of [old.key, old.trailerKey]) {
      const v = k ? this.byKey.get(k) : undefined
      if (!v) continue
      this.current = v
      const now = this.nowFor(v)
      this.deriveLong(v, now, false)
      this.checkDriver(v, now)
      this.schedule(v)
    }
  }

  /** 0x0702: a driver card inserted (status 1) or removed (2). */
  driverCard(e: DriverCardEvent): void {
    const v = this.byId.get(e.vehicleId)
    if (!v) return
    this.current = v
    if (e.status === 1 && (e.readResult === 0 || e.readResult === null) && e.qualificationNo) {
      const q = normalizeQualification(e.qualificationNo)
      if (v.card && v.card.q !== q) this.closeDriverAnomaly(v, e.time, 'card-changed')
      v.card = { q, name: e.driverName, at: e.time }
    } else if (e.status === 2) {
      this.closeDriverAnomaly(v, e.time, 'card-removed')
      v.card = null
    }
    this.checkDriver(v, e.time)
    this.schedule(v)
  }

  /** The platform confirmed alarm bits with 0x8203. */
  alarmConfirmed(vehicleId: number, bits: number, at: number): void {
    const v = this.byId.get(vehicleId)
    if (!v || !v.alarms) return
    this.current = v
    v.alarms.confirm(bits >>> 0, at)
    this.changed.add(v)
  }

  /** Wall-clock progress: silences, rests, day ends and merge windows that ran out. */
  tick(now: number): void {
    if (Number.isNaN(this.since)) this.since = now
    if (now > this.lastTick) this.lastTick = now
    this.flushLate()
    for (const v of this.byKey.values()) {
      if (v.tickDue > now) continue
      this.current = v
      v.overspeed?.tick(now)
      if (v.overspeed?.idle) v.overspeed = null
      this.deriveLong(v, now, false)
      this.checkDriver(v, now)
      this.forget(v, now)
      this.schedule(v, now)
    }
    this.pruneWaybills(now)
  }

  private markDirty(v: VehicleState): void {
    if (v.queued) return
    v.queued = true
    this.lateDirty.push(v)
  }

  /** Replays the late fixes held since the last call. */
  flushLate(): void {
    const dirty = this.lateDirty
    if (!dirty.length) return
    this.lateDirty = []
    for (const v of dirty) {
      v.queued = false
      const batch = v.late
      v.late = null
      if (batch && batch.length) this.replayLate(v, batch)
      if (v.deferDerive) {
        v.deferDerive = false
        this.current = v
        this.deriveLong(v, this.nowFor(v), true)
        this.schedule(v)
      }
    }
  }

  /**
   * Anomalies found open in the store at start: they are followed (and closed) as if this
   * engine had opened them.
   */
  restore(open: Anomaly[]): void {
    for (const a of open) {
      if (a.status !== 'open') continue
      let v = this.byId.get(a.vehicleId) ?? this.byKey.get(plateKey(a.plate, a.plateColor))
      if (!v) {
        v = new VehicleState({ id: a.vehicleId, plate: a.plate, plateColor: a.plateColor, enterpriseLicenseNo: a.enterpriseLicenseNo }, this.cfg)
        this.byKey.set(v.key, v)
        if (v.id > 0) this.byId.set(v.id, v)
      }
      // rebuilt from a checkpoint and the positions since: the engine knows its history
      if (v.anoms.some((tr) => tr.a.id === a.id)) continue
      const tr: Tracked = { a: { ...a, evidence: { ...a.evidence } }, anchor: restoredAnchor(a, this.cfg), sub: restoredSub(a), lastEmit: a.lastSeenAt, restored: true, refuted: false, staged: false }
      v.anoms.push(tr)
      if (a.type === 'TERMINAL_ALARM' && typeof a.evidence.bit === 'number') {
        const rule = (v.alarms ??= new AlarmRule(this.live, this.cfg))
        rule.open.set(a.evidence.bit, tr)
        rule.bits = (rule.bits | (1 << a.evidence.bit)) >>> 0
      }
      if (a.type === 'WAYBILL_WITHOUT_POSITION') v.silenceOpen = true
      // a point rule's state is not in the store: it cannot be carried on, so it ends where it was last seen
      if (!LONG.has(a.type) && a.type !== 'TERMINAL_ALARM') this.closeAnomaly(tr, a.lastSeenAt, a.lastSeenAt, { closedBy: 'restart' })
      v.tickDue = -Infinity
    }
  }

  /**
   * Stops following the vehicles `drop` selects (their partition moved to another process). Their
   * open anomalies stay open in the store; the next owner restores them.
   */
  dropVehicles(drop: (vehicleId: number, plate: string, plateColor: number) => boolean): number {
    let n = 0
    for (const v of [...this.byKey.values()]) {
      if (!drop(v.id, v.plate, v.plateColor)) continue
      if (this.byKey.get(v.key) === v) this.byKey.delete(v.key)
      if (this.byId.get(v.id) === v) this.byId.delete(v.id)
      this.changed.delete(v)
      n++
    }
    this.lateDirty = this.lateDirty.filter((v) => this.byKey.get(v.key) === v)
    return n
  }

  // ------------------------------------------------------------------ checkpoints

  /** Ids of the registered vehicles whose state changed since the last call. */
  takeChanged(): number[] {
    const out: number[] = []
    for (const v of this.changed) if (v.id > 0 && this.byId.get(v.id) === v) out.push(v.id)
    this.changed.clear()
    return out
  }

  /**
   * The vehicle's state as plain data (snapshot.ts), or null when the engine does not follow it
   * or it has late fixes waiting for flushLate() (checkpoint after the batch, not inside it).
   * A view of the live state, not a copy: encode it before the engine is fed again.
   */
  snapshotVehicle(vehicleId: number): VehicleSnapshot | null {
    const v = this.byId.get(vehicleId)
    if (!v || v.id <= 0 || v.late || v.deferDerive) return null
    const indexOf = (h: Tracked) => v.anoms.indexOf(h)
    const rule = (r: Parameters<typeof snapshotRule<Tracked>>[0] | null): RuleSnapshot | null => (r ? snapshotRule(r, indexOf) : null)
    const m = v.motion
    return {
      version: SNAPSHOT_VERSION,
      id: v.id, plate: v.plate, plateColor: v.plateColor, enterprise: v.enterprise,
      wm: v.wm, lastT: v.lastT, lastLat: v.lastLat, lastLon: v.lastLon, lastSpeed: v.lastSpeed,
      timeline: { items: v.timeline.items, pruned: v.timeline.pruned, firstT: v.timeline.firstT },
      motion: { t: m.t, lat: m.lat, lon: m.lon, speed: m.speed, driving: m.driving, pendStart: m.pendStart, pendEnd: m.pendEnd, pendKm: m.pendKm },
      deadline: v.deadline, silenceOpen: v.silenceOpen, routeHint: v.routeHint,
      driftAgree: v.driftAgree, rejT: v.rejT, rejLat: v.rejLat, rejLon: v.rejLon, card: v.card,
      dsmFatigue: v.dsmFatigue,
      anoms: v.anoms.map((tr) => ({ a: tr.a, anchor: tr.anchor, sub: tr.sub, lastEmit: tr.lastEmit, restored: tr.restored, refuted: tr.refuted })),
      overspeed: rule(v.overspeed), route: rule(v.route), drift: rule(v.drift),
      nightBans: v.nightBans ? v.nightBans.map((r) => rule(r)) : null,
      alarms: v.alarms ? { bits: v.alarms.bits, confirmed: v.alarms.confirmed, lastT: v.alarms.lastT, open: [...v.alarms.open].map(([b, h]) => [b, indexOf(h)] as [number, number]) } : null,
    }
  }

  /**
   * Follows a vehicle from its snapshot, replacing what the engine held for it: the next fixes
   * continue its runs, days and open anomalies as if this engine had seen everything before.
   * The engine takes the snapshot's objects over (a decoded one; clone one you keep using).
   */
  restoreVehicle(s: VehicleSnapshot): void {
    const v = new VehicleState({ id: s.id, plate: s.plate, plateColor: s.plateColor, enterpriseLicenseNo: s.enterprise }, this.cfg)
    for (const old of [this.byId.get(s.id), this.byKey.get(v.key)]) {
      if (!old) continue
      if (this.byKey.get(old.key) === old) this.byKey.delete(old.key)
      if (this.byId.get(old.id) === old) this.byId.delete(old.id)
      this.changed.delete(old)
    }
    this.lateDirty = this.lateDirty.filter((x) => this.byKey.get(x.key) === x)
    v.wm = s.wm
    v.lastT = s.lastT
    v.lastLat = s.lastLat
    v.lastLon = s.lastLon
    v.lastSpeed = s.lastSpeed
    v.timeline.items = s.timeline.items
    v.timeline.pruned = s.timeline.pruned
    v.timeline.firstT = s.timeline.firstT
    v.dsmFatigue = s.dsmFatigue ?? []
    Object.assign(v.motion, s.motion)
    v.deadline = s.deadline
    v.silenceOpen = s.silenceOpen
    v.routeHint = s.routeHint
    v.driftAgree = s.driftAgree
    v.rejT = s.rejT
    v.rejLat = s.rejLat
    v.rejLon = s.rejLon
    v.card = s.card
    v.anoms = s.anoms.map((t) => ({ ...t, staged: false }))
    const at = (i: number) => v.anoms[i] ?? null
    if (s.overspeed) v.overspeed = restoreRule(new OverspeedRule(this.live, this.cfg), s.overspeed, at)
    if (s.route) v.route = restoreRule(new RouteDeviationRule(this.live, this.cfg), s.route, at)
    if (s.drift) v.drift = restoreRule(new DriftRule(this.live, this.cfg), s.drift, at)
    if (s.nightBans) {
      v.nightBans = this.cfg.nightBans.map((w, i) => {
        const r = s.nightBans![i]
        return r ? restoreRule(new NightBanRule(this.live, this.cfg, i, w), r, at) : null
      })
    }
    if (s.alarms) {
      const rule = new AlarmRule(this.live, this.cfg)
      rule.bits = s.alarms.bits
      rule.confirmed = s.alarms.confirmed
      rule.lastT = s.alarms.lastT
      for (const [b, i] of s.alarms.open) {
        const h = at(i)
        if (h) rule.open.set(b, h)
      }
      v.alarms = rule
    }
    this.byKey.set(v.key, v)
    this.byId.set(v.id, v)
    v.tickDue = -Infinity
  }

  /** Newest device time the engine processed for the vehicle (-Infinity: none). */
  watermark(vehicleId: number): number {
    return this.byId.get(vehicleId)?.wm ?? -Infinity
  }

  /** True when the engine follows this vehicle. */
  hasVehicle(vehicleId: number): boolean {
    return this.byId.has(vehicleId)
  }

  /** New geofences (the API added or changed some): used from the next fix on. */
  setZones(zones: ZoneLookup): void {
    this.zones = zones
    this.hasZones = zones !== NO_ZONES
  }

  // ------------------------------------------------------------------ queries

  openAnomalies(vehicleId?: number): Anomaly[] {
    const out: Anomaly[] = []
    const scan = (v: VehicleState) => {
      for (const tr of v.anoms) if (tr.a.status === 'open') out.push(snapshot(tr.a))
    }
    if (vehicleId !== undefined) {
      const v = this.byId.get(vehicleId)
      if (v) scan(v)
    } else for (const v of this.byKey.values()) scan(v)
    return out
  }

  /** The waybill active for the vehicle at t (as plate, not trailer), if any. */
  activeWaybillNo(vehicleId: number, t: number): string | null {
    const v = this.byId.get(vehicleId)
    if (!v) return null
    this.refreshCover(v)
    return coverAt(v.ownCover, t)?.waybillNo ?? null
  }

  stats(): EngineStats {
    let open = 0
    for (const v of this.byKey.values()) for (const tr of v.anoms) if (tr.a.status === 'open') open++
    return { ...this.counters, vehicles: this.byKey.size, waybills: this.waybills.size, openAnomalies: open }
  }

  // ------------------------------------------------------------------ vehicles

  private vehicleFor(p: CommittedPosition): VehicleState {
    let v = this.byId.get(p.vehicleId)
    if (v) {
      if (v.plate !== p.plate || v.plateColor !== p.plateColor) this.rekey(v, p.plate, p.plateColor)
      if (p.enterpriseLicenseNo) v.enterprise = p.enterpriseLicenseNo
      return v
    }
    const key = plateKey(p.plate, p.plateColor)
    v = this.byKey.get(key)
    if (v && v.id <= 0) {
      // first fix of a vehicle known so far only from its waybill
      v.id = p.vehicleId
      v.plate = p.plate
      for (const tr of v.anoms) tr.a.vehicleId = p.vehicleId
    } else if (!v || v.id !== p.vehicleId) {
      v = new VehicleState({ id: p.vehicleId, plate: p.plate, plateColor: p.plateColor, enterpriseLicenseNo: p.enterpriseLicenseNo }, this.cfg)
      this.byKey.set(key, v)
    }
    if (p.enterpriseLicenseNo) v.enterprise = p.enterpriseLicenseNo
    this.byId.set(p.vehicleId, v)
    return v
  }

  private rekey(v: VehicleState, plate: string, color: number): void {
    if (this.byKey.get(v.key) === v) this.byKey.delete(v.key)
    v.plate = plate
    v.plateColor = color
    v.key = plateKey(plate, color)
    v.coverVersion = -1
    v.coverSeen = -1
    this.byKey.set(v.key, v)
  }

  /** Drops a vehicle that has said nothing for long and has nothing open or pending. */
  private forget(v: VehicleState, now: number): void {
    const cutoff = now - this.cfg.lateHorizonMs
    v.anoms = v.anoms.filter((tr) => tr.a.status === 'open' || (tr.a.endedAt ?? Infinity) >= cutoff)
    const quiet = (Number.isNaN(v.lastT) ? v.wm : v.lastT) < now - 2 * this.cfg.lateHorizonMs
    if (quiet && !v.anoms.length && !v.late && !v.card && !this.waybillsByKey.has(v.key)) {
      if (this.byKey.get(v.key) === v) this.byKey.delete(v.key)
      if (this.byId.get(v.id) === v) this.byId.delete(v.id)
      // (an engine nobody takes changes from must not keep forgotten vehicles alive)
      this.changed.delete(v)
    }
  }

  // ------------------------------------------------------------------ waybills

  private index(e: WaybillEntry): void {
    for (const k of [e.key, e.trailerKey]) {
      if (!k) continue
      const list = this.waybillsByKey.get(k)
      if (list) list.push(e)
      else this.waybillsByKey.set(k, [e])
      this.keyVersion.set(k, (this.keyVersion.get(k) ?? 0) + 1)
    }
    this.waybillVersion++
  }

  private unindex(e: WaybillEntry): void {
    for (const k of [e.key, e.trailerKey]) {
      if (!k) continue
      const list = this.waybillsByKey.get(k)
      if (list) {
        const rest = list.filter((x) => x !== e)
        if (rest.length) this.waybillsByKey.set(k, rest)
        else this.waybillsByKey.delete(k)
      }
      this.keyVersion.set(k, (this.keyVersion.get(k) ?? 0) + 1)
    }
    this.waybillVersion++
  }

  private pruneWaybills(now: number): void {
    if (now - this.lastWaybillPrune < 3_600_000) return
    this.lastWaybillPrune = now
    const cutoff = now - this.cfg.lateHorizonMs
    for (const e of this.waybills.values()) {
      if (e.intervals.every(([, b]) => b < cutoff)) {
        this.unindex(e)
        this.waybills.delete(e.no)
      }
    }
  }

  private refreshCover(v: VehicleState): void {
    // one comparison per fix while no waybill anywhere changed; a Map lookup only after a change
    if (v.coverSeen === this.waybillVersion) return
    v.coverSeen = this.waybillVersion
    const version = this.keyVersion.get(v.key) ?? 0
    if (v.coverVersion === version) return
    v.coverVersion = version
    v.entries = this.waybillsByKey.get(v.key) ?? []
    v.cover = union(v.entries, () => true)
    // usually the vehicle is no one's trailer: share the list
    v.ownCover = v.entries.every((e) => e.key === v.key) ? v.cover : union(v.entries, (e) => e.key === v.key)
  }

  private ownEntryAt(v: VehicleState, t: number): WaybillEntry | null {
    this.refreshCover(v)
    for (const e of v.entries) {
      if (e.key !== v.key) continue
      for (const [a, b] of e.intervals) if (t >= a && t < b) return e
    }
    return null
  }

  // ------------------------------------------------------------------ point rules

  /** true when the fix is drift (and therefore not used further) */
  private judgeDrift(v: VehicleState, p: CommittedPosition): boolean {
    const dt = p.deviceTime - v.lastT
    const km = distanceKm(v.lastLat, v.lastLon, p.latitude, p.longitude)
    const implied = (km / dt) * 3_600_000
    const isDrift = implied > this.cfg.driftSpeedKmh && km > this.cfg.driftMinKm
    if (!isDrift) {
      v.driftAgree = 0
      v.rejT = NaN
      if (v.drift) {
        v.drift.step(p, false, 0, 0, null)
        if (v.drift.idle) v.drift = null
      }
      return false
    }
    this.counters.drift++
    // rejected fixes that agree with each other point at a bad anchor
    if (!Number.isNaN(v.rejT)) {
      const rkm = distanceKm(v.rejLat, v.rejLon, p.latitude, p.longitude)
      const rImplied = (rkm / (p.deviceTime - v.rejT)) * 3_600_000
      v.driftAgree = rImplied <= this.cfg.driftSpeedKmh || rkm <= this.cfg.driftMinKm ? v.driftAgree + 1 : 0
    }
    v.rejT = p.deviceTime
    v.rejLat = p.latitude
    v.rejLon = p.longitude
    if (v.driftAgree + 1 >= this.cfg.driftReanchorPoints && this.cfg.driftReanchorPoints > 0) {
      // trust the newcomers: what lies between is unknown
      if (v.drift) {
        Object.assign(v.drift.handle?.a.evidence ?? {}, { reanchored: true })
        v.drift.step(p, false, 0, 0, null)
        v.drift = null
      }
      v.motion.flush()
      v.timeline.appendGap(v.lastT, p.deviceTime, v.lastLat, v.lastLon, v.lastSpeed, p.latitude, p.longitude, p.speed)
      v.motion.seed(p.deviceTime, p.latitude, p.longitude, p.speed)
      v.lastT = p.deviceTime
      v.lastLat = p.latitude
      v.lastLon = p.longitude
      v.lastSpeed = p.speed
      v.driftAgree = 0
      v.rejT = NaN
      this.deriveLong(v, p.deviceTime, false)
      return true
    }
    if (this.cfg.enabled.POSITION_DRIFT) {
      const rule = (v.drift ??= new DriftRule(this.live, this.cfg))
      rule.step(p, true, implied, km, [round6(v.lastLon), round6(v.lastLat), v.lastT])
    }
    return true
  }

  private pointRules(v: VehicleState, p: Fix, sink: AnomalySink<Tracked>, state: PointState = v): void {
    const cfg = this.cfg
    if (cfg.enabled.OVERSPEED) {
      let limit = cfg.defaultSpeedLimitKmh
      let zone: string | null = null
      if (this.hasZones) {
        const hit = this.zones.speedLimitAt(p.longitude, p.latitude)
        if (hit && hit.limitKmh < limit) {
          limit = hit.limitKmh
          zone = hit.zoneId
        }
      }
      if (p.speed > limit || state.overspeed) {
        const rule = (state.overspeed ??= new OverspeedRule(sink, cfg))
        rule.step(p, limit, zone)
        if (rule.idle) state.overspeed = null
      }
    }
    if (cfg.enabled.ROUTE_DEVIATION && (v.ownCover.length || v.coverSeen !== this.waybillVersion)) {
      const e = this.ownEntryAt(v, p.deviceTime)
      if (e && e.route) {
        const r = e.route.distanceKm(p.latitude, p.longitude, state.routeHint, e.corridorKm)
        state.routeHint = r.segment
        if (r.km > e.corridorKm || state.route) {
          const rule = (state.route ??= new RouteDeviationRule(sink, cfg))
          rule.step(p, r.km, e.corridorKm, e.no)
          if (rule.idle) state.route = null
        }
      } else if (state.route) {
        state.route.finish(p.deviceTime)
        state.route = null
      }
    }
    if (cfg.enabled.NIGHT_DRIVING_RESTRICTED && cfg.nightBans.length) {
      const rules = (state.nightBans ??= cfg.nightBans.map(() => null))
      for (let i = 0; i < cfg.nightBans.length; i++) {
        const w = cfg.nightBans[i]
        const [from, to] = this.nightBanClock[i]
        const inBan = inDailyWindow(p.deviceTime, from, to) && (!w.zone || this.zones.inZone(w.zone, p.longitude, p.latitude))
        if (!inBan && !rules[i]) continue
        const rule = (rules[i] ??= new NightBanRule(sink, cfg, i, w))
        rule.step(p, inBan)
        if (rule.idle) rules[i] = null
      }
    }
  }

  // ------------------------------------------------------------------ driver check

  private checkDriver(v: VehicleState, t: number): void {
    if (!this.cfg.enabled.DRIVER_NOT_ON_WAYBILL) return
    const open = v.anoms.find((tr) => tr.a.type === 'DRIVER_NOT_ON_WAYBILL' && tr.a.status === 'open')
    const e = v.card ? this.ownEntryAt(v, Math.max(t, v.card.at)) : null
    const mismatch = !!(v.card && e && v.card.q !== e.driverQ && v.card.q !== e.escortQ)
    if (mismatch && !open && v.card && e) {
      const from = Math.max(v.card.at, coverStartOf(e, Math.max(t, v.card.at)))
      this.current = v
      this.openAnomaly(v, 'DRIVER_NOT_ON_WAYBILL', -1, from, t, {
        card: { qualificationNo: v.card.q, driverName: v.card.name, insertedAt: v.card.at },
        waybillNo: e.no,
        waybillDriverQualificationNo: e.driverQ,
        waybillEscortQualificationNo: e.escortQ,
      })
    } else if (!mismatch && open) {
      const end = e || !v.card ? t : Math.min(t, coverEndBefore(v.ownCover, t))
      this.closeAnomaly(open, end, t, { closedBy: !v.card ? 'card-removed' : e ? 'matching-card' : 'waybill-ended' })
    }
  }

  private closeDriverAnomaly(v: VehicleState, t: number, why: string): void {
    const open = v.anoms.find((tr) => tr.a.type === 'DRIVER_NOT_ON_WAYBILL' && tr.a.status === 'open')
    if (open) this.closeAnomaly(open, t, t, { closedBy: why })
  }

  // ------------------------------------------------------------------ long rules

  private deriveLong(v: VehicleState, now: number, late: boolean): void {
    this.refreshCover(v)
    const tl = v.timeline
    const res = deriveLongRules({
      items: tl.items, pruned: tl.pruned, firstT: tl.firstT, lastT: v.lastT, now,
      cover: v.cover, ownCover: v.ownCover, since: Number.isNaN(this.since) ? now : this.since, dsmFatigue: v.dsmFatigue,
    }, this.cfg)
    v.deadline = res.deadline
    this.reconcile(v, res.episodes, late, tl.pruned && tl.items.length ? tl.items[0].start : -Infinity)
    v.silenceOpen = v.anoms.some((tr) => tr.a.type === 'WAYBILL_WITHOUT_POSITION' && tr.a.status === 'open')
    // keep what the current run, the current day and late data may still need
    if (!Number.isNaN(v.lastT)) {
      const keep = Math.min(Number.isNaN(res.runStart) ? Infinity : res.runStart, beijingDayStart(v.lastT), v.lastT - this.cfg.lateHorizonMs)
      tl.prune(keep, 512)
      const first = tl.items.length ? tl.items[0].start : keep
      if (v.dsmFatigue.length && v.dsmFatigue[0] < first) v.dsmFatigue = v.dsmFatigue.filter((x) => x >= first)
    }
  }

  /** An in-order fix that did not change the timeline's shape: open long anomalies were seen again. */
  private touchLong(v: VehicleState, t: number): void {
    for (const tr of v.anoms) {
      if (tr.a.status !== 'open' || !LONG.has(tr.a.type) || tr.a.type === 'WAYBILL_WITHOUT_POSITION') continue
      tr.a.lastSeenAt = t
      if (t - tr.lastEmit >= this.cfg.updateEveryMs) this.emit(tr, 'anomaly.updated', t)
    }
  }

  private reconcile(v: VehicleState, episodes: Episode[], late: boolean, horizon: number): void {
    const candidates = v.anoms.filter((tr) => LONG.has(tr.a.type) && !tr.refuted && (tr.a.status === 'open' || tr.anchor >= horizon))
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
      if (tr) this.applyEpisode(v, tr, e, late)
      else {
        const t = e.end ?? e.lastSeen
        const created = this.openAnomaly(v, e.type, -1, e.start, Math.max(e.lastSeen, e.start), late ? { ...e.evidence, lateData: true } : e.evidence, undefined, e.anchor, e.waybillNo)
        if (e.end !== null) this.closeAnomaly(created, e.end, t, {})
      }
    }
    for (const tr of candidates) {
      if (matched.has(tr)) continue
      if (tr.restored) {
        // history from before the restart is gone: once fixes show the vehicle again, let it go
        if (!Number.isNaN(v.lastT) && tr.a.status === 'open') this.closeAnomaly(tr, Math.max(tr.a.startedAt, v.timeline.firstT), v.lastT, { closedBy: 'restart' })
        continue
      }
      this.refute(tr, late)
    }
  }

  private applyEpisode(v: VehicleState, tr: Tracked, e: Episode, late: boolean): void {
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
      this.closeAnomaly(tr, e.end, t, {})
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

  // ------------------------------------------------------------------ late data

  private replayLate(v: VehicleState, batch: CommittedPosition[]): void {
    batch.sort((x, y) => x.deviceTime - y.deviceTime)
    this.current = v
    this.replaying = true
    this.stagedVehicle = v
    this.staged = []
    // fixes grouped by the timeline GAP they fall in (or none)
    const groups = new Map<number, Fix[]>()
    let seg = this.newLateSegment()
    let prevT = NaN
    let prevGap = -2
    let anchor: { t: number; lat: number; lon: number } | null = null
    for (const p of batch) {
      if (p.deviceTime === prevT) {
        this.counters.duplicates++
        continue
      }
      const gapIdx = v.timeline.gapContaining(p.deviceTime)
      const split = !Number.isNaN(prevT) && (p.deviceTime - prevT > this.cfg.gapMs || gapIdx !== prevGap)
      if (split) {
        this.endLateSegment(seg, prevT)
        seg = this.newLateSegment()
      }
      if (split || Number.isNaN(prevT)) {
        // a segment inside a gap is judged for drift against the fix before the gap
        const g = gapIdx >= 0 ? v.timeline.items[gapIdx] : null
        anchor = g ? { t: g.start, lat: g.aLat, lon: g.aLon } : null
      }
      prevT = p.deviceTime
      prevGap = gapIdx
      if (this.cfg.enabled.TERMINAL_ALARM && (p.alarm !== 0 || seg.alarms)) (seg.alarms ??= new AlarmRule(this.historical, this.cfg)).step(p.deviceTime, p.alarm)
      if (invalidReason(p, this.cfg) !== null) {
        this.counters.invalid++
        continue
      }
      if (anchor) {
        const km = distanceKm(anchor.lat, anchor.lon, p.latitude, p.longitude)
        const implied = (km / (p.deviceTime - anchor.t)) * 3_600_000
        const drift = implied > this.cfg.driftSpeedKmh && km > this.cfg.driftMinKm
        if (this.cfg.enabled.POSITION_DRIFT && (drift || seg.drift)) {
          const rule = (seg.drift ??= new DriftRule(this.historical, this.cfg))
          rule.step(p, drift, implied, km, [round6(anchor.lon), round6(anchor.lat), anchor.t])
        }
        if (drift) {
          this.counters.drift++
          continue
        }
      }
      anchor = { t: p.deviceTime, lat: p.latitude, lon: p.longitude }
      this.pointRules(v, p, this.historical, seg)
      if (gapIdx >= 0) {
        const list = groups.get(gapIdx)
        if (list) list.push(p)
        else groups.set(gapIdx, [p])
      }
    }
    if (!Number.isNaN(prevT)) this.endLateSegment(seg, prevT)
    // splice from the last gap backwards so earlier indexes stay valid
    const idx = [...groups.keys()].sort((a, b) => b - a)
    for (const i of idx) v.timeline.spliceGap(i, groups.get(i)!)
    if (idx.length || v.deferDerive) {
      v.deferDerive = false
      this.deriveLong(v, this.nowFor(v), true)
    }
    this.replaying = false
    this.stagedVehicle = null
    const staged = this.staged
    this.staged = []
    for (const h of staged) this.mergeHistorical(v, h)
    this.schedule(v)
  }

  private newLateSegment(): PointState & { alarms: AlarmRule<Tracked> | null; drift: DriftRule<Tracked> | null } {
    return { overspeed: null, route: null, routeHint: 0, nightBans: null, alarms: null, drift: null }
  }

  private endLateSegment(seg: ReturnType<MatcherEngine['newLateSegment']>, t: number): void {
    seg.overspeed?.finish(t)
    seg.route?.finish(t)
    seg.drift?.finish(t)
    seg.alarms?.finish(t)
    if (seg.nightBans) for (const r of seg.nightBans) r?.finish(t)
  }

  /** A point-rule episode found in late data: extends the live one it touches, or is recorded as it was. */
  private mergeHistorical(v: VehicleState, h: Tracked): void {
    const a = h.a
    const slack = a.type === 'OVERSPEED' ? this.cfg.overspeedMergeMs : a.type === 'TERMINAL_ALARM' ? this.cfg.gapMs : a.type === 'NIGHT_DRIVING_RESTRICTED' ? this.cfg.startStopMs : 0
    const end = a.endedAt ?? a.lastSeenAt
    const hit = v.anoms.find((tr) => tr.a.type === a.type && tr.sub === h.sub && !tr.refuted &&
      tr.a.startedAt - slack <= end && (tr.a.endedAt === null ? Infinity : tr.a.endedAt + slack) >= a.startedAt)
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
      if (`${b.startedAt}/${b.endedAt}` !== before) this.emit(hit, 'anomaly.updated', Math.max(b.lastSeenAt, end))
      return
    }
    if (h.fragment) return
    a.evidence.lateData = true
    h.staged = false
    h.a.id = this.uniqueId(v, h.a.id)
    v.anoms.push(h)
    const closedAt = a.endedAt ?? end
    a.status = 'open'
    a.endedAt = null
    this.emit(h, 'anomaly.opened', a.startedAt)
    a.status = 'closed'
    a.endedAt = closedAt
    this.emit(h, 'anomaly.closed', closedAt)
  }

  // ------------------------------------------------------------------ anomaly bookkeeping

  private newTracked(v: VehicleState, type: AnomalyType, sub: number, start: number, t: number, evidence: Record<string, unknown>, severity: Severity | undefined, anchor: number, waybillNo: string | null = null): Tracked {
    const ref = v.id > 0 ? String(v.id) : v.key.replace('|', '-')
    const id = `${type}-${ref}-${start}${sub >= 0 ? `-${sub}` : ''}`
    const a: Anomaly = {
      id, type, status: 'open',
      severity: severity ?? this.cfg.severity[type],
      vehicleId: v.id, plate: v.plate, plateColor: v.plateColor,
      waybillNo: waybillNo ?? this.ownEntryAt(v, start)?.no ?? null,
      enterpriseLicenseNo: v.enterprise,
      startedAt: start, endedAt: null, lastSeenAt: Math.max(t, start),
      evidence: { ...evidence },
    }
    return { a, anchor, sub, lastEmit: t, restored: false, refuted: false, staged: false }
  }

  private openAnomaly(v: VehicleState, type: AnomalyType, sub: number, start: number, t: number, evidence: Record<string, unknown>, severity?: Severity, anchor = start, waybillNo: string | null = null): Tracked {
    const tr = this.newTracked(v, type, sub, start, t, evidence, severity, anchor, waybillNo)
    tr.a.id = this.uniqueId(v, tr.a.id)
    if (this.replaying) tr.a.evidence.lateData = true
    v.anoms.push(tr)
    this.emit(tr, 'anomaly.opened', t)
    return tr
  }

  private touch(tr: Tracked, t: number, evidence: Record<string, unknown>, severity?: Severity): void {
    const a = tr.a
    if (t > a.lastSeenAt) a.lastSeenAt = t
    Object.assign(a.evidence, evidence)
    const escalated = !!severity && rank(severity) > rank(a.severity)
    if (escalated) a.severity = severity!
    if (escalated || t - tr.lastEmit >= this.cfg.updateEveryMs) this.emit(tr, 'anomaly.updated', t)
  }

  private closeAnomaly(tr: Tracked, end: number, t: number, evidence: Record<string, unknown>): void {
    const a = tr.a
    Object.assign(a.evidence, evidence)
    if (a.status === 'closed') return
    a.status = 'closed'
    a.endedAt = Math.max(end, a.startedAt)
    if (a.endedAt > a.lastSeenAt) a.lastSeenAt = a.endedAt
    if (a.type !== 'WAYBILL_WITHOUT_POSITION') a.evidence.durationMs = a.endedAt - a.startedAt
    this.emit(tr, 'anomaly.closed', t)
  }

  private emit(tr: Tracked, kind: AnomalyEventKind, t: number): void {
    tr.lastEmit = Math.max(tr.lastEmit, t)
    if (kind !== 'anomaly.closed' && tr.a.type !== 'WAYBILL_WITHOUT_POSITION' && tr.a.status === 'open') tr.a.evidence.durationMs = tr.a.lastSeenAt - tr.a.startedAt
    this.emitFn({ event: kind, anomaly: snapshot(tr.a), at: this.clock() })
  }

  private uniqueId(v: VehicleState, id: string): string {
    if (!v.anoms.some((tr) => tr.a.id === id)) return id
    for (let n = 2; ; n++) {
      const candidate = `${id}~${n}`
      if (!v.anoms.some((tr) => tr.a.id === candidate)) return candidate
    }
  }

  // ------------------------------------------------------------------ scheduling

  /** The present as far as a vehicle's rules are concerned: its newest fix, or the last tick if later. */
  private nowFor(v: VehicleState): number {
    const t = Number.isNaN(v.lastT) ? -Infinity : v.lastT
    return Math.max(t, this.lastTick)
  }

  /** When a tick must next look at the vehicle (wall clock). */
  private schedule(v: VehicleState, now = this.nowFor(v)): void {
    // every input that changes a vehicle ends here: it needs a new checkpoint
    this.changed.add(v)
    let due = v.deadline
    if (v.overspeed) due = Math.min(due, v.overspeed.timer.due)
    this.refreshCover(v)
    const last = Number.isNaN(v.lastT) ? (Number.isNaN(this.since) ? -Infinity : this.since) : v.lastT
    for (const c of v.ownCover) {
      if (c.to <= now) continue
      // silence deadline, and the moments the waybill starts and stops covering
      if (!v.silenceOpen) due = Math.min(due, Math.max(last, c.from) + this.cfg.waybillSilenceMs)
      if (c.from > now) due = Math.min(due, c.from)
      due = Math.min(due, c.to)
    }
    for (const c of v.cover) if (c.from > now && c.from > last) due = Math.min(due, c.from)
    if (v.anoms.length > 32) this.forget(v, this.nowFor(v))
    v.tickDue = due
  }
}

/** Point-rule state: the vehicle's own, or a late segment's fresh copy. */
interface PointState {
  overspeed: OverspeedRule<Tracked> | null
  route: RouteDeviationRule<Tracked> | null
  routeHint: number
  nightBans: Array<NightBanRule<Tracked> | null> | null
}

function union(entries: WaybillEntry[], keep: (e: WaybillEntry) => boolean): Cover[] {
  const all: Cover[] = []
  for (const e of entries) if (keep(e)) for (const [from, to] of e.intervals) all.push({ from, to, waybillNo: e.no })
  all.sort((x, y) => x.from - y.from)
  const out: Cover[] = []
  for (const c of all) {
    const last = out[out.length - 1]
    if (last && c.from <= last.to) last.to = Math.max(last.to, c.to)
    else out.push({ ...c })
  }
  return out
}

function coverAt(cover: readonly Cover[], t: number): Cover | null {
  for (const c of cover) if (t >= c.from && t < c.to) return c
  return null
}

function coverStartOf(e: WaybillEntry, t: number): number {
  for (const [a, b] of e.intervals) if (t >= a && t < b) return a
  return t
}

function coverEndBefore(cover: readonly Cover[], t: number): number {
  let end = -Infinity
  for (const c of cover) if (c.to <= t && c.to > end) end = c.to
  return end === -Infinity ? t : end
}

function overlap(s1: number, e1: number | null, s2: number, e2: number | null): number {
  const a = Math.max(s1, s2)
  const b = Math.min(e1 ?? Infinity, e2 ?? Infinity)
  if (b > a) return b - a
  // touching zero-length intervals still belong together
  return b === a ? 0.5 : b - a
}

function rank(s: Severity): number {
  return s === 'critical' ? 2 : s === 'warning' ? 1 : 0
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6
}

function snapshot(a: Anomaly): Anomaly {
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

function restoredSub(a: Anomaly): number {
  if (a.type === 'TERMINAL_ALARM' && typeof a.evidence.bit === 'number') return a.evidence.bit
  return -1
}

/** Most DSM fatigue alarms remembered per vehicle (a device repeating one every second cannot grow memory). */
const MAX_DSM_FATIGUE = 256

/**
 * Remembers the device time of a DSM fatigue alarm (item 0x65, alarm type 1; not the end report
 * of one, flag status 2) carried by the fix. Returns true when it is new.
 */
function noteDsmFatigue(v: VehicleState, p: CommittedPosition): boolean {
  const d = p.extras.dsm as { alarmType?: unknown; flagStatus?: unknown } | undefined
  if (!d || typeof d !== 'object' || d.alarmType !== 1 || d.flagStatus === 2) return false
  const t = p.deviceTime
  const list = v.dsmFatigue
  let i = list.length
  while (i > 0 && list[i - 1] > t) i--
  if (i > 0 && list[i - 1] === t) return false
  list.splice(i, 0, t)
  if (list.length > MAX_DSM_FATIGUE) list.shift()
  return true
}
