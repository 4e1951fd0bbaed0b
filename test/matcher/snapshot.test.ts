/**
 * Engine snapshots (issue 19): a vehicle's state written out at any point and restored into a
 * fresh engine gives the same verdicts as one engine that saw everything — fatigue, night
 * fatigue and daily driving runs spanning the cut, point rules in mid-episode, alarms — with no
 * anomaly opened twice and none closed "by restart".
 */
import t from 'tap'
import type { AnomalyEvent, CommittedPosition } from '../../src/domain.js'
import { matcherConfig } from '../../src/matcher/config.js'
import { MatcherEngine } from '../../src/matcher/engine.js'
import { decodeSnapshot, encodeSnapshot } from '../../src/matcher/snapshot.js'
import { bj, dispatched, HOUR, MIN, Trip } from './helpers.js'

const cfg = matcherConfig({})

function engine(events: AnomalyEvent[]) {
  return new MatcherEngine({ config: cfg, emit: (e) => events.push(e), clock: () => 0, since: bj('00:00') })
}

/** A long day: 19:00 → next day 04:00, mostly driving (fatigue, night fatigue, daily), overspeed, an alarm, a rest. */
function longDay(): CommittedPosition[] {
  const trip = new Trip(bj('15:00'), { vehicleId: 7, plate: '鲁A77777' })
  const out: CommittedPosition[] = []
  out.push(...trip.drive(3 * HOUR, 60))
  out.push(...trip.stop(5 * MIN)) // too short to be a rest: the run goes on
  out.push(...trip.drive(90 * MIN, 60)) // → FATIGUE_DRIVING after 4 h
  out.push(...trip.drive(3 * MIN, 110)) // OVERSPEED
  out.push(...trip.drive(40 * MIN, 60))
  trip.alarm = 1 // emergency bit: TERMINAL_ALARM
  out.push(...trip.drive(10 * MIN, 60))
  trip.alarm = 0
  out.push(...trip.stop(30 * MIN)) // a rest: fatigue closes
  out.push(...trip.drive(4 * HOUR + 30 * MIN, 55)) // across midnight: daily driving, night fatigue, fatigue again
  out.push(...trip.stop(25 * MIN))
  return out
}

function finalStates(events: AnomalyEvent[]) {
  const m = new Map<string, AnomalyEvent['anomaly']>()
  for (const e of events) m.set(e.anomaly.id, e.anomaly)
  return m
}

const brief = (a: AnomalyEvent['anomaly']) => ({ id: a.id, type: a.type, status: a.status, startedAt: a.startedAt, endedAt: a.endedAt })

t.test('a snapshot at any point of a long day continues exactly like an engine that saw everything', async (t) => {
  const fixes = longDay()
  const refEvents: AnomalyEvent[] = []
  const ref = engine(refEvents)
  for (const p of fixes) {
    ref.position(p)
    ref.flushLate()
  }
  const expected = [...finalStates(refEvents).values()].map(brief).sort((a, b) => a.id.localeCompare(b.id))
  t.same(
    [...new Set(expected.map((a) => a.type))].sort(),
    ['DAILY_DRIVING_EXCEEDED', 'FATIGUE_DRIVING', 'NIGHT_FATIGUE_DRIVING', 'OVERSPEED', 'RUNNING_WITHOUT_WAYBILL', 'TERMINAL_ALARM'],
    'the scenario exercises the long rules, a point rule and alarms',
  )

  // cut at many points, including inside the overspeed episode, the alarm and the night
  const cuts: number[] = []
  for (let i = 1; i < fixes.length; i += 23) cuts.push(i)
  const overspeedAt = fixes.findIndex((p) => p.speed > 100)
  cuts.push(overspeedAt + 2, fixes.findIndex((p) => p.alarm !== 0) + 3)
  let maxBytes = 0
  for (const cut of cuts) {
    const events: AnomalyEvent[] = []
    const first = engine(events)
    for (const p of fixes.slice(0, cut)) {
      first.position(p)
      first.flushLate()
    }
    const text = encodeSnapshot(first.snapshotVehicle(7)!)
    maxBytes = Math.max(maxBytes, Buffer.byteLength(text))
    const openedBefore = new Set(events.filter((e) => e.event === 'anomaly.opened').map((e) => e.anomaly.id))
    const after: AnomalyEvent[] = []
    const second = engine(after)
    second.restoreVehicle(decodeSnapshot(text)!)
    for (const p of fixes.slice(cut)) {
      second.position(p)
      second.flushLate()
    }
    const got = [...finalStates([...events, ...after]).values()].map(brief).sort((a, b) => a.id.localeCompare(b.id))
    if (JSON.stringify(got) !== JSON.stringify(expected)) t.same(got, expected, `cut at fix ${cut}`)
    const reopened = after.filter((e) => e.event === 'anomaly.opened' && openedBefore.has(e.anomaly.id))
    if (reopened.length) t.fail(`cut at ${cut}: opened again ${reopened.map((e) => e.anomaly.id)}`)
    if (after.some((e) => e.anomaly.evidence.closedBy === 'restart')) t.fail(`cut at ${cut}: closed by restart`)
  }
  t.pass(`${cuts.length} cuts agree; largest snapshot ${maxBytes} B`)
})

