/** Data quality, grading and the pre-trip self-check. */
import t from 'tap'
import { newWaybill, transitionWaybill, type Anomaly, type PositionRecord, type Vehicle } from '../../src/domain.js'
import { DEFAULT_GRADING_CONFIG, grade, gradeDrivers, gradeEnterprises } from '../../src/matcher/grading.js'
import { groupQuality, qualityReport, vehicleDayQuality } from '../../src/matcher/quality.js'
import { runSelfCheck, scopeCovers, selfCheck } from '../../src/matcher/self-check.js'
import { MemoryState } from '../../src/state/memory.js'
import type { AnomalyCount } from '../../src/store/port.js'
import { openTestStore } from '../store/helpers.js'
import { BASE_WAYBILL, bj, HOUR, MIN, Trip } from './helpers.js'

const DAY0 = bj('00:00')

t.test('vehicle-day quality: valid rate, completeness (gaps while moving, jumps), drift', async (t) => {
  const trip = new Trip(bj('08:00'))
  const pts: PositionRecord[] = [...trip.drive(HOUR, 60)] // 60 km, complete
  trip.silent(10 * MIN, 10) // a 10-minute hole while driving: 10 km incomplete
  pts.push(...trip.drive(HOUR, 60))
  const bad = trip.drift(30, 60)
  pts.push(bad, ...trip.drive(10 * MIN, 60))
  pts.push({ ...pts[5], deviceTime: pts[5].deviceTime + 1000, speed: 200 }) // invalid speed
  const q = vehicleDayQuality(1, DAY0, pts)
  t.equal(q.day, '2024-06-03')
  t.equal(q.points, pts.length)
  t.equal(q.driftPoints, 1)
  t.equal(q.validPoints, pts.length - 2, 'the drift point and the 200 km/h point are not valid')
  t.ok(q.hasDrift)
  t.equal(q.gaps, 1)
  // samples sit at 0 … 59.5 km, 70 … 129.5 km (after the hole), 130.5 … 140 km (after the drift point)
  t.ok(Math.abs(q.totalKm - 140) < 0.05, `total ${q.totalKm}`)
  t.ok(Math.abs(q.totalKm - q.completeKm - 10.5) < 0.05, 'the hole (59.5 → 70 km) is the incomplete mileage')
  t.ok(q.completeness! > 0.9)
  t.same(q.pass, { validRate: true, completeness: true })

  // a parked vehicle that reports every 10 minutes has no gaps; one that jumps 3 km does
  const parked = new Trip(bj('00:00'), { every: 10 * MIN })
  const p2 = parked.stop(5 * HOUR)
  t.equal(vehicleDayQuality(2, DAY0, p2).gaps, 0)
  t.equal(vehicleDayQuality(2, DAY0, p2).completeness, null, 'no mileage: nothing to be complete')
  const jumpy = new Trip(bj('09:00'), { every: 60_000 })
  const p3 = [...jumpy.drive(10 * MIN, 150)] // 2.5 km per minute: each step is a "jump"
  t.equal(vehicleDayQuality(3, DAY0, p3).gaps, p3.length - 1)
  t.equal(vehicleDayQuality(3, DAY0, p3).pass.completeness, false)
  t.equal(vehicleDayQuality(4, DAY0, []).online, false)
})

t.test('group figures and pass lines', async (t) => {
  const good = vehicleDayQuality(1, DAY0, new Trip(bj('08:00'), { vehicleId: 1 }).drive(HOUR, 60))
  const trip = new Trip(bj('08:00'), { vehicleId: 2 })
  const drifting = vehicleDayQuality(2, DAY0, [...trip.drive(10 * MIN, 60), trip.drift(50, 60), ...trip.drive(10 * MIN, 60)])
  const g = groupQuality([good, drifting], { mustBeNetworked: 4, networked: 3 }, 'E1', '2024-06-03')
  t.equal(g.networkRate, 0.75)
  t.equal(g.pass.networkRate, false, 'below 90 %')
  t.equal(g.online, 2)
  t.equal(g.onlineRate, 2 / 3)
  t.equal(g.pass.onlineRate, null, 'scored by rate, no pass line by default')
  t.equal(g.driftRate, 0.5)
  t.equal(g.pass.driftRate, false)
  t.ok(g.validRate! > 0.99)
})

