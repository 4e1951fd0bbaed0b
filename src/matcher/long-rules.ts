/**
 * The rules that span hours, computed from a vehicle's timeline as a pure function:
 * FATIGUE_DRIVING, NIGHT_FATIGUE_DRIVING, DAILY_DRIVING_EXCEEDED, RUNNING_WITHOUT_WAYBILL and
 * WAYBILL_WITHOUT_POSITION. The engine reconciles what this returns with the anomalies it has
 * already reported, so late data that changes the timeline corrects them.
 *
 * Continuous driving is a run of driving in which every stop (and every gap the vehicle did not
 * move across) is shorter than the minimum rest (GB/T 19056 §3.5–3.9: shorter stops count as
 * driving). A gap the vehicle moved across counts as driving.
 */
import { beijingDate, beijingDayStart, dailyWindowsBetween, DAY, parseClock, type AnomalyType } from '../domain.js'
import type { MatcherConfig } from './config.js'
import { DRIVE, GAP, STOP, type Item } from './timeline.js'

export interface Episode {
  type: AnomalyType
  /** what identifies the episode across recomputations: run start, night start, day start, gap start */
  anchor: number
  start: number
  /** null: still going on */
  end: number | null
  lastSeen: number
  evidence: Record<string, unknown>
  waybillNo: string | null
}

/** An interval during which a waybill covers the vehicle. */
export interface Cover {
  from: number
  to: number
  waybillNo: string
}

export interface DeriveInput {
  items: readonly Item[]
  /** true when history before items[0] was dropped */
  pruned: boolean
  /** first valid fix ever seen (NaN: none) */
  firstT: number
  /** newest valid fix (NaN: none) */
  lastT: number
  /** wall-clock now from the tick, or lastT when driven by a fix */
  now: number
  /** waybills that cover the vehicle as plate or trailer (for RUNNING_WITHOUT_WAYBILL), sorted */
  cover: readonly Cover[]
  /** waybills whose vehicle this is (for WAYBILL_WITHOUT_POSITION), sorted */
  ownCover: readonly Cover[]
  /** since when the matcher has been watching (an absence before that is not ours to judge) */
  since: number
  /** device times of the terminal's DSM fatigue alarms, sorted (absent: none) */
  dsmFatigue?: readonly number[]
}

export interface DeriveResult {
  episodes: Episode[]
  /** device time at which the result would change if the vehicle carries on as it is */
  deadline: number
  /** start of the current run (for pruning), NaN when resting */
  runStart: number
}

interface Run {
  start: number
  end: number
  closed: boolean
  first: number
  last: number
}

type Cfg = Pick<
  MatcherConfig,
  'enabled' | 'minRestMs' | 'continuousDrivingMs' | 'nightDrivingMs' | 'nightFrom' | 'nightTo' | 'dailyDrivingMs' | 'runningWithoutWaybillMs' | 'runningWithoutWaybillKm' | 'waybillSilenceMs'
>

function isRest(it: Item, end: number, minRest: number): boolean {
  return (it.kind === STOP || (it.kind === GAP && !it.moved)) && end - it.start >= minRest
}

function isDriving(it: Item): boolean {
  return it.kind === DRIVE || (it.kind === GAP && it.moved)
}

function drivingMsOf(it: Item): number {
  return it.kind === DRIVE ? it.driveMs : it.kind === GAP && it.moved ? it.end - it.start : 0
}

