/**
 * The matcher service: feeds the pure engine and makes its results durable and visible.
 *
 *   committed batches ──┐                    ┌─▶ store.upsertAnomalies (by id)
 *   partitioned stream ─┼─▶ MatcherEngine ──▶┤
 *   gateway events ─────┤   (device time)    └─▶ state.append(ANOMALY_EVENTS_STREAM)  → SSE feed
 *   waybill changes ────┤
 *   clock tick ─────────┘
 *
 * One process: committed positions are handed over by the ingest queue (committedConsumer(),
 * listed in src/pipeline.ts) and driver cards come from the gateway. Several processes: the
 * same consumer publishes the committed positions (and driver-card / alarm-confirmation
 * envelopes) to the state's partitioned stream, each vehicle handled by exactly one consumer; a
 * process follows only the vehicles of the partitions it owns.
 *
 * Waybill changes reach every process by polling the store (changed_at, the database clock), so
 * the API and `jt808 import` need no channel of their own; waybillChanged() is the in-process
 * shortcut. Anomaly events are persisted in order: the store first, then the stream, so the
 * feed never announces an anomaly GET /anomalies/{id} cannot return.
 */
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import { metricGetter } from '../metrics.js'
import {
  ANOMALY_EVENTS_STREAM,
  beijingDayStart,
  COMMITTED_POSITIONS_STREAM,
  plateKey,
  type Anomaly,
  type AnomalyEvent,
  type CommittedPosition,
  type DriverCardEvent,
  type VehicleRef,
  type Waybill,
} from '../domain.js'
import { partitionOf, PartitionedConsumer, PartitionedStream } from '../state/partitioned.js'
import { StateUnavailableError, type State } from '../state/port.js'
import type { Config } from '../config/index.js'
import type { CommittedConsumer } from '../ingest/queue.js'
import type { Store } from '../store/port.js'
import { fenced, MatcherCheckpoints, type CheckpointStore, type ReplayFence } from './checkpoint.js'
import { DEFAULT_MATCHER_CONFIG, loadMatcherConfig, type MatcherConfig } from './config.js'
import { MatcherEngine, restoredAnchor, type EngineStats } from './engine.js'
import { NO_ZONES, zonesFromGeofences, type ZoneLookup } from './zones.js'

/** Feed events appended per state call. */
const FEED_APPEND_CHUNK = 500

/** What travels on the partitioned stream besides plain committed positions. */
export type MatcherEnvelope = { kind: 'driver-card'; event: DriverCardEvent } | { kind: 'alarm-confirmed'; vehicleId: number; bits: number; at: number }
export type MatcherStreamEntry = CommittedPosition | MatcherEnvelope

export type MatcherStore = Pick<Store, 'upsertAnomalies' | 'openAnomalies' | 'waybillsInEffect' | 'waybillChangesSince' | 'findVehicle' | 'findVehicleByTerminal' | 'insertWaybillReport'> &
  Partial<Pick<Store, 'listGeofences'>> &
  /** without them nothing is checkpointed: a new owner or a restart starts each vehicle afresh */
  Partial<CheckpointStore>

export interface MatcherServiceOptions {
  store: MatcherStore
  state: State
  config?: MatcherConfig
  zones?: ZoneLookup
  logger?: Logger
  registry?: Registry
  clock?: () => number
  /** engine tick period (default 5 s) */
  tickMs?: number
  /** waybill change polling period (default 5 s) */
  waybillPollMs?: number
  /** cap of the anomaly event stream (default 1,000,000 entries) */
  eventStreamMaxLen?: number
  /** events kept while the store is unreachable before the oldest updates are dropped */
  maxPendingEvents?: number
  /** how often the API's geofences are reloaded into the speed-limit lookup (default 60 s; 0: never) */
  zonesRefreshMs?: number
  /** how often changed vehicles are checkpointed (default 60 s; checkpoint.ts) */
  checkpointMs?: number
}

export interface StreamOptions {
  partitions: number
  group?: string
  consumer: string
  leaseMs?: number
  batch?: number
  blockMs?: number
}

/** How far back each poll looks again, so a write that committed late is not missed. */
const POLL_OVERLAP_MS = 30_000

