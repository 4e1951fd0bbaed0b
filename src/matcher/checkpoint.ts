/**
 * Matcher checkpoints: the state-store-plus-changelog pattern (issue 19). The engine's
 * per-vehicle state is written to the store now and then; a process that takes vehicles over —
 * a partition's new owner, or the one process after a restart — loads their checkpoints in bulk
 * and replays the stored positions since each one, so runs, days and open anomalies continue as
 * if nothing had happened.
 *
 * When
 * - a vehicle seen for the first time is written after the batch that brought it (without a row
 *   a new owner would not know the vehicle exists, and could not replay it);
 * - vehicles that changed are written every `everyMs` (default 60 s: the replay after a crash is
 *   at most about that much of each vehicle's positions), a chunk of 1,000 after each batch;
 * - a partition handed over gracefully, and everything at close, is written at once.
 *
 * Where: the database (src/store/matcher-state.ts), not Redis — a single process on the
 * embedded defaults has no Redis, and its restart must rebuild the same way; an upsert per
 * 1,000 vehicles and three queries per partition taken over cost little (bench/checkpoint.ts,
 * bench/RESULTS.md).
 *
 * Without a checkpoint (the first start of this version), vehicles with open anomalies are
 * rebuilt from their stored tracks instead (rebuildFromTracks), from where the caller says their
 * history starts.
 *
 * Bounded: checkpoints are loaded by partition in pages of 2,000, positions for chunks of 500
 * vehicles per query, and only checkpoints saved within `horizonMs` (default the late horizon,
 * 24 h) count; older ones are deleted.
 */
import type { CommittedPosition, PositionRecord } from '../domain.js'
import type { MatcherCheckpoint, Store } from '../store/port.js'
import { partitionOf } from '../state/partitioned.js'
import type { MatcherEngine } from './engine.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'

export type CheckpointStore = Pick<Store, 'saveCheckpoints' | 'loadCheckpoints' | 'positionsAfter' | 'deleteCheckpointsBefore'>

const PAGE = 2000
const REPLAY_CHUNK = 500
/** rows per upsert: a round of a whole fleet is many statements of a few MB, not one of 100 MB */
const SAVE_CHUNK = 1000

export interface CheckpointOptions {
  store: CheckpointStore
  engine: MatcherEngine
  /** partitions of the matcher stream; 1 for a single process */
  partitions: number
  everyMs?: number
  horizonMs?: number
  clock?: () => number
}

/**
 * What a vehicle's replay covered, so the stream's redelivery of the same positions is not
 * judged twice (a repeat older than the vehicle's newest fix would be taken for late data).
 */
export interface ReplayFence {
  /** the checkpoint's watermark and when it was saved */
  watermark: number
  savedAt: number
  /** device times replayed from the store */
  times: Set<number>
  /** newest replayed (or checkpointed) device time: a fix after it ends the fence */
  through: number
  at: number
}

export interface LoadResult {
  vehicles: number
  positions: number
  fences: Map<number, ReplayFence>
  ms: number
  /** where the time went: store reads (checkpoints, positions) and the engine (restore, replay) */
  phases: { readCheckpointsMs: number; restoreMs: number; readPositionsMs: number; replayMs: number }
}

export class MatcherCheckpoints {
  private readonly store: CheckpointStore
  private readonly engine: MatcherEngine
  private readonly partitions: number
  private readonly everyMs: number
  private readonly horizonMs: number
  private readonly clock: () => number
  /** vehicles changed since their last checkpoint */
  private readonly dirty = new Set<number>()
  /** vehicles that have a checkpoint row: a hash of what it holds, and when it was written */
  private readonly known = new Map<number, { hash: number; at: number }>()
  private lastRound: number
  /** the round in progress: vehicles still to write */
  private due: number[] = []
  private lastPurge = -Infinity

  constructor(o: CheckpointOptions) {
    this.store = o.store
    this.engine = o.engine
    this.partitions = o.partitions
    this.everyMs = o.everyMs ?? 60_000
    this.horizonMs = o.horizonMs ?? o.engine.cfg.lateHorizonMs
    this.clock = o.clock ?? Date.now
    this.lastRound = this.clock()
  }

