/**
 * One scenario per rule of the catalogue: a synthetic trajectory, and the exact anomalies it
 * must produce, with their opening and closing times (Beijing wall-clock in the assertions).
 */
import t from 'tap'
import { ZoneIndex } from '../../src/matcher/zones.js'
import { bj, dispatched, harness, hms, HOUR, KM_PER_DEG, MIN, summary, Trip } from './helpers.js'

t.test('RUNNING_WITHOUT_WAYBILL opens after 5 min of driving without a waybill and closes after a 20 min rest', async (t) => {
  const h = harness()
  const trip = new Trip(bj('08:00'))
  h.feed(trip.drive(30 * MIN, 20)) // 20 km/h: 5 min is 1.67 km, so time decides
  const open = h.ofType('RUNNING_WITHOUT_WAYBILL')
  t.same(summary(open), [['RUNNING_WITHOUT_WAYBILL', 'open', '08:00:00', null]])
  const opened = h.events.find((e) => e.event === 'anomaly.opened')!
  t.equal(opened.anomaly.lastSeenAt, bj('08:05'), 'opened at the first fix with 5 min of driving')
  h.feed(trip.stop(19 * MIN + 30_000))
  t.equal(h.ofType('RUNNING_WITHOUT_WAYBILL')[0].status, 'open', 'a stop shorter than 20 min is not a rest')
  h.feed(trip.stop(MIN))
  t.same(summary(h.ofType('RUNNING_WITHOUT_WAYBILL')), [['RUNNING_WITHOUT_WAYBILL', 'closed', '08:00:00', '08:30:00']])
  t.equal(h.ofType('RUNNING_WITHOUT_WAYBILL')[0].waybillNo, null)
})

t.test('RUNNING_WITHOUT_WAYBILL opens on 2 km before 5 min, and closes when a waybill becomes active', async (t) => {
  const h = harness()
  const trip = new Trip(bj('08:00'))
  h.feed(trip.drive(4 * MIN, 60)) // 0.5 km per sample: 2 km reached at 08:02:00 … 08:02:30
  const a = h.ofType('RUNNING_WITHOUT_WAYBILL')
  t.equal(a.length, 1)
  t.equal(hms(a[0].startedAt), '08:00:00')
  t.ok((a[0].evidence.distanceKm as number) >= 2)
  t.ok((a[0].evidence.drivingMs as number) < 5 * MIN)
  h.engine.waybill(dispatched(bj('08:04')))
  t.same(summary(h.ofType('RUNNING_WITHOUT_WAYBILL')), [['RUNNING_WITHOUT_WAYBILL', 'closed', '08:00:00', '08:04:00']])
  h.feed(trip.drive(30 * MIN, 60))
  t.equal(h.ofType('RUNNING_WITHOUT_WAYBILL').length, 1, 'driving under the waybill opens nothing')
})

t.test('a vehicle with an active waybill (or as trailer) is not running without one', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  h.engine.waybill(dispatched(bj('07:00'), { waybillNo: 'W2', plate: '鲁B00001', trailerPlate: '鲁A9999挂', trailerTransportCertNo: '370100654321' }))
  h.feed(new Trip(bj('08:00')).drive(HOUR, 60))
  h.feed(new Trip(bj('08:00'), { vehicleId: 2, plate: '鲁A9999挂' }).drive(HOUR, 60))
  t.same(h.ofType('RUNNING_WITHOUT_WAYBILL'), [])
})

