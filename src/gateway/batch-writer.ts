/**
 * A bounded buffer of rows written to the store in batches: every `flushMs`, and as soon as
 * `flushRows` wait. One write at a time; flush() waits for the one in flight. Rows beyond
 * `maxBuffered` are refused and counted, so a slow store never costs unbounded memory. What
 * becomes of a failed batch is the owner's choice: dropped (counted), or put back in front of the
 * buffer for the next write, as much of it as fits.
 */
export interface BatchWriterOptions<T> {
  write(batch: T[]): Promise<unknown>
  flushRows: number
  flushMs: number
  maxBuffered: number
  /** rows per write; default everything buffered */
  maxBatch?: number
  /** true: a failed batch is kept for the next write; false: it is dropped */
  retryFailed: boolean
  /** rows given up: refused over the bound, or lost with a failed batch */
  dropped(rows: number): void
  /** a write failed (log it here) */
  failed(err: unknown, batch: T[]): void
}

export class BatchWriter<T> {
  private rows: T[] = []
  private writing: Promise<void> | null = null
  private readonly timer: NodeJS.Timeout

  constructor(private readonly opts: BatchWriterOptions<T>) {
    this.timer = setInterval(() => void this.flush(), opts.flushMs)
    this.timer.unref()
  }

  add(row: T): void {
    if (this.rows.length >= this.opts.maxBuffered) {
      this.opts.dropped(1)
      return
    }
    this.rows.push(row)
    if (this.rows.length >= this.opts.flushRows && !this.writing) void this.flush()
  }

  /** Writes one batch of what is buffered (waiting first for a write in flight). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing
    if (this.rows.length === 0) return
    const max = this.opts.maxBatch ?? Infinity
    let batch: T[]
    if (this.rows.length <= max) {
      batch = this.rows
      this.rows = []
    } else batch = this.rows.splice(0, max)
    this.writing = this.opts.write(batch).then(
      () => undefined,
      (e: unknown) => {
        this.opts.failed(e, batch)
        if (!this.opts.retryFailed) {
          this.opts.dropped(batch.length)
          return
        }
        const room = Math.max(this.opts.maxBuffered - this.rows.length, 0)
        if (room < batch.length) this.opts.dropped(batch.length - room)
        this.rows = batch.slice(0, room).concat(this.rows)
      },
    )
    try {
      await this.writing
    } finally {
      this.writing = null
    }
  }

  /** Stops the timer and makes a final flush (one attempt). */
  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }
}
