/**
 * The point-local rules: each looks at one vehicle's fixes in device-time order and needs only
 * a few numbers of state. OVERSPEED, ROUTE_DEVIATION, NIGHT_DRIVING_RESTRICTED and
 * POSITION_DRIFT ride a SustainedTimer; TERMINAL_ALARM follows alarm bits. They report through
 * an AnomalySink, so the same code judges live fixes and a late batch replayed on its own.
 */
import type { AnomalyType, Severity } from '../domain.js'
import type { MatcherConfig, NightBanWindow } from './config.js'
import { SustainedTimer, type SustainedHost } from './sustained.js'

/** What a rule needs from whoever records anomalies. */
export interface AnomalySink<H> {
  open(type: AnomalyType, sub: number, start: number, t: number, evidence: Record<string, unknown>, severity?: Severity): H
  /** the condition is still observed at t (evidence may have changed) */
  touch(h: H, t: number, evidence: Record<string, unknown>, severity?: Severity): void
  close(h: H, end: number, t: number, evidence: Record<string, unknown>): void
  /** a run too short to be an episode by itself, seen at the end of a late batch */
  fragment?(type: AnomalyType, sub: number, start: number, end: number, evidence: Record<string, unknown>): void
}

export interface Fix {
  deviceTime: number
  latitude: number
  longitude: number
  speed: number
}

function samplePoint(p: Fix): [number, number, number, number] {
  return [p.deviceTime, round6(p.longitude), round6(p.latitude), Math.round(p.speed * 10) / 10]
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6
}

/** Shared skeleton: a timer, the open handle, the evidence being built. */
abstract class TimedRule<H> implements SustainedHost {
  readonly timer: SustainedTimer
  handle: H | null = null
  points: Array<[number, number, number, number]> = []

  constructor(
    protected readonly sink: AnomalySink<H>,
    protected readonly cfg: MatcherConfig,
    minMs: number,
    mergeMs: number,
  ) {
    this.timer = new SustainedTimer(minMs, mergeMs, cfg.gapMs)
  }

  abstract readonly type: AnomalyType
  protected abstract evidence(): Record<string, unknown>
  protected severity(): Severity | undefined {
    return undefined
  }
  protected sub(): number {
    return -1
  }
  /** forget the evidence of a run that never qualified */
  protected abstract resetRun(): void

  protected record(p: Fix): void {
    if (this.points.length < this.cfg.evidencePoints) this.points.push(samplePoint(p))
  }

  onOpen(start: number, t: number): void {
    this.handle = this.sink.open(this.type, this.sub(), start, t, this.evidence(), this.severity())
  }

  onFragment(start: number, end: number): void {
    this.sink.fragment?.(this.type, this.sub(), start, end, this.evidence())
    this.points = []
    this.resetRun()
  }

  onClose(end: number, t: number): void {
    if (this.handle) this.sink.close(this.handle, end, t, this.evidence())
    this.handle = null
    this.points = []
    this.resetRun()
  }

  /**
   * Subclasses call begin(p), then — when the condition holds — fold the fix into their
   * evidence (starting afresh when `fresh`), then end(p, cond).
   */
  protected begin(p: Fix): void {
    this.timer.advance(p.deviceTime, this)
  }

  protected get fresh(): boolean {
    return this.timer.idle
  }

  protected end(p: Fix, cond: boolean): void {
    if (cond) {
      if (this.timer.idle) this.points = []
      this.record(p)
    }
    this.timer.apply(p.deviceTime, cond, this)
    if (cond && this.handle && this.timer.open) this.sink.touch(this.handle, p.deviceTime, this.evidence(), this.severity())
  }

  tick(now: number): void {
    this.timer.tick(now, this)
  }

  finish(t: number): void {
    this.timer.finish(t, this)
  }

  get idle(): boolean {
    return this.timer.idle
  }
}

export class OverspeedRule<H> extends TimedRule<H> {
  readonly type = 'OVERSPEED'
  maxSpeed = 0
  limit = Infinity
  zoneId: string | null = null

  constructor(sink: AnomalySink<H>, cfg: MatcherConfig) {
    super(sink, cfg, cfg.overspeedMinMs, cfg.overspeedMergeMs)
  }

