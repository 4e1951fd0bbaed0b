/**
 * Attachment retention: alarms older than JT808_RETENTION_ATTACHMENTS_DAYS go, their files
 * first (an object without a row is never served; a row without its object would be).
 */
import type { Config } from '../config/index.js'
import type { AttachmentStore } from '../store/attachments.js'
import type { ObjectStore } from './object-store.js'

const DAY_MS = 86_400_000

/** Deletes what is past retention at `now`; returns the number of alarms deleted. */
export async function applyAttachmentRetention(
  store: Pick<AttachmentStore, 'attachmentAlarmsBefore' | 'deleteAttachmentAlarms'>,
  objects: ObjectStore,
  retention: Pick<Config['retention'], 'attachmentsDays'>,
  now: number,
): Promise<number> {
  let deleted = 0
  for (;;) {
    const batch = await store.attachmentAlarmsBefore(now - retention.attachmentsDays * DAY_MS, 500)
    if (!batch.length) return deleted
    for (const a of batch) for (const key of a.objectKeys) await objects.delete(key)
    deleted += await store.deleteAttachmentAlarms(batch.map((a) => a.alarmNumber))
  }
}

/** Hourly, and once now; the timer never keeps the process alive. */
export function startAttachmentRetention(run: () => Promise<unknown>, onError: (err: unknown) => void): { stop(): void } {
  const tick = () => void run().catch(onError)
  const timer = setInterval(tick, 3_600_000)
  timer.unref()
  tick()
  return { stop: () => clearInterval(timer) }
}
