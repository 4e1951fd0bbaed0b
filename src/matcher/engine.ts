/**
 * The matcher engine: pure and deterministic, no I/O. It is fed committed positions, waybill
 * changes, driver-card events, platform alarm confirmations and a clock tick, and reports
 * AnomalyEvents (opened / updated / closed) through a callback.
 *
 * Everything is judged in device time, per vehicle. A fix older than the vehicle's newest is
 * late (blind-area batches, retransmissions): it is held until flushLate() (the service calls
 * it after each batch, tick() calls it too), then replayed on its own (late.ts).
 *
 * The engine composes: the point rules as a list (point-rules.ts), the long rules derived from
 * the timeline (long-rules.ts), the waybill cover (cover.ts), the anomaly book (book.ts) and the
 * late-data replay (late.ts). What it keeps per vehicle is in vehicle-state.ts.
 */
import type { Anomaly, AnomalyEvent, AnomalyType, CommittedPosition, DriverCardEvent } from '../domain.js'
import { distanceKm } from '../geo.js'
import { AnomalyBook, copyAnomaly, type Tracked } from './book.js'
import { DEFAULT_MATCHER_CONFIG, type MatcherConfig } from './config.js'
import { coverAt, coverEndBefore, coverStartOf, WaybillCover } from './cover.js'
import { replayLate, round6, type LateHost } from './late.js'
import { deriveLongRules } from './long-rules.js'
import { enabledRules, loadRules, NOT_DRIFT, pointRuleOf, REANCHOR, rulesDue, saveRules, stepRules, tickRules, TERMINAL_ALARM, type RuleEnv } from './point-rules.js'
import type { AlarmRule } from './rules.js'
import { SNAPSHOT_VERSION, type VehicleSnapshot } from './snapshot.js'
import { beijingDayStart, normalizeQualification, parseClock, plateKey, type VehicleRef, type Waybill } from '../domain.js'
import { invalidReason } from './validity.js'
import { VehicleState } from './vehicle-state.js'
import { NO_ZONES, type ZoneLookup } from './zones.js'

export { restoredAnchor } from './book.js'
export type { Card, VehicleRef } from './vehicle-state.js'

export const LONG_RULES: readonly AnomalyType[] = ['FATIGUE_DRIVING', 'NIGHT_FATIGUE_DRIVING', 'DAILY_DRIVING_EXCEEDED', 'RUNNING_WITHOUT_WAYBILL', 'WAYBILL_WITHOUT_POSITION']
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

export class MatcherEngine implements LateHost {
  readonly cfg: MatcherConfig
  readonly env: RuleEnv
  readonly book: AnomalyBook
  private readonly cover: WaybillCover
  private since: number
  private readonly byId = new Map<number, VehicleState>()
  private readonly byKey = new Map<string, VehicleState>()
  private lateDirty: VehicleState[] = []
  readonly counters = { positions: 0, invalid: 0, drift: 0, duplicates: 0, late: 0, tooLate: 0 }
  /** newest tick time (wall clock) */
  private lastTick = -Infinity
  /** vehicles whose state changed since takeChanged() (checkpoints) */
  private changed = new Set<VehicleState>()

