/**
 * Partitioned streams: every vehicle's entries are handled by exactly one consumer at a time,
 * however many processes consume (the matcher keeps per-vehicle state in memory, so two processes
 * must never both handle one vehicle). Built only on the State port, so it works the same over
 * MemoryState (several consumers in one process) and RedisState (several processes or nodes).
 *
 * Design
 * - Producers append to partition stream `${name}:${vehicleId % P}`: one vehicle, one partition,
 *   so its entries keep their order.
 * - Consumers of a group heartbeat a membership `${name}:${group}` (TTL leaseMs) and get the sorted
 *   live members M. Partitions are spread over M by rendezvous hashing with a load bound
 *   (assignment.ts): everyone computes the same assignment, and a member joining or leaving
 *   moves only about its share of partitions.
 * - Ownership is a lease `${name}:${group}:${p}` (SET NX PX leaseMs), renewed every leaseMs/3 by
 *   a timer independent of the handler. A consumer reads and handles p only while its lease is
 *   valid by its own monotonic clock (renewal sent-time + 0.9 × leaseMs: the server's expiry
 *   counts from a later instant, so the local view lapses first).
 * - Moves happen between batches: a consumer that sees p assigned elsewhere finishes and acks its
 *   batch, calls onRevoked, then releases the lease; the new owner acquires it, calls onAssigned,
 *   and continues from the group's cursor, so order per vehicle is kept.
 * - Reads go through a consumer group with one consumer name for every holder (HOLDER): what a
 *   holder read but did not ack stays pending under that name, and the next holder of the
 *   partition reads it first (pendingGroup), also sweeping again on every rebalance tick.
 * - A consumer that dies stops renewing: after leaseMs its membership and leases expire, the
 *   assignment moves its partitions to the survivors, and its unacknowledged batch is redelivered.
 *
 * Guarantees: while leases are honoured (no pause longer than ~0.1 × leaseMs between the local
 * validity check and the handler's start) a partition is handled by one consumer at a time, and
 * each entry is acknowledged once. Delivery is at-least-once: a batch whose handler finished but
 * whose holder died before the ack is handled again by the next holder (the matcher works in
 * device time and tolerates repeats). Streams are trimmed at maxLen, so a consumer group that
 * falls further behind than that loses the oldest entries.
 */
import { performance } from 'node:perf_hooks'
import { partitionsOf } from './assignment.js'
import { DEFAULT_STREAM_MAX_LEN, type GroupEntry, type State } from './port.js'

/** The consumer name all holders share inside a partition's consumer group (see the design). */
const HOLDER = 'holder'

export function partitionOf(vehicleId: number, partitions: number): number {
  if (!Number.isSafeInteger(vehicleId) || vehicleId < 0) throw new RangeError(`partition key must be a non-negative integer, got ${vehicleId}`)
  return vehicleId % partitions
}

export function partitionStream(name: string, partition: number): string {
  return `${name}:${partition}`
}

/** The lease that gives one consumer of `group` partition p of stream `name`. */
export function partitionLease(name: string, group: string, partition: number): string {
  return `${name}:${group}:${partition}`
}

function checkPartitions(partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 4096) throw new RangeError(`partitions must be an integer in 1..4096, got ${partitions}`)
}

/** The producer side: appends each value to its vehicle's partition. */
export class PartitionedStream<T> {
  constructor(
    private readonly state: State,
    readonly name: string,
    readonly partitions: number,
    /** bound per partition stream */
    private readonly maxLen = DEFAULT_STREAM_MAX_LEN,
  ) {
    checkPartitions(partitions)
  }

  append(vehicleId: number, value: T): Promise<string> {
    return this.state.append(partitionStream(this.name, partitionOf(vehicleId, this.partitions)), value, this.maxLen)
  }

