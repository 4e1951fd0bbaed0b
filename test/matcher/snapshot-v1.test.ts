/**
 * Checkpoints written before the point rules became a list (SNAPSHOT_VERSION 1: one named field
 * per rule) still restore: the fixture was written by the engine at commit 836e094 in the middle
 * of an overspeed, a route deviation, a night-ban episode and a terminal alarm, all open; the
 * engine of today continues from it exactly like one that saw everything.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import type { AnomalyEvent, CommittedPosition } from '../../src/domain.js'
import { matcherConfig } from '../../src/matcher/config.js'
import { MatcherEngine } from '../../src/matcher/engine.js'
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_VERSION } from '../../src/matcher/snapshot.js'
import { bj, dispatched, KM_PER_DEG, MIN, Trip } from './helpers.js'

export const cfg = matcherConfig({
  enabled: { NIGHT_DRIVING_RESTRICTED: true },
  nightBans: [{ id: 'morning', from: '10:00', to: '12:00' }],
})

export const LAT = 36.65
export const waybill = () =>
  dispatched(bj('07:00'), {
    plate: '鲁A99999',
    plannedRoute: {
      type: 'LineString',
      coordinates: [
        [117.0, LAT],
        [117.1, LAT],
        [117.1, LAT + 0.5],
      ],
    },
    corridorKm: 2.2,
  })

/** Fixes before the cut (everything open at its end) and after it (everything ends). */
export function scenario(): { before: CommittedPosition[]; after: CommittedPosition[] } {
  const trip = new Trip(bj('10:00'), { vehicleId: 9, plate: '鲁A99999', lat: LAT })
  const toCorner = Math.round(((0.1 * KM_PER_DEG * Math.cos((LAT * Math.PI) / 180)) / 0.5) * 30_000)
  const before = [...trip.drive(toCorner, 60), ...trip.drive(8 * MIN, 60)]
  trip.alarm = 1
  before.push(...trip.drive(3 * MIN, 110))
  trip.heading = 270
  const after = [...trip.drive(2 * MIN, 110)]
  trip.alarm = 0
  after.push(...trip.drive(12 * MIN, 60), ...trip.stop(10 * MIN))
  return { before, after }
}

export function engine(events: AnomalyEvent[]): MatcherEngine {
  const e = new MatcherEngine({ config: cfg, emit: (x) => events.push(x), clock: () => 0, since: bj('00:00') })
  e.waybill(waybill(), { id: 9, plate: '鲁A99999', plateColor: 2, enterpriseLicenseNo: null })
  return e
}

const final = (events: AnomalyEvent[]) => {
  const m = new Map<string, AnomalyEvent['anomaly']>()
  for (const e of events) m.set(e.anomaly.id, e.anomaly)
  return [...m.values()].map((a) => ({ id: a.id, type: a.type, status: a.status, startedAt: a.startedAt, endedAt: a.endedAt })).sort((a, b) => a.id.localeCompare(b.id))
}

t.test('a version-1 checkpoint taken mid-episode restores and continues like an engine that saw everything', async (t) => {
  const { before, after } = scenario()
  const refEvents: AnomalyEvent[] = []
  const ref = engine(refEvents)
  for (const p of [...before, ...after]) {
    ref.position(p)
    ref.flushLate()
  }
  const expected = final(refEvents)
  t.same(
    [...new Set(expected.map((a) => a.type))].sort(),
    ['NIGHT_DRIVING_RESTRICTED', 'OVERSPEED', 'ROUTE_DEVIATION', 'TERMINAL_ALARM', 'WAYBILL_WITHOUT_POSITION'],
    'the scenario exercises four point rules (and the waybill silence before the first fix)',
  )

  // what the old engine emitted up to the cut, and its checkpoint there
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/snapshot-v1.json', import.meta.url), 'utf8')) as { state: string; events: AnomalyEvent[] }
  const old = JSON.parse(fixture.state) as Record<string, unknown>
  t.equal(old.version, 1)
  t.ok(old.overspeed && old.route && old.alarms && Array.isArray(old.nightBans), 'the old checkpoint holds the four rules in its named fields')
  const openAtCut = final(fixture.events)
    .filter((a) => a.status === 'open')
    .map((a) => a.type)
    .sort()
  t.same(openAtCut, ['NIGHT_DRIVING_RESTRICTED', 'OVERSPEED', 'ROUTE_DEVIATION', 'TERMINAL_ALARM'], 'four point-rule anomalies open at the cut')

  const s = decodeSnapshot(fixture.state)
  t.ok(s, 'decoded')
  t.equal(s!.version, SNAPSHOT_VERSION)
  t.same(Object.keys(s!.rules).sort(), ['NIGHT_DRIVING_RESTRICTED', 'OVERSPEED', 'ROUTE_DEVIATION', 'TERMINAL_ALARM'])
  const events: AnomalyEvent[] = []
  const next = engine(events)
  next.restoreVehicle(s!)
  for (const p of after) {
    next.position(p)
    next.flushLate()
  }
  t.same(final([...fixture.events, ...events]), expected, 'the same anomalies, opened once, ended where the reference ends them')
  t.notOk(
    events.some((e) => e.event === 'anomaly.opened'),
    'nothing opened twice',
  )
  t.notOk(
    events.some((e) => e.anomaly.evidence.closedBy === 'restart'),
    'nothing closed by restart',
  )

  // written again it is version 2, and reads back the same
  const again = next.snapshotVehicle(9)!
  t.same(decodeSnapshot(encodeSnapshot(again)), again)
})

t.test('a checkpoint of an unknown version is discarded, not half-read', async (t) => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/snapshot-v1.json', import.meta.url), 'utf8')) as { state: string }
  const old = JSON.parse(fixture.state) as Record<string, unknown>
  t.equal(decodeSnapshot(JSON.stringify({ ...old, version: 3 })), null)
  t.equal(decodeSnapshot(JSON.stringify({ ...old, version: 2 })), null, 'version 2 without its rules record')
})
