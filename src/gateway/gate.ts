/**
 * Admission control: a counting semaphore with a bounded waiting line. Registration and
 * authentication hit the registry in the database and the session state; a reconnect storm
 * (100k terminals after a restart) must queue here rather than take every pooled connection and
 * the event loop away from the positions of terminals already back, whose acks wait on commits.
 * Past the line's bound a caller is refused at once (GateFull): the gateway closes that
 * connection and the terminal comes back after its own backoff, instead of every terminal
 * holding a socket in a line it would time out in anyway.
 */
export class GateFull extends Error {
  constructor(readonly queued: number) {
    super(`admission queue full (${queued} waiting)`)
    this.name = 'GateFull'
  }
}

export class Gate {
  private active_ = 0
  private readonly waiting: Array<() => void> = []
  private head = 0

  constructor(
    private readonly limit: number,
    private readonly maxQueued = Infinity,
  ) {}

  /** Runs fn once a slot is free; rejects with GateFull (fn not run) when the line is at its bound. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active_ >= this.limit) {
      if (this.queued >= this.maxQueued) throw new GateFull(this.queued)
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else this.active_++
    try {
      return await fn()
    } finally {
      this.release()
    }
  }

  private release(): void {
    if (this.head < this.waiting.length) {
      // Hand the slot over directly: `active` stays the same. FIFO: the first to wait goes first.
      const next = this.waiting[this.head]!
      this.waiting[this.head++] = noop
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head)
        this.head = 0
      }
      next()
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
}

function noop(): void {}
