/**
 * bench/checkpoint: what the matcher's checkpoints cost (issue 19), on the real PostgreSQL (or
 * embedded PGlite with --pglite), in a schema of its own that is dropped afterwards.
 *
 * N vehicles drive for an hour of device time (30 s reports, stops, an overspeed now and then)
 * through one engine; then
 *   - size: each vehicle's encoded snapshot (bytes, p50 / p99 / max);
 *   - round: one checkpoint round of the whole fleet (saveCheckpoints in chunks of 1,000);
 *   - hand-over: every vehicle then reports R more positions (stored, not checkpointed — what a
 *     dead owner leaves behind), and a fresh engine takes over one partition of P, then the whole
 *     fleet (the restart of a single process): checkpoints loaded, positions since replayed.
 *
 * With --handover (PostgreSQL and Redis, REDIS_URL or 127.0.0.1:6379): two matcher services on
 * their own Redis connections share the partitions; one stops the way a crashed process does,
 * and the time until the other owns every partition and has rebuilt their vehicles is measured.
 *
 *   node --import tsx bench/checkpoint.ts [--vehicles 20000] [--partitions 64] [--since 4] [--pglite] [--handover] [--lease 3000]
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Registry } from 'prom-client'
import { DEFAULTS } from '../src/config/index.js'
import type { AnomalyEvent, CommittedPosition } from '../src/domain.js'
import { MatcherCheckpoints } from '../src/matcher/checkpoint.js'
import { matcherConfig } from '../src/matcher/config.js'
import { MatcherEngine } from '../src/matcher/engine.js'
import { MatcherService } from '../src/matcher/service.js'
import { encodeSnapshot } from '../src/matcher/snapshot.js'
import { partitionOf } from '../src/state/partitioned.js'
import { RedisState } from '../src/state/redis.js'
import { openStore } from '../src/store/index.js'

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}

const N = arg('vehicles', 20_000)
const P = arg('partitions', 64)
const SINCE = arg('since', 4)
const PGLITE = process.argv.includes('--pglite')
const EVERY = 30_000
const T0 = Date.UTC(2024, 5, 3, 0, 0, 0) // 08:00 Beijing
const HOUR_FIXES = 120

let seed = 0x2545f491
function rnd(): number {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 4294967296
}

const schema = `bench_checkpoint_${randomUUID().replace(/-/g, '').slice(0, 12)}`
const config = { ...structuredClone(DEFAULTS), databaseUrl: PGLITE ? null : (process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test') }
const store = await openStore(config, PGLITE ? { embedded: 'memory' } : { schema, poolSize: 4 })

const lon = new Float64Array(N),
  lat = new Float64Array(N)
for (let i = 0; i < N; i++) {
  lon[i] = 105 + rnd() * 15
  lat[i] = 25 + rnd() * 15
}
const ids = await store.upsertVehicles(Array.from({ length: N }, (_, i) => ({ plate: `京B${String(i).padStart(6, '0')}`, plateColor: 2 })))

function fixAt(i: number, k: number): CommittedPosition {
  const t = T0 + k * EVERY + (i % 30) * 1000
  // drive 20 min, stop 5, with a 2-minute overspeed every 50 minutes
  const phase = k % 50
  const speed = phase < 40 ? (phase >= 30 && phase < 34 ? 95 : 60) : 0
  lon[i] += speed > 0 ? (speed * EVERY) / 3_600_000 / 90 : 0
  return {
    vehicleId: ids[i],
    deviceTime: t,
    receivedAt: t + 1000,
    latitude: lat[i],
    longitude: lon[i],
    altitude: 30,
    speed,
    direction: 90,
    alarm: 0,
    status: 3,
    mileage: null,
    extras: {},
    blindArea: false,
    sourceMsgId: 0x0200,
    phone: '',
    plate: `京B${String(i).padStart(6, '0')}`,
    plateColor: 2,
    enterpriseLicenseNo: null,
  }
}

const cfg = matcherConfig({})
let events = 0
const engine = new MatcherEngine({ config: cfg, emit: () => events++, clock: () => 0, since: T0 })
for (let k = 0; k < HOUR_FIXES; k++) {
  for (let i = 0; i < N; i++) engine.position(fixAt(i, k))
  engine.flushLate()
}

// ---- size
const sizes: number[] = []
for (const id of ids) sizes.push(Buffer.byteLength(encodeSnapshot(engine.snapshotVehicle(id)!)))
sizes.sort((a, b) => a - b)
const pct = (q: number) => sizes[Math.min(sizes.length - 1, Math.floor(q * sizes.length))]

// ---- one round of the whole fleet
let now = T0 + HOUR_FIXES * EVERY
const writer = new MatcherCheckpoints({ store, engine, partitions: P, everyMs: 60_000, clock: () => now })
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const r0 = performance.now()
const c0 = cpu()
const written = await writer.save(true)
const roundMs = performance.now() - r0
const roundCpu = cpu() - c0

// ---- positions a dead owner leaves behind: stored, not checkpointed
const after: CommittedPosition[] = []
for (let k = HOUR_FIXES; k < HOUR_FIXES + SINCE; k++) for (let i = 0; i < N; i++) after.push(fixAt(i, k))
for (let i = 0; i < after.length; i += 10_000) await store.insertPositions(after.slice(i, i + 10_000))
now += SINCE * EVERY + 15_000

// ---- hand-over of one partition, then of the whole fleet
const fresh = () => new MatcherEngine({ config: cfg, emit: (_e: AnomalyEvent) => undefined, clock: () => 0, since: T0 })
const e1 = fresh()
const one = await new MatcherCheckpoints({ store, engine: e1, partitions: P, clock: () => now }).load(0)
const inPart0 = ids.filter((id) => partitionOf(id, P) === 0).length
const e2 = fresh()
const c1 = cpu()
const all = await new MatcherCheckpoints({ store, engine: e2, partitions: P, clock: () => now }).load()
const allCpu = cpu() - c1
// the same verdicts as the engine that saw everything
for (const p of after) engine.position(p)
engine.flushLate()
const same = ids.every((id) => JSON.stringify(engine.openAnomalies(id)) === JSON.stringify(e2.openAnomalies(id)))

const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const { loadavg } = await import('node:os')
console.log(
  `bench/checkpoint — load average ${loadavg()[0].toFixed(1)}, ${PGLITE ? 'PGlite (memory)' : 'PostgreSQL'}, ${fmt(N)} vehicles after 1 h of 30 s reports, ${P} partitions, ${SINCE} positions since the checkpoint`,
)
console.log(`snapshot size            p50 ${fmt(pct(0.5))} B, p99 ${fmt(pct(0.99))} B, max ${fmt(sizes[sizes.length - 1])} B`)
console.log(`round (${fmt(written)} vehicles)   ${fmt(roundMs)} ms = ${fmt((roundMs * 1000) / written, 1)} µs per vehicle (this process's CPU ${fmt((roundCpu * 1000) / written, 1)} µs)`)
console.log(
  `hand-over, 1 partition   ${fmt(one.vehicles)} vehicles (of ${fmt(inPart0)}), ${fmt(one.positions)} positions replayed in ${fmt(one.ms)} ms = ${fmt((one.ms * 1000) / Math.max(1, one.vehicles), 1)} µs per vehicle`,
)
console.log(
  `whole fleet (restart)    ${fmt(all.vehicles)} vehicles, ${fmt(all.positions)} positions replayed in ${fmt(all.ms)} ms = ${fmt((all.ms * 1000) / Math.max(1, all.vehicles), 1)} µs per vehicle (this process's CPU ${fmt((allCpu * 1000) / Math.max(1, all.vehicles), 1)} µs)`,
)
const ph = all.phases
console.log(
  `  of which                 read checkpoints ${fmt(ph.readCheckpointsMs)} ms, decode + restore ${fmt(ph.restoreMs)} ms, read positions ${fmt(ph.readPositionsMs)} ms, replay ${fmt(ph.replayMs)} ms`,
)
console.log(`verdicts                 ${same ? 'the same open anomalies as the engine that saw everything' : 'DIFFERENT from the engine that saw everything'} (${fmt(events)} events in the hour)`)

if (process.argv.includes('--handover') && !PGLITE) {
  const lease = arg('lease', 3000)
  const prefix = `bench:checkpoint:${randomUUID()}:`
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const states = [new RedisState(url, { prefix }), new RedisState(url, { prefix })]
  const registries = [new Registry(), new Registry()]
  const services = states.map((state, i) => new MatcherService({ store, state, clock: () => now, registry: registries[i], tickMs: 3_600_000, waybillPollMs: 3_600_000, zonesRefreshMs: 0 }))
  const opts = { partitions: P, leaseMs: lease, blockMs: 100 }
  await services[0].start({ streams: { ...opts, consumer: 'a' } })
  await services[1].start({ streams: { ...opts, consumer: 'b' } })
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10))
  }
  await until(() => services.every((x) => x.ownedPartitions().length === P / 2))
  await Promise.all(services.map((x) => x.drain()))
  const metric = async (r: Registry, name: string): Promise<number> => {
    const m = r.getSingleMetric(name)
    return m ? (await m.get()).values.reduce((a, v) => a + v.value, 0) : 0
  }
  const before = await metric(registries[1], 'jt808_matcher_rebuilt_vehicles_total')
  const beforePos = await metric(registries[1], 'jt808_matcher_replayed_positions_total')
  const k0 = performance.now()
  services[0].abandon()
  await until(() => services[1].ownedPartitions().length === P)
  const owned = performance.now() - k0
  await services[1].drain()
  const rebuilt = performance.now() - k0
  const vehicles = (await metric(registries[1], 'jt808_matcher_rebuilt_vehicles_total')) - before
  const replayed = (await metric(registries[1], 'jt808_matcher_replayed_positions_total')) - beforePos
  console.log(
    `hand-over (lease ${fmt(lease)} ms)  the survivor owned all ${P} partitions ${fmt(owned)} ms after the crash, had rebuilt ${fmt(vehicles)} vehicles (${fmt(replayed)} positions) at ${fmt(rebuilt)} ms`,
  )
  await services[1].close()
  await states[1].clear()
  await Promise.all(states.map((x) => x.close()))
}

if (!PGLITE) await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
await store.close()