  step(p: Fix, limitKmh: number, zoneId: string | null): void {
    const over = p.speed > limitKmh
    this.begin(p)
    if (over) {
      if (this.fresh) this.resetRun()
      if (p.speed > this.maxSpeed) this.maxSpeed = p.speed
      if (limitKmh < this.limit) {
        this.limit = limitKmh
        this.zoneId = zoneId
      }
    }
    this.end(p, over)
  }

  protected resetRun(): void {
    this.maxSpeed = 0
    this.limit = Infinity
    this.zoneId = null
  }

  protected override severity(): Severity | undefined {
    return this.maxSpeed >= this.limit * this.cfg.overspeedCriticalRatio ? 'critical' : undefined
  }

  protected evidence(): Record<string, unknown> {
    return {
      limitKmh: this.limit,
      zoneId: this.zoneId,
      maxSpeedKmh: this.maxSpeed,
      points: this.points.slice(),
    }
  }
}

export class RouteDeviationRule<H> extends TimedRule<H> {
  readonly type = 'ROUTE_DEVIATION'
  maxKm = 0
  corridorKm = 0
  waybillNo = ''

  constructor(sink: AnomalySink<H>, cfg: MatcherConfig) {
    super(sink, cfg, cfg.routeDeviationMs, 0)
  }

  step(p: Fix, distanceKm: number, corridorKm: number, waybillNo: string): void {
    const out = distanceKm > corridorKm
    this.begin(p)
    if (out) {
      if (this.fresh) this.resetRun()
      if (distanceKm > this.maxKm) this.maxKm = distanceKm
      this.corridorKm = corridorKm
      this.waybillNo = waybillNo
    }
    this.end(p, out)
  }

  protected resetRun(): void {
    this.maxKm = 0
  }

  protected evidence(): Record<string, unknown> {
    return { corridorKm: this.corridorKm, maxDistanceKm: Math.round(this.maxKm * 1000) / 1000, waybillNo: this.waybillNo, points: this.points.slice() }
  }
}

export class NightBanRule<H> extends TimedRule<H> {
  readonly type = 'NIGHT_DRIVING_RESTRICTED'

  constructor(
    sink: AnomalySink<H>,
    cfg: MatcherConfig,
    private readonly index: number,
    private readonly window: NightBanWindow,
  ) {
    // GB/T 19056: driving starts after > 10 s moving and ends after > 10 s stopped.
    super(sink, cfg, cfg.startStopMs, cfg.startStopMs)
  }

  step(p: Fix, inBan: boolean): void {
    this.begin(p)
    this.end(p, inBan && p.speed > this.cfg.movingSpeedKmh)
  }

  protected override sub(): number {
    return this.index
  }

  protected resetRun(): void {}

  protected evidence(): Record<string, unknown> {
    return { window: this.window.id, from: this.window.from, to: this.window.to, zone: this.window.zone ?? null, points: this.points.slice() }
  }
}

/**
 * POSITION_DRIFT: the implied speed from the last valid fix is beyond what a truck can do.
 * The fix is then invalid and the anchor stays; when several rejected fixes in a row agree
 * with each other, the anchor was the bad one and the matcher re-anchors on them.
 */
export class DriftRule<H> extends TimedRule<H> {
  readonly type = 'POSITION_DRIFT'
  maxImplied = 0
  maxJumpKm = 0
  rejected = 0
  from: [number, number, number] | null = null

  constructor(sink: AnomalySink<H>, cfg: MatcherConfig) {
    super(sink, cfg, 0, 0)
  }

  /** A fix judged against the anchor: drift or not. */
  step(p: Fix, drift: boolean, impliedKmh: number, jumpKm: number, anchor: [number, number, number] | null): void {
    this.begin(p)
    if (drift) {
      if (this.fresh) {
        this.resetRun()
        this.from = anchor
      }
      this.rejected++
      if (impliedKmh > this.maxImplied) this.maxImplied = impliedKmh
      if (jumpKm > this.maxJumpKm) this.maxJumpKm = jumpKm
    }
    this.end(p, drift)
  }