interface ResolvedWaybill {
  w: Waybill
  vehicle: VehicleRef | null
  trailerVehicleId: number | null
}

export class MatcherService {
  readonly engine: MatcherEngine
  private readonly store: MatcherStore
  private readonly state: State
  private readonly cfg: MatcherConfig
  private readonly log: Logger | undefined
  private readonly clock: () => number
  private readonly tickMs: number
  private readonly pollMs: number
  private readonly maxLen: number
  private readonly maxPending: number
  private pending: AnomalyEvent[] = []
  private chain: Promise<void> = Promise.resolve()
  private timers: NodeJS.Timeout[] = []
  private retryTimer: NodeJS.Timeout | null = null
  private pollCursor = 0
  private readonly applied = new Map<string, number>()
  private readonly waybills = new Map<string, ResolvedWaybill>()
  private readonly vehicleCache = new Map<string, { ref: VehicleRef | null; at: number }>()
  /** partitions owned in stream mode; null: one process follows everything */
  private owned: Set<number> | null = null
  private partitions = 1
  private consumer: PartitionedConsumer<MatcherStreamEntry> | null = null
  private closed = false
  private droppedEvents = 0
  private readonly metrics: ReturnType<typeof matcherMetrics> | null
  private readonly zonesRefreshMs: number
  private readonly fixedZones: boolean
  /** stream mode: positions, driver cards and confirmations go to the partition's owner through the stream */
  private publisher: MatcherPublisher | null = null
  private checkpoints: MatcherCheckpoints | null = null
  private readonly checkpointMs: number
  /** stream mode: what each restored vehicle's replay covered (checkpoint.ts) */
  private readonly fences = new Map<number, ReplayFence>()
  /** ids whose opening the feed already carried: a replay's 'opened' for them is stored, not announced */
  private announced: Set<string> | null = null
  private readonly unannounced = new WeakSet<AnomalyEvent>()
  private started = false