t.test('grading: weights, units, period, red on repeated serious anomalies, quality penalties', async (t) => {
  const c = (vehicleId: number, type: AnomalyCount['type'], count: number, severity: AnomalyCount['severity'] = 'warning', waybillNo: string | null = null): AnomalyCount => ({
    vehicleId,
    plate: `P${vehicleId}`,
    plateColor: 2,
    enterpriseLicenseNo: 'E1',
    waybillNo,
    type,
    severity,
    count,
  })
  const month = 30 * 24 * HOUR
  t.equal(grade('E1', 'enterprise', [], 10, month).grade, 'green')
  const y = grade('E1', 'enterprise', [c(1, 'OVERSPEED', 10), c(2, 'OVERSPEED', 5)], 10, month)
  t.equal(y.score, 3, '15 × 2 points over 10 vehicles in 30 days')
  t.equal(y.grade, 'yellow')
  t.equal(grade('E1', 'enterprise', [c(1, 'OVERSPEED', 10), c(2, 'OVERSPEED', 5)], 10, month / 2).score, 6, 'the same in half the time weighs double')
  t.equal(grade('E1', 'enterprise', [c(1, 'OVERSPEED', 15, 'critical')], 5, month).grade, 'red', '15 × 2 × 2 / 5 = 12')
  const r = grade('E1', 'enterprise', [c(1, 'FATIGUE_DRIVING', 3, 'critical')], 100, month)
  t.equal(r.grade, 'red', 'one vehicle with three fatigue episodes')
  t.match(r.reasons.join(';'), /3 × FATIGUE_DRIVING on vehicle 1/)
  const q = groupQuality([], { mustBeNetworked: 10, networked: 5 }, 'E1', null)
  const withQ = grade('E1', 'enterprise', [], 10, month, DEFAULT_GRADING_CONFIG, q)
  t.equal(withQ.score, 2)
  t.match(withQ.reasons.join(';'), /network rate 50.0 %/)
})

