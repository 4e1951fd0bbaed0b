/** The durable write path: group commit into the store, acknowledgements only after commit. */
export { IngestQueue, IngestClosedError, IngestOverloadError, ingestOptionsFromConfig } from './queue.js'
export type { CommittedConsumer, IngestQueueOptions, SubmitCallback, SubmitResult } from './queue.js'
export type { RejectReason } from './validate.js'
export { REJECT_REASONS } from './validate.js'