t.test('WAYBILL_WITHOUT_POSITION: silence of 20 min opens, positions resuming close', async (t) => {
  const h = harness({ since: bj('07:00') })
  h.engine.waybill(dispatched(bj('07:55')))
  const trip = new Trip(bj('08:00'))
  h.feed(trip.drive(HOUR, 60)) // last fix 08:59:30; the 5 min before the first fix are not a silence
  h.engine.tick(bj('09:19:00'))
  t.same(h.ofType('WAYBILL_WITHOUT_POSITION'), [], '19.5 min of silence is not enough')
  h.engine.tick(bj('09:19:30'))
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'open', '08:59:30', null]])
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION')[0].waybillNo, 'YD202406030001')
  trip.silent(HOUR, 60)
  h.feed(trip.drive(10 * MIN, 60))
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'closed', '08:59:30', '10:00:00']])
  t.notOk(h.ofType('WAYBILL_WITHOUT_POSITION')[0].resolvedByLateData)
})

t.test('WAYBILL_WITHOUT_POSITION: none since activation', async (t) => {
  const h = harness({ since: bj('06:00') })
  h.engine.waybill(dispatched(bj('07:00')))
  h.engine.tick(bj('07:19:59'))
  t.same(h.ofType('WAYBILL_WITHOUT_POSITION'), [])
  h.engine.tick(bj('07:20:00'))
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'open', '07:00:00', null]])
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION')[0].plate, '鲁A12345')
  h.feed(new Trip(bj('07:45')).drive(5 * MIN, 40))
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'closed', '07:00:00', '07:45:00']])
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION')[0].vehicleId, 1, 'the first fix tells the vehicle id')
})

t.test('WAYBILL_WITHOUT_POSITION closes when the waybill is completed', async (t) => {
  const h = harness({ since: bj('06:00') })
  const w = dispatched(bj('07:00'))
  h.engine.waybill(w)
  h.engine.tick(bj('07:30'))
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION')[0].status, 'open')
  const { transitionWaybill } = await import('../../src/domain.js')
  const done = transitionWaybill(transitionWaybill(w, 'in_transit', bj('07:40')), 'completed', bj('07:50'))
  h.engine.tick(bj('07:50'))
  h.engine.waybill(done)
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'closed', '07:00:00', '07:50:00']])
})

t.test('OVERSPEED: > 80 km/h for more than 30 s; a single over-limit sample is not enough; events within 1 min merge', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('10:00'))
  h.feed(trip.drive(5 * MIN, 70))
  h.feed(trip.drive(30_000, 95)) // 10:05:00 only: held 30 s, not more
  h.feed(trip.drive(5 * MIN, 70))
  t.same(h.ofType('OVERSPEED'), [], 'one sample over the limit held for exactly 30 s')
  h.feed(trip.drive(MIN, 92)) // 10:10:30, 10:11:00 over; 10:11:30 under → held 60 s
  h.feed(trip.drive(30_000, 70)) // 10:11:30
  t.same(summary(h.ofType('OVERSPEED')), [['OVERSPEED', 'open', '10:10:30', null]])
  h.feed(trip.drive(30_000, 90)) // 10:12:00 — within 1 min of the drop: same event
  h.feed(trip.drive(3 * MIN, 70))
  const os = h.ofType('OVERSPEED')
  t.same(summary(os), [['OVERSPEED', 'closed', '10:10:30', '10:12:30']])
  t.equal(os[0].evidence.maxSpeedKmh, 92)
  t.equal(os[0].evidence.limitKmh, 80)
  t.equal(os[0].severity, 'warning')
  t.equal(os[0].waybillNo, 'YD202406030001')
  t.equal(os[0].enterpriseLicenseNo, '370100000001')
})

