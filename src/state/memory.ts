/**
 * In-process State: the embedded default for a single gateway process. Mirrors RedisState's
 * semantics closely enough that one contract test suite runs over both: values are stored as
 * JSON (a reader never shares an object with a writer), TTLs follow an injectable clock, streams
 * are bounded rings with Redis-style "<ms>-<seq>" ids, consumer groups keep a pending list per
 * consumer, and pub/sub delivers asynchronously.
 */
import type { CommittedPosition } from '../domain.js'
import { DEFAULT_STREAM_MAX_LEN, type GroupEntry, type NodeEnvelope, type SessionInfo, type State, type StateHealth, type StreamEntry } from './port.js'
import { checkReadCount, compareStreamIds, formatStreamId, parseStreamId, streamTexts, type StreamId, ZERO_ID } from './stream-id.js'

export interface MemoryStateOptions {
  /** epoch ms; TTLs and stream ids follow it (tests move it forward). Default Date.now. */
  clock?: () => number
}

interface Expiring<T> {
  value: T
  expiresAt: number
}

interface RingEntry {
  id: StreamId
  idText: string
  json: string
}

interface ConsumerGroup {
  lastDelivered: StreamId
  /** id → consumer, in delivery (= id) order */
  pending: Map<string, string>
}

/** A bounded append-only log. Entries live in `entries[start..]`; the dead prefix is compacted in bulk. */
class Ring {
  entries: RingEntry[] = []
  start = 0
  last: StreamId = ZERO_ID
  readonly groups = new Map<string, ConsumerGroup>()

  get length(): number {
    return this.entries.length - this.start
  }

  append(now: number, json: string, maxLen: number): string {
    const id = now > this.last.ms ? { ms: now, seq: 0 } : { ms: this.last.ms, seq: this.last.seq + 1 }
    this.last = id
    const idText = formatStreamId(id)
    this.entries.push({ id, idText, json })
    if (this.length > maxLen) this.start = this.entries.length - maxLen
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start)
      this.start = 0
    }
    return idText
  }

  /** Index of the first retained entry with id > after. */
  indexAfter(after: StreamId): number {
    let lo = this.start
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareStreamIds(this.entries[mid].id, after) <= 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  find(idText: string): RingEntry | undefined {
    const id = parseStreamId(idText)
    const i = this.indexAfter({ ms: id.ms, seq: id.seq - 1 })
    const e = this.entries[i]
    return e && e.idText === idText ? e : undefined
  }
}

export class MemoryState implements State {
  readonly kind = 'memory' as const
  private readonly clock: () => number
  private sessions = new Map<string, Expiring<string>>()
  private positions = new Map<number, { deviceTime: number; value: CommittedPosition }>()
  private channels = new Map<string, Set<(m: NodeEnvelope) => void>>()
  private streams = new Map<string, Ring>()
  private leases = new Map<string, Expiring<string>>()
  private memberships = new Map<string, Map<string, number>>()
  /** stream → wake-ups of readers blocked on it */
  private waiters = new Map<string, Set<() => void>>()
  private putsSinceSweep = 0
  private closed = false
  private readonly startedAt: number

  constructor(opts: MemoryStateOptions = {}) {
    this.clock = opts.clock ?? Date.now
    this.startedAt = this.clock()
  }

  // ---- sessions -------------------------------------------------------------------------------

  async putSession(session: SessionInfo, ttlMs: number): Promise<void> {
    this.live()
    this.sessions.set(session.phone, { value: JSON.stringify(session), expiresAt: this.clock() + ttlMs })
    // Expired sessions are otherwise only dropped when looked up: sweep now and then to bound memory.
    if (++this.putsSinceSweep >= 1000) {
      this.putsSinceSweep = 0
      this.sweepSessions()
    }
  }

  async refreshSession(phone: string, nodeId: string, ttlMs: number): Promise<boolean> {
    this.live()
    const s = this.liveSession(phone)
    if (!s || (JSON.parse(s.value) as SessionInfo).nodeId !== nodeId) return false
    s.expiresAt = this.clock() + ttlMs
    return true
  }

  async removeSession(phone: string, nodeId: string): Promise<void> {
    this.live()
    const s = this.liveSession(phone)
    if (s && (JSON.parse(s.value) as SessionInfo).nodeId === nodeId) this.sessions.delete(phone)
  }

  async getSession(phone: string): Promise<SessionInfo | null> {
    this.live()
    const s = this.liveSession(phone)
    return s ? (JSON.parse(s.value) as SessionInfo) : null
  }

  async countSessions(): Promise<number> {
    this.live()
    this.sweepSessions()
    return this.sessions.size
  }