  /**
   * After each batch (the engine flushed its late fixes): new vehicles now; when a round is due,
   * the vehicles changed since the last one, at most one chunk of 1,000 per call so the matcher
   * never stalls for a whole fleet's round. `force`: every changed vehicle now (hand-over,
   * close); `only`: just those.
   */
  async save(force = false, only?: (vehicleId: number) => boolean): Promise<number> {
    for (const id of this.engine.takeChanged()) this.dirty.add(id)
    const now = this.clock()
    if (!force && !this.due.length && now - this.lastRound >= this.everyMs) {
      this.lastRound = now
      this.due = [...this.dirty]
    }
    const ids: number[] = []
    if (force) {
      for (const id of this.dirty) if (!only || only(id)) ids.push(id)
    } else {
      for (const id of this.dirty) if (!this.known.has(id)) ids.push(id)
      while (this.due.length && ids.length < SAVE_CHUNK) {
        const id = this.due.pop()!
        if (this.dirty.has(id) && this.known.has(id)) ids.push(id)
      }
    }
    let written = 0
    // encoded chunk by chunk; on failure what is not yet written stays dirty for the next call
    for (let i = 0; i < ids.length; i += SAVE_CHUNK) {
      const rows: MatcherCheckpoint[] = []
      const hashes: number[] = []
      for (const id of ids.slice(i, i + SAVE_CHUNK)) {
        const s = this.engine.snapshotVehicle(id)
        if (!s || !Number.isFinite(s.wm)) {
          // forgotten by the engine (quiet for long): nothing left to write
          if (!this.engine.hasVehicle(id)) this.dirty.delete(id)
          continue
        }
        const state = encodeSnapshot(s)
        const hash = fnv1a(state)
        const had = this.known.get(id)
        // a parked vehicle the clock merely looked at: the row already holds this (refreshed
        // now and then, so it stays within the horizon loads look back)
        if (had && had.hash === hash && now - had.at < this.horizonMs / 4) {
          this.dirty.delete(id)
          continue
        }
        rows.push({ vehicleId: id, part: partitionOf(id, this.partitions), parts: this.partitions, watermark: s.wm, savedAt: now, state })
        hashes.push(hash)
      }
      if (rows.length) await this.store.saveCheckpoints(rows)
      rows.forEach((r, k) => {
        this.dirty.delete(r.vehicleId)
        this.known.set(r.vehicleId, { hash: hashes[k], at: now })
      })
      written += rows.length
    }
    if (now - this.lastPurge >= 3_600_000) {
      this.lastPurge = now
      await this.store.deleteCheckpointsBefore(now - this.horizonMs)
    }
    return written
  }

  /** Stops tracking vehicles handed to another process. */
  forget(drop: (vehicleId: number) => boolean): void {
    for (const id of this.dirty) if (drop(id)) this.dirty.delete(id)
    for (const id of this.known.keys()) if (drop(id)) this.known.delete(id)
  }

  /**
   * Restores the vehicles of partition `part` (all vehicles when undefined) from their
   * checkpoints and replays the stored positions since each. Events the replay produces go
   * through the engine's emit as usual (anomaly ids are stable, so storing them again is
   * harmless; the caller decides what to announce).
   */
  async load(part?: number): Promise<LoadResult> {
    const started = performance.now()
    const now = this.clock()
    const fences = new Map<number, ReplayFence>()
    const from: Array<{ vehicleId: number; after: number }> = []
    const idents = new Map<number, { plate: string; plateColor: number; enterprise: string | null }>()
    const phases = { readCheckpointsMs: 0, restoreMs: 0, readPositionsMs: 0, replayMs: 0 }
    let after = -1
    for (;;) {
      let t = performance.now()
      const page = await this.store.loadCheckpoints({ since: now - this.horizonMs, afterVehicleId: after, limit: PAGE, ...(part === undefined ? {} : { part, parts: this.partitions }) })
      phases.readCheckpointsMs += performance.now() - t
      t = performance.now()
      for (const cp of page) {
        after = cp.vehicleId
        const s = decodeSnapshot(cp.state)
        if (!s || s.id !== cp.vehicleId) continue
        this.engine.restoreVehicle(s)
        this.known.set(s.id, { hash: fnv1a(cp.state), at: cp.savedAt })
        idents.set(s.id, { plate: s.plate, plateColor: s.plateColor, enterprise: s.enterprise })
        // a day-long silence is not replayed further back than the horizon
        from.push({ vehicleId: s.id, after: Math.max(s.wm, now - this.horizonMs) })
        fences.set(s.id, { watermark: s.wm, savedAt: cp.savedAt, times: new Set(), through: s.wm, at: now })
      }
      phases.restoreMs += performance.now() - t
      if (page.length < PAGE) break
    }
    const positions = await this.replay(from, idents, fences, phases, now)
    return { vehicles: from.length, positions, fences, ms: performance.now() - started, phases }
  }