export function deriveLongRules(input: DeriveInput, cfg: Cfg): DeriveResult {
  const { items, now } = input
  const episodes: Episode[] = []
  let deadline = Infinity
  const current = Math.max(now, Number.isNaN(input.lastT) ? -Infinity : input.lastT)

  // ---- runs of continuous driving
  const runs: Run[] = []
  let run: Run | null = null
  for (let i = 0; i < items.length; i++) {
    const it = items[i]
    const end = i === items.length - 1 && it.kind === STOP ? Math.max(it.end, now) : it.end
    if (isRest(it, end, cfg.minRestMs)) {
      if (run) {
        run.end = it.start
        run.closed = true
        runs.push(run)
        run = null
      }
    } else if (isDriving(it)) {
      if (!run) run = { start: it.start, end: it.end, closed: false, first: i, last: i }
      run.end = it.end
      run.last = i
    } else if (run && i < items.length - 1) {
      // a short stop counts as driving once driving resumes; one still going on does not (yet)
      run.end = end
      run.last = i
    }
  }
  if (run) runs.push(run)
  const openRun = run
  // A stop at the tail that may still become a rest.
  const tail = items[items.length - 1]
  if (tail && tail.kind === STOP && openRun && openRun.last === items.length - 2) {
    deadline = Math.min(deadline, tail.start + cfg.minRestMs)
  }

  if (cfg.enabled.FATIGUE_DRIVING) {
    for (const r of runs) {
      const span = r.end - r.start
      if (span > cfg.continuousDrivingMs) {
        episodes.push({
          type: 'FATIGUE_DRIVING',
          anchor: r.start,
          start: r.start + cfg.continuousDrivingMs,
          end: r.closed ? r.end : null,
          lastSeen: r.end,
          waybillNo: null,
          evidence: { continuousDrivingMs: span, limitMs: cfg.continuousDrivingMs, runStartedAt: r.start, ...dsmEvidence(input.dsmFatigue, r.start, r.closed ? r.end : Infinity) },
        })
      } else if (!r.closed) deadline = Math.min(deadline, r.start + cfg.continuousDrivingMs + 1)
    }
  }

  if (cfg.enabled.NIGHT_FATIGUE_DRIVING) {
    const from = parseClock(cfg.nightFrom) ?? 22 * 3_600_000
    const to = parseClock(cfg.nightTo) ?? 6 * 3_600_000
    for (const r of runs) {
      const horizon = r.closed ? r.end : r.end + DAY
      for (const [ws, we] of dailyWindowsBetween(from, to, r.start, horizon)) {
        const os = Math.max(ws, r.start)
        const oe = Math.min(we, r.end)
        if (oe - os > cfg.nightDrivingMs) {
          const ended = r.closed || r.end >= we
          episodes.push({
            type: 'NIGHT_FATIGUE_DRIVING',
            anchor: os,
            start: os + cfg.nightDrivingMs,
            end: ended ? oe : null,
            lastSeen: oe,
            waybillNo: null,
            evidence: { nightDrivingMs: oe - os, limitMs: cfg.nightDrivingMs, night: beijingDate(ws), runStartedAt: r.start, ...dsmEvidence(input.dsmFatigue, os, ended ? oe : Infinity) },
          })
          if (!ended) deadline = Math.min(deadline, we)
        } else if (!r.closed && r.end < we) deadline = Math.min(deadline, os + cfg.nightDrivingMs + 1)
      }
    }
  }

  if (cfg.enabled.DAILY_DRIVING_EXCEEDED) deriveDaily(input, cfg, current, episodes, (d) => (deadline = Math.min(deadline, d)))
  if (cfg.enabled.RUNNING_WITHOUT_WAYBILL) deriveRunningWithoutWaybill(input, runs, cfg, current, episodes, (d) => (deadline = Math.min(deadline, d)))
  if (cfg.enabled.WAYBILL_WITHOUT_POSITION) deriveSilence(input, cfg, current, episodes)

  return { episodes, deadline, runStart: openRun ? openRun.start : NaN }
}

function deriveDaily(input: DeriveInput, cfg: Cfg, current: number, out: Episode[], due: (t: number) => void): void {
  const limit = cfg.dailyDrivingMs
  let day = NaN,
    total = 0,
    crossAt = NaN,
    lastDrive = NaN
  const emit = () => {
    if (Number.isNaN(day) || Number.isNaN(crossAt)) return
    if (input.pruned && day < input.items[0].start) return
    const over = current >= day + DAY
    out.push({
      type: 'DAILY_DRIVING_EXCEEDED',
      anchor: day,
      start: crossAt,
      end: over ? lastDrive : null,
      lastSeen: lastDrive,
      waybillNo: null,
      evidence: { day: beijingDate(day), drivingMs: total, limitMs: limit },
    })
    if (!over) due(day + DAY)
  }
  const add = (s: number, e: number, ms: number) => {
    const d = beijingDayStart(s)
    if (d !== day) {
      emit()
      day = d
      total = 0
      crossAt = NaN
    }
    if (total <= limit && total + ms > limit) crossAt = s + ((limit - total) / ms) * (e - s)
    total += ms
    lastDrive = e
  }
  for (const it of input.items) {
    const ms = drivingMsOf(it)
    if (ms <= 0) continue
    if (it.kind === DRIVE) add(it.start, it.end, ms)
    else {
      // a gap driven through may span midnights: share its time out by day
      for (let s = it.start; s < it.end; ) {
        const e = Math.min(it.end, beijingDayStart(s) + DAY)
        add(s, e, e - s)
        s = e
      }
    }
  }
  emit()
  const tail = input.items[input.items.length - 1]
  if (tail && isDriving(tail) && day === beijingDayStart(tail.end) && total <= limit) due(tail.end + (limit - total) + 1)
}

