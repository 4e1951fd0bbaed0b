/**
 * A counting semaphore. Registration and authentication hit the registry in the database; a
 * reconnect storm (100k terminals after a restart) must queue here rather than take every pooled
 * connection and starve the ingest queue, whose commits hold everyone's acks.
 */
export class Gate {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.active++
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      // Hand the slot over directly: `active` stays the same.
      if (next) next()
      else this.active--
    }
  }

  get queued(): number {
    return this.waiting.length
  }
}