  /**
   * Vehicles with no checkpoint (the first start of this version, a partition count changed)
   * but anomalies still open: rebuilt from their stored positions since `after` (the caller
   * goes back to the start of what the open anomalies span, and of the day), within the horizon.
   */
  async rebuildFromTracks(vehicles: Array<{ vehicleId: number; after: number; plate: string; plateColor: number; enterprise: string | null }>): Promise<LoadResult> {
    const started = performance.now()
    const now = this.clock()
    const fences = new Map<number, ReplayFence>()
    const idents = new Map<number, { plate: string; plateColor: number; enterprise: string | null }>()
    const from: Array<{ vehicleId: number; after: number }> = []
    for (const v of vehicles) {
      if (this.engine.hasVehicle(v.vehicleId) && Number.isFinite(this.engine.watermark(v.vehicleId))) continue
      idents.set(v.vehicleId, v)
      const after = Math.max(v.after, now - this.horizonMs)
      from.push({ vehicleId: v.vehicleId, after })
      fences.set(v.vehicleId, { watermark: after, savedAt: -Infinity, times: new Set(), through: after, at: now })
    }
    const phases = { readCheckpointsMs: 0, restoreMs: 0, readPositionsMs: 0, replayMs: 0 }
    const positions = await this.replay(from, idents, fences, phases, now)
    return { vehicles: from.length, positions, fences, ms: performance.now() - started, phases }
  }

  /** Feeds each vehicle's stored positions after its `after`, in chunks of vehicles, one query each. */
  private async replay(
    from: Array<{ vehicleId: number; after: number }>,
    idents: Map<number, { plate: string; plateColor: number; enterprise: string | null }>,
    fences: Map<number, ReplayFence>,
    phases: LoadResult['phases'],
    now: number,
  ): Promise<number> {
    let positions = 0
    for (let i = 0; i < from.length; i += REPLAY_CHUNK) {
      let t = performance.now()
      const rows = await this.store.positionsAfter(from.slice(i, i + REPLAY_CHUNK), now + this.horizonMs)
      phases.readPositionsMs += performance.now() - t
      t = performance.now()
      for (const r of rows) {
        const id = idents.get(r.vehicleId)!
        this.engine.position(committed(r, id))
        const f = fences.get(r.vehicleId)!
        f.times.add(r.deviceTime)
        if (r.deviceTime > f.through) f.through = r.deviceTime
      }
      this.engine.flushLate()
      phases.replayMs += performance.now() - t
      positions += rows.length
    }
    return positions
  }
}

/** 32-bit FNV-1a: tells an unchanged state from a changed one (a collision, 1 in 4 billion, keeps the older row until the refresh). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

function committed(r: PositionRecord, id: { plate: string; plateColor: number; enterprise: string | null }): CommittedPosition {
  return { ...r, phone: '', plate: id.plate, plateColor: id.plateColor as CommittedPosition['plateColor'], enterpriseLicenseNo: id.enterprise }
}

/**
 * True when a position from the stream was already judged by the replay (or is older than the
 * checkpoint and was received before it was saved); drops the fence once the stream is past it.
 */
export function fenced(fences: Map<number, ReplayFence>, p: CommittedPosition): boolean {
  const f = fences.get(p.vehicleId)
  if (!f) return false
  if (p.deviceTime > f.through) {
    fences.delete(p.vehicleId)
    return false
  }
  return f.times.has(p.deviceTime) || (p.deviceTime <= f.watermark && p.receivedAt <= f.savedAt)
}