/** Sub-intervals of [s, e] not covered by the sorted cover list. */
function uncovered(s: number, e: number, cover: readonly Cover[]): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let at = s
  for (const c of cover) {
    if (c.to <= at) continue
    if (c.from >= e) break
    if (c.from > at) out.push([at, c.from])
    at = Math.max(at, c.to)
    if (at >= e) break
  }
  if (at < e) out.push([at, e])
  return out
}

function firstCoverAfter(t: number, cover: readonly Cover[]): number {
  for (const c of cover) if (c.to > t) return Math.max(c.from, t)
  return Infinity
}

function deriveRunningWithoutWaybill(input: DeriveInput, runs: Run[], cfg: Cfg, current: number, out: Episode[], due: (t: number) => void): void {
  const { items, cover } = input
  for (const r of runs) {
    let sStart = NaN,
      sEnd = 0,
      sMs = 0,
      sKm = 0
    const finish = (end: number | null) => {
      if (Number.isNaN(sStart)) return
      if (sMs >= cfg.runningWithoutWaybillMs || sKm >= cfg.runningWithoutWaybillKm) {
        out.push({
          type: 'RUNNING_WITHOUT_WAYBILL',
          anchor: sStart,
          start: sStart,
          end,
          lastSeen: end ?? sEnd,
          waybillNo: null,
          evidence: { drivingMs: Math.round(sMs), distanceKm: round3(sKm), limitMs: cfg.runningWithoutWaybillMs, limitKm: cfg.runningWithoutWaybillKm },
        })
      } else if (end === null) due(input.lastT + Math.min(30_000, cfg.runningWithoutWaybillMs - sMs + 1))
      sStart = NaN
      sMs = 0
      sKm = 0
    }
    for (let i = r.first; i <= r.last; i++) {
      const it = items[i]
      const ms = drivingMsOf(it)
      if (ms <= 0) continue
      const span = it.end - it.start
      for (const [u0, u1] of uncovered(it.start, it.end, cover)) {
        if (!Number.isNaN(sStart)) {
          // a waybill covered the vehicle in between: that stretch ended when it became active
          const c = firstCoverAfter(sEnd, cover)
          if (c < u0) finish(c)
        }
        if (Number.isNaN(sStart)) sStart = u0
        const f = (u1 - u0) / span
        sMs += ms * f
        sKm += it.km * f
        sEnd = u1
      }
    }
    if (Number.isNaN(sStart)) continue
    const c = firstCoverAfter(sEnd, cover)
    if (r.closed) finish(Math.min(c, r.end))
    // still driving: a waybill that became active after the last fix also ends it
    else finish(c <= current ? c : null)
  }
}

function deriveSilence(input: DeriveInput, cfg: Cfg, current: number, out: Episode[]): void {
  const { ownCover, items } = input
  if (!ownCover.length) return
  const gaps: Array<{ from: number; to: number; last: number | null; trailing: boolean }> = []
  const hasFix = !Number.isNaN(input.lastT)
  if (!hasFix) gaps.push({ from: input.since, to: current, last: null, trailing: true })
  else {
    if (!input.pruned && input.firstT > input.since) gaps.push({ from: input.since, to: input.firstT, last: null, trailing: false })
    for (const it of items) if (it.kind === GAP) gaps.push({ from: it.start, to: it.end, last: it.start, trailing: false })
    if (current > input.lastT) gaps.push({ from: input.lastT, to: current, last: input.lastT, trailing: true })
  }
  for (const g of gaps) {
    for (const c of ownCover) {
      const s = Math.max(g.from, c.from)
      const e = Math.min(g.to, c.to)
      if (e - s < cfg.waybillSilenceMs) continue
      const open = g.trailing && c.to > current
      out.push({
        type: 'WAYBILL_WITHOUT_POSITION',
        anchor: s,
        start: s,
        end: open ? null : e,
        lastSeen: e,
        waybillNo: c.waybillNo,
        evidence: { silentMs: e - s, lastPositionAt: g.last, limitMs: cfg.waybillSilenceMs },
      })
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}

/**
 * The terminal's own DSM fatigue alarms raised within [from, to]: their count and the last one's
 * time, the device's observation beside the timeline's. Nothing when there are none.
 */
function dsmEvidence(times: readonly number[] | undefined, from: number, to: number): Record<string, number> {
  if (!times?.length) return {}
  let n = 0
  let last = NaN
  for (const t of times) {
    if (t < from || t > to) continue
    n++
    last = t
  }
  return n ? { dsmFatigueAlarms: n, dsmFatigueLastAt: last } : {}
}
