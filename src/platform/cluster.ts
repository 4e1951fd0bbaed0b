/**
 * `jt808 serve --workers N` and the JT/T 809 links: what a worker needs of the others, through the
 * primary (src/cli/commands/serve-cluster.ts carries it over the cluster IPC channel).
 *
 * - Forwarding: one worker (the forwarder, chosen by the primary) owns every superior's link; the
 *   others relay their committed rows of the superiors' selection to it. A relay lost with a dying
 *   forwarder is no loss: its successor starts from the durable forwarding position.
 * - Actions toward a platform: a lower platform logs in to whichever worker its connection reached,
 *   and an API request lands on any worker. Each worker tells the primary which lower platforms it
 *   holds; an action the requesting worker cannot send itself (查岗, 督办, a command to a vehicle,
 *   a waybill request, the answer to a superior's 查岗) is a call the primary hands to the worker
 *   holding the link, and that worker's real result comes back. A platform that logs in again on
 *   another worker supersedes its session on the first, as a second login does in one process.
 */
import type { Anomaly, CommittedPosition } from '../domain.js'
import type { PlatformVehicle, PostQuery } from '../store/platforms.js'
import type { VehicleCommand, VehicleCommandOutcome } from './vehicle-commands.js'

/** 查岗 as the API asks it. */
export interface PostQueryRequest {
  question: string
  objectType?: number
  objectId?: string
  answerMinutes?: number
  askedBy: string | null
}

/** An operator's answer to a superior's 查岗. */
export interface PostQueryAnswerInput {
  content: string
  responder: string | null
  responderTel: string | null
}

/** A command sent through a platform, and its final reply when it came within the wait (null: not yet). */
export interface VehicleCommandSent {
  id: string
  platformId: number
  msgId: 0x9502 | 0x9503
  expiresAt: number
  outcome: VehicleCommandOutcome | null
}

/**
 * Why an action toward a platform was not sent: no process holds its link (the platform is not
 * logged in to any worker); or the worker holding it did not answer.
 */
export type NotSent = 'not-logged-in' | 'unreachable'

/** What one worker asks of the worker holding a link. */
export type PlatformCall =
  | { op: 'post-query'; platformId: number; query: PostQueryRequest }
  | { op: 'waybill-request'; platformId: number; plate: string; plateColor: number }
  /** to the platform the primary picked among the candidates */
  | { op: 'supervise'; anomaly: Anomaly; supervisor: string }
  | { op: 'vehicle-command'; vehicle: PlatformVehicle; command: VehicleCommand; ttlMs: number; waitMs: number }
  | { op: 'answer-post-query'; id: number; answer: PostQueryAnswerInput }

/** The holder's result of each call (null: the platform was gone from it by the time the call came). */
export interface PlatformCallResults {
  'post-query': PostQuery | null
  'waybill-request': number | null
  supervise: { platformId: number; supervisionId: number } | null
  'vehicle-command': VehicleCommandSent | null
  'answer-post-query': PostQuery | 'not-found' | 'answered' | 'link-down'
}

/**
 * Who a call is for: the worker holding the first of these lower platforms that any worker holds
 * (in the caller's order of preference; `platformId` of the delivery says which), or the worker
 * running the superiors' links.
 */
export type PlatformHolder = { lower: number[] } | { superiors: true }

/**
 * A call's answer. not-held: no worker holds the link; unreachable: the holder did not answer
 * (it died, or the primary is gone); failed: the holder tried and threw.
 */
export type CallAnswer<T = unknown> = { ok: true; value: T } | { ok: false; reason: 'not-held' | 'unreachable' } | { ok: false; reason: 'failed'; message: string }

export interface PlatformCluster {
  forwarder: boolean
  /** a non-forwarder's committed rows for the forwarder */
  relay(rows: CommittedPosition[]): void
  /** the forwarder: rows other workers committed */
  onRows(handler: (rows: CommittedPosition[]) => void): void
  /** a lower platform's session began (true) or ended (false) in this worker */
  holding(platformId: number, held: boolean): void
  /** hands a call to the worker holding the link; answers unreachable after timeoutMs */
  call<C extends PlatformCall>(to: PlatformHolder, call: C, timeoutMs: number): Promise<CallAnswer<PlatformCallResults[C['op']]>>
  /** runs the calls other workers route here; platformId: the lower platform the primary picked (null: the superiors) */
  onCall(handler: (call: PlatformCall, platformId: number | null) => Promise<unknown>): void
  /** the platform logged in again on another worker: its session here is stale (ended, as one process ends a superseded one) */
  onSuperseded(handler: (platformId: number) => void): void
}
