/**
 * MatcherCheckpoints against the real PostgreSQL: when vehicles are written (new ones at once,
 * changed ones per round in chunks, everything when forced), the store's guard against an older
 * state overwriting a newer one, and load() by partition with the positions since.
 */
import t from 'tap'
import type { CommittedPosition } from '../../src/domain.js'
import { fenced, MatcherCheckpoints } from '../../src/matcher/checkpoint.js'
import { matcherConfig } from '../../src/matcher/config.js'
import { MatcherEngine } from '../../src/matcher/engine.js'
import { decodeSnapshot } from '../../src/matcher/snapshot.js'
import type { MatcherCheckpoint } from '../../src/store/port.js'
import { openTestStore } from '../store/helpers.js'
import { bj, MIN, Trip } from './helpers.js'

t.test('checkpoints: policy, guard, load by partition', async (t) => {
  const store = await openTestStore(t, 'pg')
  const ids = await store.upsertVehicles(Array.from({ length: 6 }, (_, i) => ({ plate: `鲁C${i}`, plateColor: 2 })))
  const writes: number[][] = []
  const recording = Object.create(store) as typeof store
  recording.saveCheckpoints = async (rows: MatcherCheckpoint[]) => {
    writes.push(rows.map((r) => r.vehicleId))
    return store.saveCheckpoints(rows)
  }
  let now = bj('08:00')
  const engine = new MatcherEngine({ config: matcherConfig({}), emit: () => undefined, clock: () => 0, since: bj('07:00') })
  const cp = new MatcherCheckpoints({ store: recording, engine, partitions: 4, everyMs: 10 * MIN, clock: () => now })
  const trips = ids.map((id, i) => new Trip(bj('08:00'), { vehicleId: id, plate: `鲁C${i}` }))
  const feed = (k: number[], ms: number) => {
    const rows: CommittedPosition[] = []
    for (const i of k) rows.push(...trips[i].drive(ms, 60))
    for (const p of rows) engine.position(p)
    engine.flushLate()
    return rows
  }

  const first = feed([0, 1, 2], 2 * MIN)
  await store.insertPositions(first)
  now += 2 * MIN
  t.equal(await cp.save(), 3, 'new vehicles are written after their first batch')
  feed([0, 1], MIN)
  now += MIN
  t.equal(await cp.save(), 0, 'known vehicles wait for the round')
  feed([3], MIN)
  t.equal(await cp.save(), 1, 'a new one does not')
  now += 10 * MIN
  t.equal(await cp.save(), 2, 'the round writes the changed ones')
  t.same(writes.at(-1)!.sort(), [ids[0], ids[1]].sort())
  feed([2], MIN)
  t.equal(await cp.save(true, (id) => id !== ids[2]), 0, 'forced, but only the partition asked for')
  t.equal(await cp.save(true), 1, 'forced: every changed vehicle')

  // the guard: an older state never overwrites a newer one (a process that lost its lease unknowingly)
  const [row] = await store.loadCheckpoints({ since: 0, afterVehicleId: ids[0] - 1, limit: 1 })
  t.equal(row.vehicleId, ids[0])
  await store.saveCheckpoints([{ ...row, watermark: row.watermark - 60_000, state: 'stale' }])
  const [again] = await store.loadCheckpoints({ since: 0, afterVehicleId: ids[0] - 1, limit: 1 })
  t.not(again.state, 'stale', 'the newer checkpoint stays')
  t.ok(decodeSnapshot(again.state))

  // positions stored after the checkpoint (a dead owner's last minutes) are replayed by the next owner
  const late = feed([0], 2 * MIN)
  await store.insertPositions(late)
  const part = ids[0] % 4
  const next = new MatcherEngine({ config: matcherConfig({}), emit: () => undefined, clock: () => 0, since: bj('07:00') })
  const loaded = await new MatcherCheckpoints({ store, engine: next, partitions: 4, clock: () => now }).load(part)
  const inPart = ids.slice(0, 4).filter((id) => id % 4 === part)
  t.equal(loaded.vehicles, inPart.length, "the partition's checkpointed vehicles, no others")
  t.equal(loaded.positions, late.length, 'the positions since the checkpoint, no more')
  t.equal(next.watermark(ids[0]), engine.watermark(ids[0]), 'caught up with the engine that saw everything')
  t.same(next.openAnomalies(ids[0]), engine.openAnomalies(ids[0]))
  // the stream's redelivery of what the replay covered is fenced off; what comes after is not
  t.ok(fenced(loaded.fences, late[0]), 'a replayed fix')
  t.notOk(fenced(loaded.fences, trips[0].drive(MIN, 60)[0]), 'a new fix ends the fence')
  t.equal(loaded.fences.has(ids[0]), false)

  // the clock looks at every restored vehicle; one whose state it leaves as it was is not written again
  const engine3 = new MatcherEngine({ config: matcherConfig({}), emit: () => undefined, clock: () => 0, since: bj('07:00') })
  const cp3 = new MatcherCheckpoints({ store: recording, engine: engine3, partitions: 4, everyMs: 1, clock: () => now })
  const all = await cp3.load()
  engine3.tick(now)
  const take = engine3.takeChanged.bind(engine3)
  let looked: number[] = []
  engine3.takeChanged = () => (looked = take())
  now += MIN
  const before = writes.length
  const n = await cp3.save()
  t.equal(looked.length, all.vehicles, 'the tick touched every vehicle')
  t.same(writes.slice(before).flat(), [ids[0]], `only the vehicle the replay moved on is written (${n})`)
})

t.test('a checkpoint never runs ahead of the anomalies the store holds', async (t) => {
  const { MatcherService } = await import('../../src/matcher/service.js')
  const { MemoryState } = await import('../../src/state/memory.js')
  const store = await openTestStore(t, 'pg')
  const [id] = await store.upsertVehicles([{ plate: '鲁C9', plateColor: 2 }])
  const state = new MemoryState()
  t.teardown(() => state.close())
  let down = true
  const flaky = Object.create(store) as typeof store
  flaky.upsertAnomalies = async (rows) => {
    if (down) throw new Error('database is down')
    return store.upsertAnomalies(rows)
  }
  const now = bj('09:00')
  const service = new MatcherService({ store: flaky, state, clock: () => now, tickMs: 3_600_000, waybillPollMs: 3_600_000 })
  await service.start()
  t.teardown(() => service.close())
  // 3 km without a waybill: RUNNING_WITHOUT_WAYBILL opens, but cannot be stored
  await service.handlePositions(new Trip(bj('08:50'), { vehicleId: id, plate: '鲁C9' }).drive(4 * MIN, 60))
  t.ok(service.stats().pendingEvents > 0, 'the opening waits for the store')
  t.same(await store.loadCheckpoints({ since: 0 }), [], 'no checkpoint of a state whose anomaly is not stored')
  down = false
  await service.drain()
  t.equal((await store.listAnomalies({})).items.length, 1)
  t.equal((await store.loadCheckpoints({ since: 0 })).length, 1, 'stored, then checkpointed')
})
