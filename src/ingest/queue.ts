/**
 * The ingest queue: positions in, group-committed batches out, acknowledgements only after commit.
 *
 *   gateway ──submit(rows, done)──▶ pending ──(batchRows or batchMs)──▶ store.insertPositions
 *                                                                       │ commit
 *   0x8001 written inside done ◀── done(null, result) ◀─────────────────┤
 *   consumers, in their order ◀── take(newly stored rows — or every row
 *   the batch held, duplicates included, for a consumer that asks)  ◀────────────┘
 *   (the list is declared in src/pipeline.ts)
 *
 * - Up to maxInFlight batches are written at once (config.ingestInFlight), each on its own
 *   connection; batches are cut in submission order, and each batch's acks go out when it commits.
 * - A database error acknowledges nothing: the same batch is retried with exponential backoff
 *   until it commits. Rows already committed by an earlier attempt are not written twice and the
 *   store's primary key absorbs a commit whose reply was lost.
 * - A row the database refuses on its own (data exception) is isolated by splitting the batch and
 *   counted as rejected; the rest of its batch commits.
 * - Bounded: above highWater queued rows 'pressure' is emitted (the gateway stops reading sockets),
 *   at half of it 'drain'. Rows handed to a consumer and not yet settled by it (its take()
 *   promise) count too — the queue totals them itself (`downstreamRows`) — so a slow matcher or
 *   publisher slows the sockets instead of growing its backlog without bound. Beyond
 *   maxQueuedRows a submission is refused with IngestOverloadError (counted; the terminal
 *   retransmits). Every refused row is counted with its reason.
 *
 * Events: 'pressure', 'drain', 'retry' (err, attempt, delayMs), 'consumerError' (err, consumer
 * name: a take() that threw or rejected), 'callbackError' (err thrown by a done callback or
 * listener). Both are isolated: they never break the queue nor keep a batch from the next consumer.
 */
import { EventEmitter } from 'node:events'
import type { Config } from '../config/index.js'
import type { CommittedPosition } from '../domain.js'
import type { InsertPositionsResult, PositionStore } from '../store/port.js'
import type { Registry } from 'prom-client'
import { createIngestMetrics, type IngestMetrics } from './metrics.js'
import { rejectReason, type RejectReason, type ValidationLimits } from './validate.js'

export class IngestClosedError extends Error {
  constructor() {
    super('ingest queue is closed')
    this.name = 'IngestClosedError'
  }
}

export class IngestOverloadError extends Error {
  constructor(readonly queuedRows: number) {
    super(`ingest queue full (${queuedRows} rows queued)`)
    this.name = 'IngestOverloadError'
  }
}

/** What `done` receives for one submission. inserted + duplicates + rejected = rows submitted. */
export interface SubmitResult extends InsertPositionsResult {
  /** rows not stored (validation or database refusal), with their reasons */
  rejected: number
  rejectReasons: Partial<Record<RejectReason, number>>
}

export type SubmitCallback = (err: Error | null, result?: SubmitResult) => void

/**
 * A consumer of committed positions (live state, alarm transitions, matcher, forwarders …).
 * take() receives each committed batch once, in commit order; the rows count against the
 * queue's high-water mark until the promise it returns settles (nothing returned: handled at once).
 */
export interface CommittedConsumer {
  /** names it in logs and in the jt808_ingest_downstream_rows gauge */
  readonly name: string
  /**
   * true: take() gets every row the batch held, duplicates included (a duplicate may be the
   * re-send of a row whose first commit never reached this consumer: its process died in between).
   * Otherwise only the newly stored rows.
   */
  readonly contained?: boolean
  take(rows: CommittedPosition[]): void | Promise<unknown>
}

