/**
 * Terminal alarm transitions (bits raised / cleared between consecutive real-time reports),
 * written in batches after the positions that carry them committed. A failed batch is kept and
 * retried with the next one (the store ignores rows it already has); only a backlog beyond the
 * bound is dropped, and counted.
 */
import type { Logger } from 'pino'
import type { AlarmTransition } from '../domain.js'
import type { Store } from '../store/port.js'
import { BatchWriter } from './batch-writer.js'
import type { GatewayMetrics } from './metrics.js'

const FLUSH_ROWS = 500

export class AlarmTransitionWriter {
  private readonly writer: BatchWriter<AlarmTransition>

  constructor(store: Store, metrics: GatewayMetrics, logger: Logger) {
    this.writer = new BatchWriter({
      write: (batch) => store.insertAlarmTransitions(batch),
      flushRows: FLUSH_ROWS,
      flushMs: 500,
      maxBuffered: 100_000,
      maxBatch: FLUSH_ROWS * 4,
      retryFailed: true,
      dropped: (rows) => metrics.alarmTransitionsDropped.inc(rows),
      failed: (err, batch) => logger.error({ err, rows: batch.length }, 'writing alarm transitions failed; will retry'),
    })
  }

  add(row: AlarmTransition): void {
    this.writer.add(row)
  }

  flush(): Promise<void> {
    return this.writer.flush()
  }

  /** Final flush (one attempt). */
  close(): Promise<void> {
    return this.writer.close()
  }
}
