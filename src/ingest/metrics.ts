/** Ingest metrics on a prom-client registry (reused when several queues share one, as in tests). */
import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client'
import { metricGetter } from '../metrics.js'

export interface IngestMetrics {
  committed: Counter
  duplicates: Counter
  rejected: Counter<'reason'>
  batchRows: Histogram
  flushSeconds: Histogram
  retries: Counter
  queuedRows: Gauge
  downstreamRows: Gauge<'consumer'>
}

export function createIngestMetrics(registry: Registry = globalRegistry): IngestMetrics {
  const registers = [registry]
  const get = metricGetter(registry)
  return {
    committed: get('jt808_ingest_rows_committed_total', () => new Counter({ name: 'jt808_ingest_rows_committed_total', help: 'Positions newly stored (committed)', registers })),
    duplicates: get(
      'jt808_ingest_duplicates_total',
      () => new Counter({ name: 'jt808_ingest_duplicates_total', help: 'Positions already stored (retransmissions), acknowledged without a second copy', registers }),
    ),
    rejected: get('jt808_ingest_rejected_total', () => new Counter({ name: 'jt808_ingest_rejected_total', help: 'Positions not stored, by reason', labelNames: ['reason'], registers })),
    batchRows: get(
      'jt808_ingest_batch_rows',
      () => new Histogram({ name: 'jt808_ingest_batch_rows', help: 'Rows per committed batch', buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000], registers }),
    ),
    flushSeconds: get(
      'jt808_ingest_flush_seconds',
      () => new Histogram({ name: 'jt808_ingest_flush_seconds', help: 'Time to write and commit one batch', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    ),
    retries: get('jt808_ingest_retries_total', () => new Counter({ name: 'jt808_ingest_retries_total', help: 'Batch writes retried after a database error', registers })),
    queuedRows: get('jt808_ingest_queued_rows', () => new Gauge({ name: 'jt808_ingest_queued_rows', help: 'Positions submitted and not yet committed', registers })),
    downstreamRows: get(
      'jt808_ingest_downstream_rows',
      () => new Gauge({ name: 'jt808_ingest_downstream_rows', help: 'Committed positions a consumer has taken and not yet settled, by consumer', labelNames: ['consumer'], registers }),
    ),
  }
}
