/**
 * Killing a matcher worker process under load changes no verdict (issue 19). Worker processes on
 * the real PostgreSQL and Redis share 8 partitions; the test is the gateway (stores each batch,
 * then publishes it) and drives a simulated clock 120× faster than the wall clock. In the second
 * run one worker is killed with SIGKILL mid-trip and a replacement joins later; each vehicle must
 * end with the anomalies of the run without the kill: the same types, each starting within one
 * report interval, none twice, none closed "by restart".
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { Anomaly, CommittedPosition } from '../../src/domain.js'
import { MatcherPublisher } from '../../src/matcher/service.js'
import { RedisState } from '../../src/state/redis.js'
import { DATABASE_URL, openTestStore } from '../store/helpers.js'
import { bj, MIN, Trip } from './helpers.js'
import { REDIS_URL as REDIS } from '../backends.js'

const WORKER = fileURLToPath(new URL('./failover-worker.ts', import.meta.url))
const P = 8
const VEHICLES = 24
const SPEED = 120 // simulated ms per wall ms
const REPORT = 30_000
const LEASE_MS = 1_500
const S = bj('10:00')

/** Each vehicle: 3 min at 50 km/h (2.5 km without a waybill), a stop, a drive with an overspeed, parked. */
function fleet(ids: number[]): CommittedPosition[] {
  const all: CommittedPosition[] = []
  ids.forEach((id, k) => {
    const trip = new Trip(S + (k % 6) * REPORT, { vehicleId: id, plate: `鲁K${id}`, every: REPORT })
    all.push(...trip.stop(MIN), ...trip.drive(3 * MIN, 50), ...trip.stop(6 * MIN), ...trip.drive(MIN, 60), ...trip.drive(2 * MIN, 100), ...trip.drive(2 * MIN, 60), ...trip.stop(6 * MIN))
  })
  return all.sort((a, b) => a.deviceTime - b.deviceTime)
}

interface Worker {
  name: string
  proc: ChildProcess
  owned: number[]
  /** wall ms of each change of owned partitions */
  changes: Array<{ owned: number[]; at: number }>
  rebuilt: Array<{ vehicles: number; positions: number; ms: number }>
  exited: Promise<void>
}

function startWorker(t: Test, name: string, env: Record<string, string>): Worker {
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER], { env: { ...process.env, ...env, FO_NAME: name }, stdio: ['pipe', 'pipe', 'inherit'] })
  const w: Worker = { name, proc, owned: [], changes: [], rebuilt: [], exited: new Promise((r) => proc.once('exit', () => r())) }
  let buf = ''
  proc.stdout!.setEncoding('utf8')
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk
    const lines = buf.split('\n')
    buf = lines.pop()!
    for (const l of lines) {
      try {
        const m = JSON.parse(l) as { owned?: number[]; at?: number; msg?: string; vehicles?: number; positions?: number; ms?: number }
        if (m.owned) {
          w.owned = m.owned
          w.changes.push({ owned: m.owned, at: m.at! })
        }
      } catch {
        // not ours
      }
    }
  })
  proc.stdin!.on('error', () => undefined) // a killed worker's pipe
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  return w
}