  constructor(opts: MatcherServiceOptions) {
    this.store = opts.store
    this.state = opts.state
    this.cfg = opts.config ?? DEFAULT_MATCHER_CONFIG
    this.log = opts.logger
    this.clock = opts.clock ?? Date.now
    this.tickMs = opts.tickMs ?? 5_000
    this.pollMs = opts.waybillPollMs ?? 5_000
    this.maxLen = opts.eventStreamMaxLen ?? 1_000_000
    this.maxPending = opts.maxPendingEvents ?? 200_000
    this.metrics = opts.registry ? matcherMetrics(opts.registry) : null
    this.zonesRefreshMs = opts.zonesRefreshMs ?? 60_000
    this.fixedZones = opts.zones !== undefined
    this.checkpointMs = opts.checkpointMs ?? 60_000
    this.engine = new MatcherEngine({
      config: this.cfg,
      zones: opts.zones ?? NO_ZONES,
      clock: this.clock,
      since: this.clock(),
      emit: (e) => {
        if (this.announced && e.event === 'anomaly.opened' && this.announced.has(e.anomaly.id)) this.unannounced.add(e)
        this.pending.push(e)
        this.metrics?.events.inc({ event: e.event, type: e.anomaly.type })
      },
    })
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Loads the waybills in effect and the open anomalies, then starts the clock and the waybill
   * poll. With `streams`, this process consumes the partitioned stream and follows only the
   * vehicles of the partitions it holds (without: use attachIngest()).
   */
  async start(opts: { streams?: StreamOptions } = {}): Promise<void> {
    const now = this.clock()
    this.pollCursor = now - POLL_OVERLAP_MS
    if (opts.streams) {
      this.owned = new Set()
      this.partitions = opts.streams.partitions
      this.publisher = new MatcherPublisher(this.state, opts.streams.partitions)
    }
    const s = this.store
    if (s.saveCheckpoints && s.loadCheckpoints && s.positionsAfter && s.deleteCheckpointsBefore) {
      this.checkpoints = new MatcherCheckpoints({ store: s as CheckpointStore, engine: this.engine, partitions: this.partitions, everyMs: this.checkpointMs, clock: this.clock })
    }
    this.started = true
    await this.refreshZones()
    for (const w of await this.store.waybillsInEffect(now)) await this.applyWaybill(w)
    if (this.owned === null) {
      // a restart: every vehicle continues from its checkpoint and the positions stored since
      const open = await this.store.openAnomalies()
      await this.rebuild(undefined, open)
      this.engine.restore(open)
    }
    await this.persist()
    this.timers.push(setInterval(() => void this.tick().catch((err) => this.report(err, 'tick failed')), this.tickMs))
    this.timers.push(setInterval(() => void this.pollWaybills().catch((err) => this.report(err, 'waybill poll failed')), this.pollMs))
    if (!this.fixedZones && this.store.listGeofences && this.zonesRefreshMs > 0) {
      this.timers.push(setInterval(() => void this.refreshZones().catch((err) => this.report(err, 'geofence reload failed')), this.zonesRefreshMs))
    }
    for (const t of this.timers) t.unref()
    if (opts.streams) await this.consumeStreams(opts.streams)
  }

  /** Stops timers and consumers, then writes out what is pending. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearInterval(t)
    if (this.retryTimer) clearTimeout(this.retryTimer)
    // stream mode: every changed vehicle in a few upserts now, rather than one per partition as
    // the consumer hands them back (those then find little or nothing left to write)
    if (this.consumer && this.checkpoints) {
      const cp = this.checkpoints
      await this.serial(async () => {
        await this.persist()
        if (!this.pending.length) await cp.save(true).catch((err) => this.report(err, 'checkpoint at close failed'))
      }).catch(() => undefined)
    }
    await this.consumer?.stop()
    this.engine.flushLate()
    await this.persist().catch((err) => this.report(err, 'final persist failed'))
    if (!this.pending.length) await this.checkpoints?.save(true).catch((err) => this.report(err, 'final checkpoint failed'))
  }

  // ------------------------------------------------------------------ inputs

  /**
   * The ingest queue's consumer for this service (after start()): in one process, committed
   * positions are matched and their anomalies persisted; with streams, they are published to
   * their vehicles' partitions. Until that promise settles the rows count against the queue's
   * high-water mark, so a slow anomaly store or Redis pauses the sockets rather than growing a
   * backlog without bound.
   */
  committedConsumer(): CommittedConsumer {
    if (!this.started) throw new Error('committedConsumer() before start(): the mode (in-process or streams) is not known yet')
    const publisher = this.publisher
    // Every row the batch held, duplicates too: a worker that committed and died before publishing
    // left its rows unpublished, and the terminal's re-send (a duplicate now) repairs that gap.
    if (publisher) return { name: 'matcher-publisher', contained: true, take: (rows) => publisher.positions(rows) }
    // In-process the new rows are enough: a re-send that is a duplicate was seen by this matcher
    // already, or the process restarted and rebuilds from the positions table.
    return { name: 'matcher', take: (rows) => (this.closed ? undefined : this.handlePositions(rows)) }
  }

  /** Reloads the API's geofences into the speed-limit and zone lookup. */
  async refreshZones(): Promise<void> {
    if (this.fixedZones || !this.store.listGeofences) return
    const rows = await this.store.listGeofences()
    this.engine.setZones(rows.length ? zonesFromGeofences(rows, this.cfg.otherRoadSpeedLimitKmh) : NO_ZONES)
  }

  /**
   * Gateway events: driver cards (0x0702) and the terminal's own waybill reports (0x0701). In
   * stream mode driver cards travel to the vehicle's partition owner.
   */
  attachGateway(gateway: {
    on(event: 'driver-card', l: (e: DriverCardEvent) => void): unknown
    on(event: 'waybill-report', l: (e: { phone: string; vehicleId: number | null; body: unknown; at: number }) => void): unknown
    on(event: 'alarm-confirmed', l: (e: { phone: string; bits: number; at: number }) => void): unknown
  }): void {
    gateway.on(
      'alarm-confirmed',
      (e: { phone: string; bits: number; at: number }) =>
        void this.store
          .findVehicleByTerminal(e.phone)
          .then((v) => (v ? this.alarmConfirmed(v.id, e.bits, e.at) : undefined))
          .catch((err) => this.report(err, 'alarm confirmation not applied')),
    )
    gateway.on('driver-card', (e: DriverCardEvent) => void this.driverCard(e).catch((err) => this.report(err, 'driver card failed')))
    gateway.on(
      'waybill-report',
      (e: { phone: string; vehicleId: number | null; body: unknown; at: number }) =>
        void this.store.insertWaybillReport({ phone: e.phone, vehicleId: e.vehicleId, receivedAt: e.at, body: e.body }).catch((err) => this.report(err, '0x0701 report not stored')),
    )
  }

  private async consumeStreams(o: StreamOptions): Promise<void> {
    this.consumer = new PartitionedConsumer<MatcherStreamEntry>({
      state: this.state,
      name: COMMITTED_POSITIONS_STREAM,
      partitions: o.partitions,
      group: o.group ?? 'matcher',
      consumer: o.consumer,
      leaseMs: o.leaseMs,
      batch: o.batch,
      blockMs: o.blockMs,
      handle: async (entries) => this.handleEntries(entries.map((e) => e.value)),
      onAssigned: async (p) => this.assign(p),
      onRevoked: async (p) => this.revoke(p),
      onError: (err) => this.report(err, 'partitioned consumer'),
    })
    await this.consumer.start()
  }

  /** Stops consuming the way a crashed process does (tests of the hand-over). */
  abandon(): void {
    this.closed = true
    for (const t of this.timers) clearInterval(t)
    this.consumer?.abandon()
  }

  /** Partitions this process follows (stream mode), ascending. */
  ownedPartitions(): number[] {
    return this.owned ? [...this.owned].sort((a, b) => a - b) : []
  }

  handlePositions(rows: CommittedPosition[]): Promise<void> {
    return this.serial(async () => {
      for (const p of rows) this.engine.position(p)
      this.engine.flushLate()
      this.metrics?.positions.inc(rows.length)
    })
  }

  /** A batch from the partitioned stream: positions and envelopes, in order. */
  handleEntries(values: MatcherStreamEntry[]): Promise<void> {
    return this.serial(async () => {
      let n = 0
      for (const v of values) {
        if ('kind' in v) {
          if (v.kind === 'driver-card') this.engine.driverCard(v.event)
          else if (v.kind === 'alarm-confirmed') this.engine.alarmConfirmed(v.vehicleId, v.bits, v.at)
        } else if (!(this.fences.size && fenced(this.fences, v))) {
          this.engine.position(v)
          n++
        }
      }
      this.engine.flushLate()
      this.metrics?.positions.inc(n)
    })
  }

  driverCard(e: DriverCardEvent): Promise<void> {
    if (this.publisher) return this.publisher.driverCard(e).then(() => undefined)
    return this.serial(async () => this.engine.driverCard(e))
  }

  /** The platform confirmed alarm bits (0x8203): closes their TERMINAL_ALARM anomalies. */
  alarmConfirmed(vehicleId: number, bits: number, at = this.clock()): Promise<void> {
    if (this.publisher) return this.publisher.alarmConfirmed(vehicleId, bits, at).then(() => undefined)
    return this.serial(async () => this.engine.alarmConfirmed(vehicleId, bits, at))
  }

  /** In-process shortcut after a waybill write (the poll would bring it within waybillPollMs). */
  waybillChanged(w: Waybill): Promise<void> {
    return this.serial(async () => this.applyWaybill(w))
  }

  tick(now = this.clock()): Promise<void> {
    return this.serial(async () => {
      // a fence whose vehicle never reported again is of no use after a while
      for (const [id, f] of this.fences) if (now - f.at > 10 * 60_000) this.fences.delete(id)
      this.engine.tick(now)
      this.metrics?.vehicles.set(this.engine.stats().vehicles)
    })
  }

  /** Brings in waybill changes written by any process since the last poll. */
  pollWaybills(): Promise<void> {
    return this.serial(async () => {
      let from = this.pollCursor - POLL_OVERLAP_MS
      for (;;) {
        const changes = await this.store.waybillChangesSince(from, 1000)
        for (const c of changes) {
          this.pollCursor = Math.max(this.pollCursor, c.changedAt)
          if (this.applied.get(c.waybill.waybillNo) === c.changedAt) continue
          this.applied.set(c.waybill.waybillNo, c.changedAt)
          await this.applyWaybill(c.waybill)
        }
        if (changes.length < 1000) break
        const last = changes[changes.length - 1].changedAt
        if (last - 1 <= from) break
        // the next page starts at the last one's millisecond again: ties are skipped by `applied`
        from = last - 1
      }
      const cutoff = this.pollCursor - 2 * POLL_OVERLAP_MS
      for (const [no, at] of this.applied) if (at < cutoff) this.applied.delete(no)
    })
  }

  stats(): EngineStats & { pendingEvents: number; droppedEvents: number } {
    return { ...this.engine.stats(), pendingEvents: this.pending.length, droppedEvents: this.droppedEvents }
  }

  /** Waits until everything queued so far is handled and persisted. */
  async drain(): Promise<void> {
    await this.serial(async () => undefined)
  }

  // ------------------------------------------------------------------ internals

  /** Inputs run one at a time, each followed by persisting what it produced. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(async () => {
      await fn()
      await this.persist()
      // after the anomalies, and only once they are all stored: a checkpoint never runs ahead of
      // the store (a replay from it would not produce again what was never written)
      if (!this.pending.length) await this.checkpoints?.save().catch((err) => this.report(err, 'checkpoint not saved; will retry'))
    })
    this.chain = run.catch(() => undefined)
    return run
  }

  private async applyWaybill(w: Waybill): Promise<void> {
    const vehicle = await this.resolve(w.plate, w.plateColor)
    const trailer = w.trailerPlate ? await this.resolve(w.trailerPlate, w.plateColor) : null
    this.waybills.set(w.waybillNo, { w, vehicle, trailerVehicleId: trailer?.id ?? null })
    const ownsMain = this.owns(vehicle)
    const ownsTrailer = trailer ? this.owns(trailer) : false
    if (ownsMain || ownsTrailer) this.engine.waybill(w, vehicle ?? undefined, ownsMain)
  }

  private owns(ref: VehicleRef | null): boolean {
    if (this.owned === null) return true
    // a plate the registry does not know is followed by whoever holds partition 0
    return this.owned.has(ref ? partitionOf(ref.id, this.partitions) : 0)
  }

  private async resolve(plate: string, plateColor: number): Promise<VehicleRef | null> {
    const key = plateKey(plate, plateColor)
    const hit = this.vehicleCache.get(key)
    const now = this.clock()
    if (hit && now - hit.at < 60_000) return hit.ref
    const v = await this.store.findVehicle(plate, plateColor)
    const ref = v ? { id: v.id, plate: v.plate, plateColor: v.plateColor, enterpriseLicenseNo: v.enterpriseLicenseNo } : null
    this.vehicleCache.set(key, { ref, at: now })
    if (this.vehicleCache.size > 200_000) this.vehicleCache.delete(this.vehicleCache.keys().next().value!)
    return ref
  }

  private async assign(p: number): Promise<void> {
    await this.serial(async () => {
      this.owned!.add(p)
      const inPartition = (id: number) => partitionOf(id, this.partitions) === p
      const open = await this.store.openAnomalies(undefined, { part: p, parts: this.partitions })
      for (const r of this.waybills.values()) {
        const mine = (r.vehicle ? inPartition(r.vehicle.id) : p === 0) || (r.trailerVehicleId !== null && inPartition(r.trailerVehicleId))
        if (mine) this.engine.waybill(r.w, r.vehicle ?? undefined, this.owns(r.vehicle))
      }
      // the partition's vehicles continue from their checkpoints and the positions since;
      // what the store has open and the replay did not reproduce is followed as before
      const fences = await this.rebuild(p, open)
      for (const [id, f] of fences) this.fences.set(id, f)
      this.engine.restore(open)
    })
  }

  private async revoke(p: number): Promise<void> {
    await this.serial(async () => {
      const mine = (id: number) => (id > 0 ? partitionOf(id, this.partitions) === p : p === 0)
      // handed over gracefully: the next owner starts from now, not from the last round
      await this.persist()
      if (!this.pending.length) await this.checkpoints?.save(true, mine).catch((err) => this.report(err, 'checkpoint at hand-over failed'))
      this.owned!.delete(p)
      this.engine.dropVehicles(mine)
      this.checkpoints?.forget(mine)
      for (const id of this.fences.keys()) if (mine(id)) this.fences.delete(id)
    })
  }

  /** Restores vehicles (of partition p, or all) from checkpoints; the replay does not announce again what the feed has. */
  private async rebuild(p: number | undefined, open: Anomaly[]): Promise<Map<number, ReplayFence>> {
    if (!this.checkpoints) return new Map()
    this.announced = new Set(open.map((a) => a.id))
    try {
      const r = await this.checkpoints.load(p)
      this.metrics?.rebuiltVehicles.inc(r.vehicles)
      this.metrics?.replayedPositions.inc(r.positions)
      if (r.vehicles) this.log?.info({ partition: p ?? null, vehicles: r.vehicles, positions: r.positions, ms: Math.round(r.ms) }, 'matcher state rebuilt from checkpoints')
      // open anomalies of vehicles without a checkpoint: rebuilt from the stored track, from the
      // start of what they stand on (their run, night or day) and of the current day
      const tracks = new Map<number, { vehicleId: number; after: number; plate: string; plateColor: number; enterprise: string | null }>()
      const day = beijingDayStart(this.clock())
      for (const a of open) {
        if (a.vehicleId <= 0 || r.fences.has(a.vehicleId)) continue
        const from = Math.min(restoredAnchor(a, this.cfg), day) - 1
        const cur = tracks.get(a.vehicleId)
        if (!cur) tracks.set(a.vehicleId, { vehicleId: a.vehicleId, after: from, plate: a.plate, plateColor: a.plateColor, enterprise: a.enterpriseLicenseNo })
        else cur.after = Math.min(cur.after, from)
      }
      if (!tracks.size) return r.fences
      // an alarm raised before the horizon cannot be rebuilt: followed from the store first, so
      // the replay continues it (a bit set for days) instead of opening it a second time (long
      // rules are not: restored before the replay, the first replayed fix would close them)
      const floor = this.clock() - this.cfg.lateHorizonMs
      this.engine.restore(open.filter((a) => a.type === 'TERMINAL_ALARM' && tracks.has(a.vehicleId) && a.startedAt <= floor))
      const t = await this.checkpoints.rebuildFromTracks([...tracks.values()])
      this.metrics?.rebuiltVehicles.inc(t.vehicles)
      this.metrics?.replayedPositions.inc(t.positions)
      this.log?.info({ partition: p ?? null, vehicles: t.vehicles, positions: t.positions, ms: Math.round(t.ms) }, 'matcher state rebuilt from stored tracks (no checkpoint)')
      return new Map([...r.fences, ...t.fences])
    } finally {
      this.announced = null
    }
  }

  /** Store first, then the feed; on failure keep everything and retry later. */
  private async persist(): Promise<void> {
    if (!this.pending.length) return
    const events = this.pending
    this.pending = []
    let sent = 0
    try {
      const latest = new Map<string, Anomaly>()
      for (const e of events) latest.set(e.anomaly.id, e.anomaly)
      await this.store.upsertAnomalies([...latest.values()])
      // In chunks, each one round trip (a burst of thousands of openings is a few calls, not thousands).
      for (; sent < events.length; sent += FEED_APPEND_CHUNK) {
        const chunk = events.slice(sent, sent + FEED_APPEND_CHUNK).filter((e) => !this.unannounced.has(e))
        if (chunk.length) await this.state.appendMany(ANOMALY_EVENTS_STREAM, chunk, this.maxLen)
      }
    } catch (err) {
      // what reached the feed is not sent twice; storing again is harmless (upsert by id)
      this.requeue(events.slice(sent))
      this.report(err, 'anomaly events not persisted; will retry')
      this.metrics?.persistErrors.inc()
      this.scheduleRetry()
    }
  }

  private requeue(events: AnomalyEvent[]): void {
    this.pending = [...events, ...this.pending]
    if (this.pending.length > this.maxPending) {
      // keep every opening and closing; drop the oldest intermediate updates first
      const excess = this.pending.length - this.maxPending
      let dropped = 0
      this.pending = this.pending.filter((e) => {
        if (dropped < excess && e.event === 'anomaly.updated') {
          dropped++
          return false
        }
        return true
      })
      this.droppedEvents += dropped
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      void this.serial(async () => undefined)
    }, 1_000)
    this.retryTimer.unref()
  }

