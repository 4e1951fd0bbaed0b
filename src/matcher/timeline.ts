/**
 * A vehicle's recent driving history as a short list of contiguous items: DRIVE blocks, STOPs
 * and GAPs (no data). The driving-time rules (continuous, night, daily, running without a
 * waybill, waybill without positions) are computed from it, so a late blind-area batch that
 * fills a GAP can be spliced in and the rules recomputed — the per-point history is never kept.
 *
 * Motion follows GB/T 19056-2012 §3.3–3.4: driving starts after speed > 0 for more than 10 s
 * and ends after speed = 0 for more than 10 s. A sample's speed holds until the next sample.
 * Stops shorter than the minimum rest are folded into the DRIVE block around them (they count
 * as continuous driving but not as driving time). DRIVE blocks never cross a Beijing midnight,
 * so daily totals need no per-point data.
 */
import { distanceKm } from '../geo.js'
import type { MatcherConfig } from './config.js'
import { beijingDayStart, DAY } from '../domain.js'

export const DRIVE = 0
export const STOP = 1
export const GAP = 2
export type ItemKind = typeof DRIVE | typeof STOP | typeof GAP

export interface Item {
  kind: ItemKind
  start: number
  end: number
  /** DRIVE: time actually driving inside [start, end] (folded short stops excluded) */
  driveMs: number
  /** DRIVE: distance driven; GAP: straight-line displacement across the gap */
  km: number
  /** GAP: displacement implies driving through the gap */
  moved: boolean
  /** GAP: the valid fixes on either side, so a late batch can be spliced in */
  aLat: number
  aLon: number
  aSpeed: number
  bLat: number
  bLon: number
  bSpeed: number
}

function item(kind: ItemKind, start: number, end: number, driveMs: number, km: number): Item {
  return { kind, start, end, driveMs, km, moved: false, aLat: 0, aLon: 0, aSpeed: 0, bLat: 0, bLon: 0, bSpeed: 0 }
}

type TimelineConfig = Pick<MatcherConfig, 'minRestMs' | 'gapMs' | 'gapDrivingSpeedKmh' | 'movingSpeedKmh' | 'startStopMs'>

export class Timeline {
  items: Item[] = []
  /** true once items were dropped from the head: what lies before items[0] is unknown */
  pruned = false
  /** device time of the first valid fix seen, NaN before any */
  firstT = NaN

  constructor(private readonly cfg: TimelineConfig) {}

  get last(): Item | undefined {
    return this.items[this.items.length - 1]
  }

  /** Appends [t0, t1] of one kind; returns true when the item list changed shape (not just grew). */
  append(kind: ItemKind, t0: number, t1: number, km: number, driveMs = kind === DRIVE ? t1 - t0 : 0): boolean {
    if (!(t1 > t0)) return false
    if (kind === DRIVE) {
      const midnight = beijingDayStart(t0) + DAY
      if (t1 > midnight) {
        const f = (midnight - t0) / (t1 - t0)
        const a = this.append(DRIVE, t0, midnight, km * f, driveMs * f)
        const b = this.append(DRIVE, midnight, t1, km * (1 - f), driveMs * (1 - f))
        return a || b
      }
    }
    const items = this.items
    const tail = items[items.length - 1]
    if (tail && tail.end === t0) {
      if (kind === STOP && tail.kind === STOP) {
        tail.end = t1
        return false
      }
      if (kind === DRIVE && tail.kind === DRIVE && beijingDayStart(tail.start) === beijingDayStart(t0)) {
        tail.end = t1
        tail.driveMs += driveMs
        tail.km += km
        return false
      }
      // A stop shorter than the minimum rest between two drives of the same day is folded in.
      if (kind === DRIVE && tail.kind === STOP && tail.end - tail.start < this.cfg.minRestMs) {
        const prev = items[items.length - 2]
        if (prev && prev.kind === DRIVE && prev.end === tail.start && beijingDayStart(prev.start) === beijingDayStart(t0)) {
          items.pop()
          prev.end = t1
          prev.driveMs += driveMs
          prev.km += km
          return true
        }
      }
    }
    items.push(item(kind, t0, t1, driveMs, km))
    return true
  }

  /** A gap between two valid fixes a and b. */
  appendGap(t0: number, t1: number, aLat: number, aLon: number, aSpeed: number, bLat: number, bLon: number, bSpeed: number): boolean {
    if (!(t1 > t0)) return false
    const km = distanceKm(aLat, aLon, bLat, bLon)
    const g = item(GAP, t0, t1, 0, km)
    g.moved = (km / (t1 - t0)) * 3_600_000 >= this.cfg.gapDrivingSpeedKmh
    g.aLat = aLat
    g.aLon = aLon
    g.aSpeed = aSpeed
    g.bLat = bLat
    g.bLon = bLon
    g.bSpeed = bSpeed
    this.items.push(g)
    return true
  }

