/**
 * "Condition holds for longer than minMs; episodes less than mergeMs apart are one" — the
 * shape of OVERSPEED, ROUTE_DEVIATION, NIGHT_DRIVING_RESTRICTED and POSITION_DRIFT.
 *
 * A sample's condition holds until the next sample (as GB/T 19056 treats speed), but never
 * across a gap: a condition last seen before a gap ended, as far as we know, at that sample.
 * The timer only keeps times; the rule that owns it keeps the evidence.
 */

export interface SustainedHost {
  /** the condition has held long enough: the episode started at `start` */
  onOpen(start: number, t: number): void
  /** the episode ended at `end` (decided at t) */
  onClose(end: number, t: number): void
  /** finish() found a run too short to qualify on its own (a late batch may complete a live episode) */
  onFragment?(start: number, end: number): void
}

export class SustainedTimer {
  /** first sample of the current run, NaN when no run */
  runStart = NaN
  lastTrue = NaN
  /** the episode is open but the condition stopped here (merge window running), NaN otherwise */
  falseSince = NaN
  open = false
  prevT = NaN

  constructor(
    readonly minMs: number,
    readonly mergeMs: number,
    readonly gapMs: number,
  ) {}

  /** True when the timer holds no state worth keeping (the rule may drop it). */
  get idle(): boolean {
    return !this.open && Number.isNaN(this.runStart)
  }

  step(t: number, cond: boolean, host: SustainedHost): void {
    this.advance(t, host)
    this.apply(t, cond, host)
  }

  /** First half of step: what the passage of time to t ends (a gap, a merge window run out). */
  advance(t: number, host: SustainedHost): void {
    const prev = this.prevT
    if (!Number.isNaN(prev) && t - prev > this.gapMs) this.endHold(prev, t, host)
    if (this.open && !Number.isNaN(this.falseSince) && t - this.falseSince > this.mergeMs) {
      this.closeAt(this.falseSince, t, host)
    }
  }

  /** Second half of step: the sample's condition. */
  apply(t: number, cond: boolean, host: SustainedHost): void {
    this.prevT = t
    if (cond) {
      if (this.open) {
        this.falseSince = NaN
        this.lastTrue = t
        return
      }
      if (Number.isNaN(this.runStart)) this.runStart = t
      this.lastTrue = t
      if (this.minMs <= 0 || t - this.runStart > this.minMs) this.openNow(t, host)
      return
    }
    if (this.open) {
      if (Number.isNaN(this.falseSince)) this.falseSince = t
      if (this.mergeMs <= 0) this.closeAt(this.falseSince, t, host)
      return
    }
    if (!Number.isNaN(this.runStart)) {
      // the condition held from runStart until this sample
      if (t - this.runStart > this.minMs) {
        this.openNow(t, host)
        this.falseSince = t
        if (this.mergeMs <= 0) this.closeAt(t, t, host)
      } else this.runStart = NaN
    }
  }

  /** Wall-clock progress: a merge window that ran out closes the episode. */
  tick(now: number, host: SustainedHost): void {
    if (this.open && !Number.isNaN(this.falseSince) && now - this.falseSince > this.mergeMs) this.closeAt(this.falseSince, now, host)
  }

  /** Ends whatever is going on at the last sample (end of a late batch, vehicle forgotten). */
  finish(t: number, host: SustainedHost): void {
    if (this.open) this.closeAt(Number.isNaN(this.falseSince) ? this.prevT : this.falseSince, t, host)
    else if (!Number.isNaN(this.runStart)) {
      host.onFragment?.(this.runStart, this.lastTrue)
      this.runStart = NaN
    }
  }

  /** When the next check is due (ms), Infinity when nothing is pending. */
  get due(): number {
    return this.open && !Number.isNaN(this.falseSince) ? this.falseSince + this.mergeMs + 1 : Infinity
  }

  private endHold(prev: number, t: number, host: SustainedHost): void {
    if (this.open) {
      if (Number.isNaN(this.falseSince)) this.falseSince = prev
    } else if (!Number.isNaN(this.runStart)) {
      if (prev - this.runStart > this.minMs && this.lastTrue === prev) {
        this.openNow(t, host)
        this.falseSince = prev
      } else this.runStart = NaN
    }
  }

  private openNow(t: number, host: SustainedHost): void {
    this.open = true
    this.falseSince = NaN
    host.onOpen(this.runStart, t)
  }

  private closeAt(end: number, t: number, host: SustainedHost): void {
    this.open = false
    this.runStart = NaN
    this.falseSince = NaN
    host.onClose(end, t)
  }
}