  private report(err: unknown, msg: string): void {
    // An unreachable state is said once by the app; the partitioned consumer retries on its own.
    if (this.log && !(err instanceof StateUnavailableError)) this.log.error({ err }, msg)
  }
}

/** Every stream entry names its vehicle (a position, or an envelope carrying vehicleId). */
const vehicleOfEntry = (e: MatcherStreamEntry) => ('kind' in e ? (e.kind === 'driver-card' ? e.event.vehicleId : e.vehicleId) : e.vehicleId)

/** Producer side for several processes: what the ingest/gateway side appends for the matcher. */
export class MatcherPublisher {
  private readonly stream: PartitionedStream<MatcherStreamEntry>

  constructor(state: State, partitions: number, maxLen?: number) {
    this.stream = new PartitionedStream<MatcherStreamEntry>(state, COMMITTED_POSITIONS_STREAM, partitions, maxLen)
  }

  /** One append per partition stream for the whole batch; each vehicle's order kept. */
  positions(rows: CommittedPosition[]): Promise<void> {
    return this.stream.appendAll(rows, vehicleOfEntry)
  }

  driverCard(event: DriverCardEvent): Promise<string> {
    return this.stream.append(event.vehicleId, { kind: 'driver-card', event })
  }

  alarmConfirmed(vehicleId: number, bits: number, at: number): Promise<string> {
    return this.stream.append(vehicleId, { kind: 'alarm-confirmed', vehicleId, bits, at })
  }
}

