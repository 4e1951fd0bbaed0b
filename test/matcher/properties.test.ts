/**
 * Properties over random streams (fast-check): random driving with stops, bursts, drift jumps,
 * gaps delivered late, shuffled retransmissions, waybill changes and ticks. The engine never
 * throws, is deterministic, and its events are a consistent lifecycle per anomaly.
 */
import fc from 'fast-check'
import t from 'tap'
import { transitionWaybill, type AnomalyEvent, type CommittedPosition } from '../../src/domain.js'
import { matcherConfig } from '../../src/matcher/config.js'
import { MatcherEngine } from '../../src/matcher/engine.js'
import { bj, dispatched, MIN, Trip } from './helpers.js'

type Step =
  | { k: 'drive'; min: number; speed: number }
  | { k: 'stop'; min: number }
  | { k: 'gap'; min: number; late: boolean }
  | { k: 'drift' }
  | { k: 'alarm'; bits: number }
  | { k: 'tick' }
  | { k: 'complete' }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ k: fc.constant('drive' as const), min: fc.integer({ min: 1, max: 90 }), speed: fc.integer({ min: 5, max: 130 }) }),
  fc.record({ k: fc.constant('stop' as const), min: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ k: fc.constant('gap' as const), min: fc.integer({ min: 2, max: 90 }), late: fc.boolean() }),
  fc.record({ k: fc.constant('drift' as const) }),
  fc.record({ k: fc.constant('alarm' as const), bits: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('tick' as const) }),
  fc.record({ k: fc.constant('complete' as const) }),
)

/** Plays the steps into an engine; returns every event. */
function play(steps: Step[], shuffleSeed: number): AnomalyEvent[] {
  const events: AnomalyEvent[] = []
  const engine = new MatcherEngine({
    config: matcherConfig({ enabled: { NIGHT_DRIVING_RESTRICTED: true }, nightBans: [{ id: 'n', from: '19:00', to: '06:00' }] }),
    emit: (e) => events.push(e),
    clock: () => 0,
    since: bj('05:00'),
  })
  let w = dispatched(bj('05:00'))
  engine.waybill(w)
  const trip = new Trip(bj('16:00'))
  let held: CommittedPosition[] = []
  let seed = shuffleSeed
  const feed = (ps: CommittedPosition[]) => {
    // occasional neighbour swaps: out-of-order retransmissions
    const out = ps.slice()
    for (let i = 0; i + 1 < out.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      if (seed % 17 === 0) [out[i], out[i + 1]] = [out[i + 1], out[i]]
    }
    for (const p of out) engine.position(p)
    engine.flushLate()
  }
  for (const s of steps) {
    switch (s.k) {
      case 'drive':
        feed(trip.drive(s.min * MIN, s.speed))
        break
      case 'stop':
        feed(trip.stop(s.min * MIN))
        break
      case 'gap': {
        const hidden = trip.drive(s.min * MIN, 50).map((p) => ({ ...p, blindArea: true }))
        if (s.late) held.push(...hidden)
        break
      }
      case 'drift':
        feed([trip.drift(25, 60)])
        break
      case 'alarm':
        trip.alarm = s.bits
        break
      case 'tick':
        engine.tick(trip.t + 25 * MIN)
        if (held.length) {
          feed(held)
          held = []
        }
        break
      case 'complete':
        if (w.status === 'dispatched') {
          w = transitionWaybill(transitionWaybill(w, 'in_transit', trip.t), 'completed', trip.t + 1)
          engine.tick(trip.t + 1)
          engine.waybill(w)
        }
        break
    }
  }
  if (held.length) feed(held)
  engine.tick(trip.t + 48 * 60 * MIN)
  return events
}

t.test('random streams: no throw, deterministic, consistent lifecycles', async (t) => {
  const types = new Set<string>()
  let refuted = 0
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 1e6 }), (steps, seed) => {
      const a = play(steps, seed)
      const b = play(steps, seed)
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('not deterministic')
      const seen = new Map<string, AnomalyEvent['anomaly']>()
      for (const e of a) {
        const prev = seen.get(e.anomaly.id)
        if (!prev && e.event !== 'anomaly.opened') throw new Error(`${e.anomaly.id}: ${e.event} before opened`)
        if (prev && e.event === 'anomaly.opened') throw new Error(`${e.anomaly.id}: opened twice`)
        if (prev && e.anomaly.type !== prev.type) throw new Error(`${e.anomaly.id}: type changed`)
        if (e.event === 'anomaly.closed' && e.anomaly.status !== 'closed') throw new Error(`${e.anomaly.id}: closed event with status open`)
        if (e.anomaly.status === 'closed' && (e.anomaly.endedAt === null || e.anomaly.endedAt < e.anomaly.startedAt))
          throw new Error(`${e.anomaly.id}: bad end ${e.anomaly.endedAt} < ${e.anomaly.startedAt}`)
        if (e.anomaly.status === 'open' && e.anomaly.endedAt !== null) throw new Error(`${e.anomaly.id}: open with an end`)
        if (e.anomaly.lastSeenAt < e.anomaly.startedAt) throw new Error(`${e.anomaly.id}: last seen before start`)
        seen.set(e.anomaly.id, e.anomaly)
        types.add(e.anomaly.type)
        if (e.anomaly.evidence.refuted) refuted++
      }
      return true
    }),
    // a fixed seed: the same runs every time (a failure is reproducible; the coverage check below is stable)
    { numRuns: 80, seed: 20240603 },
  )
  t.ok(types.size >= 7, `the streams exercised ${[...types].join(', ')}`)
  t.comment(`anomaly types seen: ${[...types].join(', ')}; refuted: ${refuted}`)
})
