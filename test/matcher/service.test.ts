/**
 * The matcher service in one process: embedded PGlite store and the in-memory state, positions
 * from an ingest-like emitter, events to the store and the feed stream, restart, waybill polling,
 * a store outage.
 */
import { EventEmitter } from 'node:events'
import t from 'tap'
import { ANOMALY_EVENTS_STREAM, newWaybill, type AnomalyEvent } from '../../src/domain.js'
import { MatcherService } from '../../src/matcher/service.js'
import { MemoryState } from '../../src/state/memory.js'
import { openTestStore } from '../store/helpers.js'
import { BASE_WAYBILL, bj, HOUR, MIN, Trip } from './helpers.js'

t.test('in-process service: positions in, anomalies stored and fed in order, restart, polling, outage', async (t) => {
  const store = await openTestStore(t, 'pglite')
  const state = new MemoryState()
  t.teardown(() => state.close())
  const [v1, v2] = await store.upsertVehicles([
    { plate: '鲁A12345', plateColor: 2, enterpriseLicenseNo: '370100000001' },
    { plate: '鲁B22222', plateColor: 2, enterpriseLicenseNo: '370100000001' },
  ])
  await store.insertWaybill(newWaybill(BASE_WAYBILL, bj('07:00'), 'api', 'dispatched'))
  let now = bj('08:00')
  const clock = () => now
  const make = () => new MatcherService({ store, state, clock, tickMs: 3_600_000, waybillPollMs: 3_600_000 })

  const service = make()
  await service.start()
  const { take } = service.committedConsumer()
  const gateway = new EventEmitter()
  service.attachGateway(gateway)

  // an overspeed: opened and closed, stored, and both events on the feed, in order
  const trip = new Trip(bj('08:00'), { vehicleId: v1 })
  void take([...trip.drive(10 * MIN, 60), ...trip.drive(2 * MIN, 95), ...trip.drive(3 * MIN, 60)])
  await service.drain()
  const os = (await store.listAnomalies({ type: 'OVERSPEED' })).items
  t.equal(os.length, 1)
  t.equal(os[0].status, 'closed')
  t.equal(os[0].startedAt, bj('08:10'))
  t.equal(os[0].endedAt, bj('08:12'))
  t.equal(os[0].waybillNo, BASE_WAYBILL.waybillNo)
  const feed = await state.read<AnomalyEvent>(ANOMALY_EVENTS_STREAM, '0', 100)
  t.same(
    feed.map((e) => [e.value.event, e.value.anomaly.type]),
    [
      ['anomaly.opened', 'OVERSPEED'],
      ['anomaly.closed', 'OVERSPEED'],
    ],
  )
  t.equal(feed[1].value.anomaly.id, os[0].id)

  // the driver's card through the gateway's event
  gateway.emit('driver-card', {
    vehicleId: v1,
    phone: '13900000001',
    status: 1,
    time: bj('08:16'),
    readResult: 0,
    driverName: '王五',
    qualificationNo: '111111111111111111',
    issuer: null,
    validUntil: null,
    idNumber: null,
  })
  gateway.emit('waybill-report', { phone: '13900000001', vehicleId: v1, body: { text: 'YD1' }, at: bj('08:16') })
  await service.drain()
  await new Promise((r) => setTimeout(r, 50))
  t.equal((await store.listAnomalies({ type: 'DRIVER_NOT_ON_WAYBILL', status: 'open' })).items.length, 1)
  t.equal((await store.listWaybillReports(v1, bj('08:00'), bj('09:00'))).length, 1)

  // silence while the waybill is active: the clock opens WAYBILL_WITHOUT_POSITION
  now = bj('08:40')
  await service.tick()
  const silent = (await store.listAnomalies({ type: 'WAYBILL_WITHOUT_POSITION' })).items
  t.equal(silent.length, 1)
  t.equal(silent[0].status, 'open')
  t.equal(silent[0].startedAt, bj('08:14:30'))
  await service.close()

  // a restarted matcher carries on with what the store says is open
  now = bj('09:00')
  const second = make()
  await second.start()
  const take2 = second.committedConsumer().take
  const resumed = new Trip(bj('09:00'), { vehicleId: v1, lon: trip.lon, lat: trip.lat })
  void take2(resumed.drive(5 * MIN, 50))
  await second.drain()
  const closed = await store.getAnomaly(silent[0].id)
  t.equal(closed?.status, 'closed', 'closed by the restarted matcher')
  t.equal(closed?.startedAt, bj('08:14:30'), 'its start is kept')
  t.equal(closed?.endedAt, bj('09:00'))

  // a waybill written by another process (API, import) is found by polling
  const w2 = { ...BASE_WAYBILL, waybillNo: 'YD-POLL', plate: '鲁B22222' }
  await store.insertWaybill(newWaybill(w2, bj('08:59'), 'import', 'dispatched'))
  now = bj('09:06')
  await second.pollWaybills()
  t.equal(second.engine.activeWaybillNo(v2, bj('09:05')), 'YD-POLL')
  await second.pollWaybills()
  t.equal(second.engine.activeWaybillNo(v2, bj('09:05')), 'YD-POLL', 'polling again is harmless')

  // the store fails once: nothing is lost, the events go out in order once it is back
  const real = store.upsertAnomalies.bind(store)
  let failures = 1
  ;(store as { upsertAnomalies: typeof real }).upsertAnomalies = async (rows) => {
    if (failures-- > 0) throw new Error('database is down')
    return real(rows)
  }
  const before = (await state.read<AnomalyEvent>(ANOMALY_EVENTS_STREAM, '0', 1000)).length
  await second.handlePositions([...resumed.drive(2 * MIN, 97), ...resumed.drive(2 * MIN, 60)])
  t.equal(second.stats().pendingEvents, 2, 'held while the store is down')
  t.equal((await store.listAnomalies({ type: 'OVERSPEED' })).items.length, 1)
  await second.drain() // the next input (or the 1 s retry) writes them
  t.equal(second.stats().pendingEvents, 0)
  const after = await state.read<AnomalyEvent>(ANOMALY_EVENTS_STREAM, '0', 1000)
  t.same(
    after
      .slice(before)
      .map((e) => [e.value.event, e.value.anomaly.type])
      .filter(([, type]) => type === 'OVERSPEED'),
    [
      ['anomaly.opened', 'OVERSPEED'],
      ['anomaly.closed', 'OVERSPEED'],
    ],
  )
  t.equal((await store.listAnomalies({ type: 'OVERSPEED' })).items.length, 2)
  await second.close()
  t.ok(HOUR > 0)
})