t.test('OVERSPEED: a geofence for other roads lowers the limit to 60; far over the limit is critical', async (t) => {
  const lat = 36.65
  const zones = new ZoneIndex([
    {
      id: 'g-other',
      roadClass: 'other',
      polygon: [
        [
          [117.05, lat - 0.05],
          [117.2, lat - 0.05],
          [117.2, lat + 0.05],
          [117.05, lat + 0.05],
          [117.05, lat - 0.05],
        ],
      ],
    },
  ])
  const h = harness({ zones })
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('10:00'), { lat })
  h.feed(trip.drive(10 * MIN, 75)) // enters the zone at 117.05 (~4.47 km, i.e. after ~3.6 min)
  const os = h.ofType('OVERSPEED')
  t.equal(os.length, 1)
  t.equal(os[0].evidence.limitKmh, 60)
  t.equal(os[0].evidence.zoneId, 'g-other')
  t.equal(os[0].status, 'open')
  t.equal(os[0].severity, 'critical', '75 ≥ 60 × 1.2')
  t.equal(hms(os[0].startedAt), '10:04:00', 'the first fix inside the zone (4.46 km in; 75 km/h gives 4.375 km at 10:03:30, 5 km at 10:04)')
})

t.test('FATIGUE_DRIVING: more than 4 h with only short stops; a 20 min rest closes it', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('08:00'))
  h.feed(trip.drive(2 * HOUR, 60))
  h.feed(trip.stop(15 * MIN)) // shorter than a rest: counts as driving
  h.feed(trip.drive(HOUR + 45 * MIN, 60)) // until 12:00
  t.same(h.ofType('FATIGUE_DRIVING'), [], 'exactly 4 h is not more than 4 h')
  h.feed(trip.drive(30 * MIN, 60)) // until 12:30
  t.same(summary(h.ofType('FATIGUE_DRIVING')), [['FATIGUE_DRIVING', 'open', '12:00:00', null]])
  h.feed(trip.stop(25 * MIN))
  const f = h.ofType('FATIGUE_DRIVING')
  t.same(summary(f), [['FATIGUE_DRIVING', 'closed', '12:00:00', '12:30:00']])
  t.equal(f[0].evidence.continuousDrivingMs, 4.5 * HOUR)
  t.equal(f[0].severity, 'critical')
  t.same(h.ofType('DAILY_DRIVING_EXCEEDED'), [])
})

/** The fix carries a DSM alarm (item 0x65) of the given type: 1 fatigue, 2 phone call; flag status 2 ends one. */
function dsm<T extends { extras: Record<string, unknown> }>(p: T, alarmType: number, flagStatus = 0): T {
  p.extras = { ...p.extras, dsm: { alarmId: 1, flagStatus, alarmType, alarmLevel: 1, fatigueLevel: 5 } }
  return p
}

t.test("FATIGUE_DRIVING: the terminal's DSM fatigue alarms of the run are in its evidence, announced at once", async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('05:00')))
  const trip = new Trip(bj('06:00'))
  const before = trip.drive(HOUR, 60)
  dsm(before[10], 1) // an earlier run, ended by the rest below: not this run's
  h.feed(before)
  h.feed(trip.stop(30 * MIN))
  const run = trip.drive(4 * HOUR + 10 * MIN, 60) // 07:30 → 11:40, fatigue from 11:30
  dsm(run[20], 1) // 07:40, before the limit: still this run's fatigue
  dsm(run[40], 2) // a phone call is not fatigue
  dsm(run[60], 1, 2) // the end report of an alarm already counted
  h.feed(run)
  const [open] = h.ofType('FATIGUE_DRIVING')
  t.match(open, { status: 'open', evidence: { dsmFatigueAlarms: 1, dsmFatigueLastAt: bj('07:40') } })
  const emitted = h.events.length
  const more = trip.drive(2 * MIN, 60)
  dsm(more[1], 1) // 11:40:30, the device sees the driver tired again
  h.feed(more)
  const update = h.events.slice(emitted).find((e) => e.anomaly.type === 'FATIGUE_DRIVING' && e.event === 'anomaly.updated')
  t.match(update?.anomaly.evidence, { dsmFatigueAlarms: 2, dsmFatigueLastAt: bj('11:40:30') }, 'announced with the fix, not at the next periodic update')
  t.equal(update?.anomaly.lastSeenAt, bj('11:40:30'))
  h.feed(trip.stop(25 * MIN))
  t.match(h.ofType('FATIGUE_DRIVING'), [{ status: 'closed', evidence: { dsmFatigueAlarms: 2 } }])
})

