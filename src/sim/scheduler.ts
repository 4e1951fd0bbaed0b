/**
 * One timer for many terminals: a binary min-heap of due times with a single clock timer armed
 * for the earliest. Thousands of terminals cost one timer, not one each; ties run in the order
 * they were scheduled.
 */
import type { Clock } from './clock.js'

interface Entry {
  at: number
  seq: number
  fn: () => void
}

export class Scheduler {
  private heap: Entry[] = []
  private seq = 0
  private timer: unknown = null
  private armedFor = Infinity
  private stopped = false

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.heap.length
  }

  /** Runs fn at clock time `at` (or as soon as possible when that has passed). */
  at(at: number, fn: () => void): void {
    if (this.stopped) return
    this.push({ at, seq: this.seq++, fn })
    if (at < this.armedFor) this.arm()
  }

  stop(): void {
    this.stopped = true
    this.heap = []
    if (this.timer !== null) this.clock.clearTimer(this.timer)
    this.timer = null
  }

  private arm(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer)
    const first = this.heap[0]
    if (!first) {
      this.timer = null
      this.armedFor = Infinity
      return
    }
    this.armedFor = first.at
    this.timer = this.clock.setTimer(() => this.run(), first.at - this.clock.now())
  }

  private run(): void {
    this.timer = null
    this.armedFor = Infinity
    const now = this.clock.now()
    // Bound the work per tick so sockets get serviced between batches.
    let budget = 5000
    while (this.heap.length && this.heap[0].at <= now && budget-- > 0) {
      const e = this.pop() as Entry
      try {
        e.fn()
      } catch {
        // A task's failure is its own business: the loop must keep running for the others.
      }
    }
    if (!this.stopped) this.arm()
  }

  private push(e: Entry): void {
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p], e)) break
      h[i] = h[p]
      i = p
    }
    h[i] = e
  }

  private pop(): Entry | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length && last) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        let best = last
        if (l < h.length && less(h[l], best)) {
          m = l
          best = h[l]
        }
        if (r < h.length && less(h[r], best)) {
          m = r
          best = h[r]
        }
        if (m === i) break
        h[i] = h[m]
        i = m
      }
      h[i] = last
    }
    return top
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