  private liveSession(phone: string): Expiring<string> | undefined {
    const s = this.sessions.get(phone)
    if (s && s.expiresAt <= this.clock()) {
      this.sessions.delete(phone)
      return undefined
    }
    return s
  }

  private sweepSessions(): void {
    const now = this.clock()
    for (const [phone, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(phone)
  }

  // ---- last position ----------------------------------------------------------------

  async setLastPosition(position: CommittedPosition): Promise<void> {
    return this.setLastPositions([position])
  }

  async setLastPositions(positions: readonly CommittedPosition[]): Promise<void> {
    this.live()
    for (const position of positions) {
      const cur = this.positions.get(position.vehicleId)
      if (cur && cur.deviceTime > position.deviceTime) continue
      // A shallow copy, not JSON: this runs for every committed batch, reads are rare (and copy).
      this.positions.set(position.vehicleId, { deviceTime: position.deviceTime, value: { ...position } })
    }
  }

  async getLastPosition(vehicleId: number): Promise<CommittedPosition | null> {
    this.live()
    const cur = this.positions.get(vehicleId)
    // Through JSON like the Redis state: the caller gets its own copy with the same shape.
    return cur ? (JSON.parse(JSON.stringify(cur.value)) as CommittedPosition) : null
  }

  // ---- pub/sub ------------------------------------------------------------------------------------

  async publish(channel: string, message: NodeEnvelope): Promise<void> {
    this.live()
    const handlers = this.channels.get(channel)
    if (!handlers || handlers.size === 0) return
    const json = JSON.stringify(message)
    // Asynchronous, like a message through Redis: the publisher never runs subscriber code inline.
    for (const h of handlers) {
      setImmediate(() => {
        try {
          h(JSON.parse(json) as NodeEnvelope)
        } catch {
          // A failing handler is the subscriber's bug; it must not affect the publisher or others.
        }
      })
    }
  }

  async subscribe(channel: string, handler: (message: NodeEnvelope) => void): Promise<() => Promise<void>> {
    this.live()
    let set = this.channels.get(channel)
    if (!set) this.channels.set(channel, (set = new Set()))
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const h = (m: NodeEnvelope) => handler(m)
    set.add(h)
    return async () => {
      set.delete(h)
      if (set.size === 0 && this.channels.get(channel) === set) this.channels.delete(channel)
    }
  }

  // ---- streams ------------------------------------------------------------------------------------

  async append<T>(stream: string, value: T, maxLen = DEFAULT_STREAM_MAX_LEN): Promise<string> {
    return (await this.appendMany(stream, [value], maxLen))[0]
  }

  async appendMany<T>(stream: string, values: readonly T[], maxLen = DEFAULT_STREAM_MAX_LEN): Promise<string[]> {
    this.live()
    const texts = streamTexts(values, maxLen)
    if (!texts.length) return []
    const ring = this.ring(stream)
    const ids = texts.map((json) => ring.append(this.clock(), json, maxLen))
    this.wake(stream)
    return ids
  }

  async read<T>(stream: string, afterId: string, count: number, blockMs?: number): Promise<StreamEntry<T>[]> {
    checkReadCount(count)
    this.live()
    const ring = this.streams.get(stream)
    const after = afterId === '$' ? (ring?.last ?? ZERO_ID) : parseStreamId(afterId)
    const take = (): StreamEntry<T>[] => {
      const r = this.streams.get(stream)
      if (!r) return []
      const out: StreamEntry<T>[] = []
      for (let i = r.indexAfter(after); i < r.entries.length && out.length < count; i++) {
        const e = r.entries[i]
        out.push({ id: e.idText, value: JSON.parse(e.json) as T })
      }
      return out
    }
    return this.blocking([stream], take, blockMs)
  }

  async streamInfo(stream: string): Promise<{ length: number; firstId: string; lastId: string }> {
    this.live()
    const r = this.streams.get(stream)
    if (!r || r.length === 0) return { length: 0, firstId: '0-0', lastId: r ? formatStreamId(r.last) : '0-0' }
    return { length: r.length, firstId: r.entries[r.start].idText, lastId: formatStreamId(r.last) }
  }

  // ---- consumer groups ------------------------------------------------------------------------

  async readGroup<T>(streams: string | string[], group: string, consumer: string, count: number, blockMs?: number): Promise<GroupEntry<T>[]> {
    checkReadCount(count)
    this.live()
    const names = typeof streams === 'string' ? [streams] : streams
    for (const s of names) this.group(s, group)
    const take = (): GroupEntry<T>[] => {
      const out: GroupEntry<T>[] = []
      for (const s of names) {
        const r = this.ring(s)
        const g = this.group(s, group)
        let n = 0
        for (let i = r.indexAfter(g.lastDelivered); i < r.entries.length && n < count; i++, n++) {
          const e = r.entries[i]
          g.lastDelivered = e.id
          g.pending.set(e.idText, consumer)
          out.push({ stream: s, id: e.idText, value: JSON.parse(e.json) as T })
        }
      }
      return out
    }
    return this.blocking(names, take, blockMs)
  }

  async pendingGroup<T>(streams: string | string[], group: string, consumer: string, count: number): Promise<GroupEntry<T>[]> {
    checkReadCount(count)
    this.live()
    const out: GroupEntry<T>[] = []
    for (const s of typeof streams === 'string' ? [streams] : streams) {
      const r = this.ring(s)
      const g = this.group(s, group)
      let n = 0
      for (const [id, owner] of g.pending) {
        if (n >= count) break
        if (owner !== consumer) continue
        const e = r.find(id)
        // Trimmed while pending (Redis returns it with no value): nothing left to process.
        if (!e) {
          g.pending.delete(id)
          continue
        }
        out.push({ stream: s, id, value: JSON.parse(e.json) as T })
        n++
      }
    }
    return out
  }

  async ackGroup(stream: string, group: string, ids: string[]): Promise<number> {
    this.live()
    const g = this.streams.get(stream)?.groups.get(group)
    if (!g) return 0
    let n = 0
    for (const id of ids) if (g.pending.delete(id)) n++
    return n
  }

  private ring(stream: string): Ring {
    let r = this.streams.get(stream)
    if (!r) this.streams.set(stream, (r = new Ring()))
    return r
  }

  private group(stream: string, name: string): ConsumerGroup {
    const r = this.ring(stream)
    let g = r.groups.get(name)
    if (!g) r.groups.set(name, (g = { lastDelivered: ZERO_ID, pending: new Map() }))
    return g
  }

  /** Runs `take`; when it finds nothing and blockMs > 0, waits for an append to one of `streams`. */
  private async blocking<E>(streams: string[], take: () => E[], blockMs: number | undefined): Promise<E[]> {
    const deadline = Date.now() + (blockMs ?? 0)
    for (;;) {
      const got = take()
      const left = deadline - Date.now()
      if (got.length > 0 || left <= 0 || this.closed) return got
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer)
          for (const s of streams) this.waiters.get(s)?.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, left)
        for (const s of streams) {
          let set = this.waiters.get(s)
          if (!set) this.waiters.set(s, (set = new Set()))
          set.add(wake)
        }
      })
    }
  }

  private wake(stream: string): void {
    const set = this.waiters.get(stream)
    if (!set) return
    this.waiters.delete(stream)
    for (const w of set) w()
  }

  // ---- leases and membership ------------------------------------------------------------------

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.live()
    const l = this.leases.get(name)
    if (l && l.expiresAt > this.clock() && l.value !== owner) return false
    this.leases.set(name, { value: owner, expiresAt: this.clock() + ttlMs })
    return true
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.live()
    const l = this.leases.get(name)
    if (!l || l.expiresAt <= this.clock() || l.value !== owner) return false
    l.expiresAt = this.clock() + ttlMs
    return true
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    this.live()
    const l = this.leases.get(name)
    if (!l || l.expiresAt <= this.clock() || l.value !== owner) return false
    this.leases.delete(name)
    return true
  }

  async heartbeatMember(group: string, member: string, ttlMs: number): Promise<string[]> {
    this.live()
    const now = this.clock()
    let m = this.memberships.get(group)
    if (!m) this.memberships.set(group, (m = new Map()))
    m.set(member, now + ttlMs)
    for (const [k, expiresAt] of m) if (expiresAt <= now) m.delete(k)
    return [...m.keys()].sort()
  }

  async leaveMembership(group: string, member: string): Promise<void> {
    this.live()
    this.memberships.get(group)?.delete(member)
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  /** In-process: always reachable, nothing buffered. */
  health(): StateHealth {
    return { available: true, since: this.startedAt, buffered: 0, dropped: 0 }
  }

  onHealthChange(): () => void {
    return () => {}
  }

  async ping(): Promise<void> {
    this.live()
  }

  async clear(): Promise<void> {
    this.sessions.clear()
    this.positions.clear()
    this.channels.clear()
    this.streams.clear()
    this.leases.clear()
    this.memberships.clear()
  }

  async close(): Promise<void> {
    this.closed = true
    this.channels.clear()
    for (const s of [...this.waiters.keys()]) this.wake(s)
  }

  private live(): void {
    if (this.closed) throw new StateClosedError()
  }
}

export class StateClosedError extends Error {
  override readonly name = 'StateClosedError'
  readonly code = 'STATE_CLOSED'
  constructor() {
    super('state is closed')
  }
}