export interface IngestQueueOptions {
  /** Flush when this many rows are pending (config.ingestBatchRows). */
  batchRows: number
  /** ... or when the oldest pending row has waited this long (config.ingestBatchMs). */
  batchMs: number
  /** 'pressure' at this many queued rows, 'drain' at half (config.ingestHighWater). */
  highWater: number
  /** Submissions that would exceed this are refused (default 2 × highWater). */
  maxQueuedRows?: number
  /** Batches written concurrently (default 1). */
  maxInFlight?: number
  /** Device times further ahead of now are refused (default 24 h; the matcher judges smaller skews). */
  maxFutureMs?: number
  /** Device times older than this are refused (config.retention.positionsDays). */
  retentionMs: number
  retryInitialMs?: number
  retryMaxMs?: number
  now?: () => number
  /** prom-client registry for the metrics (default: the global one). */
  registry?: Registry
}

/** Options from the typed configuration. */
export function ingestOptionsFromConfig(config: Config): IngestQueueOptions {
  return {
    batchRows: config.ingestBatchRows,
    batchMs: config.ingestBatchMs,
    maxInFlight: config.ingestInFlight,
    highWater: config.ingestHighWater,
    retentionMs: config.retention.positionsDays * 86_400_000,
  }
}

/** A row's fate in its batch (batch.outcome[k]); only NONE rows are written (again). */
const NONE = 0
const INSERTED = 1
const DUPLICATE = 2
const REJECTED = 3

/**
 * One submission. Its accepted rows stay in the caller's array (no object per row: at 50,000
 * reports/s every object a queued report holds is copied by the young generation's collections
 * and promoted while it waits for its commit).
 */
interface Entry {
  rows: CommittedPosition[]
  /** null until a row of it is rejected (most submissions have none) */
  rejected: Partial<Record<RejectReason, number>> | null
  rejectedCount: number
  done: SubmitCallback
  /** performance.now() at submission (scheduling uses a monotonic clock; `now` is for validation) */
  at: number
}

/** A batch being written: its entries' rows flattened, and each row's outcome. */
interface Batch {
  entries: Entry[]
  rows: CommittedPosition[]
  outcome: Uint8Array
}

/** The entry holding the batch's k-th row (only for a row the database refuses: rare). */
function entryOf(batch: Batch, k: number): Entry {
  for (const e of batch.entries) {
    if (k < e.rows.length) return e
    k -= e.rows.length
  }
  throw new RangeError(`row ${k} is outside its batch`)
}

const DAY_MS = 86_400_000
const NO_INDEXES: number[] = Object.freeze([]) as unknown as number[]
const NO_REASONS: Partial<Record<RejectReason, number>> = Object.freeze({})

/** FIFO with O(1) shift (Array#shift copies the array once it is large: 100k queued messages). */
class Fifo<T> {
  private items: T[] = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  peek(): T | undefined {
    return this.items[this.head]
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined as T
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity), and encoding errors: the rows, not the database, are at fault. */
function isDataError(e: unknown): boolean {
  if (e instanceof TypeError || e instanceof RangeError) return true
  const code = (e as { code?: unknown }).code
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'))
}

export class IngestQueue extends EventEmitter {
  private readonly opts: Required<Omit<IngestQueueOptions, 'registry'>>
  private readonly metrics: IngestMetrics
  private consumers: readonly CommittedConsumer[] = []
  /** rows each consumer holds (taken, its promise not yet settled), by position in `consumers` */
  private held: number[] = []
  private downstream = 0
  /** consumers' take() promises not yet settled (close() waits for them) */
  private readonly taking = new Set<Promise<unknown>>()
  private pending = new Fifo<Entry>()
  private pendingRows = 0
  private inFlightRows = 0
  private inFlight = 0
  private timer: NodeJS.Timeout | null = null
  private pressure = false
  private closed = false
  private aborted = false
  private idleWaiters: Array<() => void> = []
  /** validation limits, `now` refreshed per submission */
  private readonly limits: ValidationLimits

