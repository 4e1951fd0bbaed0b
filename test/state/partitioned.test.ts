/**
 * Partitioned consumption over both State implementations: two consumers ("processes": two
 * RedisState connections on the real Redis, or one MemoryState shared in-process).
 */
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { MemoryState } from '../../src/state/memory.js'
import { PartitionedConsumer, PartitionedStream, partitionLease, partitionOf } from '../../src/state/partitioned.js'
import type { GroupEntry, State } from '../../src/state/port.js'
import { RedisState } from '../../src/state/redis.js'
import { sleep, until } from './contract.js'
import { REDIS_URL as url } from '../backends.js'

const P = 8
const LEASE_MS = 900

interface Fix {
  vehicle: number
  seq: number
}

interface Handled extends Fix {
  consumer: string
  partition: number
  at: number
}

type Nodes = () => Promise<{ producer: State; a: State; b: State; dispose(): Promise<void> }>

const implementations: [string, Nodes][] = [
  [
    'memory',
    async () => {
      const s = new MemoryState()
      return { producer: s, a: s, b: s, dispose: () => s.close() }
    },
  ],
  [
    'redis',
    async () => {
      const prefix = `test:partitioned:${randomUUID()}:`
      const [producer, a, b] = [0, 1, 2].map(() => new RedisState(url, { prefix }))
      return {
        producer,
        a,
        b,
        dispose: async () => {
          await producer.clear()
          await Promise.all([producer, a, b].map((s) => s.close()))
        },
      }
    },
  ],
]

/** A consumer that logs what it completed and checks no other consumer is inside the same partition. */
function consumer(state: State, name: string, log: Handled[], inFlight: Map<number, string>, overlaps: string[], hang?: { on: boolean; hung: boolean }) {
  const c: PartitionedConsumer<Fix> = new PartitionedConsumer<Fix>({
    state,
    name: 'positions',
    partitions: P,
    group: 'matcher',
    consumer: name,
    leaseMs: LEASE_MS,
    blockMs: 100,
    batch: 16,
    onError: (err) => overlaps.push(`${name} error: ${String(err)}`),
    handle: async (entries: GroupEntry<Fix>[], partition: number) => {
      if (hang?.on) {
        hang.hung = true
        return new Promise<void>(() => {})
      }
      const other = inFlight.get(partition)
      if (other !== undefined) overlaps.push(`partition ${partition} handled by ${other} and ${name} at once`)
      inFlight.set(partition, name)
      await sleep(2)
      for (const e of entries) log.push({ ...e.value, consumer: name, partition, at: Date.now() })
      inFlight.delete(partition)
    },
  })
  return c
}

function checkExactlyOnce(t: Test, log: Handled[], produced: Fix[]): void {
  const seen = new Map<string, number>()
  for (const h of log) seen.set(`${h.vehicle}/${h.seq}`, (seen.get(`${h.vehicle}/${h.seq}`) ?? 0) + 1)
  const missing = produced.filter((f) => !seen.has(`${f.vehicle}/${f.seq}`))
  const twice = [...seen].filter(([, n]) => n > 1)
  t.same(missing, [], 'every produced entry was handled')
  t.same(twice, [], 'no entry was handled twice')
  t.equal(log.length, produced.length)
  for (const h of log) if (h.partition !== partitionOf(h.vehicle, P)) t.fail(`vehicle ${h.vehicle} handled in partition ${h.partition}`)
}

function checkOrderPerVehicle(t: Test, log: Handled[]): void {
  const last = new Map<number, number>()
  const disorder: string[] = []
  for (const h of log) {
    if ((last.get(h.vehicle) ?? -1) > h.seq) disorder.push(`vehicle ${h.vehicle}: ${h.seq} after ${last.get(h.vehicle)}`)
    last.set(h.vehicle, h.seq)
  }
  t.same(disorder, [], 'each vehicle handled in its order')
}

