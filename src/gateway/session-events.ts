/**
 * Session events (online/offline) go to the store off the terminal's path, a few at a time: a
 * mass disconnect (network blip, shutdown) must not open thousands of concurrent writes and
 * time out the pool. Bounded; what does not fit is counted, never silently lost.
 */
import type { Logger } from 'pino'
import type { SessionEvent } from '../domain.js'
import type { Store } from '../store/port.js'
import type { GatewayMetrics } from './metrics.js'

const CONCURRENCY = 4
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
      const event = this.queue[this.head++]
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
      this.active++
      this.store
        .recordSessionEvent(event)
        .catch((e: unknown) => {
          this.metrics.sessionEventsDropped.inc()
          this.logger.error({ err: e, terminal: event.phone, kind: event.kind }, 'recording a session event failed')
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