  constructor(
    private readonly store: Pick<PositionStore, 'insertPositions'>,
    options: IngestQueueOptions,
  ) {
    super()
    this.opts = {
      maxQueuedRows: options.highWater * 2,
      maxInFlight: 1,
      maxFutureMs: DAY_MS,
      retryInitialMs: 100,
      retryMaxMs: 5000,
      now: Date.now,
      ...options,
    }
    this.metrics = createIngestMetrics(options.registry)
    this.limits = { now: 0, maxFutureMs: this.opts.maxFutureMs, retentionMs: this.opts.retentionMs }
  }

  /**
   * The consumers of committed batches, in the order each batch is handed to them (set once, by
   * the composition root: src/pipeline.ts).
   */
  deliverTo(consumers: readonly CommittedConsumer[]): void {
    this.consumers = [...consumers]
    this.held = consumers.map(() => 0)
    this.metrics.downstreamRows.reset()
    for (const c of consumers) this.metrics.downstreamRows.set({ consumer: c.name }, 0)
  }

  /** Committed rows the consumers have taken and not yet settled (counted against highWater). */
  get downstreamRows(): number {
    return this.downstream
  }

  /** Rows submitted and not yet settled. */
  get queuedRows(): number {
    return this.pendingRows + this.inFlightRows
  }

  /** True from crossing highWater until the queue falls to half of it (sockets stay paused meanwhile). */
  get aboveHighWater(): boolean {
    return this.pressure
  }

  submit(positions: CommittedPosition[], done: SubmitCallback): void {
    if (this.closed) return this.refuse(positions.length, 'closed', new IngestClosedError(), done)
    if (this.queuedRows + positions.length > this.opts.maxQueuedRows) {
      return this.refuse(positions.length, 'overload', new IngestOverloadError(this.queuedRows), done)
    }
    const limits = this.limits
    limits.now = this.opts.now()
    const entry: Entry = { rows: positions, rejected: null, rejectedCount: 0, done, at: performance.now() }
    // Rows refused here are rare: only then is a copy of the accepted ones made.
    let accepted: CommittedPosition[] | null = null
    for (let k = 0; k < positions.length; k++) {
      const row = positions[k]!
      const reason = rejectReason(row, limits)
      if (reason) {
        accepted ??= positions.slice(0, k)
        this.reject(entry, reason)
      } else if (accepted) accepted.push(row)
    }
    if (accepted) entry.rows = accepted
    this.pending.push(entry)
    this.pendingRows += entry.rows.length
    this.updateLevel(false)
    if (this.pendingRows >= this.opts.batchRows) this.kick()
    else this.arm()
  }

  /** Writes everything submitted so far; resolves when it is all settled. */
  flush(): Promise<void> {
    if (!this.pending.length && !this.inFlight) return Promise.resolve()
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    this.kick(true)
    return idle
  }

  /**
   * Stops accepting, writes what is queued, and resolves when it is settled and every consumer
   * has settled what it took. After timeoutMs (default: wait as long as it takes) retries stop and
   * unsettled rows get IngestClosedError.
   */
  async close(timeoutMs?: number): Promise<void> {
    this.closed = true
    const drained = this.flush()
    if (timeoutMs === undefined) await drained
    else {
      let t: NodeJS.Timeout | undefined
      const timedOut = new Promise<'timeout'>((resolve) => (t = setTimeout(() => resolve('timeout'), timeoutMs)))
      const outcome = await Promise.race([drained.then(() => 'ok' as const), timedOut])
      clearTimeout(t)
      if (outcome === 'timeout') {
        this.aborted = true
        await drained
      }
    }
    await Promise.allSettled([...this.taking])
  }

  // ---- scheduling ----

  private arm(): void {
    if (this.timer || !this.pending.length) return
    const oldest = this.pending.peek()!.at
    const wait = Math.max(0, oldest + this.opts.batchMs - performance.now())
    this.timer = setTimeout(() => {
      this.timer = null
      this.kick(true)
    }, wait)
  }