t.test('FATIGUE_DRIVING: a run without DSM alarms has no DSM evidence; a late DSM alarm still counts', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('08:00'))
  const run = trip.drive(4 * HOUR + 10 * MIN, 60)
  const late = run.splice(100, 1)[0] // 08:50, arrives after the rest
  h.feed(run)
  t.notOk('dsmFatigueAlarms' in h.ofType('FATIGUE_DRIVING')[0].evidence)
  h.feed([dsm(late, 1)])
  t.match(h.ofType('FATIGUE_DRIVING')[0].evidence, { dsmFatigueAlarms: 1, dsmFatigueLastAt: bj('08:50') })
})

t.test('FATIGUE_DRIVING: a stopped vehicle that goes quiet is resting (tick)', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('08:00'))
  h.feed(trip.drive(4 * HOUR + 10 * MIN, 60))
  h.feed(trip.stop(MIN))
  t.equal(h.ofType('FATIGUE_DRIVING')[0].status, 'open')
  h.engine.tick(bj('12:29:00'))
  t.equal(h.ofType('FATIGUE_DRIVING')[0].status, 'open')
  h.engine.tick(bj('12:30:00'))
  t.same(summary(h.ofType('FATIGUE_DRIVING')), [['FATIGUE_DRIVING', 'closed', '12:00:00', '12:10:00']])
})

t.test('NIGHT_FATIGUE_DRIVING: more than 2 h of continuous driving between 22:00 and 06:00', async (t) => {
  const h = harness()
  const trip = new Trip(bj('21:00'))
  h.engine.waybill(dispatched(bj('20:00'), { expectedArrivalDate: '20240604' }))
  h.feed(trip.drive(3 * HOUR, 60)) // to 00:00
  t.same(h.ofType('NIGHT_FATIGUE_DRIVING'), [])
  h.feed(trip.drive(30 * MIN, 60)) // to 00:30
  t.same(summary(h.ofType('NIGHT_FATIGUE_DRIVING')), [['NIGHT_FATIGUE_DRIVING', 'open', '00:00:00', null]])
  h.feed(trip.stop(30 * MIN))
  const n = h.ofType('NIGHT_FATIGUE_DRIVING')
  t.same(summary(n), [['NIGHT_FATIGUE_DRIVING', 'closed', '00:00:00', '00:30:00']])
  t.equal(n[0].evidence.night, '2024-06-03')
  t.equal(n[0].evidence.nightDrivingMs, 2.5 * HOUR)
  t.same(h.ofType('FATIGUE_DRIVING'), [], '3.5 h is not fatigue by day rules')
})

t.test('DAILY_DRIVING_EXCEEDED: more than 8 h of driving in one Beijing day, closed when the day ends', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('05:00')))
  const trip = new Trip(bj('06:00'))
  h.feed(trip.drive(4 * HOUR, 60))
  h.feed(trip.stop(30 * MIN))
  h.feed(trip.drive(4 * HOUR, 60)) // 8 h exactly at 14:30
  h.feed(trip.stop(30 * MIN))
  t.same(h.ofType('DAILY_DRIVING_EXCEEDED'), [])
  h.feed(trip.drive(HOUR, 60)) // 15:00–16:00
  h.feed(trip.stop(30 * MIN))
  t.same(summary(h.ofType('DAILY_DRIVING_EXCEEDED')), [['DAILY_DRIVING_EXCEEDED', 'open', '15:00:00', null]])
  h.engine.tick(bj('23:59:00'))
  t.equal(h.ofType('DAILY_DRIVING_EXCEEDED')[0].status, 'open')
  h.engine.tick(bj('00:00:01', 1))
  const d = h.ofType('DAILY_DRIVING_EXCEEDED')
  t.same(summary(d), [['DAILY_DRIVING_EXCEEDED', 'closed', '15:00:00', '16:00:00']])
  t.equal(d[0].evidence.day, '2024-06-03')
  t.equal(d[0].evidence.drivingMs, 9 * HOUR)
  t.same(h.ofType('FATIGUE_DRIVING'), [])
})

