/**
 * Late data: blind-area batches (0x0704 type 1) and retransmissions arrive minutes or hours
 * late and out of order. A late fix that fills a gap corrects what the gap produced and never
 * opens a false anomaly.
 */
import t from 'tap'
import { transitionWaybill, type CommittedPosition } from '../../src/domain.js'
import { bj, dispatched, harness, hms, HOUR, MIN, summary, Trip } from './helpers.js'

function asBlind(ps: CommittedPosition[], receivedAt: number): CommittedPosition[] {
  return ps.map((p) => ({ ...p, blindArea: true, sourceMsgId: 0x0704, receivedAt }))
}

/** A trip 08:00–10:30 with the fixes of 09:00–10:00 withheld (the vehicle drove on through the tunnel). */
function tunnelTrip() {
  const trip = new Trip(bj('08:00'))
  const before = trip.drive(HOUR, 60)
  const hidden = trip.drive(HOUR, 60)
  const after = trip.drive(30 * MIN, 60)
  return { before, hidden, after }
}

t.test('a gap filled afterwards by a blind-area batch refutes the absence anomaly it produced', async (t) => {
  const h = harness({ since: bj('07:59') })
  h.engine.waybill(dispatched(bj('07:59')))
  const { before, hidden, after } = tunnelTrip()
  h.feed(before)
  h.engine.tick(bj('09:30'))
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'open', '08:59:30', null]])
  h.feed(after)
  t.same(summary(h.ofType('WAYBILL_WITHOUT_POSITION')), [['WAYBILL_WITHOUT_POSITION', 'closed', '08:59:30', '10:00:00']])
  const eventsBefore = h.events.length
  h.feed(asBlind(hidden, bj('10:31')))
  const w = h.ofType('WAYBILL_WITHOUT_POSITION')
  t.equal(w.length, 1, 'no new anomaly')
  t.equal(w[0].resolvedByLateData, true)
  t.equal(w[0].evidence.refuted, true)
  t.equal(w[0].endedAt, w[0].startedAt, 'it lasted nothing after all')
  const late = h.events.slice(eventsBefore)
  t.same(
    late.map((e) => [e.event, e.anomaly.type]),
    [['anomaly.updated', 'WAYBILL_WITHOUT_POSITION']],
    'one correction, nothing opened',
  )
  t.same(h.ofType('RUNNING_WITHOUT_WAYBILL'), [])
})

t.test('a partial fill shortens the absence to what is still missing', async (t) => {
  const h = harness({ since: bj('07:59') })
  h.engine.waybill(dispatched(bj('07:59')))
  const { before, hidden, after } = tunnelTrip()
  h.feed(before)
  h.engine.tick(bj('09:30'))
  h.feed(after)
  h.feed(
    asBlind(
      hidden.filter((p) => p.deviceTime < bj('09:35')),
      bj('10:31'),
    ),
  ) // 09:00 … 09:34:30
  const w = h.ofType('WAYBILL_WITHOUT_POSITION')
  t.same(summary(w), [['WAYBILL_WITHOUT_POSITION', 'closed', '09:34:30', '10:00:00']])
  t.equal(w[0].resolvedByLateData, true)
  t.equal(w[0].evidence.silentMs, 25.5 * MIN)
  // the rest arrives too: refuted
  h.feed(
    asBlind(
      hidden.filter((p) => p.deviceTime >= bj('09:35')),
      bj('10:32'),
    ),
  )
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION')[0].evidence.refuted, true)
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION').length, 1)
})

t.test('a blind-area batch that arrives before live data resumes refutes the open absence once', async (t) => {
  const h = harness({ since: bj('07:59') })
  h.engine.waybill(dispatched(bj('07:59')))
  const { before, hidden, after } = tunnelTrip()
  h.feed(before)
  h.engine.tick(bj('09:30'))
  h.engine.tick(bj('10:00'))
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION')[0].status, 'open')
  const n = h.events.length
  h.feed(asBlind(hidden, bj('10:00:05'))) // in device-time order, newer than anything seen
  const w = h.ofType('WAYBILL_WITHOUT_POSITION')
  t.equal(w.length, 1)
  t.equal(w[0].status, 'closed')
  t.equal(w[0].resolvedByLateData, true)
  t.equal(w[0].evidence.refuted, true)
  t.same(
    h.events.slice(n).map((e) => e.event),
    ['anomaly.closed'],
    'judged once for the whole batch',
  )
  h.feed(after)
  t.equal(h.ofType('WAYBILL_WITHOUT_POSITION').length, 1)
})

