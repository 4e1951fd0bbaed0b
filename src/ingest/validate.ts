/**
 * What the ingest queue refuses to store, and why. Only rows that cannot be stored meaningfully
 * are refused here; rows that are merely implausible (off-China coordinates, a clock a few
 * minutes ahead, speed 300 km/h) are stored and judged by the matcher's validity rules, so the
 * assessment's valid-data rate sees them.
 */
import type { PositionRecord } from '../domain.js'

export type RejectReason =
  /** vehicle id missing or not a registry id */
  | 'invalid_vehicle'
  /** device or receive time not a number */
  | 'invalid_time'
  /** device time further ahead of the clock than maxFutureMs (broken terminal clock) */
  | 'future_time'
  /** device time older than the positions retention: it would be dropped at once */
  | 'expired'
  /** a numeric field not finite or outside its column's range */
  | 'invalid_value'
  /** the database refused the row itself (data exception), isolated from its batch */
  | 'database'
  /** the queue was over its hard limit (the terminal retransmits later) */
  | 'overload'
  /** the queue was closed */
  | 'closed'

export const REJECT_REASONS: RejectReason[] = ['invalid_vehicle', 'invalid_time', 'future_time', 'expired', 'invalid_value', 'database', 'overload', 'closed']

export interface ValidationLimits {
  now: number
  maxFutureMs: number
  retentionMs: number
}

const INT4_MAX = 2 ** 31 - 1
const DWORD_MAX = 2 ** 32 - 1

function isIntIn(v: number, min: number, max: number): boolean {
  return Number.isInteger(v) && v >= min && v <= max
}

export function rejectReason(p: PositionRecord, limits: ValidationLimits): RejectReason | null {
  if (!isIntIn(p.vehicleId, 1, INT4_MAX)) return 'invalid_vehicle'
  if (!Number.isFinite(p.deviceTime) || !Number.isFinite(p.receivedAt)) return 'invalid_time'
  if (p.deviceTime > limits.now + limits.maxFutureMs) return 'future_time'
  if (p.deviceTime < limits.now - limits.retentionMs) return 'expired'
  if (!Number.isFinite(p.latitude) || !Number.isFinite(p.longitude) || !Number.isFinite(p.speed)) return 'invalid_value'
  if (p.mileage !== null && !Number.isFinite(p.mileage)) return 'invalid_value'
  if (!isIntIn(p.altitude, -INT4_MAX, INT4_MAX) || !isIntIn(p.direction, -32768, 32767)) return 'invalid_value'
  if (!isIntIn(p.alarm, 0, DWORD_MAX) || !isIntIn(p.status, 0, DWORD_MAX) || !isIntIn(p.sourceMsgId, 0, INT4_MAX)) return 'invalid_value'
  return null
}