t.test('DRIVER_NOT_ON_WAYBILL: a card that is neither the driver nor the escort', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  h.feed(new Trip(bj('08:00')).drive(5 * MIN, 40))
  const card = (status: number, q: string | null, time: number) =>
    h.engine.driverCard({ vehicleId: 1, phone: '13900000001', status, time, readResult: status === 1 ? 0 : null, driverName: 'x', qualificationNo: q, issuer: null, validUntil: null, idNumber: null })
  card(1, '370102198001011234', bj('08:10')) // the driver
  card(2, null, bj('08:20'))
  card(1, '370102198502025678', bj('08:21')) // the escort
  card(2, null, bj('08:22'))
  t.same(h.ofType('DRIVER_NOT_ON_WAYBILL'), [])
  card(1, '999999999999999999', bj('09:00'))
  t.same(summary(h.ofType('DRIVER_NOT_ON_WAYBILL')), [['DRIVER_NOT_ON_WAYBILL', 'open', '09:00:00', null]])
  card(2, null, bj('09:30'))
  const d = h.ofType('DRIVER_NOT_ON_WAYBILL')
  t.same(summary(d), [['DRIVER_NOT_ON_WAYBILL', 'closed', '09:00:00', '09:30:00']])
  t.equal((d[0].evidence.card as { qualificationNo: string }).qualificationNo, '999999999999999999')
  t.equal(d[0].waybillNo, 'YD202406030001')
})

t.test('DRIVER_NOT_ON_WAYBILL: a card in before the waybill is dispatched is judged when it becomes active', async (t) => {
  const h = harness()
  h.feed(new Trip(bj('06:00')).stop(5 * MIN))
  h.engine.driverCard({ vehicleId: 1, phone: '13900000001', status: 1, time: bj('06:01'), readResult: 0, driverName: 'x', qualificationNo: 'Q1', issuer: null, validUntil: null, idNumber: null })
  t.same(h.ofType('DRIVER_NOT_ON_WAYBILL'), [], 'no waybill: nothing to compare with')
  h.engine.tick(bj('07:00'))
  h.engine.waybill(dispatched(bj('07:00')))
  t.same(summary(h.ofType('DRIVER_NOT_ON_WAYBILL')), [['DRIVER_NOT_ON_WAYBILL', 'open', '07:00:00', null]])
})

t.test('ROUTE_DEVIATION: more than corridorKm off the planned route for more than 5 min', async (t) => {
  const h = harness()
  const lat = 36.65
  const cornerLon = 117.1
  h.engine.waybill(
    dispatched(bj('07:00'), {
      plannedRoute: {
        type: 'LineString',
        coordinates: [
          [117.0, lat],
          [cornerLon, lat],
          [cornerLon, lat + 0.5],
        ],
      },
      corridorKm: 2.2,
    }),
  )
  const trip = new Trip(bj('10:00'), { lat })
  // to the corner: (0.1° of longitude at 36.65°) / 0.5 km per sample
  const kmToCorner = 0.1 * KM_PER_DEG * Math.cos((lat * Math.PI) / 180)
  const toCorner = Math.round((kmToCorner / 0.5) * 30_000)
  const atCorner = bj('10:00') + toCorner
  h.feed(trip.drive(toCorner, 60))
  t.ok(Math.abs(trip.lon - cornerLon) < 0.001)
  h.feed(trip.drive(10 * MIN, 60)) // straight on: 2.5 km off at +150 s
  const r = h.ofType('ROUTE_DEVIATION')
  t.equal(r.length, 1)
  t.equal(r[0].startedAt, atCorner + 150_000)
  t.equal(r[0].status, 'open')
  t.equal(h.events.find((e) => e.event === 'anomaly.opened' && e.anomaly.type === 'ROUTE_DEVIATION')!.anomaly.lastSeenAt, atCorner + 150_000 + 330_000)
  trip.heading = 270
  h.feed(trip.drive(10 * MIN, 60)) // back: inside again at 2.0 km, 16 samples later
  const closed = h.ofType('ROUTE_DEVIATION')
  t.equal(closed[0].status, 'closed')
  t.equal(closed[0].endedAt, atCorner + 600_000 + 16 * 30_000)
  t.ok((closed[0].evidence.maxDistanceKm as number) > 9.9)
})

