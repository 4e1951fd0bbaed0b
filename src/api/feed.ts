/**
 * The live anomaly feed behind GET /api/v1/anomalies/stream.
 *
 * One tail loop per API process reads ANOMALY_EVENTS_STREAM from the state port (Redis Streams
 * across processes, or the in-memory ring) and fans each entry out to the connected clients. The
 * loop never waits for a client: a client whose socket stops draining gets its events queued (up
 * to maxQueuedEvents) and is dropped when the socket stays blocked past drainTimeoutMs or the
 * queue overflows — a slow reader costs only itself.
 *
 * Resumption: the SSE event id is the stream entry id. A client that sends Last-Event-ID (or
 * ?since=) first replays the stream from there while live entries are held for it; then the
 * held entries newer than the replay are flushed and it joins the live fan-out. No gap, no
 * duplicate, in stream order.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { ANOMALY_EVENTS_STREAM, type AnomalyEvent } from '../domain.js'
import type { State, StreamEntry } from '../state/port.js'
import { compareStreamIds, parseStreamId, type StreamId } from '../state/stream-id.js'
import type { FeedOptions } from './deps.js'
import { iso, presentAnomaly } from './present.js'

export const DEFAULT_FEED_OPTIONS: FeedOptions = { drainTimeoutMs: 10_000, maxQueuedEvents: 1_000, heartbeatMs: 15_000, blockMs: 2_000 }

const REPLAY_PAGE = 500

export interface FeedFilter {
  /** enterprise tokens: only this licence */
  enterpriseLicenseNo: string | null
  types: Set<string> | null
  plate: string | null
  severities: Set<string> | null
}

export interface FeedStats {
  clients: number
  delivered: number
  dropped: number
}

/** Reported to the caller for metrics and the benchmark. */
export interface FeedHooks {
  onDeliver?(entry: StreamEntry<AnomalyEvent>, clients: number): void
  onDrop?(reason: 'drain-timeout' | 'queue-overflow'): void
  onClientsChanged?(clients: number): void
}

export function matches(filter: FeedFilter, event: AnomalyEvent): boolean {
  const a = event.anomaly
  if (!a) return false
  if (filter.enterpriseLicenseNo !== null && a.enterpriseLicenseNo !== filter.enterpriseLicenseNo) return false
  if (filter.types && !filter.types.has(a.type)) return false
  if (filter.plate !== null && a.plate !== filter.plate) return false
  if (filter.severities && !filter.severities.has(a.severity)) return false
  return true
}

/** One SSE message. `data` is a single line of JSON, so no line splitting is needed. */
export function formatEvent(entry: StreamEntry<AnomalyEvent>): string {
  const e = entry.value
  const data = JSON.stringify({ event: e.event, at: iso(e.at), anomaly: presentAnomaly(e.anomaly) })
  return `id: ${entry.id}\nevent: ${e.event}\ndata: ${data}\n\n`
}

class FeedClient {
  /** highest stream id written or queued for this client */
  last: StreamId
  replaying: boolean
  /** live entries that arrived while replaying */
  held: StreamEntry<AnomalyEvent>[] = []
  /** formatted chunks waiting for the socket to drain */
  queue: string[] = []
  blocked = false
  closed = false
  private drainTimer: NodeJS.Timeout | null = null

  constructor(
    readonly res: ServerResponse,
    readonly filter: FeedFilter,
    start: StreamId,
    replaying: boolean,
    private readonly feed: AnomalyFeed,
  ) {
    this.last = start
    this.replaying = replaying
    res.on('drain', () => this.onDrain())
    res.on('close', () => this.feed.remove(this))
  }

  /** Writes or queues one chunk; never waits. */
  send(chunk: string): void {
    if (this.closed) return
    if (this.blocked) {
      if (this.queue.length >= this.feed.options.maxQueuedEvents) return this.feed.drop(this, 'queue-overflow')
      this.queue.push(chunk)
      return
    }
    if (!this.res.write(chunk)) {
      this.blocked = true
      this.drainTimer = setTimeout(() => this.feed.drop(this, 'drain-timeout'), this.feed.options.drainTimeoutMs)
      this.drainTimer.unref()
    }
  }

  deliver(entry: StreamEntry<AnomalyEvent>): boolean {
    const id = parseStreamId(entry.id)
    if (compareStreamIds(id, this.last) <= 0) return false
    this.last = id
    if (!matches(this.filter, entry.value)) return false
    this.send(formatEvent(entry))
    return true
  }

  private onDrain(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer)
    this.drainTimer = null
    this.blocked = false
    while (this.queue.length && !this.blocked && !this.closed) this.send(this.queue.shift()!)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.drainTimer) clearTimeout(this.drainTimer)
    this.queue = []
    this.held = []
  }
}

