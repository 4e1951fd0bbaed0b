/** The live state's health on a metrics registry (read at scrape time from State.health()). */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { State } from './port.js'

/** Several apps in one process (tests) may share a registry: the first state registered is reported. */
export function registerStateMetrics(registry: Registry, state: State): void {
  if (registry.getSingleMetric('jt808_state_available')) return
  const registers = [registry]
  let droppedSeen = 0
  new Gauge({
    name: 'jt808_state_available',
    help: 'Whether the live state (Redis) answers: 0 while terminals are served without it (writes buffered, cross-node routing lost)',
    registers,
    // under several workers: 0 as soon as one of them is cut off
    aggregator: 'min',
    collect() {
      this.set(state.health().available ? 1 : 0)
    },
  })
  new Gauge({
    name: 'jt808_state_buffered',
    help: 'Writes (stream entries, vehicles\u2019 last positions) waiting for the live state to answer again',
    registers,
    collect() {
      this.set(state.health().buffered)
    },
  })
  new Counter({
    name: 'jt808_state_dropped_total',
    help: 'Buffered writes dropped, oldest first, because the live state stayed unreachable past the buffers\u2019 bound',
    registers,
    collect() {
      const { dropped } = state.health()
      if (dropped > droppedSeen) this.inc(dropped - droppedSeen)
      droppedSeen = dropped
    },
  })
}
