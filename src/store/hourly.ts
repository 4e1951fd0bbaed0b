/**
 * Keeps the TimescaleDB continuous aggregate positions_hourly equal to positions.
 *
 * Its refresh policy (migration 001) recomputes only the window [now − 7 days, now − 1 hour] every
 * 30 minutes. An hour older than that window is recomputed by nobody: rows that arrive for it
 * later (blind-area uploads more than a week late, back-filled data), and hours the policy never
 * reached (a period when it did not run), are missing from the aggregate once its watermark has
 * passed them, while positions holds them. Two things cover that range:
 *
 * - after each committed batch, the hours of its rows older than the policy can reach are
 *   refreshed (refresh_continuous_aggregate on each touched range), in the background, one call at
 *   a time, touched hours coalesced into ranges and their number bounded (HourlyRefresher);
 * - the storage upkeep refreshes whatever is still invalidated below the policy's window
 *   (refreshHourlyBacklog): what a crash lost before its refresh ran, and hours the policy skipped.
 *
 * On plain PostgreSQL and PGlite positions_hourly is a view: nothing to do.
 */
import type { PositionRecord } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso } from './convert.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** The refresh policy migration 001 adds: start_offset 7 days, end_offset 1 hour, every 30 minutes. */
export const HOURLY_POLICY = { startOffsetMs: 7 * DAY, endOffsetMs: HOUR, scheduleMs: 30 * MINUTE } as const

/**
 * Rows older than this are beyond the policy's next run: it may start up to a schedule interval
 * from now, and it refreshes whole buckets only (its window start is rounded up to the hour).
 */
export function beyondPolicy(now: number): number {
  return now - HOURLY_POLICY.startOffsetMs + HOURLY_POLICY.scheduleMs + HOUR
}

export const hourOf = (t: number) => Math.floor(t / HOUR) * HOUR

export interface HourlyRefresherOptions {
  /** Recomputes the aggregate over [fromMs, toMs) (hour-aligned). */
  refresh(fromMs: number, toMs: number): Promise<void>
  onError?(err: Error): void
  /** Ranges kept waiting at most; beyond, the two closest merge (one larger refresh instead of two). Default 256. */
  maxRanges?: number
  /** First wait after a failed refresh, doubling up to a minute. Default 5 s. */
  retryMs?: number
}

/** Touched hours in, one refresh call at a time out: sorted, disjoint, non-adjacent [from, to) ranges. */
export class HourlyRefresher {
  private readonly ranges: Array<[number, number]> = []
  private running: Promise<void> | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private failures = 0
  private stopped = false
  private waiters: Array<() => void> = []
  private readonly maxRanges: number
  private readonly retryMs: number

  constructor(private readonly opts: HourlyRefresherOptions) {
    this.maxRanges = Math.max(1, opts.maxRanges ?? 256)
    this.retryMs = opts.retryMs ?? 5000
  }

  /** Ranges waiting (for tests and metrics). */
  get pending(): ReadonlyArray<readonly [number, number]> {
    return this.ranges
  }

  /** Schedules a refresh of the hours holding these times. */
  note(times: Iterable<number>): void {
    if (this.stopped) return
    const hours = new Set<number>()
    for (const t of times) hours.add(hourOf(t))
    if (hours.size === 0) return
    for (const h of [...hours].sort((a, b) => a - b)) this.add(h, h + HOUR)
    while (this.ranges.length > this.maxRanges) this.mergeClosest()
    this.kick()
  }

  /** Resolves once nothing waits and no refresh runs, or once stopped (a failing refresh keeps it waiting until then). */
  idle(): Promise<void> {
    if (!this.running && this.ranges.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** No more refreshes; resolves when the one running has ended. What still waits is left to the upkeep's sweep. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
    await this.running
    this.settle()
  }

  private add(from: number, to: number): void {
    const r = this.ranges
    // first range ending at or after `from` (adjacent ranges merge too)
    let lo = 0
    let hi = r.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (r[mid]![1] < from) lo = mid + 1
      else hi = mid
    }
    let end = lo
    while (end < r.length && r[end]![0] <= to) end++
    if (end === lo) r.splice(lo, 0, [from, to])
    else r.splice(lo, end - lo, [Math.min(from, r[lo]![0]), Math.max(to, r[end - 1]![1])])
  }

  private mergeClosest(): void {
    const r = this.ranges
    let best = 0
    for (let i = 1; i + 1 < r.length; i++) if (r[i + 1]![0] - r[i]![1] < r[best + 1]![0] - r[best]![1]) best = i
    r.splice(best, 2, [r[best]![0], r[best + 1]![1]])
  }

  private kick(): void {
    if (this.running || this.retryTimer || this.stopped) return
    this.running = this.drain().finally(() => {
      this.running = null
      if (this.ranges.length === 0 || this.stopped) this.settle()
    })
  }

  private async drain(): Promise<void> {
    while (this.ranges.length && !this.stopped) {
      const [from, to] = this.ranges.shift()!
      try {
        await this.opts.refresh(from, to)
        this.failures = 0
      } catch (e) {
        this.add(from, to)
        this.failures++
        this.opts.onError?.(new Error(`refreshing positions_hourly over ${iso(from)} … ${iso(to)} failed: ${(e as Error).message}`))
        const wait = Math.min(60_000, this.retryMs * 2 ** (this.failures - 1))
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null
          this.kick()
        }, wait)
        this.retryTimer.unref()
        return
      }
    }
  }

  private settle(): void {
    const w = this.waiters
    this.waiters = []
    for (const resolve of w) resolve()
  }
}

export interface HourlyAggregate {
  /** After a committed batch: schedules the refresh of its hours the policy will not reach. */
  committed(batch: readonly PositionRecord[], now: number): void
  /** Refreshes what is still invalidated between retention and the policy's window (storage upkeep). */
  refreshBacklog(now: number): Promise<void>
  /** Resolves once the scheduled refreshes have run. */
  idle(): Promise<void>
  stop(): Promise<void>
}

export function hourlyAggregate(ctx: StoreContext, opts: { onError?: (err: Error) => void } = {}): HourlyAggregate {
  const refresh = async (from: number, to: number) => {
    // A day per statement: each stays within the statement timeout however much a merged range or
    // the first sweep after an upgrade covers; a day with nothing invalidated costs next to nothing.
    // (CALL cannot run inside a transaction block: each is a statement of its own.)
    for (let start = from; start < to; start += DAY) {
      await ctx.sql.query(`CALL refresh_continuous_aggregate('positions_hourly', $1::timestamptz, $2::timestamptz)`, [iso(start), iso(Math.min(to, start + DAY))])
    }
  }
  const refresher = new HourlyRefresher({ refresh, onError: opts.onError })
  return {
    committed(batch, now) {
      if (!ctx.mode.timescale) return
      const cutoff = beyondPolicy(now)
      let late: number[] | null = null
      for (const p of batch) if (p.deviceTime < cutoff) (late ??= []).push(p.deviceTime)
      if (late) refresher.note(late)
    },
    async refreshBacklog(now) {
      if (!ctx.mode.timescale) return
      // From the oldest positions retention keeps to where the policy takes over; only invalidated
      // ranges are recomputed, so an hour with nothing new costs nothing.
      const from = hourOf(now - ctx.config.retention.positionsDays * DAY)
      const to = hourOf(beyondPolicy(now))
      if (to > from) await refresh(from, to)
    },
    idle: () => refresher.idle(),
    stop: () => refresher.stop(),
  }
}
