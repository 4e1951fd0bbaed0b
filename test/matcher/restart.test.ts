/**
 * A restart of the one process mid-trip (issue 19): the matcher rebuilds each vehicle from its
 * last checkpoint and the positions stored since, so a long day — fatigue, night fatigue and
 * daily driving running across the restart, an overspeed and an alarm — gives the same anomalies
 * as a run without the restart: same types, same starts and ends, nothing twice, nothing
 * closed "by restart". On the embedded store and the real PostgreSQL.
 */
import { Registry } from 'prom-client'
import t from 'tap'
import { ANOMALY_EVENTS_STREAM, type Anomaly, type CommittedPosition } from '../../src/domain.js'
import { MatcherService } from '../../src/matcher/service.js'
import { MemoryState } from '../../src/state/memory.js'
import { openTestStore, type StoreBackend } from '../store/helpers.js'
import { bj, HOUR, MIN, Trip } from './helpers.js'

type TestStore = Awaited<ReturnType<typeof openTestStore>>

/** Long days, as the gateway would commit them: batches of 10 minutes (one vehicle and long batches keep the file within its time limit). */
function batches(ids: number[]): CommittedPosition[][] {
  const per = ids.map((id, k) => {
    const trip = new Trip(bj('15:00') + k * 7_000, { vehicleId: id, plate: `鲁R${id}` })
    const out: CommittedPosition[] = []
    out.push(...trip.drive(3 * HOUR, 60), ...trip.stop(5 * MIN), ...trip.drive(90 * MIN, 60))
    out.push(...trip.drive(3 * MIN, 110), ...trip.drive(40 * MIN, 60))
    trip.alarm = 1
    out.push(...trip.drive(10 * MIN, 60))
    trip.alarm = 0
    out.push(...trip.stop(30 * MIN), ...trip.drive(4 * HOUR + 30 * MIN, 55), ...trip.stop(25 * MIN))
    return out
  })
  const all = per.flat().sort((a, b) => a.deviceTime - b.deviceTime)
  const out: CommittedPosition[][] = []
  let cur: CommittedPosition[] = []
  for (const p of all) {
    if (cur.length && p.deviceTime - cur[0].deviceTime >= 10 * MIN) {
      out.push(cur)
      cur = []
    }
    cur.push(p)
  }
  if (cur.length) out.push(cur)
  return out
}

interface Run {
  anomalies: Anomaly[]
  opened: string[]
  /** vehicles restored and positions replayed by the restarted process */
  rebuilt: number
  replayed: number
}

/**
 * Feeds the batches like the gateway (store, then the matcher) with the clock at each batch's end;
 * `restartAt`: the process dies (no close, no last checkpoint) before that batch and a new one
 * starts, after `downMs` of silence.
 */
async function run(store: TestStore, ids: number[], restartAt: number | null, downMs = 0, noCheckpoints = false): Promise<Run> {
  const state = new MemoryState()
  let now = bj('15:00')
  const registry = new Registry()
  const make = () => new MatcherService({ store, state, registry, clock: () => now, tickMs: 3_600_000, waybillPollMs: 3_600_000, checkpointMs: 25 * MIN })
  let service = make()
  await service.start()
  const all = batches(ids)
  for (let i = 0; i < all.length; i++) {
    if (i === restartAt) {
      service.abandon()
      now += downMs
      // the first start of a version that checkpoints: nothing to load
      if (noCheckpoints) await store.deleteCheckpointsBefore(now + 86_400_000)
      service = make()
      await service.start()
    }
    const batch = all[i]
    await store.insertPositions(batch)
    now = batch[batch.length - 1].deviceTime + 1_000
    await service.handlePositions(batch)
    await service.tick(now)
  }
  await service.drain()
  await service.close()
  const events = await state.read<{ event: string; anomaly: Anomaly }>(ANOMALY_EVENTS_STREAM, '0', 100_000)
  await state.close()
  const anomalies = (await store.listAnomalies({ limit: 1000 })).items
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.reduce((a, v) => a + v.value, 0)
  return {
    anomalies,
    opened: events.filter((e) => e.value.event === 'anomaly.opened').map((e) => e.value.anomaly.id),
    rebuilt: await metric('jt808_matcher_rebuilt_vehicles_total'),
    replayed: await metric('jt808_matcher_replayed_positions_total'),
  }
}

const brief = (a: Anomaly) => `${a.vehicleId} ${a.type} ${a.status} ${a.startedAt} ${a.endedAt}`