  protected resetRun(): void {
    this.maxImplied = 0
    this.maxJumpKm = 0
    this.rejected = 0
    this.from = null
  }

  protected evidence(): Record<string, unknown> {
    return {
      impliedSpeedKmh: Math.round(this.maxImplied),
      jumpKm: Math.round(this.maxJumpKm * 1000) / 1000,
      rejectedPoints: this.rejected,
      anchor: this.from,
      points: this.points.slice(),
    }
  }
}

/** JT/T 808 alarm bit names (2013, with the 2019 meanings where they differ). */
export const ALARM_BIT_NAMES: readonly string[] = [
  'emergency',
  'overspeed',
  'fatigue',
  'danger-warning',
  'gnss-fault',
  'gnss-antenna-cut',
  'gnss-antenna-short',
  'power-low',
  'power-lost',
  'lcd-fault',
  'tts-fault',
  'camera-fault',
  'ic-card-module-fault',
  'overspeed-warning',
  'fatigue-warning',
  'illegal-driving',
  'tyre-pressure',
  'right-turn-blind-zone',
  'daily-driving-overtime',
  'parking-overtime',
  'area-in-out',
  'route-in-out',
  'route-time',
  'route-deviation',
  'vss-fault',
  'fuel-abnormal',
  'stolen',
  'illegal-ignition',
  'illegal-displacement',
  'collision',
  'rollover-warning',
  'illegal-door-open',
]

/** Bits the platform clears with 0x8203 (docs/rules.md, "JT/T 808 facts"). */
export const PLATFORM_CONFIRMED_BITS = ((1 << 0) | (1 << 3) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 27) | (1 << 28)) >>> 0

/**
 * TERMINAL_ALARM, one anomaly per bit: opens when the bit rises, closes when it clears or the
 * platform confirms it (a confirmed bit that stays set does not reopen until it clears).
 */
export class AlarmRule<H> {
  bits = 0
  confirmed = 0
  lastT = NaN
  readonly open = new Map<number, H>()

  constructor(
    private readonly sink: AnomalySink<H>,
    private readonly cfg: MatcherConfig,
  ) {}

  step(t: number, alarm: number): void {
    const bits = (alarm & this.cfg.alarmMask) >>> 0
    const prev = this.bits
    this.lastT = t
    if (bits === prev) {
      if (bits) for (const h of this.open.values()) this.sink.touch(h, t, {})
      return
    }
    const cleared = (prev & ~bits) >>> 0
    const raised = (bits & ~prev) >>> 0
    for (let b = 0; b < 32; b++) {
      const m = (1 << b) >>> 0
      if (cleared & m) {
        const h = this.open.get(b)
        if (h) {
          this.sink.close(h, t, t, { closedBy: 'cleared' })
          this.open.delete(b)
        }
        this.confirmed = (this.confirmed & ~m) >>> 0
      } else if (raised & m && !(this.confirmed & m)) {
        const severity: Severity | undefined = this.cfg.criticalAlarmMask & m ? 'critical' : undefined
        this.open.set(b, this.sink.open('TERMINAL_ALARM', b, t, t, { bit: b, name: ALARM_BIT_NAMES[b], alarm: hex32(bits) }, severity))
      }
    }
    this.bits = bits
  }

  /** The platform confirmed (0x8203) these bits at `at`. */
  confirm(mask: number, at: number): void {
    for (let b = 0; b < 32; b++) {
      const m = (1 << b) >>> 0
      if (!(mask & m)) continue
      const h = this.open.get(b)
      if (h) {
        this.sink.close(h, at, at, { closedBy: 'platform' })
        this.open.delete(b)
      }
      if (this.bits & m) this.confirmed = (this.confirmed | m) >>> 0
    }
  }

  /** End of a late batch: alarms still set at its last fix end there. */
  finish(t: number): void {
    for (const [b, h] of this.open) this.sink.close(h, t, t, { closedBy: 'end-of-batch' })
    this.open.clear()
    this.bits = 0
  }

  get idle(): boolean {
    return this.bits === 0 && this.open.size === 0 && this.confirmed === 0
  }
}

export function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0')
}