t.test('grading and quality from the store; the self-check end to end (real PostgreSQL)', async (t) => {
  const store = await openTestStore(t, 'pg')
  const state = new MemoryState()
  t.teardown(() => state.close())
  const [v1, v2] = await store.upsertVehicles([
    { plate: '鲁A12345', plateColor: 2, enterpriseLicenseNo: 'E1', terminalPhone: '13900000001', transportCertValidUntil: '2025-01-01', businessScope: ['2', '3'] },
    { plate: '鲁A22222', plateColor: 2, enterpriseLicenseNo: 'E2', terminalPhone: '13900000002' },
  ])
  // yesterday's trip with a hole in its track, then today's waybill
  let last = newWaybill({ ...BASE_WAYBILL, waybillNo: 'W-LAST', loadingDate: '20240602', expectedArrivalDate: '20240602' }, bj('07:00', -1), 'api', 'in_transit')
  last = transitionWaybill(last, 'completed', bj('20:00', -1))
  await store.insertWaybill(last)
  const trip = new Trip(bj('08:00', -1), { vehicleId: v1 })
  const track = [...trip.drive(HOUR, 60)]
  trip.silent(2 * HOUR, 120) // 120 km without data
  track.push(...trip.drive(HOUR, 60))
  await store.insertPositions(track)
  await store.insertWaybill(newWaybill({ ...BASE_WAYBILL, waybillNo: 'W-NEXT', goods: [{ ...BASE_WAYBILL.goods[0], hazardClass: '6.1', unNumber: '1710' }] }, bj('07:00'), 'api', 'dispatched'))

  const anomalies: Anomaly[] = [
    {
      id: 'a1',
      type: 'FATIGUE_DRIVING',
      status: 'open',
      severity: 'critical',
      vehicleId: v1,
      plate: '鲁A12345',
      plateColor: 2,
      waybillNo: 'W-LAST',
      enterpriseLicenseNo: 'E1',
      startedAt: bj('12:00', -1),
      endedAt: null,
      lastSeenAt: bj('12:00', -1),
      evidence: {},
    },
    {
      id: 'a2',
      type: 'OVERSPEED',
      status: 'closed',
      severity: 'warning',
      vehicleId: v2,
      plate: '鲁A22222',
      plateColor: 2,
      waybillNo: null,
      enterpriseLicenseNo: 'E2',
      startedAt: bj('10:00', -1),
      endedAt: bj('10:01', -1),
      lastSeenAt: bj('10:01', -1),
      evidence: {},
    },
  ]
  await store.upsertAnomalies(anomalies)

  const report = await qualityReport(store, { from: bj('00:00', -1), to: bj('00:00') })
  const row = report.vehicles.find((r) => r.vehicleId === v1)!
  t.equal(row.gaps, 1)
  t.ok(Math.abs(row.completeness! - (59.5 + 59.5) / 239.5) < 0.001, `completeness ${row.completeness}: 120.5 of 239.5 km missing`)
  t.equal(report.enterprises.find((e) => e.enterpriseLicenseNo === 'E1' && e.day === null)!.pass.completeness, false)
  t.equal(report.enterprises.find((e) => e.enterpriseLicenseNo === 'E2' && e.day === null)!.online, 0)

  const grades = await gradeEnterprises(store, { from: bj('00:00', -1), to: bj('00:00') })
  t.same(
    grades.map((g) => g.subject),
    ['E1', 'E2'],
  )
  t.ok(grades[0].score > grades[1].score)
  const drivers = await gradeDrivers(store, { from: bj('00:00', -1), to: bj('00:00') })
  t.same(
    drivers.map((d) => [d.subject, d.anomalies]),
    [[BASE_WAYBILL.driverQualificationNo, 1]],
  )

  // self-check: offline terminal, stale fix, last trip incomplete, open fatigue, scope lacks 6.1
  const vehicle = (await store.getVehicle(v1)) as Vehicle
  const failed = await runSelfCheck({ store, state }, vehicle, bj('07:30'))
  t.equal(failed.pass, false)
  t.same(Object.fromEntries(failed.checks.map((c) => [c.name, c.pass])), {
    'terminal-online': false,
    'reporting-normally': false,
    'last-trip-track-complete': false,
    'no-open-critical': false,
    'certificate-valid': true,
    'scope-covers-cargo': false,
  })
  for (const c of failed.checks) if (!c.pass) t.ok(c.reason && c.reason.length > 10, `${c.name}: ${c.reason}`)
  t.equal(failed.checks.find((c) => c.name === 'last-trip-track-complete')!.details.lastWaybillNo, 'W-LAST')

  // everything put right
  await state.putSession({ phone: '13900000001', nodeId: 'n1', since: bj('07:00'), address: '127.0.0.1:1', vehicleId: v1, plate: '鲁A12345' }, 60_000)
  const now = new Trip(bj('07:29'), { vehicleId: v1 })
  await state.setLastPosition(now.drive(30_000, 0)[0])
  await store.upsertAnomalies([{ ...anomalies[0], status: 'closed', endedAt: bj('13:00', -1) }])
  const fixed = selfCheck({
    vehicle: { ...vehicle, businessScope: ['3', '6'] },
    now: bj('07:30'),
    session: await state.getSession('13900000001'),
    lastPosition: await state.getLastPosition(v1),
    lastTrip: { waybill: last, track: new Trip(bj('08:00', -1), { vehicleId: v1 }).drive(3 * HOUR, 60) },
    openAnomalies: [],
    nextWaybill: await store.getWaybill('W-NEXT'),
  })
  t.equal(fixed.pass, true, JSON.stringify(fixed.checks.filter((c) => !c.pass)))
  t.equal(fixed.checkedAt, new Date(bj('07:30')).toISOString())
})

t.test('business scope: a class covers its divisions', async (t) => {
  t.ok(scopeCovers(['2'], '2.1'))
  t.ok(scopeCovers(['2.1'], '2.1'))
  t.notOk(scopeCovers(['2.1'], '2.3'))
  t.notOk(scopeCovers(['3'], '6.1'))
  t.ok(scopeCovers(['1.1'], '1.1D'))
})
