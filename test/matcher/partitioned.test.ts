/**
 * Several matcher processes over the real Redis (partitioned stream, consumer groups) and the real
 * PostgreSQL: every vehicle is matched by exactly one of them, each anomaly is stored and fed once.
 * The "processes" are two services with their own Redis connections in this test process.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ANOMALY_EVENTS_STREAM, type AnomalyEvent, type CommittedPosition } from '../../src/domain.js'
import { MatcherPublisher, MatcherService } from '../../src/matcher/service.js'
import { partitionOf } from '../../src/state/partitioned.js'
import { RedisState } from '../../src/state/redis.js'
import { until } from '../state/contract.js'
import { openTestStore } from '../store/helpers.js'
import { bj, MIN, Trip } from './helpers.js'
import { REDIS_URL as REDIS } from '../backends.js'

const P = 8
const VEHICLES = 16

t.test('two matcher processes share the vehicles through the partitioned stream, each exactly once', async (t) => {
  const store = await openTestStore(t, 'pg')
  const prefix = `test:matcher:${randomUUID()}:`
  const [producer, stateA, stateB] = [0, 1, 2].map(() => new RedisState(REDIS, { prefix }))
  t.teardown(async () => {
    await producer.clear()
    await Promise.all([producer, stateA, stateB].map((s) => s.close()))
  })
  const ids = await store.upsertVehicles(Array.from({ length: VEHICLES }, (_, i) => ({ plate: `鲁P${String(i).padStart(5, '0')}`, plateColor: 2 })))

  const clock = () => bj('09:00')
  const make = (state: RedisState) => new MatcherService({ store, state, clock, tickMs: 3_600_000, waybillPollMs: 3_600_000 })
  const a = make(stateA)
  const b = make(stateB)
  const opts = { partitions: P, consumer: '', leaseMs: 900, blockMs: 100, batch: 64 }
  await a.start({ streams: { ...opts, consumer: 'matcher-a' } })
  await b.start({ streams: { ...opts, consumer: 'matcher-b' } })
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  await until(t, 'both hold half the partitions', () => a.ownedPartitions().length === P / 2 && b.ownedPartitions().length === P / 2, 10_000)
  t.same(
    [...a.ownedPartitions(), ...b.ownedPartitions()].sort((x, y) => x - y),
    [0, 1, 2, 3, 4, 5, 6, 7],
    'every partition has one owner',
  )

  // every vehicle runs without a waybill and speeds once
  const publisher = new MatcherPublisher(producer, P)
  const trips = ids.map((id) => new Trip(bj('08:00'), { vehicleId: id, plate: `鲁P${String(id).padStart(5, '0')}` }))
  const rows: CommittedPosition[][] = trips.map((trip) => [...trip.drive(10 * MIN, 60), ...trip.drive(2 * MIN, 95), ...trip.drive(3 * MIN, 60)])
  // interleaved, as a gateway would commit them
  for (let i = 0; i < rows[0].length; i++) await publisher.positions(rows.map((r) => r[i]))

  const expected = VEHICLES * 2 // RUNNING_WITHOUT_WAYBILL and OVERSPEED per vehicle
  await until(t, 'all anomalies stored', async () => (await store.listAnomalies({ limit: 1000 })).items.length >= expected, 20_000)
  await a.drain()
  await b.drain()

  const stored = (await store.listAnomalies({ limit: 1000 })).items
  t.equal(stored.length, expected, 'no duplicates')
  for (const id of ids) {
    const mine = stored.filter((x) => x.vehicleId === id)
    t.same(mine.map((x) => x.type).sort(), ['OVERSPEED', 'RUNNING_WITHOUT_WAYBILL'], `vehicle ${id}`)
  }
  const followedByA = ids.filter((id) => a.engine.hasVehicle(id))
  const followedByB = ids.filter((id) => b.engine.hasVehicle(id))
  t.same(
    [...followedByA, ...followedByB].sort((x, y) => x - y),
    [...ids].sort((x, y) => x - y),
    'each vehicle followed by exactly one process',
  )
  for (const id of followedByA) t.ok(a.ownedPartitions().includes(partitionOf(id, P)))
  t.ok(followedByA.length > 0 && followedByB.length > 0, 'both did work')

  const feed = await producer.read<AnomalyEvent>(ANOMALY_EVENTS_STREAM, '0', 10_000)
  const opened = feed.filter((e) => e.value.event === 'anomaly.opened').map((e) => e.value.anomaly.id)
  t.equal(opened.length, expected, 'each anomaly opened once on the feed')
  t.equal(new Set(opened).size, expected)
})

t.test("startMatcher with workers: a committed batch is published with its duplicates (a re-send repairs a dead worker's gap)", async (t) => {
  const { startMatcher } = await import('../../src/matcher/service.js')
  const { COMMITTED_POSITIONS_STREAM } = await import('../../src/domain.js')
  const { partitionStream } = await import('../../src/state/partitioned.js')
  const { testConfig } = await import('../store/helpers.js')
  const store = await openTestStore(t, 'pg')
  const prefix = `test:matcher:${randomUUID()}:`
  const state = new RedisState(REDIS, { prefix })
  t.teardown(async () => {
    await state.clear()
    await state.close()
  })
  const [id] = await store.upsertVehicles([{ plate: '鲁P99999', plateColor: 2 }])
  const matcher = await startMatcher({ config: testConfig({ workers: 2, nodeId: 'w1' }), store, state, partitions: P })
  t.teardown(() => matcher.close())
  const consumer = matcher.committedConsumer()
  t.equal(consumer.contained, true, 'the publisher takes every row a batch contained, duplicates included')
  const rows = new Trip(bj('08:00'), { vehicleId: id, plate: '鲁P99999' }).drive(3 * MIN, 60)
  // the worker that first committed these died before publishing; the re-send is all duplicates
  await consumer.take(rows)
  const stream = partitionStream(COMMITTED_POSITIONS_STREAM, partitionOf(id, P))
  await until(t, 'published', async () => (await state.streamInfo(stream)).length >= rows.length, 5_000)
  const published = await state.read<CommittedPosition>(stream, '0', 100)
  t.same(
    published.map((e) => e.value.deviceTime),
    rows.map((p) => p.deviceTime),
    'every row the batch contained, in order',
  )
})
