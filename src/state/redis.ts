/**
 * State on Redis (ioredis), for several gateway processes or nodes. Three kinds of connection:
 * the main one (auto-pipelining: the many small commands of many sessions share round trips), a
 * subscriber (a connection in subscribe mode can do nothing else), and a small pool for blocking
 * stream reads (a blocked XREAD holds its connection, so each concurrent blocking reader gets one).
 *
 * Keys, all under the prefix (default "jt808:"):
 *   session:<phone>     hash {node, v: SessionInfo JSON}, PX ttl
 *   sessions            zset phone → expiry (server ms); counts live sessions without SCAN
 *   pos:<vehicleId>     hash {t: deviceTime, v: CommittedPosition JSON}
 *   counters:<vehicleId> hash name → integer
 *   stream:<name>       stream, one field "v" (JSON)
 *   lease:<name>        string owner, PX ttl
 *   members:<group>     zset member → expiry (server ms)
 *   ch:<channel>        pub/sub channel
 * Conditional updates (ownership, newer-position-wins) are Lua scripts, so they are atomic.
 */
import { createHash } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import type { CommittedPosition } from '../domain.js'
import {
  DEFAULT_STREAM_MAX_LEN,
  type GroupEntry,
  type NodeEnvelope,
  type SessionInfo,
  type State,
  type StreamEntry,
} from './port.js'
import { checkReadCount, parseStreamId, streamTexts } from './stream-id.js'

export interface RedisStateOptions {
  /** Namespace of every key and channel; tests use a unique one each. Default "jt808:". */
  prefix?: string
  /** Connection-level errors (ioredis reconnects by itself; commands fail on their own). */
  onError?: (err: Error) => void
  /** Upper bound of connections held by concurrent blocking reads. Default 16. */
  maxBlockingConnections?: number
  /** Extra ioredis options (tests: connectTimeout, retryStrategy). */
  redis?: RedisOptions
}

type Handler = (message: NodeEnvelope) => void

/** A Lua script run by SHA, loaded on first NOSCRIPT. */
class Script {
  readonly sha: string
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  async run(conn: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await conn.call('evalsha', [this.sha, keys.length, ...keys, ...args])
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
      return conn.call('eval', [this.lua, keys.length, ...keys, ...args])
    }
  }
}

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

const PUT_SESSION = new Script(`${NOW}
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'v', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
return 1`)

const REFRESH_SESSION = new Script(`${NOW}
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1`)