  /**
   * Many values at once: one appendMany per partition (on Redis one MULTI, one round trip),
   * each vehicle's values in the order given. For a committed batch: an XADD each, written one
   * by one, cost the gateway more than the batch's COPY.
   */
  async appendAll(values: readonly T[], vehicleOf: (value: T) => number): Promise<void> {
    const byPartition = new Map<number, T[]>()
    for (const v of values) {
      const p = partitionOf(vehicleOf(v), this.partitions)
      const list = byPartition.get(p)
      if (list) list.push(v)
      else byPartition.set(p, [v])
    }
    await Promise.all([...byPartition].map(([p, list]) => this.state.appendMany(partitionStream(this.name, p), list, this.maxLen)))
  }
}

export interface PartitionedConsumerOptions<T> {
  state: State
  /** base stream name, the producers' PartitionedStream name */
  name: string
  partitions: number
  /** consumers sharing the work; another group gets every entry too */
  group: string
  /** unique per consumer (per process), e.g. the node id */
  consumer: string
  /**
   * Handles a batch of one partition, oldest first. Should not throw: an error goes to onError and
   * the batch is still acknowledged, so one bad entry never stalls a partition.
   */
  handle(entries: GroupEntry<T>[], partition: number): Promise<void> | void
  /** Called before the first batch of a partition this consumer now owns (load its vehicles' state). */
  onAssigned?(partition: number): Promise<void> | void
  /** Called when this consumer stops owning a partition (drop or hand over its vehicles' state). */
  onRevoked?(partition: number): Promise<void> | void
  onError?(err: unknown): void
  /** Default 10 s. */
  leaseMs?: number
  /** Entries per partition per read. Default 256. */
  batch?: number
  /** Longest wait for new entries; kept at or below leaseMs/3. Default 1000 ms. */
  blockMs?: number
}

interface Ownership {
  /** performance.now() after which this consumer must not start handling the partition */
  validUntil: number
}

export class PartitionedConsumer<T> {
  private readonly state: State
  private readonly leaseMs: number
  private readonly tickMs: number
  private readonly blockMs: number
  private readonly batch: number
  private readonly owned = new Map<number, Ownership>()
  /** owned partitions whose pending entries must be read before new ones */
  private readonly recovering = new Set<number>()
  /** partitions whose lease renewal failed; the loop revokes them */
  private readonly lost = new Set<number>()
  private members: string[] = []
  private timer: NodeJS.Timeout | undefined
  private renewing = false
  private lastRebalance = -Infinity
  private running = false
  private dead = false
  private loop: Promise<void> | undefined

  constructor(private readonly opts: PartitionedConsumerOptions<T>) {
    checkPartitions(opts.partitions)
    this.state = opts.state
    this.leaseMs = opts.leaseMs ?? 10_000
    this.tickMs = Math.max(10, Math.floor(this.leaseMs / 3))
    this.blockMs = Math.max(1, Math.min(opts.blockMs ?? 1000, this.tickMs))
    this.batch = opts.batch ?? 256
  }

