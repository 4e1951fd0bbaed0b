/**
 * The raw-frame archive: every received frame (delimiters restored) with its receive time and
 * connection, written through store.archiveFrames in batches. It is an audit trail, not the
 * primary data path, so it never holds a terminal back: when the writer falls behind the
 * bounded buffer drops frames, and every dropped frame is counted.
 */
import type { Logger } from 'pino'
import type { RawFrame } from '../domain.js'
import type { Store } from '../store/port.js'
import { BatchWriter } from './batch-writer.js'
import type { GatewayMetrics } from './metrics.js'

const DELIMITER = Buffer.from([0x7e])

export class RawFrameArchive {
  private readonly writer: BatchWriter<RawFrame>

  constructor(store: Store, metrics: GatewayMetrics, logger: Logger) {
    this.writer = new BatchWriter({
      write: (batch) => store.archiveFrames(batch),
      flushRows: 1000,
      flushMs: 500,
      maxBuffered: 50_000,
      retryFailed: false,
      dropped: (rows) => metrics.archiveDropped.inc(rows),
      failed: (err, batch) => logger.error({ err, frames: batch.length }, 'raw-frame archive write failed'),
    })
  }

  /** `escaped` is the frame between its delimiters (may be a view into a socket chunk: copied here). */
  add(phone: string, connection: string, escaped: Buffer, receivedAt: number): void {
    this.writer.add({ phone, receivedAt, connection, frame: Buffer.concat([DELIMITER, escaped, DELIMITER]) })
  }

  /** Writes what is buffered (one batch at a time). */
  flush(): Promise<void> {
    return this.writer.flush()
  }

  close(): Promise<void> {
    return this.writer.close()
  }
}