  constructor(opts: EngineOptions) {
    this.cfg = opts.config ?? DEFAULT_MATCHER_CONFIG
    this.since = opts.since ?? NaN
    this.cover = new WaybillCover(this.cfg)
    const zones = opts.zones ?? NO_ZONES
    this.env = {
      cfg: this.cfg,
      zones,
      hasZones: zones !== NO_ZONES,
      nightBanClock: this.cfg.nightBans.map((w) => [parseClock(w.from) ?? 0, parseClock(w.to) ?? 0] as const),
      cover: this.cover,
      phases: enabledRules(this.cfg),
    }
    this.book = new AnomalyBook({
      cfg: this.cfg,
      emit: opts.emit,
      clock: opts.clock ?? Date.now,
      waybillNoAt: (v, t) => this.cover.ownEntryAt(v, t)?.no ?? null,
      long: LONG,
    })
  }

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
    this.book.current = v
    const dsm = noteDsmFatigue(v, p)
    const sink = this.book.live
    stepRules('every', v, p, v, sink, this.env)
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
    stepRules('valid', v, p, v, sink, this.env)
    if (p.blindArea) {
      // blind-area data arriving in order is still late data: judge the batch once, at flushLate()
      v.deferDerive = true
      this.markDirty(v)
    } else if (changed || dsm || t >= v.deadline || v.silenceOpen || v.deferDerive) {
      v.deferDerive = false
      this.deriveLong(v, t, false)
    } else this.book.touchLong(v, t)
    this.schedule(v)
  }

  /**
   * A waybill was created, changed status, or was edited. `vehicle` is its vehicle from the
   * registry when known. watch = false: index it (for vehicles this engine follows, e.g. as
   * trailer) but do not start watching its own vehicle — another process owns that one.
   */
  waybill(w: Waybill, vehicle?: VehicleRef, watch = true): void {
    const entry = this.cover.entryOf(w)
    const old = this.cover.set(entry)
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
      this.book.current = v
      const now = Math.max(this.nowFor(v), changedAt)
      this.deriveLong(v, now, false)
      this.checkDriver(v, now)
      this.schedule(v)
    }
  }

  /** A waybill deleted outright (not a lifecycle move). */
  removeWaybill(waybillNo: string): void {
    const old = this.cover.remove(waybillNo)
    if (!old) return
    for (const k of [old.key, old.trailerKey]) {
      const v = k ? this.byKey.get(k) : undefined
      if (!v) continue
      this.book.current = v
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
    this.book.current = v
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
    const alarms = v?.rules?.get(TERMINAL_ALARM) as AlarmRule<Tracked> | undefined
    if (!v || !alarms) return
    this.book.current = v
    alarms.confirm(bits >>> 0, at)
    this.changed.add(v)
  }

  /** Wall-clock progress: silences, rests, day ends and merge windows that ran out. */
  tick(now: number): void {
    if (Number.isNaN(this.since)) this.since = now
    if (now > this.lastTick) this.lastTick = now
    this.flushLate()
    for (const v of this.byKey.values()) {
      if (v.tickDue > now) continue
      this.book.current = v
      tickRules(v, now)
      this.deriveLong(v, now, false)
      this.checkDriver(v, now)
      this.forget(v, now)
      this.schedule(v, now)
    }
    this.cover.prune(now)
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
      if (batch && batch.length) replayLate(this, v, batch)
      if (v.deferDerive) {
        v.deferDerive = false
        this.book.current = v
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
      const rule = pointRuleOf(a.type)
      const tr = this.book.adopt(v, a, rule?.subOf?.(a) ?? -1)
      if (rule?.adopt) {
        const s = rule.adopt(v.rules?.get(rule) ?? null, tr, this.book.live, this.cfg)
        if (s !== null) (v.rules ??= new Map()).set(rule, s)
      }
      if (a.type === 'WAYBILL_WITHOUT_POSITION') v.silenceOpen = true
      // a point rule's state is not in the store: unless the rule can take it over, it ends where it was last seen
      if (!LONG.has(a.type) && !rule?.adopt) this.book.close(tr, a.lastSeenAt, a.lastSeenAt, { closedBy: 'restart' })
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
      this.unfollow(v)
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
    const m = v.motion
    return {
      version: SNAPSHOT_VERSION,
      id: v.id,
      plate: v.plate,
      plateColor: v.plateColor,
      enterprise: v.enterprise,
      wm: v.wm,
      lastT: v.lastT,
      lastLat: v.lastLat,
      lastLon: v.lastLon,
      lastSpeed: v.lastSpeed,
      timeline: { items: v.timeline.items, pruned: v.timeline.pruned, firstT: v.timeline.firstT },
      motion: { t: m.t, lat: m.lat, lon: m.lon, speed: m.speed, driving: m.driving, pendStart: m.pendStart, pendEnd: m.pendEnd, pendKm: m.pendKm },
      deadline: v.deadline,
      silenceOpen: v.silenceOpen,
      driftAgree: v.driftAgree,
      rejT: v.rejT,
      rejLat: v.rejLat,
      rejLon: v.rejLon,
      card: v.card,
      dsmFatigue: v.dsmFatigue,
      anoms: v.anoms.map((tr) => ({ a: tr.a, anchor: tr.anchor, sub: tr.sub, lastEmit: tr.lastEmit, restored: tr.restored, refuted: tr.refuted })),
      rules: saveRules(v.rules, (h) => v.anoms.indexOf(h)),
    }
  }

  /**
   * Follows a vehicle from its snapshot, replacing what the engine held for it: the next fixes
   * continue its runs, days and open anomalies as if this engine had seen everything before.
   * The engine takes the snapshot's objects over (a decoded one; clone one you keep using).
   */
  restoreVehicle(s: VehicleSnapshot): void {
    const v = new VehicleState({ id: s.id, plate: s.plate, plateColor: s.plateColor, enterpriseLicenseNo: s.enterprise }, this.cfg)
    for (const old of [this.byId.get(s.id), this.byKey.get(v.key)]) if (old) this.unfollow(old)
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
    v.driftAgree = s.driftAgree
    v.rejT = s.rejT
    v.rejLat = s.rejLat
    v.rejLon = s.rejLon
    v.card = s.card
    v.anoms = s.anoms.map((t) => ({ ...t, staged: false }))
    v.rules = loadRules(s.rules, this.book.live, this.cfg, (i) => v.anoms[i] ?? null)
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
    this.env.zones = zones
    this.env.hasZones = zones !== NO_ZONES
  }

  // ------------------------------------------------------------------ queries

  openAnomalies(vehicleId?: number): Anomaly[] {
    const out: Anomaly[] = []
    const scan = (v: VehicleState) => {
      for (const tr of v.anoms) if (tr.a.status === 'open') out.push(copyAnomaly(tr.a))
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
    this.cover.refresh(v)
    return coverAt(v.ownCover, t)?.waybillNo ?? null
  }

  stats(): EngineStats {
    let open = 0
    for (const v of this.byKey.values()) for (const tr of v.anoms) if (tr.a.status === 'open') open++
    return { ...this.counters, vehicles: this.byKey.size, waybills: this.cover.size, openAnomalies: open }
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

  /** Stops following the vehicle (and taking checkpoints of it). */
  private unfollow(v: VehicleState): void {
    if (this.byKey.get(v.key) === v) this.byKey.delete(v.key)
    if (this.byId.get(v.id) === v) this.byId.delete(v.id)
    this.changed.delete(v)
  }

  /** Drops a vehicle that has said nothing for long and has nothing open or pending. */
  private forget(v: VehicleState, now: number): void {
    const cutoff = now - this.cfg.lateHorizonMs
    v.anoms = v.anoms.filter((tr) => tr.a.status === 'open' || (tr.a.endedAt ?? Infinity) >= cutoff)
    const quiet = (Number.isNaN(v.lastT) ? v.wm : v.lastT) < now - 2 * this.cfg.lateHorizonMs
    // (an engine nobody takes changes from must not keep forgotten vehicles alive: unfollow clears it from changed)
    if (quiet && !v.anoms.length && !v.late && !v.card && !this.cover.names(v.key)) this.unfollow(v)
  }

  // ------------------------------------------------------------------ drift

  /** true when the fix is drift (and therefore not used further) */
  private judgeDrift(v: VehicleState, p: CommittedPosition): boolean {
    const dt = p.deviceTime - v.lastT
    const km = distanceKm(v.lastLat, v.lastLon, p.latitude, p.longitude)
    const implied = (km / dt) * 3_600_000
    const isDrift = implied > this.cfg.driftSpeedKmh && km > this.cfg.driftMinKm
    const sink = this.book.live
    if (!isDrift) {
      v.driftAgree = 0
      v.rejT = NaN
      stepRules('judged', v, p, v, sink, this.env, NOT_DRIFT)
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
      stepRules('judged', v, p, v, sink, this.env, REANCHOR)
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
    stepRules('judged', v, p, v, sink, this.env, { drift: true, impliedKmh: implied, jumpKm: km, anchor: [round6(v.lastLon), round6(v.lastLat), v.lastT], reanchor: false })
    return true
  }

  // ------------------------------------------------------------------ driver check

  private checkDriver(v: VehicleState, t: number): void {
    if (!this.cfg.enabled.DRIVER_NOT_ON_WAYBILL) return
    const open = this.book.openOf(v, 'DRIVER_NOT_ON_WAYBILL')
    const e = v.card ? this.cover.ownEntryAt(v, Math.max(t, v.card.at)) : null
    const mismatch = !!(v.card && e && v.card.q !== e.driverQ && v.card.q !== e.escortQ)
    if (mismatch && !open && v.card && e) {
      const from = Math.max(v.card.at, coverStartOf(e, Math.max(t, v.card.at)))
      this.book.current = v
      this.book.open(v, 'DRIVER_NOT_ON_WAYBILL', -1, from, t, {
        card: { qualificationNo: v.card.q, driverName: v.card.name, insertedAt: v.card.at },
        waybillNo: e.no,
        waybillDriverQualificationNo: e.driverQ,
        waybillEscortQualificationNo: e.escortQ,
      })
    } else if (!mismatch && open) {
      const end = e || !v.card ? t : Math.min(t, coverEndBefore(v.ownCover, t))
      this.book.close(open, end, t, { closedBy: !v.card ? 'card-removed' : e ? 'matching-card' : 'waybill-ended' })
    }
  }

  private closeDriverAnomaly(v: VehicleState, t: number, why: string): void {
    const open = this.book.openOf(v, 'DRIVER_NOT_ON_WAYBILL')
    if (open) this.book.close(open, t, t, { closedBy: why })
  }

  // ------------------------------------------------------------------ long rules

  deriveLong(v: VehicleState, now: number, late: boolean): void {
    this.cover.refresh(v)
    const tl = v.timeline
    const res = deriveLongRules(
      {
        items: tl.items,
        pruned: tl.pruned,
        firstT: tl.firstT,
        lastT: v.lastT,
        now,
        cover: v.cover,
        ownCover: v.ownCover,
        since: Number.isNaN(this.since) ? now : this.since,
        dsmFatigue: v.dsmFatigue,
      },
      this.cfg,
    )
    v.deadline = res.deadline
    this.book.reconcile(v, res.episodes, late, tl.pruned && tl.items.length ? tl.items[0].start : -Infinity)
    v.silenceOpen = v.anoms.some((tr) => tr.a.type === 'WAYBILL_WITHOUT_POSITION' && tr.a.status === 'open')
    // keep what the current run, the current day and late data may still need
    if (!Number.isNaN(v.lastT)) {
      const keep = Math.min(Number.isNaN(res.runStart) ? Infinity : res.runStart, beijingDayStart(v.lastT), v.lastT - this.cfg.lateHorizonMs)
      tl.prune(keep, 512)
      const first = tl.items.length ? tl.items[0].start : keep
      if (v.dsmFatigue.length && v.dsmFatigue[0] < first) v.dsmFatigue = v.dsmFatigue.filter((x) => x >= first)
    }
  }

  // ------------------------------------------------------------------ scheduling

  /** The present as far as a vehicle's rules are concerned: its newest fix, or the last tick if later. */
  nowFor(v: VehicleState): number {
    const t = Number.isNaN(v.lastT) ? -Infinity : v.lastT
    return Math.max(t, this.lastTick)
  }

  /** When a tick must next look at the vehicle (wall clock). */
  schedule(v: VehicleState, now = this.nowFor(v)): void {
    // every input that changes a vehicle ends here: it needs a new checkpoint
    this.changed.add(v)
    let due = Math.min(v.deadline, rulesDue(v.rules))
    this.cover.refresh(v)
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