  /** Partitions this consumer holds now, ascending. */
  ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b)
  }

  async start(): Promise<void> {
    if (this.running || this.dead) return
    this.running = true
    await this.heartbeatAndRenew()
    this.timer = setInterval(() => void this.heartbeatAndRenew(), this.tickMs)
    this.loop = this.run()
  }

  /** Graceful: finishes the batch in hand, hands every partition back and leaves the group. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.timer)
    await this.loop
    for (const p of this.ownedPartitions()) await this.revoke(p, true)
    await this.state.leaveMembership(this.membership, this.opts.consumer).catch((err) => this.report(err))
  }

  /** Stops the way a crashed process does: no acks, no release; the others take over after leaseMs. */
  abandon(): void {
    this.dead = true
    this.running = false
    clearInterval(this.timer)
  }

  private get membership(): string {
    return `${this.opts.name}:${this.opts.group}`
  }

  private lease(p: number): string {
    return partitionLease(this.opts.name, this.opts.group, p)
  }

  private report(err: unknown): void {
    try {
      this.opts.onError?.(err)
    } catch {
      // the error sink itself failed; nothing sensible is left to do with it
    }
  }

  /** Timer: keeps membership and every held lease alive, whatever the handler is doing. */
  private async heartbeatAndRenew(): Promise<void> {
    if (this.renewing || this.dead) return
    this.renewing = true
    try {
      this.members = await this.state.heartbeatMember(this.membership, this.opts.consumer, this.leaseMs)
      await Promise.all(
        [...this.owned].map(async ([p, own]) => {
          const sentAt = performance.now()
          const ok = await this.state.renewLease(this.lease(p), this.opts.consumer, this.leaseMs)
          if (this.owned.get(p) !== own) return
          if (ok) own.validUntil = sentAt + this.leaseMs * 0.9
          else this.lost.add(p)
        }),
      )
    } catch (err) {
      this.report(err)
    } finally {
      this.renewing = false
    }
  }

  private assignedFor: string | null = null
  private assignedSet = new Set<number>()

  private assigned(): Set<number> {
    // recomputed only when the membership changed (it is sorted by the state)
    const key = this.members.join('\n')
    if (key !== this.assignedFor) {
      this.assignedFor = key
      this.assignedSet = partitionsOf(this.opts.partitions, this.members, this.opts.consumer)
    }
    return this.assignedSet
  }

  private async rebalance(): Promise<void> {
    this.lastRebalance = performance.now()
    for (const p of this.lost) if (this.owned.has(p)) await this.revoke(p, false)
    this.lost.clear()
    const want = this.assigned()
    for (const p of this.ownedPartitions()) if (!want.has(p)) await this.revoke(p, true)
    for (const p of want) {
      if (this.owned.has(p) || !this.running) continue
      const sentAt = performance.now()
      if (!(await this.state.acquireLease(this.lease(p), this.opts.consumer, this.leaseMs))) continue
      this.owned.set(p, { validUntil: sentAt + this.leaseMs * 0.9 })
      try {
        await this.opts.onAssigned?.(p)
      } catch (err) {
        // Not ready to handle it: hand it back so this or another consumer tries again later.
        this.report(err)
        await this.revoke(p, true)
      }
    }
    // Sweep pending entries of every owned partition: orphans a previous holder read but never acked.
    for (const p of this.owned.keys()) this.recovering.add(p)
  }

  private async revoke(p: number, release: boolean): Promise<void> {
    this.owned.delete(p)
    this.recovering.delete(p)
    try {
      await this.opts.onRevoked?.(p)
    } catch (err) {
      this.report(err)
    }
    if (release) await this.state.releaseLease(this.lease(p), this.opts.consumer).catch((err) => this.report(err))
  }

  private valid(p: number): boolean {
    const own = this.owned.get(p)
    return own !== undefined && performance.now() < own.validUntil
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (performance.now() - this.lastRebalance >= this.tickMs || this.lost.size > 0) await this.rebalance()
        const live = this.ownedPartitions().filter((p) => this.valid(p))
        if (live.length === 0) {
          await new Promise((r) => setTimeout(r, this.blockMs))
          continue
        }
        const recovering = live.filter((p) => this.recovering.has(p))
        const streams = (recovering.length ? recovering : live).map((p) => partitionStream(this.opts.name, p))
        const entries = recovering.length
          ? await this.state.pendingGroup<T>(streams, this.opts.group, HOLDER, this.batch)
          : await this.state.readGroup<T>(streams, this.opts.group, HOLDER, this.batch, this.blockMs)
        if (this.dead) return
        const byPartition = new Map<number, GroupEntry<T>[]>()
        for (const e of entries) {
          const p = Number(e.stream.slice(this.opts.name.length + 1))
          const list = byPartition.get(p)
          if (list) list.push(e)
          else byPartition.set(p, [e])
        }
        for (const p of recovering) if ((byPartition.get(p)?.length ?? 0) < this.batch) this.recovering.delete(p)
        for (const [p, batch] of byPartition) {
          // Lease lapsed (or moved) since the read: leave the batch pending for the next holder.
          if (!this.valid(p)) continue
          try {
            await this.opts.handle(batch, p)
          } catch (err) {
            this.report(err)
          }
          if (this.dead) return
          await this.state.ackGroup(
            partitionStream(this.opts.name, p),
            this.opts.group,
            batch.map((e) => e.id),
          )
        }
      } catch (err) {
        if (this.dead) return
        this.report(err)
        await new Promise((r) => setTimeout(r, this.blockMs))
      }
    }
  }
}
