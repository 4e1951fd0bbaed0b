/**
 * The path of a committed batch, in one place.
 *
 *   sources                         ingest queue (src/ingest/queue.ts)       consumers, in this order
 *   ─────────────────────────────   ─────────────────────────────────────    ─────────────────────────────
 *   808 terminals (src/gateway) ─┐  group commit into the store,             1. live state
 *                                ├▶ ack after commit, dedup on vehicle +  ─▶ 2. alarm transitions
 *   809 platforms (src/platform)─┘  device time                              3. active-safety alarms (src/attachments)
 *                                                                            4. matcher (or its publisher)
 *                                                                            5. upward forwarders
 *
 * Every consumer gets each committed batch once, in commit order; the queue counts the rows a
 * consumer holds (its take() promise not yet settled) against its high-water mark, so a slow
 * consumer pauses the sources instead of growing a backlog. A consumer that fails costs the
 * others nothing (the queue isolates it and reports 'consumerError').
 */
import type { CommittedPosition } from './domain.js'
import type { AlarmTransitionWriter } from './gateway/alarm-transitions.js'
import type { CommittedConsumer } from './ingest/queue.js'
import type { MatcherService } from './matcher/service.js'
import type { State } from './state/port.js'

export type { CommittedConsumer }

export interface PipelineParts {
  state: Pick<State, 'setLastPositions'>
  alarmTransitions: Pick<AlarmTransitionWriter, 'add'>
  /** active-safety alarms (src/attachments): anomalies and their 0x9208 attachment requests */
  activeSafety?: CommittedConsumer
  matcher: Pick<MatcherService, 'committedConsumer'>
  /** 809 superior platforms we forward to (lower-platform role), each one consumer */
  forwarders?: readonly CommittedConsumer[]
}

/** The ordered consumers of committed batches. */
export function committedConsumers(parts: PipelineParts): CommittedConsumer[] {
  return [liveState(parts.state), alarmTransitions(parts.alarmTransitions), ...(parts.activeSafety ? [parts.activeSafety] : []), parts.matcher.committedConsumer(), ...(parts.forwarders ?? [])]
}

/** Each vehicle's newest committed position (live views; alarm continuity across reconnects). */
export function liveState(state: Pick<State, 'setLastPositions'>): CommittedConsumer {
  return {
    name: 'live-state',
    take(rows) {
      const newest = new Map<number, CommittedPosition>()
      for (const r of rows) {
        const cur = newest.get(r.vehicleId)
        if (!cur || r.deviceTime > cur.deviceTime) newest.set(r.vehicleId, r)
      }
      return state.setLastPositions([...newest.values()])
    },
  }
}

/** Alarm bits raised / cleared by real-time reports, stored once their positions committed. */
export function alarmTransitions(writer: Pick<AlarmTransitionWriter, 'add'>): CommittedConsumer {
  return {
    name: 'alarm-transitions',
    take(rows) {
      for (const r of rows) if (r.alarmTransition) writer.add(r.alarmTransition)
    },
  }
}