t.test('POSITION_DRIFT: a jump beyond 160 km/h is marked invalid and reported; it does not feed other rules', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('10:00'))
  h.feed(trip.drive(5 * MIN, 60))
  const bad = trip.drift(20, 60) // 20 km sideways in 30 s
  h.feed([bad])
  h.feed(trip.drive(5 * MIN, 60))
  const d = h.ofType('POSITION_DRIFT')
  t.same(summary(d), [['POSITION_DRIFT', 'closed', '10:05:00', '10:05:30']])
  t.ok((d[0].evidence.impliedSpeedKmh as number) > 2000)
  t.equal(d[0].severity, 'info')
  t.same(h.ofType('OVERSPEED'), [])
  t.equal(h.engine.stats().drift, 1)
})

t.test('POSITION_DRIFT: when the anchor itself was bad, agreeing fixes take over', async (t) => {
  const h = harness()
  const trip = new Trip(bj('10:00'))
  h.engine.waybill(dispatched(bj('07:00')))
  h.feed(trip.drive(MIN, 60))
  const bad = trip.drift(30, 60) // accepted as the first fix of a new vehicle? no: a jump from the anchor
  h.feed([bad])
  // the vehicle "really" continues 30 km away from the old track: the old anchor is the outlier
  const far = new Trip(bad.deviceTime + 30_000, { lon: bad.longitude, lat: bad.latitude })
  h.feed(far.drive(3 * MIN, 60))
  const d = h.ofType('POSITION_DRIFT')
  t.equal(d.length, 1)
  t.equal(d[0].status, 'closed')
  t.equal(d[0].evidence.reanchored, true)
  t.equal(h.engine.stats().drift, 3, 'rejected until three fixes agreed')
})

t.test('TERMINAL_ALARM: opens per bit, closes when the bit clears or the platform confirms', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('10:00'))
  h.feed(trip.drive(MIN, 40))
  trip.alarm = 1 // emergency
  h.feed(trip.drive(5 * MIN, 40)) // 10:01 … 10:05:30
  trip.alarm = 0
  h.feed(trip.drive(MIN, 40)) // cleared at 10:06
  const a = h.ofType('TERMINAL_ALARM')
  t.same(summary(a), [['TERMINAL_ALARM', 'closed', '10:01:00', '10:06:00']])
  t.equal(a[0].evidence.bit, 0)
  t.equal(a[0].evidence.name, 'emergency')
  t.equal(a[0].evidence.closedBy, 'cleared')
  t.equal(a[0].severity, 'critical')

  trip.alarm = 1 << 20 // in/out area: platform-confirmed
  h.feed(trip.drive(2 * MIN, 40)) // raised 10:07
  h.engine.alarmConfirmed(1, 1 << 20, bj('10:08:10'))
  h.feed(trip.drive(2 * MIN, 40)) // still set: no reopening
  trip.alarm = 0
  h.feed(trip.drive(MIN, 40)) // clears 10:11
  trip.alarm = 1 << 20
  h.feed(trip.drive(MIN, 40)) // raised again 10:12
  const all = h.ofType('TERMINAL_ALARM')
  t.same(summary(all), [
    ['TERMINAL_ALARM', 'closed', '10:01:00', '10:06:00'],
    ['TERMINAL_ALARM', 'closed', '10:07:00', '10:08:10'],
    ['TERMINAL_ALARM', 'open', '10:12:00', null],
  ])
  t.equal(all[1].evidence.closedBy, 'platform')
  t.equal(all[1].severity, 'warning')
})