t.test('NaN and Infinity survive the encoding; another version is refused', async (t) => {
  const events: AnomalyEvent[] = []
  const e = engine(events)
  const trip = new Trip(bj('08:00'), { vehicleId: 3 })
  for (const p of trip.drive(2 * MIN, 60)) e.position(p)
  const s = e.snapshotVehicle(3)!
  t.ok(Number.isNaN(s.rejT))
  const back = decodeSnapshot(encodeSnapshot(s))!
  t.ok(Number.isNaN(back.rejT) && back.deadline === s.deadline)
  t.same(back, s)
  t.equal(decodeSnapshot(encodeSnapshot({ ...s, version: 999 })), null)
  t.equal(decodeSnapshot('{not json'), null)
  t.equal(e.snapshotVehicle(4), null, 'a vehicle the engine does not follow')
})

t.test('a restored vehicle keeps its waybill cover and its changed-set bookkeeping', async (t) => {
  const events: AnomalyEvent[] = []
  const a = engine(events)
  const w = dispatched(bj('07:00'))
  a.waybill(w, { id: 1, plate: w.plate, plateColor: w.plateColor, enterpriseLicenseNo: null })
  const trip = new Trip(bj('08:00'), { vehicleId: 1 })
  for (const p of trip.drive(30 * MIN, 60)) a.position(p)
  t.same(a.takeChanged(), [1])
  t.same(a.takeChanged(), [], 'cleared')
  const snap = decodeSnapshot(encodeSnapshot(a.snapshotVehicle(1)!))!
  const after: AnomalyEvent[] = []
  const b = engine(after)
  b.waybill(w, { id: 1, plate: w.plate, plateColor: w.plateColor, enterpriseLicenseNo: null })
  b.restoreVehicle(snap)
  for (const p of trip.drive(30 * MIN, 60)) b.position(p)
  t.same(
    after.filter((e) => e.anomaly.type === 'RUNNING_WITHOUT_WAYBILL'),
    [],
    'the waybill still covers the vehicle',
  )
  t.same(b.takeChanged(), [1])
  // an anomaly from the store that the snapshot already follows is not restored a second time
  const open = a.openAnomalies(1)
  b.restore(open)
  t.equal(b.openAnomalies(1).length, open.length)
})

t.test('the DSM fatigue alarms of a run survive the snapshot', async (t) => {
  const trip = new Trip(bj('08:00'), { vehicleId: 5 })
  const before = trip.drive(4 * HOUR, 60)
  before[30].extras = { dsm: { alarmId: 1, flagStatus: 0, alarmType: 1, alarmLevel: 1, fatigueLevel: 5 } } // 08:15
  const a = engine([])
  for (const p of before) a.position(p)
  const snap = decodeSnapshot(encodeSnapshot(a.snapshotVehicle(5)!))!
  t.same(snap.dsmFatigue, [bj('08:15')])
  const after: AnomalyEvent[] = []
  const b = engine(after)
  b.restoreVehicle(snap)
  for (const p of trip.drive(20 * MIN, 60)) b.position(p)
  t.match(
    [...finalStates(after).values()].filter((x) => x.type === 'FATIGUE_DRIVING'),
    [{ status: 'open', evidence: { dsmFatigueAlarms: 1, dsmFatigueLastAt: bj('08:15') } }],
  )
  // a checkpoint written before DSM alarms were kept restores with none
  const { dsmFatigue: _, ...older } = snap
  const c = engine([])
  c.restoreVehicle(older)
  t.same(c.snapshotVehicle(5)!.dsmFatigue, [])
})
