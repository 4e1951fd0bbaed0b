/**
 * Session events (online/offline) go to the store off the terminal's path, in batches of up to
 * BATCH, a few batches at a time: a mass disconnect or a reconnect storm must not open thousands
 * of concurrent writes and time out the pool. Bounded; what does not fit is counted, never
 * silently lost.
 */
import type { Logger } from 'pino'
import type { SessionEvent } from '../domain.js'
import type { Store } from '../store/port.js'
import type { GatewayMetrics } from './metrics.js'

const CONCURRENCY = 2
const BATCH = 500
const MAX_QUEUED = 200_000

export class SessionEventWriter {
  private queue: SessionEvent[] = []
  private head = 0
  private active = 0
  private idle: Array<() => void> = []

  constructor(
    private readonly store: Store,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  add(event: SessionEvent): void {
    if (this.queue.length - this.head >= MAX_QUEUED) {
      this.metrics.sessionEventsDropped.inc()
      return
    }
    this.queue.push(event)
    this.pump()
  }

  /** Resolves once everything queued is written (or failed, logged). */
  drain(): Promise<void> {
    if (this.active === 0 && this.head === this.queue.length) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  private pump(): void {
    while (this.active < CONCURRENCY && this.head < this.queue.length) {
      const batch = this.queue.slice(this.head, this.head + BATCH)
      this.head += batch.length
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
      this.active++
      this.store
        .recordSessionEvents(batch)
        .catch((e: unknown) => {
          this.metrics.sessionEventsDropped.inc(batch.length)
          this.logger.error({ err: e, events: batch.length, first: batch[0]!.phone }, 'recording session events failed')
        })
        .finally(() => {
          this.active--
          this.pump()
          if (this.active === 0 && this.head === this.queue.length) {
            const waiters = this.idle
            this.idle = []
            for (const w of waiters) w()
          }
        })
    }
  }
}