  /** Starts batches while there is capacity. `force`: the oldest row waited batchMs (or a flush was asked for). */
  private kick(force = false): void {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = null
    }
    while (this.inFlight < this.opts.maxInFlight && this.pending.length && (force || this.closed || this.pendingRows >= this.opts.batchRows)) {
      this.startBatch(this.takeBatch())
    }
    if (this.pending.length) this.arm()
  }

  private takeBatch(): Entry[] {
    const batch: Entry[] = []
    let rows = 0
    while (this.pending.length && (rows < this.opts.batchRows || !batch.length)) {
      const e = this.pending.peek()!
      if (batch.length && rows + e.rows.length > this.opts.batchRows) break
      this.pending.shift()
      batch.push(e)
      rows += e.rows.length
    }
    this.pendingRows -= rows
    this.inFlightRows += rows
    return batch
  }

  private startBatch(batch: Entry[]): void {
    this.inFlight++
    const rows = batch.reduce((n, e) => n + e.rows.length, 0)
    void this.runBatch(batch)
      .catch((e: unknown) => this.safeEmit('callbackError', e))
      .finally(() => this.afterBatch(rows))
  }

  private afterBatch(rows: number): void {
    this.inFlight--
    this.inFlightRows -= rows
    this.updateLevel()
    if (this.pending.length) {
      const due = this.closed || this.idleWaiters.length > 0 || performance.now() - this.pending.peek()!.at >= this.opts.batchMs
      this.kick(due)
    } else if (!this.inFlight) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  // ---- writing ----

  private async runBatch(entries: Entry[]): Promise<void> {
    const rows: CommittedPosition[] = []
    for (const e of entries) for (const row of e.rows) rows.push(row)
    const batch: Batch = { entries, rows, outcome: new Uint8Array(rows.length) }
    let delay = this.opts.retryInitialMs
    for (let attempt = 1; ; attempt++) {
      const t0 = performance.now()
      try {
        const open: number[] = []
        for (let k = 0; k < rows.length; k++) if (batch.outcome[k] === NONE) open.push(k)
        await this.write(batch, open)
        if (rows.length) {
          this.metrics.flushSeconds.observe((performance.now() - t0) / 1000)
          this.metrics.batchRows.observe(rows.length)
        }
        break
      } catch (err) {
        if (this.aborted) return this.fail(batch, new IngestClosedError())
        this.metrics.retries.inc()
        const wait = Math.round(delay * (0.8 + 0.4 * Math.random()))
        this.safeEmit('retry', err, attempt, wait)
        await new Promise((r) => setTimeout(r, wait))
        delay = Math.min(delay * 2, this.opts.retryMaxMs)
        if (this.aborted) return this.fail(batch, new IngestClosedError())
      }
    }
    this.settle(batch)
  }

  /** Writes the rows at `at` in one transaction; isolates rows the database refuses by halving. Other errors propagate (retry). */
  private async write(batch: Batch, at: number[]): Promise<void> {
    if (!at.length) return
    const whole = at.length === batch.rows.length
    try {
      const res = await this.store.insertPositions(whole ? batch.rows : at.map((k) => batch.rows[k]!))
      for (const k of at) batch.outcome[k] = INSERTED
      for (const d of res.duplicateIndexes) batch.outcome[at[d]!] = DUPLICATE
    } catch (err) {
      if (!isDataError(err)) throw err
      if (at.length === 1) {
        batch.outcome[at[0]!] = REJECTED
        this.reject(entryOf(batch, at[0]!), 'database')
        return
      }
      const mid = at.length >> 1
      await this.write(batch, at.slice(0, mid))
      await this.write(batch, at.slice(mid))
    }
  }

  private settle(batch: Batch): void {
    const committed: CommittedPosition[] = []
    // a duplicate may be the re-send of a row whose first commit never reached the matcher (the
    // process died in between): consumers that must see every stored row at least once use this
    let contained: CommittedPosition[] | null = null
    let inserted = 0
    let duplicates = 0
    let at = 0
    for (const entry of batch.entries) {
      // Shared empties for what most submissions lack (a callback only reads its result).
      const result: SubmitResult = { inserted: 0, duplicates: 0, duplicateIndexes: NO_INDEXES, rejected: entry.rejectedCount, rejectReasons: entry.rejected ?? NO_REASONS }
      const rows = entry.rows
      for (let k = 0; k < rows.length; k++, at++) {
        const outcome = batch.outcome[at]
        if (outcome === INSERTED) {
          result.inserted++
          committed.push(rows[k]!)
          contained?.push(rows[k]!)
        } else if (outcome === DUPLICATE) {
          contained ??= committed.slice()
          contained.push(rows[k]!)
          result.duplicates++
          if (result.duplicateIndexes === NO_INDEXES) result.duplicateIndexes = []
          result.duplicateIndexes.push(k)
        }
      }
      inserted += result.inserted
      duplicates += result.duplicates
      this.call(entry.done, null, result)
    }
    this.metrics.committed.inc(inserted)
    this.metrics.duplicates.inc(duplicates)
    if (committed.length || contained) this.handOff(committed, contained ?? committed)
  }

  /** Each consumer in turn; one that throws or rejects costs the others nothing. */
  private handOff(inserted: CommittedPosition[], contained: CommittedPosition[]): void {
    for (let i = 0; i < this.consumers.length; i++) {
      const c = this.consumers[i]!
      const rows = c.contained ? contained : inserted
      const n = rows.length
      if (!n) continue
      let pending: void | Promise<unknown>
      try {
        pending = c.take(rows)
      } catch (e) {
        this.safeEmit('consumerError', e, c.name)
        continue
      }
      if (!pending) continue
      this.hold(i, n)
      const p: Promise<unknown> = pending
        .catch((e: unknown) => this.safeEmit('consumerError', e, c.name))
        .finally(() => {
          this.taking.delete(p)
          this.hold(i, -n)
          this.updateLevel()
        })
      this.taking.add(p)
    }
  }

  private hold(i: number, n: number): void {
    this.held[i]! += n
    this.downstream += n
    this.metrics.downstreamRows.set({ consumer: this.consumers[i]!.name }, this.held[i]!)
  }

  private fail(batch: Batch, err: Error): void {
    let open = 0
    for (let k = 0; k < batch.rows.length; k++) if (batch.outcome[k] === NONE) open++
    if (open) this.metrics.rejected.inc({ reason: 'closed' }, open)
    for (const entry of batch.entries) this.call(entry.done, err)
  }

  // ---- bookkeeping ----

  private reject(entry: Entry, reason: RejectReason): void {
    const counts = (entry.rejected ??= {})
    counts[reason] = (counts[reason] ?? 0) + 1
    entry.rejectedCount++
    this.metrics.rejected.inc({ reason })
  }

  private refuse(rows: number, reason: RejectReason, err: Error, done: SubmitCallback): void {
    if (rows) this.metrics.rejected.inc({ reason }, rows)
    setImmediate(() => this.call(done, err))
  }

  /**
   * `gauge`: also set the queued-rows gauge — at batch boundaries and rechecks, not on every
   * submission (a prom-client set() per report was measurable at 50,000 reports/s).
   */
  private updateLevel(gauge = true): void {
    const mine = this.queuedRows
    if (gauge) this.metrics.queuedRows.set(mine)
    const q = mine + this.downstream
    if (!this.pressure && q >= this.opts.highWater) {
      this.pressure = true
      this.safeEmit('pressure')
    } else if (this.pressure && q <= this.opts.highWater / 2) {
      this.pressure = false
      this.safeEmit('drain')
    }
  }

  private call(done: SubmitCallback, err: Error | null, result?: SubmitResult): void {
    try {
      done(err, result)
    } catch (e) {
      this.safeEmit('callbackError', e)
    }
  }

  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args)
    } catch (e) {
      if (event !== 'callbackError' && this.listenerCount('callbackError')) this.safeEmit('callbackError', e)
    }
  }
}