function matcherMetrics(registry: Registry) {
  const get = metricGetter(registry)
  return {
    positions: get('jt808_matcher_positions_total', () => new Counter({ name: 'jt808_matcher_positions_total', help: 'Positions judged by the matcher', registers: [registry] })),
    events: get(
      'jt808_matcher_anomaly_events_total',
      () => new Counter({ name: 'jt808_matcher_anomaly_events_total', help: 'Anomaly events emitted, by event and type', labelNames: ['event', 'type'], registers: [registry] }),
    ),
    persistErrors: get(
      'jt808_matcher_persist_errors_total',
      () => new Counter({ name: 'jt808_matcher_persist_errors_total', help: 'Failed attempts to store or publish anomaly events', registers: [registry] }),
    ),
    vehicles: get('jt808_matcher_vehicles', () => new Gauge({ name: 'jt808_matcher_vehicles', help: 'Vehicles the matcher follows in this process', registers: [registry] })),
    rebuiltVehicles: get(
      'jt808_matcher_rebuilt_vehicles_total',
      () => new Counter({ name: 'jt808_matcher_rebuilt_vehicles_total', help: 'Vehicles restored from a checkpoint (restart or partition hand-over)', registers: [registry] }),
    ),
    replayedPositions: get(
      'jt808_matcher_replayed_positions_total',
      () => new Counter({ name: 'jt808_matcher_replayed_positions_total', help: 'Stored positions replayed after restoring checkpoints', registers: [registry] }),
    ),
  }
}

export interface StartMatcherDeps {
  config: Config
  store: Store
  state: State
  gateway?: Parameters<MatcherService['attachGateway']>[0]
  registry?: Registry
  logger?: Logger
  now?: () => number
  /** partitions of the positions stream when several processes share Redis (default 64) */
  partitions?: number
}

/**
 * For the composition root: one process → the service matches what the ingest queue hands its
 * committedConsumer(); several worker processes on Redis → that consumer publishes to the
 * partitioned stream and the service matches the vehicles of the partitions it holds.
 */
export async function startMatcher(deps: StartMatcherDeps): Promise<MatcherService> {
  const service = new MatcherService({
    store: deps.store,
    state: deps.state,
    config: loadMatcherConfig(deps.config.matcherConfig),
    logger: deps.logger?.child({ component: 'matcher' }),
    registry: deps.registry,
    clock: deps.now,
    checkpointMs: deps.config.matcherCheckpointSeconds * 1000,
  })
  const clustered = deps.state.kind === 'redis' && deps.config.workers > 1
  await service.start(clustered ? { streams: { partitions: deps.partitions ?? 64, consumer: deps.config.nodeId } } : {})
  if (deps.gateway) service.attachGateway(deps.gateway)
  return service
}