// Removes when this node holds the session, or when nobody does (then only the zset entry is stale).
const REMOVE_SESSION = new Script(`
local node = redis.call('HGET', KEYS[1], 'node')
if node and node ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)

const COUNT_SESSIONS = new Script(`${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`)

/** KEYS: position hashes; ARGV: device time and JSON per key, in order. Newest device time wins. */
const SET_POSITIONS = new Script(`
for i, key in ipairs(KEYS) do
  local t = ARGV[2 * i - 1]
  local cur = redis.call('HGET', key, 't')
  if not cur or tonumber(cur) <= tonumber(t) then redis.call('HSET', key, 't', t, 'v', ARGV[2 * i]) end
end
return 1`)

/** Keys per SET_POSITIONS call: bounds one script's run time (Redis is single-threaded). */
const POSITIONS_PER_CALL = 500

const ACQUIRE_LEASE = new Script(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

const RENEW_LEASE = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`)

const RELEASE_LEASE = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`)

const HEARTBEAT_MEMBER = new Script(`${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)`)

const STREAM_INFO = new Script(`
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local a = '0-0' local b = '0-0'
if first[1] then a = first[1][1] end
if last[1] then b = last[1][1] end
return {redis.call('XLEN', KEYS[1]), a, b}`)

/** [[key, [[id, [field, value, ...] | null], ...]], ...] | null, as XREAD/XREADGROUP reply. */
type StreamsReply = [string, [string, string[] | null][]][] | null

export class RedisState implements State {
  readonly kind = 'redis' as const
  readonly prefix: string
  private readonly main: Redis
  private sub: Redis | null = null
  private readonly channels = new Map<string, { handlers: Set<Handler>; ready: Promise<unknown> }>()
  private readonly idleBlocking: Redis[] = []
  private readonly busyBlocking = new Set<Redis>()
  private readonly blockingQueue: ((c: Redis) => void)[] = []
  private readonly maxBlocking: number
  private readonly knownGroups = new Set<string>()
  private readonly onError: (err: Error) => void
  private closed = false

  constructor(
    private readonly url: string,
    private readonly opts: RedisStateOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'jt808:'
    this.maxBlocking = opts.maxBlockingConnections ?? 16
    this.onError = opts.onError ?? (() => {})
    this.main = this.connect({ enableAutoPipelining: true })
  }

  private connect(extra: RedisOptions): Redis {
    const c = new Redis(this.url, { ...this.opts.redis, ...extra })
    c.on('error', (err: Error) => this.onError(err))
    return c
  }

  private key(kind: string, name: string | number): string {
    return `${this.prefix}${kind}:${name}`
  }

  // ---- sessions -------------------------------------------------------------------------------

  async putSession(session: SessionInfo, ttlMs: number): Promise<void> {
    await PUT_SESSION.run(this.main, [this.key('session', session.phone), this.prefix + 'sessions'], [session.phone, session.nodeId, JSON.stringify(session), ttl(ttlMs)])
  }

  async refreshSession(phone: string, nodeId: string, ttlMs: number): Promise<boolean> {
    return (await REFRESH_SESSION.run(this.main, [this.key('session', phone), this.prefix + 'sessions'], [phone, nodeId, ttl(ttlMs)])) === 1
  }

  async removeSession(phone: string, nodeId: string): Promise<void> {
    await REMOVE_SESSION.run(this.main, [this.key('session', phone), this.prefix + 'sessions'], [phone, nodeId])
  }

  async getSession(phone: string): Promise<SessionInfo | null> {
    const v = await this.main.hget(this.key('session', phone), 'v')
    return v === null ? null : (JSON.parse(v) as SessionInfo)
  }

  async countSessions(): Promise<number> {
    return Number(await COUNT_SESSIONS.run(this.main, [this.prefix + 'sessions'], []))
  }

  // ---- last position, counters ----------------------------------------------------------------

  async setLastPosition(position: CommittedPosition): Promise<void> {
    return this.setLastPositions([position])
  }

  async setLastPositions(positions: readonly CommittedPosition[]): Promise<void> {
    const calls: Promise<unknown>[] = []
    for (let i = 0; i < positions.length; i += POSITIONS_PER_CALL) {
      const chunk = positions.slice(i, i + POSITIONS_PER_CALL)
      const args: (string | number)[] = []
      for (const p of chunk) args.push(p.deviceTime, JSON.stringify(p))
      calls.push(SET_POSITIONS.run(this.main, chunk.map((p) => this.key('pos', p.vehicleId)), args))
    }
    await Promise.all(calls)
  }

  async getLastPosition(vehicleId: number): Promise<CommittedPosition | null> {
    const v = await this.main.hget(this.key('pos', vehicleId), 'v')
    return v === null ? null : (JSON.parse(v) as CommittedPosition)
  }

  async incrCounter(vehicleId: number, name: string, by = 1): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new TypeError(`counter increment must be an integer, got ${by}`)
    return this.main.hincrby(this.key('counters', vehicleId), name, by)
  }

  async getCounters(vehicleId: number): Promise<Record<string, number>> {
    const raw = await this.main.hgetall(this.key('counters', vehicleId))
    const out: Record<string, number> = {}
    for (const [k, v] of Object.entries(raw)) out[k] = Number(v)
    return out
  }

  // ---- pub/sub ------------------------------------------------------------------------------------

  async publish(channel: string, message: NodeEnvelope): Promise<void> {
    await this.main.publish(this.key('ch', channel), JSON.stringify(message))
  }

  async subscribe(channel: string, handler: Handler): Promise<() => Promise<void>> {
    const full = this.key('ch', channel)
    const sub = this.subscriber()
    let entry = this.channels.get(full)
    if (!entry) {
      entry = { handlers: new Set(), ready: sub.subscribe(full) }
      this.channels.set(full, entry)
    }
    const h: Handler = (m) => handler(m)
    entry.handlers.add(h)
    const e = entry
    try {
      await e.ready
    } catch (err) {
      e.handlers.delete(h)
      if (e.handlers.size === 0 && this.channels.get(full) === e) this.channels.delete(full)
      throw err
    }
    return async () => {
      e.handlers.delete(h)
      if (e.handlers.size > 0 || this.channels.get(full) !== e) return
      this.channels.delete(full)
      if (!this.closed) await sub.unsubscribe(full)
    }
  }

  private subscriber(): Redis {
    if (this.sub) return this.sub
    const sub = this.connect({ enableAutoPipelining: false })
    sub.on('message', (channel: string, text: string) => {
      const entry = this.channels.get(channel)
      if (!entry) return
      const message = parseNodeMessage(text)
      if (!message) return this.onError(new Error(`dropped a malformed message on ${channel}`))
      for (const h of entry.handlers) {
        try {
          h(message)
        } catch {
          // A failing handler is the subscriber's bug; the others still get the message.
        }
      }
    })
    this.sub = sub
    return sub
  }

  // ---- streams ------------------------------------------------------------------------------------

  async append<T>(stream: string, value: T, maxLen = DEFAULT_STREAM_MAX_LEN): Promise<string> {
    const [json] = streamTexts([value], maxLen)
    return String(await this.main.call('xadd', [this.key('stream', stream), 'MAXLEN', '~', Math.floor(maxLen), '*', 'v', json]))
  }

  async appendMany<T>(stream: string, values: readonly T[], maxLen = DEFAULT_STREAM_MAX_LEN): Promise<string[]> {
    const texts = streamTexts(values, maxLen)
    if (!texts.length) return []
    const key = this.key('stream', stream)
    const tx = this.main.multi()
    for (const json of texts) tx.call('xadd', key, 'MAXLEN', '~', Math.floor(maxLen), '*', 'v', json)
    const replies = (await tx.exec()) ?? []
    return replies.map(([err, id]) => {
      if (err) throw err
      return String(id)
    })
  }

  async read<T>(stream: string, afterId: string, count: number, blockMs?: number): Promise<StreamEntry<T>[]> {
    checkReadCount(count)
    if (afterId !== '$') parseStreamId(afterId)
    const key = this.key('stream', stream)
    const args = ['COUNT', count, 'STREAMS', key, afterId]
    const reply = (blockMs ?? 0) > 0
      ? await this.blocking((c) => c.call('xread', ['BLOCK', Math.ceil(blockMs!), ...args]))
      : await this.main.call('xread', args)
    return entriesOf(reply as StreamsReply).map(([, id, json]) => ({ id, value: JSON.parse(json) as T }))
  }

  async streamInfo(stream: string): Promise<{ length: number; firstId: string; lastId: string }> {
    const [length, firstId, lastId] = (await STREAM_INFO.run(this.main, [this.key('stream', stream)], [])) as [number, string, string]
    return { length: Number(length), firstId, lastId }
  }

  // ---- consumer groups ------------------------------------------------------------------------

  async readGroup<T>(streams: string | string[], group: string, consumer: string, count: number, blockMs?: number): Promise<GroupEntry<T>[]> {
    return this.groupRead<T>(streams, group, consumer, count, '>', blockMs)
  }

  async pendingGroup<T>(streams: string | string[], group: string, consumer: string, count: number): Promise<GroupEntry<T>[]> {
    return this.groupRead<T>(streams, group, consumer, count, '0')
  }

  async ackGroup(stream: string, group: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0
    return Number(await this.main.call('xack', [this.key('stream', stream), group, ...ids]))
  }

  private async groupRead<T>(streams: string | string[], group: string, consumer: string, count: number, from: '>' | '0', blockMs?: number): Promise<GroupEntry<T>[]> {
    checkReadCount(count)
    const names = typeof streams === 'string' ? [streams] : streams
    if (names.length === 0) return []
    const keys = names.map((s) => this.key('stream', s))
    const nameOf = new Map(keys.map((k, i) => [k, names[i]]))
    const block = from === '>' && (blockMs ?? 0) > 0 ? ['BLOCK', Math.ceil(blockMs!)] : []
    const args = ['GROUP', group, consumer, 'COUNT', count, ...block, 'STREAMS', ...keys, ...keys.map(() => from)]
    const run = () => (block.length ? this.blocking((c) => c.call('xreadgroup', args)) : this.main.call('xreadgroup', args))
    await this.ensureGroups(keys, group, false)
    let reply: unknown
    try {
      reply = await run()
    } catch (err) {
      // The stream (and its group) vanished since we created it, e.g. clear(): create again once.
      if (!String((err as Error).message).startsWith('NOGROUP')) throw err
      await this.ensureGroups(keys, group, true)
      reply = await run()
    }
    const out: GroupEntry<T>[] = []
    const gone = new Map<string, string[]>()
    for (const [key, id, json] of entriesOf(reply as StreamsReply, true)) {
      const stream = nameOf.get(key) ?? key.slice(this.prefix.length + 'stream:'.length)
      if (json === null) {
        // Pending but trimmed from the stream: nothing left to process, so acknowledge it.
        gone.set(stream, [...(gone.get(stream) ?? []), id])
        continue
      }
      out.push({ stream, id, value: JSON.parse(json) as T })
    }
    for (const [stream, ids] of gone) await this.ackGroup(stream, group, ids)
    return out
  }

  private async ensureGroups(keys: string[], group: string, force: boolean): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        const known = `${key}\u0000${group}`
        if (!force && this.knownGroups.has(known)) return
        try {
          await this.main.call('xgroup', ['CREATE', key, group, '0', 'MKSTREAM'])
        } catch (err) {
          if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err
        }
        this.knownGroups.add(known)
      }),
    )
  }

  /** Runs a blocking command on a pooled connection of its own. */
  private async blocking<R>(fn: (c: Redis) => Promise<R>): Promise<R> {
    if (this.closed) throw new Error('state is closed')
    let c = this.idleBlocking.pop()
    if (!c) {
      if (this.busyBlocking.size < this.maxBlocking) c = this.connect({ enableAutoPipelining: false })
      else c = await new Promise<Redis>((resolve) => this.blockingQueue.push(resolve))
    }
    this.busyBlocking.add(c)
    try {
      return await fn(c)
    } catch (err) {
      if (this.closed) return null as R
      throw err
    } finally {
      this.busyBlocking.delete(c)
      const next = this.blockingQueue.shift()
      if (next) {
        next(c)
      } else if (this.closed) {
        c.disconnect()
      } else {
        this.idleBlocking.push(c)
      }
    }
  }

  // ---- leases and membership ------------------------------------------------------------------

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await ACQUIRE_LEASE.run(this.main, [this.key('lease', name)], [owner, ttl(ttlMs)])) === 1
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await RENEW_LEASE.run(this.main, [this.key('lease', name)], [owner, ttl(ttlMs)])) === 1
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    return (await RELEASE_LEASE.run(this.main, [this.key('lease', name)], [owner])) === 1
  }

  async heartbeatMember(group: string, member: string, ttlMs: number): Promise<string[]> {
    const members = (await HEARTBEAT_MEMBER.run(this.main, [this.key('members', group)], [member, ttl(ttlMs)])) as string[]
    return members.map(String).sort()
  }

  async leaveMembership(group: string, member: string): Promise<void> {
    await this.main.zrem(this.key('members', group), member)
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async ping(): Promise<void> {
    await this.main.ping()
  }

  async clear(): Promise<void> {
    const pattern = this.prefix.replace(/[*?[\]\\]/g, '\\$&') + '*'
    let cursor = '0'
    do {
      const [next, keys] = await this.main.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      if (keys.length) await this.main.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    this.knownGroups.clear()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.channels.clear()
    for (const c of [...this.busyBlocking, ...this.idleBlocking]) c.disconnect()
    this.idleBlocking.length = 0
    if (this.sub) this.sub.disconnect()
    // QUIT lets queued commands finish; it would wait forever on a server that never answered.
    if (this.main.status === 'ready') {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.main.quit().catch(() => {}), new Promise((r) => (timer = setTimeout(r, 1000)))])
      clearTimeout(timer)
    }
    this.main.disconnect()
  }
}

function ttl(ms: number): number {
  if (!(ms >= 1)) throw new RangeError(`ttl must be >= 1 ms, got ${ms}`)
  return Math.ceil(ms)
}

/** Flattens a streams reply into [key, id, json] (json null: a pending entry trimmed away). */
function entriesOf(reply: StreamsReply, keepMissing?: false): [string, string, string][]
function entriesOf(reply: StreamsReply, keepMissing: true): [string, string, string | null][]
function entriesOf(reply: StreamsReply, keepMissing = false): [string, string, string | null][] {
  const out: [string, string, string | null][] = []
  for (const [key, items] of reply ?? []) {
    for (const [id, fields] of items) {
      const i = fields ? fields.indexOf('v') : -1
      const json = fields && i >= 0 && i % 2 === 0 ? fields[i + 1] : null
      if (json !== null || keepMissing) out.push([key, id, json])
    }
  }
  return out
}

function parseNodeMessage(text: string): NodeEnvelope | null {
  try {
    const m = JSON.parse(text) as { kind?: unknown; id?: unknown; phone?: unknown }
    if ((m.kind === 'command' || m.kind === 'command-result') && typeof m.id === 'string') return m as NodeEnvelope
    if (m.kind === 'supersede' && typeof m.phone === 'string') return m as NodeEnvelope
  } catch {
    // fall through: not JSON
  }
  return null
}
