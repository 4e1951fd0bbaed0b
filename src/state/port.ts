/**
 * The live-state port: sessions (which node holds which terminal), online status, last position
 * per vehicle, per-vehicle counters, and the message paths between gateway processes. Two
 * implementations: MemoryState (one process, the default) and RedisState (ioredis, REDIS_URL).
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

/** An entry of an append-only stream (Redis Streams, or an in-memory ring). */
export interface StreamEntry<T> {
  /** monotonically increasing, resumable cursor ("1718000000000-0") */
  id: string
  value: T
}

export interface State {
  readonly kind: 'memory' | 'redis'

  /** Records that this node holds the terminal; expires after ttlMs unless refreshed. */
  putSession(session: SessionInfo, ttlMs: number): Promise<void>
  refreshSession(phone: string, nodeId: string, ttlMs: number): Promise<void>
  /** Removes the session only if nodeId still holds it (a newer session elsewhere wins). */
  removeSession(phone: string, nodeId: string): Promise<void>
  getSession(phone: string): Promise<SessionInfo | null>
  countSessions(): Promise<number>

  setLastPosition(position: CommittedPosition): Promise<void>
  getLastPosition(vehicleId: number): Promise<CommittedPosition | null>

  incrCounter(vehicleId: number, name: string, by?: number): Promise<number>
  getCounters(vehicleId: number): Promise<Record<string, number>>

  /** Point-to-point messages to one node (downlink routing) and replies back. */
  publish(channel: string, message: NodeMessage | NodeReply): Promise<void>
  subscribe(channel: string, handler: (message: NodeMessage | NodeReply) => void): Promise<() => Promise<void>>

  /** Append-only streams: committed positions for the matcher, anomaly events for the feed. */
  append<T>(stream: string, value: T, maxLen?: number): Promise<string>
  /** Entries after `afterId` ("0" = from the start), oldest first; waits up to blockMs for new ones when none. */
  read<T>(stream: string, afterId: string, count: number, blockMs?: number): Promise<StreamEntry<T>[]>

  ping(): Promise<void>
  close(): Promise<void>
}
