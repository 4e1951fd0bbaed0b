/**
 * Terminal alarm transitions (bits raised / cleared between consecutive real-time reports),
 * written in batches after the positions that carry them committed. A failed batch is kept and
 * retried with the next one (the store ignores rows it already has); only a backlog beyond the
 * bound is dropped, and counted.
 */
import type { Logger } from 'pino'
import type { AlarmTransition } from '../domain.js'
import type { Store } from '../store/port.js'
import type { GatewayMetrics } from './metrics.js'

const FLUSH_ROWS = 500
const FLUSH_MS = 500
const MAX_BUFFERED = 100_000

export class AlarmTransitionWriter {
  private rows: AlarmTransition[] = []
  private writing: Promise<void> | null = null
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly store: Store,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS)
    this.timer.unref()
  }

  add(row: AlarmTransition): void {
    if (this.rows.length >= MAX_BUFFERED) {
      this.metrics.alarmTransitionsDropped.inc()
      return
    }
    this.rows.push(row)
    if (this.rows.length >= FLUSH_ROWS && !this.writing) void this.flush()
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing
    if (this.rows.length === 0) return
    const batch = this.rows.splice(0, FLUSH_ROWS * 4)
    this.writing = this.store.insertAlarmTransitions(batch).then(
      () => undefined,
      (e: unknown) => {
        this.logger.error({ err: e, rows: batch.length }, 'writing alarm transitions failed; will retry')
        const room = MAX_BUFFERED - this.rows.length
        if (room < batch.length) this.metrics.alarmTransitionsDropped.inc(batch.length - Math.max(room, 0))
        this.rows = batch.slice(0, Math.max(room, 0)).concat(this.rows)
      },
    )
    try {
      await this.writing
    } finally {
      this.writing = null
    }
  }

  /** Final flush (one attempt). */
  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }
}