t.test('NIGHT_DRIVING_RESTRICTED: off by default; a configured 19:00–06:00 ban', async (t) => {
  const trip = () => new Trip(bj('18:50'))
  const off = harness()
  off.feed(trip().drive(40 * MIN, 50))
  t.same(off.ofType('NIGHT_DRIVING_RESTRICTED'), [])

  const h = harness({ config: { enabled: { NIGHT_DRIVING_RESTRICTED: true }, nightBans: [{ id: 'shandong-highway', from: '19:00', to: '06:00' }] } })
  h.engine.waybill(dispatched(bj('07:00')))
  const tr = trip()
  h.feed(tr.drive(40 * MIN, 50)) // 18:50–19:30
  t.same(summary(h.ofType('NIGHT_DRIVING_RESTRICTED')), [['NIGHT_DRIVING_RESTRICTED', 'open', '19:00:00', null]])
  h.feed(tr.stop(5 * MIN))
  const n = h.ofType('NIGHT_DRIVING_RESTRICTED')
  t.same(summary(n), [['NIGHT_DRIVING_RESTRICTED', 'closed', '19:00:00', '19:30:00']])
  t.equal(n[0].evidence.window, 'shandong-highway')
})

t.test('invalid fixes (docs/rules.md validity) are counted and ignored', async (t) => {
  const h = harness()
  const trip = new Trip(bj('10:00'))
  const ps = trip.drive(5 * MIN, 60)
  ps[3] = { ...ps[3], speed: 170 }
  ps[4] = { ...ps[4], longitude: 0, latitude: 0 }
  ps[5] = { ...ps[5], deviceTime: ps[5].receivedAt + 10 * MIN }
  h.feed(ps)
  t.equal(h.engine.stats().invalid, 3)
  t.same(h.ofType('OVERSPEED'), [])
  t.same(h.ofType('POSITION_DRIFT'), [])
})

t.test('activation windows at Beijing day boundaries, as the engine sees them', async (t) => {
  // dispatched the evening before the loading date: active only from 00:00 Beijing time
  const h = harness()
  h.engine.waybill(dispatched(bj('20:00', -1)))
  const trip = new Trip(bj('23:50', -1))
  h.feed(trip.drive(30 * MIN, 40)) // 23:50 → 00:20
  t.same(summary(h.ofType('RUNNING_WITHOUT_WAYBILL')), [['RUNNING_WITHOUT_WAYBILL', 'closed', '23:50:00', '00:00:00']])
  // expected arrival 20240603: active until 24:00, then running without a waybill again
  h.feed(trip.drive(24 * HOUR - 30 * MIN, 0))
  const late = new Trip(bj('23:50'), { lon: trip.lon, lat: trip.lat })
  h.feed(late.drive(20 * MIN, 40)) // 23:50 → 00:10 on June 4
  const rww = h.ofType('RUNNING_WITHOUT_WAYBILL')
  t.same(summary(rww), [
    ['RUNNING_WITHOUT_WAYBILL', 'closed', '23:50:00', '00:00:00'],
    ['RUNNING_WITHOUT_WAYBILL', 'open', '00:00:00', null],
  ])
  t.equal(rww[1].startedAt, bj('00:00', 1))

  // a grace of 1 h widens both ends
  const g = harness({ config: { waybillGraceMs: HOUR } })
  g.engine.waybill(dispatched(bj('20:00', -1)))
  g.feed(new Trip(bj('23:50', -1)).drive(30 * MIN, 40))
  t.same(g.ofType('RUNNING_WITHOUT_WAYBILL'), [])
})