async function waitFor(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

interface RunResult {
  anomalies: Anomaly[]
  handOverMs: number | null
  rejoinMs: number | null
}

async function run(t: Test, kill: boolean): Promise<RunResult> {
  const store = await openTestStore(t, 'pg')
  const prefix = `test:failover:${randomUUID()}:`
  const producer = new RedisState(REDIS, { prefix })
  t.teardown(async () => {
    await producer.clear()
    await producer.close()
  })
  const ids = await store.upsertVehicles(Array.from({ length: VEHICLES }, (_, i) => ({ plate: `鲁K${i}`, plateColor: 2 })))
  const fixes = fleet(ids).map((p) => ({ ...p, plate: `鲁K${ids.indexOf(p.vehicleId)}` }))
  const env = {
    FO_DATABASE_URL: DATABASE_URL,
    FO_SCHEMA: store.schema!,
    FO_REDIS_URL: REDIS,
    FO_PREFIX: prefix,
    FO_START: String(S),
    FO_PARTITIONS: String(P),
    FO_LEASE_MS: String(LEASE_MS),
    FO_CHECKPOINT_MS: String(2 * MIN),
  }
  const workers = [startWorker(t, 'worker-a', env), startWorker(t, 'worker-b', env)]
  await waitFor('both workers to hold half the partitions', () => workers.every((w) => w.owned.length === P / 2), 30_000)

  const publisher = new MatcherPublisher(producer, P)
  const live = () => workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null)
  const w0 = Date.now()
  const end = fixes[fixes.length - 1].deviceTime + 2 * MIN
  let next = 0
  let killedAt: number | null = null
  let rejoinedAt: number | null = null
  for (;;) {
    const sim = Math.min(end, S + (Date.now() - w0) * SPEED)
    for (const w of live()) w.proc.stdin!.write(`${sim}\n`)
    let upto = next
    while (upto < fixes.length && fixes[upto].deviceTime <= sim) upto++
    if (upto > next) {
      const batch = fixes.slice(next, upto)
      next = upto
      await store.insertPositions(batch)
      await publisher.positions(batch)
    }
    if (kill && killedAt === null && sim >= S + 2.5 * MIN) {
      workers[0].proc.kill('SIGKILL')
      killedAt = Date.now()
    }
    if (kill && rejoinedAt === null && sim >= S + 9 * MIN) {
      workers.push(startWorker(t, 'worker-a-restarted', env))
      rejoinedAt = Date.now()
    }
    if (sim >= end) break
    await new Promise((r) => setTimeout(r, 25))
  }
  // let the stream drain (the clock stands at the end), then close gracefully
  await new Promise((r) => setTimeout(r, 2 * LEASE_MS))
  const b = workers[1]
  const handOver = killedAt === null ? null : b.changes.find((c) => c.at > killedAt! && c.owned.length === P)
  const rejoined = workers[2]
  const rejoin = rejoined?.changes.find((c) => c.owned.length > 0)
  for (const w of live()) w.proc.kill('SIGTERM')
  await Promise.all(workers.map((w) => w.exited))
  return {
    anomalies: (await store.listAnomalies({ limit: 1000 })).items,
    handOverMs: handOver ? handOver.at - killedAt! : null,
    rejoinMs: rejoin ? rejoin.at - rejoinedAt! : null,
  }
}

t.test('a worker killed with SIGKILL mid-trip: every vehicle gets the verdicts of the run without the kill', { timeout: 120_000 }, async (t) => {
  const control = await run(t, false)
  const killed = await run(t, true)
  t.ok(killed.handOverMs !== null, `the survivor took every partition ${killed.handOverMs} ms after the kill (lease ${LEASE_MS} ms)`)
  t.ok(killed.rejoinMs !== null, `the replacement got its share back ${killed.rejoinMs} ms after it started`)

  const byVehicle = (as: Anomaly[]) => {
    const m = new Map<string, Anomaly[]>()
    for (const a of as) {
      const k = a.plate
      m.set(
        k,
        [...(m.get(k) ?? []), a].sort((x, y) => x.type.localeCompare(y.type) || x.startedAt - y.startedAt),
      )
    }
    return m
  }
  const want = byVehicle(control.anomalies)
  const got = byVehicle(killed.anomalies)
  t.equal(want.size, VEHICLES, 'the control run judged every vehicle')
  t.ok(
    control.anomalies.every((a) => a.type === 'RUNNING_WITHOUT_WAYBILL' || a.type === 'OVERSPEED'),
    'control: the expected kinds',
  )
  let mismatched = 0
  for (const [plate, expected] of want) {
    const mine = got.get(plate) ?? []
    const same = mine.length === expected.length && mine.every((a, i) => a.type === expected[i].type && Math.abs(a.startedAt - expected[i].startedAt) <= REPORT)
    if (!same) {
      mismatched++
      t.same(
        mine.map((a) => [a.type, a.startedAt]),
        expected.map((a) => [a.type, a.startedAt]),
        `vehicle ${plate}`,
      )
    }
  }
  t.equal(mismatched, 0, `every one of ${VEHICLES} vehicles: same types, same starts within ${REPORT / 1000} s, no duplicates`)
  t.notOk(
    killed.anomalies.some((a) => a.evidence.closedBy === 'restart'),
    'nothing closed by restart',
  )
})
