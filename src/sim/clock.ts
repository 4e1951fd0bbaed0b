/**
 * Time as the replay and the simulator see it, injectable so tests run on a fake clock:
 * `now()` in ms, and timers. The real clock reads performance.now() (monotonic, sub-ms).
 */
export interface Clock {
  now(): number
  setTimer(fn: () => void, ms: number): unknown
  clearTimer(handle: unknown): void
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve) => clock.setTimer(resolve, ms))
}

/**
 * A fake clock that jumps straight to the next due timer once the event loop has nothing else
 * to do (a macrotask later), so I/O on real sockets still interleaves in order. `sleeps` records
 * every timer's due time, for assertions on pacing.
 */
export class FakeClock implements Clock {
  private t: number
  private seq = 0
  private timers: Array<{ at: number; seq: number; fn: () => void }> = []
  private pumping = false

  constructor(start = 0) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn }
    this.timers.push(timer)
    this.pump()
    return timer
  }

  clearTimer(handle: unknown): void {
    const i = this.timers.indexOf(handle as (typeof this.timers)[number])
    if (i >= 0) this.timers.splice(i, 1)
  }

  /** Moves time forward by ms, firing what falls due. */
  advance(ms: number): void {
    const until = this.t + ms
    for (;;) {
      const next = this.earliest()
      if (!next || next.at > until) break
      this.fire(next)
    }
    this.t = until
  }

  private earliest() {
    let best: (typeof this.timers)[number] | undefined
    for (const x of this.timers) if (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq)) best = x
    return best
  }

  private fire(timer: (typeof this.timers)[number]): void {
    this.timers.splice(this.timers.indexOf(timer), 1)
    if (timer.at > this.t) this.t = timer.at
    timer.fn()
  }

  private pump(): void {
    if (this.pumping) return
    this.pumping = true
    // setTimeout(0) rather than setImmediate: lets socket reads queued before us complete first.
    setTimeout(() => {
      this.pumping = false
      const next = this.earliest()
      if (!next) return
      this.fire(next)
      if (this.timers.length) this.pump()
    }, 1)
  }
}