t.test('a restart mid-trip changes no verdict', async (t) => {
  // the reference run, without restart (the verdicts do not depend on the backend)
  const refStore = await openTestStore(t, 'pg')
  const ids = await refStore.upsertVehicles([{ plate: '鲁R1', plateColor: 2 }])
  const ref = await run(refStore, ids, null)
  const expected = ref.anomalies.map(brief).sort()
  t.same(
    [...new Set(ref.anomalies.map((a) => a.type))].sort(),
    ['DAILY_DRIVING_EXCEEDED', 'FATIGUE_DRIVING', 'NIGHT_FATIGUE_DRIVING', 'OVERSPEED', 'RUNNING_WITHOUT_WAYBILL', 'TERMINAL_ALARM'],
    'the reference run has the long rules, a point rule and an alarm',
  )
  const all = batches(ids)
  const total = all.length
  // A checkpoint round goes out after every third batch (25 min of 10-minute batches): a restart
  // right after one would have nothing to replay, so each cut is moved off those.
  const between = (i: number) => (i % 3 === 0 ? i + 1 : i)
  const firstAt = (pred: (p: CommittedPosition) => boolean) => all.findIndex((b) => b.some(pred))
  // inside the first fatigue run, inside the alarm, and in the night (fatigue, night fatigue and the day running);
  // PGlite opens slowly: one restart there, the three on PostgreSQL
  const fatigue = between(firstAt((p) => p.deviceTime >= bj('18:30')))
  const alarm = between(firstAt((p) => p.alarm !== 0) + 1)
  const night = between(firstAt((p) => p.deviceTime >= bj('23:40')))
  const cuts: Array<[StoreBackend, string, number]> = [
    ['pg', 'fatigue', fatigue],
    ['pg', 'alarm', alarm],
    ['pg', 'night', night],
    ['pglite', 'night', night],
  ]
  for (const [backend, label, at] of cuts) {
    const store = await openTestStore(t, backend)
    const mine = await store.upsertVehicles([{ plate: '鲁R1', plateColor: 2 }])
    t.same(mine, ids, 'the same vehicle ids')
    const got = await run(store, ids, at, 2 * MIN)
    t.ok(got.rebuilt === 1 && got.replayed > 0, `rebuilt from checkpoints and ${got.replayed} stored positions`)
    t.same(got.anomalies.map(brief).sort(), expected, `${backend}: restart in the ${label} (batch ${at} of ${total}): same anomalies, starts and ends`)
    t.notOk(
      got.anomalies.some((a) => a.evidence.closedBy === 'restart'),
      'none closed by restart',
    )
    t.ok(got.opened.length >= expected.length && new Set(got.opened).size === got.opened.length, `each anomaly announced once (${got.opened.length})`)
  }

  // no checkpoint at all (the first start of this version): the open anomalies' vehicles are
  // rebuilt from their stored tracks since the start of the day, and nothing is closed "by restart"
  const store = await openTestStore(t, 'pg')
  t.same(await store.upsertVehicles([{ plate: '鲁R1', plateColor: 2 }]), ids)
  const got = await run(store, ids, night, 2 * MIN, true)
  t.ok(got.rebuilt === 1 && got.replayed > 100, `rebuilt from ${got.replayed} stored positions`)
  t.same(got.anomalies.map(brief).sort(), expected, 'no checkpoint: same anomalies, starts and ends')
  t.same(got.anomalies.filter((a) => a.evidence.closedBy === 'restart').map(brief), [], 'none closed by restart')
})

t.test('no checkpoint, an alarm open since before the horizon: followed on, not opened a second time', async (t) => {
  const store = await openTestStore(t, 'pg')
  const [id] = await store.upsertVehicles([{ plate: '鲁R9', plateColor: 2 }])
  const now = bj('12:00', 1)
  const since = now - 30 * HOUR
  await store.upsertAnomalies([
    {
      id: `TERMINAL_ALARM-${id}-${since}-0`,
      type: 'TERMINAL_ALARM',
      status: 'open',
      severity: 'critical',
      vehicleId: id,
      plate: '鲁R9',
      plateColor: 2,
      waybillNo: null,
      enterpriseLicenseNo: null,
      startedAt: since,
      endedAt: null,
      lastSeenAt: now - 2 * HOUR,
      evidence: { bit: 0, name: 'emergency', alarm: '0x00000001' },
    },
  ])
  const trip = new Trip(now - 2 * HOUR, { vehicleId: id, plate: '鲁R9' })
  trip.alarm = 1
  await store.insertPositions(trip.stop(2 * HOUR - MIN))
  const state = new MemoryState()
  t.teardown(() => state.close())
  const service = new MatcherService({ store, state, clock: () => now, tickMs: 3_600_000, waybillPollMs: 3_600_000 })
  await service.start()
  await service.close()
  const alarms = (await store.listAnomalies({ type: 'TERMINAL_ALARM' })).items
  t.same(
    alarms.map((a) => [a.id, a.status]),
    [[`TERMINAL_ALARM-${id}-${since}-0`, 'open']],
    'the one alarm, still open',
  )
})