export class AnomalyFeed {
  readonly options: FeedOptions
  private readonly clients = new Set<FeedClient>()
  /** id of the newest entry the tail loop has seen; null until the loop starts */
  private tail: StreamId | null = null
  private starting: Promise<void> | null = null
  private loop: Promise<void> | null = null
  private running = false
  private heartbeat: NodeJS.Timeout | null = null
  readonly stats: FeedStats = { clients: 0, delivered: 0, dropped: 0 }

  constructor(
    private readonly state: State,
    options: Partial<FeedOptions>,
    private readonly log: FastifyBaseLogger,
    private readonly hooks: FeedHooks = {},
    private readonly stream = ANOMALY_EVENTS_STREAM,
  ) {
    this.options = { ...DEFAULT_FEED_OPTIONS, ...options }
  }

  get clientCount(): number {
    return this.clients.size
  }

  /**
   * Attaches a client whose SSE headers are written. `since`: replay entries after this id first;
   * null: only entries appended from now on. Resolves when the client is live.
   */
  async attach(res: ServerResponse, filter: FeedFilter, since: StreamId | null): Promise<void> {
    await this.ensureRunning()
    const client = new FeedClient(res, filter, since ?? this.tail!, since !== null, this)
    this.clients.add(client)
    this.changed()
    if (since === null) return
    try {
      const info = await this.state.streamInfo(this.stream)
      if (info.length > 0 && compareStreamIds(since, parseStreamId(info.firstId)) < 0 && compareStreamIds(since, { ms: 0, seq: 0 }) > 0) {
        // Entries after `since` were trimmed away: say so rather than pretend the replay is whole.
        client.send(`event: feed.truncated\ndata: ${JSON.stringify({ requestedId: `${since.ms}-${since.seq}`, oldestId: info.firstId })}\n\n`)
      }
      let cursor = `${since.ms}-${since.seq}`
      for (;;) {
        if (client.closed) return
        const page = await this.state.read<AnomalyEvent>(this.stream, cursor, REPLAY_PAGE)
        if (!page.length) break
        for (const entry of page) if (client.deliver(entry)) this.stats.delivered++
        cursor = page[page.length - 1].id
        if (page.length < REPLAY_PAGE) break
      }
      client.replaying = false
      const held = client.held
      client.held = []
      for (const entry of held) if (client.deliver(entry)) this.stats.delivered++
    } catch (err) {
      this.log.warn({ err }, 'anomaly feed: replay failed, closing the client')
      this.remove(client)
      res.destroy()
    }
  }

  remove(client: FeedClient): void {
    client.close()
    if (this.clients.delete(client)) this.changed()
  }

  drop(client: FeedClient, reason: 'drain-timeout' | 'queue-overflow'): void {
    if (client.closed) return
    this.stats.dropped++
    this.hooks.onDrop?.(reason)
    this.log.info({ reason }, 'anomaly feed: dropping a slow client')
    this.remove(client)
    client.res.destroy()
  }

  private changed(): void {
    this.stats.clients = this.clients.size
    this.hooks.onClientsChanged?.(this.clients.size)
  }

  /** Starts the tail loop (idempotent); rejects when the state cannot be reached. */
  start(): Promise<void> {
    return this.ensureRunning()
  }

  private ensureRunning(): Promise<void> {
    if (this.tail !== null && this.running) return Promise.resolve()
    this.starting ??= (async () => {
      const info = await this.state.streamInfo(this.stream)
      this.tail = parseStreamId(info.lastId)
      this.running = true
      this.loop = this.run()
      this.heartbeat = setInterval(() => {
        for (const c of this.clients) if (!c.blocked) c.send(': ping\n\n')
      }, this.options.heartbeatMs)
      this.heartbeat.unref()
    })().finally(() => {
      this.starting = null
    })
    return this.starting
  }

  private async run(): Promise<void> {
    let failures = 0
    while (this.running) {
      try {
        const cursor = `${this.tail!.ms}-${this.tail!.seq}`
        const entries = await this.state.read<AnomalyEvent>(this.stream, cursor, REPLAY_PAGE, this.options.blockMs)
        failures = 0
        for (const entry of entries) {
          this.tail = parseStreamId(entry.id)
          let n = 0
          for (const c of this.clients) {
            if (c.closed) continue
            if (c.replaying) {
              if (c.held.length >= this.options.maxQueuedEvents) this.drop(c, 'queue-overflow')
              else c.held.push(entry)
              continue
            }
            if (c.deliver(entry)) n++
          }
          this.stats.delivered += n
          this.hooks.onDeliver?.(entry, n)
        }
      } catch (err) {
        if (!this.running) break
        failures++
        this.log.warn({ err }, 'anomaly feed: stream read failed; retrying')
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(failures, 6))).unref())
      }
    }
  }

  /** Ends every client and stops the tail loop (waits at most one blocking read). */
  async close(): Promise<void> {
    this.running = false
    if (this.heartbeat) clearInterval(this.heartbeat)
    for (const c of [...this.clients]) {
      this.remove(c)
      c.res.end()
    }
    await this.starting?.catch(() => undefined)
    await this.loop
  }
}
