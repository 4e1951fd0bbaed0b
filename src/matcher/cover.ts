/**
 * Waybill cover: which waybills the engine knows, indexed by the plate of their vehicle and of
 * their trailer, and per vehicle the merged intervals they cover (its own, and as a trailer).
 * Versions per plate let a vehicle's cover be rebuilt only after a waybill touching it changed.
 */
import type { MatcherConfig } from './config.js'
import { Polyline } from '../geo.js'
import type { Cover } from './long-rules.js'
import { activeIntervals, normalizeQualification, plateKey, type Waybill } from '../domain.js'

export interface WaybillEntry {
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

/** What a vehicle keeps of the cover: its plate, and the lists built at the last refresh. */
export interface CoveredVehicle {
  key: string
  /** keyVersion of its plate when cover was last built */
  coverVersion: number
  /** engine-wide waybill version when coverVersion was last checked */
  coverSeen: number
  cover: Cover[]
  ownCover: Cover[]
  entries: WaybillEntry[]
}

export class WaybillCover {
  private readonly waybills = new Map<string, WaybillEntry>()
  private readonly byKey = new Map<string, WaybillEntry[]>()
  private readonly keyVersion = new Map<string, number>()
  /** bumped by every change anywhere: a vehicle's check is one comparison while nothing changed */
  version = 0
  private lastPrune = -Infinity

  constructor(private readonly cfg: MatcherConfig) {}

  get size(): number {
    return this.waybills.size
  }

  entryOf(w: Waybill): WaybillEntry {
    return {
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
  }

  /** Puts the waybill in (or takes it out when it covers nothing); returns the entry it replaced. */
  set(entry: WaybillEntry): WaybillEntry | undefined {
    const old = this.waybills.get(entry.no)
    if (old) this.unindex(old)
    if (entry.intervals.length) {
      this.waybills.set(entry.no, entry)
      this.index(entry)
    } else this.waybills.delete(entry.no)
    return old
  }

  remove(waybillNo: string): WaybillEntry | undefined {
    const old = this.waybills.get(waybillNo)
    if (!old) return undefined
    this.unindex(old)
    this.waybills.delete(waybillNo)
    return old
  }

  /** True when some waybill names this plate (as vehicle or trailer). */
  names(key: string): boolean {
    return this.byKey.has(key)
  }

  /** Forgets, once an hour, the waybills whose cover ended beyond the late-data horizon. */
  prune(now: number): void {
    if (now - this.lastPrune < 3_600_000) return
    this.lastPrune = now
    const cutoff = now - this.cfg.lateHorizonMs
    for (const e of this.waybills.values()) {
      if (e.intervals.every(([, b]) => b < cutoff)) {
        this.unindex(e)
        this.waybills.delete(e.no)
      }
    }
  }

  refresh(v: CoveredVehicle): void {
    // one comparison per fix while no waybill anywhere changed; a Map lookup only after a change
    if (v.coverSeen === this.version) return
    v.coverSeen = this.version
    const version = this.keyVersion.get(v.key) ?? 0
    if (v.coverVersion === version) return
    v.coverVersion = version
    v.entries = this.byKey.get(v.key) ?? []
    v.cover = union(v.entries, () => true)
    // usually the vehicle is no one's trailer: share the list
    v.ownCover = v.entries.every((e) => e.key === v.key) ? v.cover : union(v.entries, (e) => e.key === v.key)
  }

  /** False only when the vehicle surely has no waybill of its own (no refresh needed to say so). */
  mayCover(v: CoveredVehicle): boolean {
    return v.ownCover.length > 0 || v.coverSeen !== this.version
  }

  /** The vehicle's own waybill (not one it is the trailer of) active at t. */
  ownEntryAt(v: CoveredVehicle, t: number): WaybillEntry | null {
    this.refresh(v)
    for (const e of v.entries) {
      if (e.key !== v.key) continue
      for (const [a, b] of e.intervals) if (t >= a && t < b) return e
    }
    return null
  }

  private index(e: WaybillEntry): void {
    for (const k of [e.key, e.trailerKey]) {
      if (!k) continue
      const list = this.byKey.get(k)
      if (list) list.push(e)
      else this.byKey.set(k, [e])
      this.keyVersion.set(k, (this.keyVersion.get(k) ?? 0) + 1)
    }
    this.version++
  }

  private unindex(e: WaybillEntry): void {
    for (const k of [e.key, e.trailerKey]) {
      if (!k) continue
      const list = this.byKey.get(k)
      if (list) {
        const rest = list.filter((x) => x !== e)
        if (rest.length) this.byKey.set(k, rest)
        else this.byKey.delete(k)
      }
      this.keyVersion.set(k, (this.keyVersion.get(k) ?? 0) + 1)
    }
    this.version++
  }
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

export function coverAt(cover: readonly Cover[], t: number): Cover | null {
  for (const c of cover) if (t >= c.from && t < c.to) return c
  return null
}

/** Where the entry's interval containing t began (t itself when none does). */
export function coverStartOf(e: WaybillEntry, t: number): number {
  for (const [a, b] of e.intervals) if (t >= a && t < b) return a
  return t
}

/** The latest end of cover at or before t (t itself when none ended). */
export function coverEndBefore(cover: readonly Cover[], t: number): number {
  let end = -Infinity
  for (const c of cover) if (c.to <= t && c.to > end) end = c.to
  return end === -Infinity ? t : end
}
