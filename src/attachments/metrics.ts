/** Attachment metrics on the process registry (served by /metrics). Labels are fixed sets. */
import { Counter, Gauge, type Registry } from 'prom-client'

export type RefusalReason = 'unknown_alarm' | 'wrong_terminal' | 'too_many_files' | 'no_alarm_yet' | 'too_large' | 'empty_file' | 'busy' | 'unknown_file' | 'out_of_range' | 'bad_frame' | 'unsupported'

export type FailureReason = 'deadline' | 'content_type' | 'store_error' | 'write_error'

export interface AttachmentMetrics {
  alarmsInstructed: Counter
  instructionOutcomes: Counter<'status'>
  uploadsStarted: Counter
  uploadsCompleted: Counter
  uploadsFailed: Counter<'reason'>
  refused: Counter<'reason'>
  bytes: Counter
  retransmissionRounds: Counter
  pending: Gauge
  bytesInFlight: Gauge
  connections: Gauge
}

/** The metrics, registered once per registry (several apps in one process may share one). */
export function createAttachmentMetrics(registry: Registry): AttachmentMetrics {
  const registers = [registry]
  const existing = SHARED.get(registry)
  if (existing) return existing
  const metrics: AttachmentMetrics = {
    alarmsInstructed: new Counter({ name: 'jt808_attachment_alarms_instructed_total', help: '0x9208 instructions sent for active-safety alarms with attachments', registers }),
    instructionOutcomes: new Counter({ name: 'jt808_attachment_instructions_total', help: '0x9208 outcomes by status', labelNames: ['status'], registers }),
    uploadsStarted: new Counter({ name: 'jt808_attachment_uploads_started_total', help: 'files announced with 0x1211 and accepted', registers }),
    uploadsCompleted: new Counter({ name: 'jt808_attachment_uploads_completed_total', help: 'files stored whole (0x9212 result 0)', registers }),
    uploadsFailed: new Counter({ name: 'jt808_attachment_uploads_failed_total', help: 'files given up, by reason', labelNames: ['reason'], registers }),
    refused: new Counter({ name: 'jt808_attachment_refused_total', help: 'messages or data refused, by reason', labelNames: ['reason'], registers }),
    bytes: new Counter({ name: 'jt808_attachment_bytes_total', help: 'file bytes stored in the object store', registers }),
    retransmissionRounds: new Counter({ name: 'jt808_attachment_retransmission_rounds_total', help: '0x9212 answers asking for missing segments', registers }),
    pending: new Gauge({ name: 'jt808_attachment_uploads_pending', help: 'files announced and not yet complete or failed', registers }),
    bytesInFlight: new Gauge({ name: 'jt808_attachment_bytes_in_flight', help: 'received bytes not yet written to the staging disk', registers }),
    connections: new Gauge({ name: 'jt808_attachment_connections', help: 'open attachment server connections', registers }),
  }
  SHARED.set(registry, metrics)
  return metrics
}

const SHARED = new WeakMap<Registry, AttachmentMetrics>()