for (const [impl, open] of implementations) {
  t.test(`${impl}: two consumers split the partitions; each vehicle is handled by one of them, once`, async (t) => {
    const n = await open()
    t.teardown(() => n.dispose())
    const log: Handled[] = []
    const overlaps: string[] = []
    const inFlight = new Map<number, string>()
    const a = consumer(n.a, 'A', log, inFlight, overlaps)
    const b = consumer(n.b, 'B', log, inFlight, overlaps)
    await Promise.all([a.start(), b.start()])
    await until(t, 'both consumers to own 4 partitions', () => a.ownedPartitions().length === 4 && b.ownedPartitions().length === 4, 5000)
    t.same([...a.ownedPartitions(), ...b.ownedPartitions()].sort(), [0, 1, 2, 3, 4, 5, 6, 7], 'every partition has one owner')

    const stream = new PartitionedStream<Fix>(n.producer, 'positions', P)
    const produced: Fix[] = []
    for (let seq = 0; seq < 10; seq++) for (let vehicle = 1; vehicle <= 40; vehicle++) produced.push({ vehicle, seq })
    // half one by one, half in batches across partitions (what the matcher publisher sends per commit)
    const half = produced.length / 2
    for (const f of produced.slice(0, half)) await stream.append(f.vehicle, f)
    for (let i = half; i < produced.length; i += 70) await stream.appendAll(produced.slice(i, i + 70), (f) => f.vehicle)
    await until(t, 'all entries handled', () => log.length >= produced.length, 5000)
    await sleep(100)

    checkExactlyOnce(t, log, produced)
    checkOrderPerVehicle(t, log)
    const byVehicle = new Map<number, Set<string>>()
    for (const h of log) byVehicle.set(h.vehicle, (byVehicle.get(h.vehicle) ?? new Set()).add(h.consumer))
    t.same(
      [...byVehicle].filter(([, s]) => s.size > 1),
      [],
      'no vehicle was handled by both consumers',
    )
    t.ok(log.some((h) => h.consumer === 'A') && log.some((h) => h.consumer === 'B'), 'both did work')
    t.same(overlaps, [])
    await Promise.all([a.stop(), b.stop()])
  })

  t.test(`${impl}: scale out and back in while positions flow: no entry lost or repeated`, async (t) => {
    const n = await open()
    t.teardown(() => n.dispose())
    const log: Handled[] = []
    const overlaps: string[] = []
    const inFlight = new Map<number, string>()
    const a = consumer(n.a, 'A', log, inFlight, overlaps)
    const b = consumer(n.b, 'B', log, inFlight, overlaps)
    await a.start()
    await until(t, 'A to own everything', () => a.ownedPartitions().length === P, 5000)

    const stream = new PartitionedStream<Fix>(n.producer, 'positions', P)
    const produced: Fix[] = []
    const produce = async (rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        const seq = produced.length / 24
        for (let vehicle = 1; vehicle <= 24; vehicle++) {
          produced.push({ vehicle, seq })
          await stream.append(vehicle, { vehicle, seq })
        }
        await sleep(20)
      }
    }
    const flowing = produce(60)
    await sleep(300)
    await b.start()
    await until(t, 'B to take its half', () => b.ownedPartitions().length === P / 2 && a.ownedPartitions().length === P / 2, 5000)
    await sleep(200)
    const stopped = Date.now()
    await a.stop()
    t.same(a.ownedPartitions(), [], 'a stopped consumer holds nothing')
    await until(t, 'B to take everything after A left', () => b.ownedPartitions().length === P, 5000)
    t.ok(Date.now() - stopped < LEASE_MS + 400, 'a graceful stop hands over without waiting for lease expiry')
    await flowing
    await until(t, 'all entries handled', () => log.length >= produced.length, 5000)
    await sleep(100)

    checkExactlyOnce(t, log, produced)
    checkOrderPerVehicle(t, log)
    t.same(overlaps, [], 'no partition was ever handled by two consumers at once')
    await b.stop()
  })

  t.test(`${impl}: a consumer that dies has its partitions taken over after its leases expire`, async (t) => {
    const n = await open()
    t.teardown(() => n.dispose())
    const log: Handled[] = []
    const overlaps: string[] = []
    const inFlight = new Map<number, string>()
    const hang = { on: false, hung: false }
    const a = consumer(n.a, 'A', log, inFlight, overlaps, hang)
    const b = consumer(n.b, 'B', log, inFlight, overlaps)
    await Promise.all([a.start(), b.start()])
    await until(t, 'both consumers to own 4 partitions', () => a.ownedPartitions().length === 4 && b.ownedPartitions().length === 4, 5000)
    const aParts = new Set(a.ownedPartitions())

    const stream = new PartitionedStream<Fix>(n.producer, 'positions', P)
    const produced: Fix[] = []
    for (let vehicle = 1; vehicle <= 16; vehicle++) {
      produced.push({ vehicle, seq: 0 })
      await stream.append(vehicle, { vehicle, seq: 0 })
    }
    await until(t, 'first round handled', () => log.length === 16)

    // A hangs inside a batch (it read entries and will never ack them), then dies.
    hang.on = true
    for (let seq = 1; seq <= 5; seq++) {
      for (let vehicle = 1; vehicle <= 16; vehicle++) {
        produced.push({ vehicle, seq })
        await stream.append(vehicle, { vehicle, seq })
      }
    }
    await until(t, 'A to be stuck in a batch', () => hang.hung)
    await sleep(LEASE_MS * 1.5)
    t.same(b.ownedPartitions().length, 4, 'B does not take partitions of a slow consumer')
    for (const p of aParts) t.equal(await n.b.acquireLease(partitionLease('positions', 'matcher', p), 'intruder', 1000), false, `a slow handler keeps its lease on ${p}: its timer renews it`)
    const died = Date.now()
    a.abandon()

    await until(t, 'B to own every partition', () => b.ownedPartitions().length === P, 5000)
    await until(t, 'all entries handled', () => log.length >= produced.length, 5000)
    await sleep(100)
    const takeover = Math.min(...log.filter((h) => aParts.has(h.partition) && h.consumer === 'B').map((h) => h.at))
    t.ok(takeover - died >= LEASE_MS / 2, `B took A's partitions only once A's leases lapsed (${takeover - died} ms after A died)`)
    t.ok(takeover - died < LEASE_MS * 3, 'and not much later')
    checkExactlyOnce(t, log, produced)
    checkOrderPerVehicle(t, log)
    t.same(overlaps, [])
    await b.stop()
  })
}

t.test('partition keys are checked', async (t) => {
  t.equal(partitionOf(17, 8), 1)
  t.throws(() => partitionOf(-1, 8), RangeError)
  t.throws(() => partitionOf(1.5, 8), RangeError)
  t.throws(() => new PartitionedStream(new MemoryState(), 'x', 0), RangeError)
})
