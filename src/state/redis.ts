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
 *   stream:<name>       stream, one field "v" (JSON)
 *   lease:<name>        string owner, PX ttl
 *   members:<group>     zset member → expiry (server ms)
 *   ch:<channel>        pub/sub channel
 * Conditional updates (ownership, newer-position-wins) are Lua scripts, so they are atomic.
 *
 * Redis down or silent must not stop terminals (see StateHealth). The main connection has a
 * command timeout; once it has been ready, a lost connection or a timed-out command marks the
 * state unavailable: from then on reads and session writes fail at once (nothing waits in
 * ioredis's offline queue), last positions are kept per vehicle (newest wins) and stream
 * entries in one FIFO outbox (order kept across streams), both bounded. When Redis answers
 * again the buffers are written (positions, then the outbox in order) and only then is the state
 * available again; appends arriving meanwhile queue behind, so no entry overtakes an older one.
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Redis, type RedisOptions } from 'ioredis'
import type { CommittedPosition } from '../domain.js'
import { DEFAULT_STREAM_MAX_LEN, type GroupEntry, type NodeEnvelope, type SessionInfo, type State, type StateHealth, type StreamEntry, StateUnavailableError } from './port.js'
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
  /** How long a command on the main connection may wait for Redis before it is unreachable. Default 2000 ms. */
  commandTimeoutMs?: number
  /** Stream entries kept while Redis is unreachable; past it the oldest are dropped (counted). Default 100,000. */
  maxBufferedEntries?: number
  /** Vehicles whose newest position is kept while Redis is unreachable; past it the oldest are dropped. Default 100,000. */
  maxBufferedPositions?: number
}

/** A stream entry waiting for Redis. `seq` orders entries by when they were appended. */
interface Outgoing {
  seq: number
  key: string
  json: string
  maxLen: number
}

/** Failures that mean "Redis did not answer" (rather than an answer that is an error). */
const FAULT = /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND/

function isConnectionFault(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  return err.name === 'MaxRetriesPerRequestError' || err.name === 'AbortError' || FAULT.test(err.message)
}