  /** Index of the GAP item strictly containing t, or -1. */
  gapContaining(t: number): number {
    const items = this.items
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i]
      if (it.end <= t) return -1
      if (it.start < t && it.kind === GAP) return i
      if (it.start < t) return -1
    }
    return -1
  }

  /**
   * Replaces GAP item i by the history a late batch revealed (its fixes sorted by time, all
   * strictly inside the gap). The fixes either side of the gap bracket the batch, so what is
   * still missing stays a GAP. Neighbours are merged again afterwards.
   */
  spliceGap(i: number, fixes: ReadonlyArray<{ deviceTime: number; latitude: number; longitude: number; speed: number }>): void {
    const g = this.items[i]
    const inner = new Timeline(this.cfg)
    const motion = new Motion(inner, this.cfg)
    motion.seed(g.start, g.aLat, g.aLon, g.aSpeed)
    for (const f of fixes) motion.push(f.deviceTime, f.latitude, f.longitude, f.speed)
    motion.push(g.end, g.bLat, g.bLon, g.bSpeed)
    motion.flush()
    const rebuilt = new Timeline(this.cfg)
    const all = [...this.items.slice(0, i), ...inner.items, ...this.items.slice(i + 1)]
    for (const it of all) {
      if (it.kind === GAP) rebuilt.items.push(it)
      else rebuilt.append(it.kind, it.start, it.end, it.km, it.driveMs)
    }
    this.items = rebuilt.items
  }

  /**
   * Drops history that ends before keepFrom, cutting only just after a rest or gap so the head
   * starts a run of its own. maxItems bounds memory for pathological terminals.
   */
  prune(keepFrom: number, maxItems: number): void {
    const items = this.items
    let cut = -1
    for (let i = 0; i < items.length - 1; i++) {
      const it = items[i]
      if (it.end > keepFrom) break
      if (it.kind === GAP || (it.kind === STOP && it.end - it.start >= this.cfg.minRestMs)) cut = i
    }
    if (items.length - (cut + 1) > maxItems) cut = items.length - maxItems - 1
    if (cut >= 0) {
      items.splice(0, cut + 1)
      this.pruned = true
    }
  }

  /** Start of what the timeline knows (NaN when empty). */
  get knownFrom(): number {
    return this.items.length ? this.items[0].start : this.firstT
  }
}

/**
 * Turns a time-ordered stream of valid fixes into timeline intervals, with the start/stop
 * hysteresis of GB/T 19056. One per lane (live, or a late batch being spliced).
 */
export class Motion {
  t = NaN
  lat = 0
  lon = 0
  speed = 0
  driving = false
  /** a run of the other kind not yet longer than startStopMs */
  pendStart = NaN
  pendEnd = 0
  pendKm = 0

  constructor(
    private readonly tl: Timeline,
    private readonly cfg: TimelineConfig,
  ) {}

  seed(t: number, lat: number, lon: number, speed: number): void {
    this.t = t
    this.lat = lat
    this.lon = lon
    this.speed = speed
    this.driving = speed > this.cfg.movingSpeedKmh
    if (Number.isNaN(this.tl.firstT)) this.tl.firstT = t
  }

  /** Adds the next fix (t strictly after the previous). Returns true when the timeline changed shape. */
  push(t: number, lat: number, lon: number, speed: number): boolean {
    if (Number.isNaN(this.t)) {
      this.seed(t, lat, lon, speed)
      return true
    }
    const t0 = this.t
    const dt = t - t0
    let changed = false
    if (dt > this.cfg.gapMs) {
      changed = this.flush()
      changed = this.tl.appendGap(t0, t, this.lat, this.lon, this.speed, lat, lon, speed) || changed
    } else {
      const km = distanceKm(this.lat, this.lon, lat, lon)
      const moving = this.speed > this.cfg.movingSpeedKmh
      if (moving === this.driving) {
        changed = this.flush()
        changed = this.tl.append(moving ? DRIVE : STOP, t0, t, km) || changed
      } else {
        if (Number.isNaN(this.pendStart)) this.pendStart = t0
        this.pendEnd = t
        this.pendKm += km
        if (this.pendEnd - this.pendStart > this.cfg.startStopMs) {
          this.driving = moving
          changed = this.tl.append(moving ? DRIVE : STOP, this.pendStart, this.pendEnd, this.pendKm)
          this.pendStart = NaN
          this.pendKm = 0
        }
      }
    }
    this.t = t
    this.lat = lat
    this.lon = lon
    this.speed = speed
    return changed
  }

  /** A pending run too short to switch state counts as the current state. */
  flush(): boolean {
    if (Number.isNaN(this.pendStart)) return false
    const changed = this.tl.append(this.driving ? DRIVE : STOP, this.pendStart, this.pendEnd, this.pendKm)
    this.pendStart = NaN
    this.pendKm = 0
    return changed
  }
}
