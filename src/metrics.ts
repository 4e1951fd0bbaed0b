/** What every layer's prom-client metrics share. */
import type { Registry } from 'prom-client'

/**
 * A getter for metrics on `registry`: the metric already registered under the name, else the one
 * make() creates and registers. Several gateways, queues or APIs in one process (tests) may share
 * a registry, and prom-client refuses a second metric of the same name.
 */
export function metricGetter(registry: Registry): <T>(name: string, make: () => T) => T {
  return <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make()
}