/** Entries per MULTI when the outbox is written after an outage. */
const REPLAY_CHUNK = 500
/** How often an unavailable state checks whether Redis answers again. */
const PROBE_MS = 1000

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

  // ---- availability (see the header) ----
  private everReady = false
  private readonly firstReady: Promise<void>
  private down = false
  private since = Date.now()
  private dropped = 0
  private seq = 0
  private outbox: Outgoing[] = []
  private outboxHead = 0
  /** vehicleId → newest position not yet written */
  private readonly heldPositions = new Map<number, { t: number; json: string }>()
  private readonly maxEntries: number
  private readonly maxPositions: number
  private readonly timeoutMs: number
  private readonly healthListeners = new Set<(h: StateHealth) => void>()
  private probe: NodeJS.Timeout | null = null
  private replaying = false
  /** commands issued on the main connection and not settled (a lost connection's settle by timeout) */
  private inflight = 0

  constructor(
    private readonly url: string,
    private readonly opts: RedisStateOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'jt808:'
    this.maxBlocking = opts.maxBlockingConnections ?? 16
    this.onError = opts.onError ?? (() => {})
    this.maxEntries = opts.maxBufferedEntries ?? 100_000
    this.maxPositions = opts.maxBufferedPositions ?? 100_000
    this.timeoutMs = opts.commandTimeoutMs ?? 2000
    // ioredis's own timeout is only a backstop (cmd() times commands): it fires in the timers phase,
    // before a reply that arrived while the event loop was busy is read, and a busy loop is not Redis down.
    this.main = this.connect({ enableAutoPipelining: true, commandTimeout: this.timeoutMs * 5, autoResendUnfulfilledCommands: false })
    this.firstReady = new Promise((resolve) => this.main.once('ready', () => resolve()))
    this.main.on('ready', () => {
      this.everReady = true
      if (this.down) void this.replay()
    })
    this.main.on('close', () => {
      if (this.everReady && !this.closed) this.degrade()
    })
  }

  private connect(extra: RedisOptions): Redis {
    const c = new Redis(this.url, { ...this.opts.redis, ...extra })
    // While unavailable every reconnect attempt fails: the change was said once (onHealthChange).
    c.on('error', (err: Error) => {
      if (!this.down) this.onError(err)
    })
    return c
  }

  // ---- availability ---------------------------------------------------------------------------

  health(): StateHealth {
    return { available: !this.down, since: this.since, buffered: this.outbox.length - this.outboxHead + this.heldPositions.size, dropped: this.dropped }
  }

  onHealthChange(listener: (health: StateHealth) => void): () => void {
    this.healthListeners.add(listener)
    return () => void this.healthListeners.delete(listener)
  }

  private setDown(down: boolean): void {
    if (this.down === down) return
    this.down = down
    this.since = Date.now()
    if (down) {
      this.probe = setInterval(() => {
        if (this.main.status === 'ready') void this.replay()
      }, PROBE_MS)
      this.probe.unref()
    } else if (this.probe) {
      clearInterval(this.probe)
      this.probe = null
    }
    const h = this.health()
    for (const l of this.healthListeners) {
      try {
        l(h)
      } catch {
        // a listener's failure is its own; the others still hear of the change
      }
    }
  }

  private degrade(): void {
    if (!this.closed) this.setDown(true)
  }

  /**
   * Runs a command on the main connection unless the state is unavailable; a command Redis did not
   * answer (after it had been ready once) makes it unavailable. Both throw StateUnavailableError.
   */
  private async cmd<R>(fn: (c: Redis) => Promise<R>): Promise<R> {
    if (this.down) throw new StateUnavailableError('Redis is unreachable')
    this.inflight++
    let timer: NodeJS.Timeout | undefined
    try {
      const reply = fn(this.main)
      return await new Promise<R>((resolve, reject) => {
        let settled = false
        reply.then(
          (v) => {
            settled = true
            resolve(v)
          },
          (e: unknown) => {
            settled = true
            reject(e as Error)
          },
        )
        const arm = () => {
          const due = performance.now() + this.timeoutMs
          timer = setTimeout(() => {
            // The event loop was stalled (the command may not even have been written): Redis gets a
            // timeout of responsive time of its own. The ioredis backstop bounds repeated stalls.
            if (performance.now() - due > this.timeoutMs / 2) return arm()
            // Decided after the poll phase: a reply that came while the loop was busy is read first.
            setImmediate(() => {
              if (!settled) reject(new Error(`Command timed out after ${this.timeoutMs} ms`))
            })
          }, this.timeoutMs)
        }
        arm()
      })
    } catch (err) {
      if (!this.everReady || this.closed || !isConnectionFault(err)) throw err
      this.degrade()
      throw new StateUnavailableError(`Redis is unreachable: ${(err as Error).message}`, { cause: err })
    } finally {
      clearTimeout(timer)
      this.inflight--
    }
  }

  /** Keeps stream entries for later, in append order, within the bound (the oldest go first). */
  private hold(entries: Outgoing[]): void {
    if (!entries.length) return
    const seq = entries[0].seq
    // usually the tail; a batch that timed out goes back before the entries appended after it
    let at = this.outbox.length
    while (at > this.outboxHead && this.outbox[at - 1].seq > seq) at--
    this.outbox.splice(at, 0, ...entries)
    const excess = this.outbox.length - this.outboxHead - this.maxEntries
    if (excess > 0) {
      this.outboxHead += excess
      this.dropped += excess
    }
    if (this.outboxHead > 1024 && this.outboxHead * 2 > this.outbox.length) {
      this.outbox = this.outbox.slice(this.outboxHead)
      this.outboxHead = 0
    }
  }

  private holdPositions(positions: readonly CommittedPosition[]): void {
    for (const p of positions) {
      const cur = this.heldPositions.get(p.vehicleId)
      if (cur && cur.t > p.deviceTime) continue
      this.heldPositions.set(p.vehicleId, { t: p.deviceTime, json: JSON.stringify(p) })
    }
    while (this.heldPositions.size > this.maxPositions) {
      this.heldPositions.delete(this.heldPositions.keys().next().value!)
      this.dropped++
    }
  }

  /** Redis answers again: writes what was held, then the state is available (unless it failed again). */
  private async replay(): Promise<void> {
    // Commands sent before the outage settle first (by their timeout): a batch of them that failed
    // is held again, before anything appended later, and the replay then writes it in order.
    if (this.replaying || this.closed || !this.down || this.inflight > 0) return
    this.replaying = true
    try {
      await this.main.ping()
      // Until both are empty: what is held while this runs (the state is still unavailable) is written too.
      for (;;) {
        if (this.heldPositions.size) {
          const chunk = [...this.heldPositions].slice(0, POSITIONS_PER_CALL)
          const args: (string | number)[] = []
          for (const [, p] of chunk) args.push(p.t, p.json)
          await SET_POSITIONS.run(
            this.main,
            chunk.map(([id]) => this.key('pos', id)),
            args,
          )
          // a newer position held meanwhile stays for the next round
          for (const [id, p] of chunk) if (this.heldPositions.get(id) === p) this.heldPositions.delete(id)
        } else if (this.outboxHead < this.outbox.length) {
          const first = this.outbox[this.outboxHead]
          let end = this.outboxHead + 1
          while (end < this.outbox.length && end - this.outboxHead < REPLAY_CHUNK && this.outbox[end].key === first.key) end++
          const batch = this.outbox.slice(this.outboxHead, end)
          await this.xaddAll(
            first.key,
            batch.map((e) => e.json),
            batch.map((e) => e.maxLen),
          )
          // entries dropped meanwhile (bound) moved the head past some of these: never step back
          this.outboxHead = Math.max(this.outboxHead, end)
        } else {
          break
        }
      }
      this.outbox = []
      this.outboxHead = 0
      this.setDown(false)
    } catch (err) {
      // still unreachable (or failing): stay unavailable; the probe or the next 'ready' tries again
      if (!isConnectionFault(err)) this.onError(err as Error)
    } finally {
      this.replaying = false
    }
  }

  /** XADD each text to one stream in one MULTI; their ids. */
  private async xaddAll(key: string, texts: readonly string[], maxLens: readonly number[]): Promise<string[]> {
    const tx = this.main.multi()
    texts.forEach((json, i) => tx.call('xadd', key, 'MAXLEN', '~', Math.floor(maxLens[i]), '*', 'v', json))
    const replies = (await tx.exec()) ?? []
    return replies.map(([err, id]) => {
      if (err) throw err
      return String(id)
    })
  }

  private key(kind: string, name: string | number): string {
    return `${this.prefix}${kind}:${name}`
  }

  // ---- sessions -------------------------------------------------------------------------------

  async putSession(session: SessionInfo, ttlMs: number): Promise<void> {
    await this.cmd((c) => PUT_SESSION.run(c, [this.key('session', session.phone), this.prefix + 'sessions'], [session.phone, session.nodeId, JSON.stringify(session), ttl(ttlMs)]))
  }

  async refreshSession(phone: string, nodeId: string, ttlMs: number): Promise<boolean> {
    const args = [phone, nodeId, ttl(ttlMs)]
    return (await this.cmd((c) => REFRESH_SESSION.run(c, [this.key('session', phone), this.prefix + 'sessions'], args))) === 1
  }

  async removeSession(phone: string, nodeId: string): Promise<void> {
    await this.cmd((c) => REMOVE_SESSION.run(c, [this.key('session', phone), this.prefix + 'sessions'], [phone, nodeId]))
  }

  async getSession(phone: string): Promise<SessionInfo | null> {
    const v = await this.cmd((c) => c.hget(this.key('session', phone), 'v'))
    return v === null ? null : (JSON.parse(v) as SessionInfo)
  }

  async countSessions(): Promise<number> {
    return Number(await this.cmd((c) => COUNT_SESSIONS.run(c, [this.prefix + 'sessions'], [])))
  }

  // ---- last position ----------------------------------------------------------------

  async setLastPosition(position: CommittedPosition): Promise<void> {
    return this.setLastPositions([position])
  }

  /** Never waits for an unreachable Redis: the positions are held (newest per vehicle) and written when it answers. */
  async setLastPositions(positions: readonly CommittedPosition[]): Promise<void> {
    if (this.down) return this.holdPositions(positions)
    const calls: Promise<unknown>[] = []
    for (let i = 0; i < positions.length; i += POSITIONS_PER_CALL) {
      const chunk = positions.slice(i, i + POSITIONS_PER_CALL)
      const args: (string | number)[] = []
      for (const p of chunk) args.push(p.deviceTime, JSON.stringify(p))
      calls.push(
        this.cmd((c) =>
          SET_POSITIONS.run(
            c,
            chunk.map((p) => this.key('pos', p.vehicleId)),
            args,
          ),
        ).catch((err: unknown) => {
          if (!(err instanceof StateUnavailableError)) throw err
          this.holdPositions(chunk)
        }),
      )
    }
    await Promise.all(calls)
  }

  async getLastPosition(vehicleId: number): Promise<CommittedPosition | null> {
    // one held during an outage is newer than what Redis has
    const held = this.heldPositions.get(vehicleId)
    if (held) return JSON.parse(held.json) as CommittedPosition
    const v = await this.cmd((c) => c.hget(this.key('pos', vehicleId), 'v'))
    return v === null ? null : (JSON.parse(v) as CommittedPosition)
  }

  // ---- pub/sub ------------------------------------------------------------------------------------

  async publish(channel: string, message: NodeEnvelope): Promise<void> {
    await this.cmd((c) => c.publish(this.key('ch', channel), JSON.stringify(message)))
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
    const [id] = await this.appendMany(stream, [value], maxLen)
    return id
  }

  /** Never waits for an unreachable Redis: see the port (ids '' for entries held in the outbox). */
  async appendMany<T>(stream: string, values: readonly T[], maxLen = DEFAULT_STREAM_MAX_LEN): Promise<string[]> {
    const texts = streamTexts(values, maxLen)
    if (!texts.length) return []
    const key = this.key('stream', stream)
    const seq = this.seq
    this.seq += texts.length
    const held = () => {
      this.hold(texts.map((json, i) => ({ seq: seq + i, key, json, maxLen })))
      return texts.map(() => '')
    }
    // behind entries still held: writing now would overtake them
    if (this.down || this.outboxHead < this.outbox.length) return held()
    try {
      return await this.cmd(() =>
        this.xaddAll(
          key,
          texts,
          texts.map(() => maxLen),
        ),
      )
    } catch (err) {
      if (!(err instanceof StateUnavailableError)) throw err
      return held()
    }
  }

  async read<T>(stream: string, afterId: string, count: number, blockMs?: number): Promise<StreamEntry<T>[]> {
    checkReadCount(count)
    if (afterId !== '$') parseStreamId(afterId)
    const key = this.key('stream', stream)
    const args = ['COUNT', count, 'STREAMS', key, afterId]
    const reply = (blockMs ?? 0) > 0 ? await this.blocking((c) => c.call('xread', ['BLOCK', Math.ceil(blockMs!), ...args])) : await this.cmd((c) => c.call('xread', args))
    return entriesOf(reply as StreamsReply).map(([, id, json]) => ({ id, value: JSON.parse(json) as T }))
  }

  async streamInfo(stream: string): Promise<{ length: number; firstId: string; lastId: string }> {
    const [length, firstId, lastId] = (await this.cmd((c) => STREAM_INFO.run(c, [this.key('stream', stream)], []))) as [number, string, string]
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
    return Number(await this.cmd((c) => c.call('xack', [this.key('stream', stream), group, ...ids])))
  }

  private async groupRead<T>(streams: string | string[], group: string, consumer: string, count: number, from: '>' | '0', blockMs?: number): Promise<GroupEntry<T>[]> {
    checkReadCount(count)
    const names = typeof streams === 'string' ? [streams] : streams
    if (names.length === 0) return []
    const keys = names.map((s) => this.key('stream', s))
    const nameOf = new Map(keys.map((k, i) => [k, names[i]]))
    const block = from === '>' && (blockMs ?? 0) > 0 ? ['BLOCK', Math.ceil(blockMs!)] : []
    const args = ['GROUP', group, consumer, 'COUNT', count, ...block, 'STREAMS', ...keys, ...keys.map(() => from)]
    const run = () => (block.length ? this.blocking((c) => c.call('xreadgroup', args)) : this.cmd((c) => c.call('xreadgroup', args)))
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
          await this.cmd((c) => c.call('xgroup', ['CREATE', key, group, '0', 'MKSTREAM']))
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
    if (this.down) throw new StateUnavailableError('Redis is unreachable')
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
    const args = [owner, ttl(ttlMs)]
    return (await this.cmd((c) => ACQUIRE_LEASE.run(c, [this.key('lease', name)], args))) === 1
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const args = [owner, ttl(ttlMs)]
    return (await this.cmd((c) => RENEW_LEASE.run(c, [this.key('lease', name)], args))) === 1
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    return (await this.cmd((c) => RELEASE_LEASE.run(c, [this.key('lease', name)], [owner]))) === 1
  }

  async heartbeatMember(group: string, member: string, ttlMs: number): Promise<string[]> {
    const args = [member, ttl(ttlMs)]
    const members = (await this.cmd((c) => HEARTBEAT_MEMBER.run(c, [this.key('members', group)], args))) as string[]
    return members.map(String).sort()
  }

  async leaveMembership(group: string, member: string): Promise<void> {
    await this.cmd((c) => c.zrem(this.key('members', group), member))
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  /** At start, waits for the first connection (the caller bounds the wait); later, fails at once while unavailable. */
  async ping(): Promise<void> {
    if (!this.everReady) await this.firstReady
    await this.cmd((c) => c.ping())
  }

  async clear(): Promise<void> {
    const pattern = this.prefix.replace(/[*?[\]\\]/g, '\\$&') + '*'
    let cursor = '0'
    do {
      const [next, keys] = await this.cmd((c) => c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000))
      if (keys.length) await this.cmd((c) => c.unlink(...keys))
      cursor = next
    } while (cursor !== '0')
    this.knownGroups.clear()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.probe) clearInterval(this.probe)
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
    if ((m.kind === 'supersede' || m.kind === 'disconnect') && typeof m.phone === 'string') return m as NodeEnvelope
  } catch {
    // fall through: not JSON
  }
  return null
}
