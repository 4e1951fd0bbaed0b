/**
 * The raw-frame archive: every received frame (delimiters restored) with its receive time and
 * connection, written through store.archiveFrames in batches. It is an audit trail, not the
 * primary data path, so it never holds a terminal back: when the writer falls behind the
 * bounded buffer drops frames, and every dropped frame is counted.
 */
import type { Logger } from 'pino'
import type { RawFrame } from '../domain.js'
import type { Store } from '../store/port.js'
import type { GatewayMetrics } from './metrics.js'

const FLUSH_ROWS = 1000
const FLUSH_MS = 500
const MAX_BUFFERED = 50_000
const DELIMITER = Buffer.from([0x7e])

export class RawFrameArchive {
  private rows: RawFrame[] = []
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

  /** `escaped` is the frame between its delimiters (may be a view into a socket chunk: copied here). */
  add(phone: string, connection: string, escaped: Buffer, receivedAt: number): void {
    if (this.rows.length >= MAX_BUFFERED) {
      this.metrics.archiveDropped.inc()
      return
    }
    this.rows.push({ phone, receivedAt, connection, frame: Buffer.concat([DELIMITER, escaped, DELIMITER]) })
    if (this.rows.length >= FLUSH_ROWS && !this.writing) void this.flush()
  }

  /** Writes what is buffered (one batch at a time). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing
    if (this.rows.length === 0) return
    const batch = this.rows
    this.rows = []
    this.writing = this.store.archiveFrames(batch).then(
      () => undefined,
      (e: unknown) => {
        this.metrics.archiveDropped.inc(batch.length)
        this.logger.error({ err: e, frames: batch.length }, 'raw-frame archive write failed')
      },
    )
    try {
      await this.writing
    } finally {
      this.writing = null
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }
}