t.test('fatigue that a gap suggested is refuted when the late batch shows a rest in it', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('08:00'))
  const a = trip.drive(2 * HOUR, 60) // 08:00–10:00
  const hidden = [...trip.drive(15 * MIN, 60), ...trip.stop(30 * MIN), ...trip.drive(15 * MIN, 60)] // 10:00–11:00
  const b = trip.drive(HOUR + 30 * MIN, 60) // 11:00–12:30
  h.feed(a)
  h.feed(b) // the hour without data was driven through (≈ 30 km): counts as driving
  t.same(summary(h.ofType('FATIGUE_DRIVING')), [['FATIGUE_DRIVING', 'open', '12:00:00', null]])
  h.feed(asBlind(hidden, bj('12:31')))
  const f = h.ofType('FATIGUE_DRIVING')
  t.equal(f.length, 1)
  t.equal(f[0].status, 'closed')
  t.equal(f[0].evidence.refuted, true)
  t.equal(f[0].resolvedByLateData, true)
  // and the truth carries on: the new run began at 10:45, so fatigue is due at 14:45
  h.feed(trip.drive(2 * HOUR + 30 * MIN, 60)) // 12:30–15:00
  t.same(summary(h.ofType('FATIGUE_DRIVING').filter((a) => !a.evidence.refuted)), [['FATIGUE_DRIVING', 'open', '14:45:00', null]])
})

t.test('out-of-order fixes open nothing and are counted as late', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const ps = new Trip(bj('10:00')).drive(20 * MIN, 60)
  // swap neighbours pairwise: each second fix arrives before the first
  const shuffled: CommittedPosition[] = []
  for (let i = 0; i + 1 < ps.length; i += 2) shuffled.push(ps[i + 1], ps[i])
  h.feed(shuffled)
  t.same(h.events, [])
  t.equal(h.engine.stats().late, ps.length / 2)
  // a retransmission of a fix already seen
  h.feed([ps[ps.length - 1]])
  t.equal(h.engine.stats().duplicates, 1)
})

t.test('a true overspeed inside a blind-area batch is reported as it happened, marked late', async (t) => {
  const h = harness({ since: bj('07:59') })
  h.engine.waybill(dispatched(bj('07:59')))
  const trip = new Trip(bj('08:00'))
  const before = trip.drive(HOUR, 60)
  const hidden = [...trip.drive(20 * MIN, 60), ...trip.drive(2 * MIN, 100), ...trip.drive(38 * MIN, 60)] // 09:20–09:22 at 100
  const after = trip.drive(10 * MIN, 60)
  h.feed(before)
  h.feed(after)
  h.feed(asBlind(hidden, bj('10:11')))
  const os = h.ofType('OVERSPEED')
  t.same(summary(os), [['OVERSPEED', 'closed', '09:20:00', '09:22:00']])
  t.equal(os[0].evidence.lateData, true)
  t.equal(os[0].evidence.maxSpeedKmh, 100)
  t.equal(os[0].waybillNo, 'YD202406030001')
  const w = h.ofType('WAYBILL_WITHOUT_POSITION')
  t.equal(w.length, 1)
  t.equal(w[0].evidence.refuted, true)
})

t.test('a late overspeed next to a live one extends it instead of duplicating it', async (t) => {
  const h = harness()
  h.engine.waybill(dispatched(bj('07:00')))
  const trip = new Trip(bj('10:00'))
  const ps = [...trip.drive(5 * MIN, 60), ...trip.drive(3 * MIN, 95), ...trip.drive(5 * MIN, 60)] // 10:05–10:08 over
  // the first two over-limit fixes arrive late
  const late = ps.filter((p) => p.deviceTime === bj('10:05:00') || p.deviceTime === bj('10:05:30'))
  h.feed(ps.filter((p) => !late.includes(p)))
  t.same(summary(h.ofType('OVERSPEED')), [['OVERSPEED', 'closed', '10:06:00', '10:08:00']])
  h.feed(late)
  const os = h.ofType('OVERSPEED')
  t.same(summary(os), [['OVERSPEED', 'closed', '10:05:00', '10:08:00']])
  t.equal(os[0].evidence.lateData, true)
})

t.test('late data is judged against the waybill as it stood then', async (t) => {
  const h = harness()
  const w = dispatched(bj('07:00'))
  h.engine.waybill(w)
  const trip = new Trip(bj('09:00'))
  const before = trip.drive(HOUR, 60)
  const hidden = trip.drive(HOUR, 60)
  const after = trip.drive(HOUR, 60) // to 12:00
  h.feed(before)
  h.feed(after)
  const done = transitionWaybill(transitionWaybill(w, 'in_transit', bj('09:00')), 'completed', bj('12:00'))
  h.engine.tick(bj('12:00'))
  h.engine.waybill(done)
  h.feed(asBlind(hidden, bj('12:30')))
  t.same(h.ofType('RUNNING_WITHOUT_WAYBILL'), [], 'the waybill was active when those fixes were taken')
})

t.test('fixes older than the late horizon are counted and ignored', async (t) => {
  const h = harness({ config: { lateHorizonMs: HOUR } })
  const trip = new Trip(bj('08:00'))
  const old = trip.drive(10 * MIN, 120)
  trip.t = bj('10:00')
  h.feed(trip.drive(10 * MIN, 60))
  h.feed(asBlind(old, bj('10:10')))
  t.equal(h.engine.stats().tooLate, old.length)
  t.same(h.ofType('OVERSPEED'), [])
  t.equal(hms(bj('10:00')), '10:00:00')
})
