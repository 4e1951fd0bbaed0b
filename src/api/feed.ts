/**
 * The live anomaly feed behind GET /api/v1/anomalies/stream.
 *
 * One tail loop per API process reads ANOMALY_EVENTS_STREAM from the state port (Redis Streams
 * across processes, or the in-memory ring) and fans each entry out to the connected clients. The
 * loop never waits for a client: a client whose socket stops draining gets its events queued (up
 * to maxQueuedEvents) and is dropped when the socket stays blocked past drainTimeoutMs or the
 * queue overflows — a slow reader costs only itself. Each entry is parsed and formatted once
 * for all clients, and each client gets one write per page read (a burst of events to 100
 * clients is 100 writes, not 100 × events).
 *
 * Resumption: the SSE event id is the stream entry id. A client that sends Last-Event-ID (or
 * ?since=) first replays the stream from there while live entries are held for it; then the
 * held entries newer than the replay are flushed and it joins the live fan-out. No gap, no
 * duplicate, in stream order.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { ANOMALY_EVENTS_STREAM, canonicalPlate, type AnomalyEvent } from '../domain.js'
import { StateUnavailableError, type State, type StreamEntry } from '../state/port.js'
import { compareStreamIds, parseStreamId, type StreamId } from '../state/stream-id.js'
import type { FeedOptions } from './deps.js'
import { iso, presentAnomaly } from './present.js'

export const DEFAULT_FEED_OPTIONS: FeedOptions = { drainTimeoutMs: 10_000, maxQueuedEvents: 1_000, heartbeatMs: 15_000, blockMs: 2_000 }

const REPLAY_PAGE = 500

export interface FeedFilter {
  /** enterprise tokens: only this licence */
  enterpriseLicenseNo: string | null
  types: Set<string> | null
  /** canonical (canonicalPlate) */
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
  if (filter.plate !== null && canonicalPlate(a.plate) !== filter.plate) return false
  if (filter.severities && !filter.severities.has(a.severity)) return false
  return true
}

/** One SSE message. `data` is a single line of JSON, so no line splitting is needed. */
export function formatEvent(entry: StreamEntry<AnomalyEvent>): string {
  const e = entry.value
  const data = JSON.stringify({ event: e.event, at: iso(e.at), anomaly: presentAnomaly(e.anomaly) })
  return `id: ${entry.id}\nevent: ${e.event}\ndata: ${data}\n\n`
}

/** A stream entry with its id parsed and its SSE text made once, shared by every client. */
interface FeedItem {
  entry: StreamEntry<AnomalyEvent>
  id: StreamId
  text: string | null
}

function feedItem(entry: StreamEntry<AnomalyEvent>): FeedItem {
  return { entry, id: parseStreamId(entry.id), text: null }
}

class FeedClient {
  /** highest stream id written or queued for this client */
  last: StreamId
  replaying: boolean
  /** live entries that arrived while replaying */
  held: StreamEntry<AnomalyEvent>[] = []
  /** formatted chunks waiting for the socket to drain, and how many events they hold */
  queue: Array<{ chunk: string | Buffer; events: number }> = []
  queuedEvents = 0
  blocked = false
  closed = false
  private drainTimer: NodeJS.Timeout | null = null

  /** clients with equal keys get the same events: one chunk per page serves them all */
  readonly filterKey: string

  constructor(
    readonly res: ServerResponse,
    readonly filter: FeedFilter,
    start: StreamId,
    replaying: boolean,
    private readonly feed: AnomalyFeed,
  ) {
    this.last = start
    this.replaying = replaying
    const sorted = (set: Set<string> | null) => (set ? [...set].sort().join(',') : '*')
    this.filterKey = `${filter.enterpriseLicenseNo ?? '*'}|${sorted(filter.types)}|${filter.plate ?? '*'}|${sorted(filter.severities)}`
    res.on('drain', () => this.onDrain())
    res.on('close', () => this.feed.remove(this))
  }

  /** Writes or queues one chunk (holding `events` events); never waits. */
  send(chunk: string | Buffer, events = 1): void {
    if (this.closed) return
    if (this.blocked) {
      if (this.queuedEvents + events > this.feed.options.maxQueuedEvents) return this.feed.drop(this, 'queue-overflow')
      this.queue.push({ chunk, events })
      this.queuedEvents += events
      return
    }
    if (!this.res.write(chunk)) {
      this.blocked = true
      this.drainTimer = setTimeout(() => this.feed.drop(this, 'drain-timeout'), this.feed.options.drainTimeoutMs)
      this.drainTimer.unref()
    }
  }

  /** The item's SSE text if this client is to get it (newer than what it has, and it matches the filter). */
  take(item: FeedItem): string | null {
    if (compareStreamIds(item.id, this.last) <= 0) return null
    this.last = item.id
    if (!matches(this.filter, item.entry.value)) return null
    return (item.text ??= formatEvent(item.entry))
  }

  deliver(entry: StreamEntry<AnomalyEvent>): boolean {
    const text = this.take(feedItem(entry))
    if (text === null) return false
    this.send(text)
    return true
  }

  private onDrain(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer)
    this.drainTimer = null
    this.blocked = false
    while (this.queue.length && !this.blocked && !this.closed) {
      const next = this.queue.shift()!
      this.queuedEvents -= next.events
      this.send(next.chunk, next.events)
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.drainTimer) clearTimeout(this.drainTimer)
    this.queue = []
    this.queuedEvents = 0
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
        if (!entries.length) continue
        const items = entries.map(feedItem)
        this.tail = items[items.length - 1].id
        const perEntry = new Array<number>(items.length).fill(0)
        // Clients that are caught up (every item is new to them) with the same filter get the same
        // bytes: made once per filter, written to each.
        const shared = new Map<string, { chunk: Buffer; matched: number[] } | null>()
        const first = items[0].id
        const lastId = items[items.length - 1].id
        for (const c of this.clients) {
          if (c.closed) continue
          if (c.replaying) {
            if (c.held.length + entries.length > this.options.maxQueuedEvents) this.drop(c, 'queue-overflow')
            else c.held.push(...entries)
            continue
          }
          if (compareStreamIds(first, c.last) > 0) {
            let page = shared.get(c.filterKey)
            if (page === undefined) {
              let text = ''
              const matched: number[] = []
              for (let i = 0; i < items.length; i++) {
                if (!matches(c.filter, items[i].entry.value)) continue
                text += items[i].text ??= formatEvent(items[i].entry)
                matched.push(i)
              }
              page = matched.length ? { chunk: Buffer.from(text), matched } : null
              shared.set(c.filterKey, page)
            }
            c.last = lastId
            if (page) {
              c.send(page.chunk, page.matched.length)
              for (const i of page.matched) perEntry[i]++
            }
            continue
          }
          let out = ''
          let n = 0
          for (let i = 0; i < items.length; i++) {
            const text = c.take(items[i])
            if (text === null) continue
            out += text
            n++
            perEntry[i]++
          }
          if (n) c.send(out, n)
        }
        for (let i = 0; i < items.length; i++) {
          this.stats.delivered += perEntry[i]
          this.hooks.onDeliver?.(entries[i], perEntry[i])
        }
      } catch (err) {
        if (!this.running) break
        failures++
        // an unreachable state is logged once by the app, not at every retry
        if (!(err instanceof StateUnavailableError)) this.log.warn({ err }, 'anomaly feed: stream read failed; retrying')
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
