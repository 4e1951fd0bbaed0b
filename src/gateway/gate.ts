/**
 * Admission control: a counting semaphore with a bounded waiting line. Registration and
 * authentication hit the registry in the database and the session state; a reconnect storm
 * (100k terminals after a restart) must queue here rather than take every pooled connection and
 * the event loop away from the positions of terminals already back, whose acks wait on commits.
 * Past the line's bound a caller is refused at once (GateFull): the gateway closes that
 * connection and the terminal comes back after its own backoff, instead of every terminal
 * holding a socket in a line it would time out in anyway.
 *
 * Two rules keep a long line from collapsing into "every answer comes after the terminal gave up"
 * (measured in bench/storm: with a plain FIFO, 16,000 of 20,000 re-authentications were answered
 * after the terminals' 30 s patience, so the work was done twice or more):
 * - a caller whose terminal has gone (its connection closed while waiting) is skipped when its
 *   turn comes, without running anything;
 * - once the oldest caller has waited longer than `lifoAfterMs`, the line is served newest first
 *   (adaptive LIFO): the newest arrivals are the ones still listening, the oldest are the most
 *   likely to have given up. When the line drains it is FIFO again.
 */
export class GateFull extends Error {
  constructor(readonly queued: number) {
    super(`admission queue full (${queued} waiting)`)
    this.name = 'GateFull'
  }
}

/** The caller's connection went away while it waited: nothing was run. */
export class GateAbandoned extends Error {
  constructor() {
    super('caller gone before its turn')
    this.name = 'GateAbandoned'
  }
}

export interface GateOptions {
  /** callers waiting at most (past it: GateFull) */
  maxQueued?: number
  /** the line is served newest first while its oldest caller has waited this long (ms); Infinity: always FIFO */
  lifoAfterMs?: number
  /** clock (ms), for tests */
  now?: () => number
}

interface Waiter {
  grant: () => void
  at: number
}

export class Gate {
  private active_ = 0
  private readonly waiting: Waiter[] = []
  private head = 0
  private readonly maxQueued: number
  private readonly lifoAfterMs: number
  private readonly now: () => number
  /** callers skipped because they had gone (counted for the metrics) */
  abandoned = 0
  /** turns handed out newest first */
  servedLifo = 0

  constructor(
    private readonly limit: number,
    opts: GateOptions | number = {},
  ) {
    const o = typeof opts === 'number' ? { maxQueued: opts } : opts
    this.maxQueued = o.maxQueued ?? Infinity
    this.lifoAfterMs = o.lifoAfterMs ?? Infinity
    this.now = o.now ?? Date.now
  }

  /**
   * Runs fn once a slot is free; rejects with GateFull (fn not run) when the line is at its bound,
   * with GateAbandoned (fn not run) when `gone()` holds at the caller's turn.
   */
  async run<T>(fn: () => Promise<T>, gone?: () => boolean): Promise<T> {
    if (gone?.()) throw this.skip()
    if (this.active_ >= this.limit) {
      if (this.queued >= this.maxQueued) throw new GateFull(this.queued)
      await new Promise<void>((grant) => this.waiting.push({ grant, at: this.now() }))
      // The slot was handed over: pass it on if the caller has gone meanwhile.
      if (gone?.()) {
        this.release()
        throw this.skip()
      }
    } else this.active_++
    try {
      return await fn()
    } finally {
      this.release()
    }
  }

  private skip(): GateAbandoned {
    this.abandoned++
    return new GateAbandoned()
  }

  private release(): void {
    if (this.head < this.waiting.length) {
      // Hand the slot over directly: `active` stays the same.
      let next: Waiter
      if (this.now() - this.waiting[this.head]!.at > this.lifoAfterMs && this.waiting.length - this.head > 1) {
        next = this.waiting.pop()!
        this.servedLifo++
      } else {
        next = this.waiting[this.head]!
        this.waiting[this.head++] = DONE
        if (this.head > 1024 && this.head * 2 > this.waiting.length) {
          this.waiting.splice(0, this.head)
          this.head = 0
        }
      }
      next.grant()
    } else {
      this.waiting.length = 0
      this.head = 0
      this.active_--
    }
  }

  /** callers running now (≤ the limit) */
  get active(): number {
    return this.active_
  }

  /** callers waiting for a slot */
  get queued(): number {
    return this.waiting.length - this.head
  }

  /** how long the oldest caller has waited (ms), 0 when nobody waits */
  get oldestWaitMs(): number {
    return this.head < this.waiting.length ? this.now() - this.waiting[this.head]!.at : 0
  }
}

const DONE: Waiter = { grant: () => undefined, at: 0 }
