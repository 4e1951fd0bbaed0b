/**
 * The live-state port: sessions (which node holds which terminal), online status, last position
 * per vehicle, and the message paths between gateway processes. Two implementations: MemoryState
 * (one process, the default) and RedisState (ioredis, REDIS_URL).
 * No module outside src/state talks to Redis.
 */
import type { CommittedPosition } from '../domain.js'

export interface SessionInfo {
  phone: string
  nodeId: string
  /** epoch ms the session authenticated */
  since: number
  address: string
  vehicleId: number | null
  plate: string | null
}

/** A message for the gateway process that holds a terminal (downlink routing). */
export interface NodeMessage {
  kind: 'command'
  /** correlation id: the answer comes back on the reply channel with it */
  id: string
  phone: string
  msgId: number
  body: unknown
  timeoutMs: number
  replyTo: string
}

export interface NodeReply {
  kind: 'command-result'
  id: string
  outcome: unknown
}

/** Tells the node holding a terminal's older connection to close it: a newer session authenticated on `nodeId`. */
export interface NodeSupersede {
  kind: 'supersede'
  phone: string
  nodeId: string
  since: number
}

/** Tells the node holding a terminal's connection to close it (the API retired its vehicle). */
export interface NodeDisconnect {
  kind: 'disconnect'
  phone: string
  reason: string
}

/** Everything that travels on node channels. */
export type NodeEnvelope = NodeMessage | NodeReply | NodeSupersede | NodeDisconnect

/** Channel a node listens on for messages about terminals it holds (commands, supersede, disconnect). */
export const nodeChannel = (nodeId: string) => `node:${nodeId}`

/** An entry of an append-only stream (Redis Streams, or an in-memory ring). */
export interface StreamEntry<T> {
  /** monotonically increasing, resumable cursor ("1718000000000-0") */
  id: string
  value: T
}

/** An entry read through a consumer group, with the stream it came from (reads may span streams). */
export interface GroupEntry<T> extends StreamEntry<T> {
  stream: string
}

/** Default bound of a stream when `append` is given no maxLen (Redis: MAXLEN ~, memory: exact). */
export const DEFAULT_STREAM_MAX_LEN = 100_000

/**
 * Whether the state can be reached. While it cannot (Redis down or not answering), a terminal's
 * data does not wait for it: reads and session writes fail at once with StateUnavailableError,
 * last positions and stream appends wait in bounded in-process buffers (the oldest dropped and
 * counted past the bound) and are written, in order, once it answers again.
 */
export interface StateHealth {
  available: boolean
  /** epoch ms of the last change of `available` (the start for a state that never changed) */
  since: number
  /** writes waiting for the state: stream entries and vehicles' last positions */
  buffered: number
  /** writes dropped because a buffer was full, since start */
  dropped: number
}

/** The state cannot be reached now (at start, or while degraded): the caller carries on without it. */
export class StateUnavailableError extends Error {
  override readonly name = 'StateUnavailableError'
  readonly code = 'STATE_UNAVAILABLE'
}

export interface State {
  readonly kind: 'memory' | 'redis'

  /** Records that this node holds the terminal; expires after ttlMs unless refreshed. */
  putSession(session: SessionInfo, ttlMs: number): Promise<void>
  /** Extends the session's expiry if nodeId still holds it; false when it expired or another node holds it. */
  refreshSession(phone: string, nodeId: string, ttlMs: number): Promise<boolean>
  /** Removes the session only if nodeId still holds it (a newer session elsewhere wins). */
  removeSession(phone: string, nodeId: string): Promise<void>
  getSession(phone: string): Promise<SessionInfo | null>
  countSessions(): Promise<number>

  /** Keeps the position with the latest deviceTime: a late (blind-area) fix never replaces a newer one. */
  setLastPosition(position: CommittedPosition): Promise<void>
  /** The same for a committed batch, in one round trip (the ingest path: one call per commit). */
  setLastPositions(positions: readonly CommittedPosition[]): Promise<void>
  getLastPosition(vehicleId: number): Promise<CommittedPosition | null>

  /**
   * Point-to-point messages to one node (downlink routing) and replies back. Fire-and-forget like
   * Redis PUBLISH: a message to a channel nobody listens on is dropped (use a timeout). The
   * returned promise of `subscribe` resolves once the subscription is live.
   */
  publish(channel: string, message: NodeEnvelope): Promise<void>
  subscribe(channel: string, handler: (message: NodeEnvelope) => void): Promise<() => Promise<void>>

  /**
   * Append-only streams: committed positions for the matcher, anomaly events for the feed.
   * Values must be JSON-serialisable. The stream keeps about maxLen newest entries
   * (default DEFAULT_STREAM_MAX_LEN); older ones are trimmed.
   */
  append<T>(stream: string, value: T, maxLen?: number): Promise<string>
  /**
   * Several entries in order, in one round trip (Redis: MULTI/EXEC); their ids, in order. While the
   * state is unavailable the entries are buffered (see StateHealth) and their ids are '' (no caller
   * may wait for the state); a batch whose write timed out is buffered again, so delivery is
   * at-least-once.
   */
  appendMany<T>(stream: string, values: readonly T[], maxLen?: number): Promise<string[]>
  /**
   * Entries after `afterId` ("0" = from the start, "$" = only entries appended after this call),
   * oldest first, at most `count`; when there are none, waits up to blockMs (> 0) for new ones.
   * An id older than the oldest retained entry reads from the oldest retained entry.
   */
  read<T>(stream: string, afterId: string, count: number, blockMs?: number): Promise<StreamEntry<T>[]>
  /** Retained length and the first/last ids ("0-0" when empty): lets a reader tell it missed trimmed entries. */
  streamInfo(stream: string): Promise<{ length: number; firstId: string; lastId: string }>

  /**
   * Consumer groups (Redis XREADGROUP semantics). The group is created on first use, starting at
   * the beginning of the stream. Returns entries never delivered to the group before, up to
   * `count` per stream, across all `streams`; waits up to blockMs (> 0) when there are none.
   * Delivered entries stay pending for `consumer` until acknowledged.
   */
  readGroup<T>(streams: string | string[], group: string, consumer: string, count: number, blockMs?: number): Promise<GroupEntry<T>[]>
  /** Entries delivered to `consumer` and not yet acknowledged (recovery after a restart or takeover). Never blocks. */
  pendingGroup<T>(streams: string | string[], group: string, consumer: string, count: number): Promise<GroupEntry<T>[]>
  /** Acknowledges entries of one stream; returns how many were pending. */
  ackGroup(stream: string, group: string, ids: string[]): Promise<number>

  /**
   * Leases: exclusive ownership of a name with an expiry (SET NX PX). `acquireLease` is true when
   * the lease was free or already held by `owner` (then it is extended); `renewLease` extends it
   * only while `owner` still holds it; `releaseLease` frees it only if `owner` holds it.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean>
  releaseLease(name: string, owner: string): Promise<boolean>

  /**
   * Group membership: records that `member` of `group` is alive for ttlMs (the server's clock) and
   * returns the live members, sorted. `leaveMembership` removes it at once.
   */
  heartbeatMember(group: string, member: string, ttlMs: number): Promise<string[]>
  leaveMembership(group: string, member: string): Promise<void>

  ping(): Promise<void>
  health(): StateHealth
  /** Called on every change of `available`; returns the unsubscribe function. */
  onHealthChange(listener: (health: StateHealth) => void): () => void
  /** Deletes everything this state holds under its key prefix (tests, `reset` tooling). */
  clear(): Promise<void>
  close(): Promise<void>
}