t.test('startMatcher (composition root, one process, real PostgreSQL): ingest in, anomalies out; config errors refuse to start', async (t) => {
  const { startMatcher } = await import('../../src/matcher/service.js')
  const { testConfig } = await import('../store/helpers.js')
  const store = await openTestStore(t, 'pg')
  const state = new MemoryState()
  t.teardown(() => state.close())
  const [id] = await store.upsertVehicles([{ plate: '鲁A12345', plateColor: 2 }])
  const config = testConfig({ matcherConfig: '{"defaultSpeedLimitKmh": 50}' })
  const matcher = await startMatcher({ config, store, state, now: () => bj('09:00') })
  const consumer = matcher.committedConsumer()
  t.equal(consumer.name, 'matcher', 'one process: matched here, not published')
  const trip = new Trip(bj('08:00'), { vehicleId: id })
  await consumer.take(trip.drive(3 * MIN, 60))
  t.same((await store.listAnomalies({})).items.map((a) => a.type).sort(), ['OVERSPEED', 'RUNNING_WITHOUT_WAYBILL'], '60 km/h is over the configured 50')
  await matcher.close()
  t.equal(consumer.take(trip.drive(3 * MIN, 60)), undefined, 'nothing taken after close')
  await t.rejects(startMatcher({ config: testConfig({ matcherConfig: '{"speed": 1}' }), store, state }), /speed: not a matcher setting/)
})

t.test('in-process service: a batch is settled only once matched and persisted (the ingest queue counts it meanwhile)', async (t) => {
  const store = await openTestStore(t, 'pglite')
  const state = new MemoryState()
  t.teardown(() => state.close())
  const [v] = await store.upsertVehicles([{ plate: '鲁C33333', plateColor: 2, enterpriseLicenseNo: '370100000001' }])
  const now = bj('08:00')
  // the anomaly store stalls until the gate opens
  let open!: () => void
  const gate = new Promise<void>((r) => (open = r))
  const slowStore = Object.create(store) as typeof store
  slowStore.upsertAnomalies = async (rows) => {
    await gate
    return store.upsertAnomalies(rows)
  }
  const service = new MatcherService({ store: slowStore, state, clock: () => now, tickMs: 3_600_000, waybillPollMs: 3_600_000 })
  await service.start()
  t.teardown(() => service.close())
  const { take } = service.committedConsumer()

  const trip = new Trip(bj('07:50'), { vehicleId: v })
  const first = trip.drive(5 * MIN, 95) // overspeed: an anomaly to persist, which stalls
  const second = trip.drive(5 * MIN, 60)
  let settled = 0
  const taken = [take(first), take(second)].map((p) => p?.then(() => settled++))
  await new Promise((r) => setTimeout(r, 50))
  t.equal(settled, 0, 'held by the stalled store: neither batch is settled (the queue counts both as backlog)')
  open()
  await Promise.all(taken)
  t.equal(settled, 2, 'settled once matched and persisted')
  t.equal((await store.listAnomalies({ type: 'OVERSPEED' })).items.length, 1)
})
