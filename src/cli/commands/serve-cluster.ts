/**
 * What the primary and the workers of `jt808 serve --workers N` say to each other over the
 * cluster IPC channel:
 * - stop: the primary asks each worker to drain (commit and acknowledge what was received, then
 *   close). A request, not a signal: Ctrl-C sends SIGINT to the whole process group, and a
 *   worker that also got a SIGTERM from the primary took it for a second signal and exited
 *   without draining.
 * - metrics: a scrape reaches one worker (they share the HTTP port); that worker asks the
 *   primary, which gathers every worker's registry with prom-client's AggregatorRegistry
 *   (counters summed, gauges by their `aggregator`) and answers the whole cluster's text.
 * - forward: committed positions a superior platform selects, from any worker to the one worker
 *   that owns the superiors' links (JT/T 809 lower role; src/platform/index.ts).
 */
import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'
import type { CommittedPosition } from '../../domain.js'
import type { PlatformCluster } from '../../platform/index.js'

/** The environment variable by which the primary tells one worker it owns the superiors' links. */
export const FORWARDER_ENV = 'JT808_WORKER_FORWARDER'

type ClusterMessage =
  | { jt808: 'stop' }
  | { jt808: 'forward'; rows: CommittedPosition[] }
  | { jt808: 'metrics-request'; id: number }
  | { jt808: 'metrics-response'; id: number; text?: string; error?: string }

function isClusterMessage(m: unknown): m is ClusterMessage {
  return typeof m === 'object' && m !== null && typeof (m as { jt808?: unknown }).jt808 === 'string'
}

/** How long a worker waits for the cluster's metrics before serving its own (marked as such); the primary gives up on a silent worker after 5 s. */
const METRICS_TIMEOUT_MS = 6000

// ---- primary -----------------------------------------------------------------------------------

/** Primary: answers workers' metrics requests with every worker's metrics aggregated. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isClusterMessage(message) || message.jt808 !== 'metrics-request') return
    const { id } = message
    const answer = (m: ClusterMessage) => {
      if (worker.isConnected()) worker.send(m)
    }
    aggregator.clusterMetrics().then(
      (text) => answer({ jt808: 'metrics-response', id, text }),
      (err: Error) => answer({ jt808: 'metrics-response', id, error: err.message }),
    )
  })
}

/** Primary: rows for the superiors go from any worker to the forwarder (dropped while there is none: its successor reads them from the database). */
export function relayForwarding(forwarder: () => Worker | null): void {
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isClusterMessage(message) || message.jt808 !== 'forward') return
    const f = forwarder()
    // A forwarder killed a moment ago may still look connected: the write fails (EPIPE) and the rows
    // are dropped here — with a callback, not as an 'error' event that would bring the primary down.
    if (f && f !== worker && f.isConnected()) f.send(message, undefined, undefined, () => undefined)
  })
}

/** Primary: asks a worker to drain and stop (SIGTERM when its channel is already gone). */
export function requestStop(worker: Worker): void {
  if (worker.isConnected()) worker.send({ jt808: 'stop' } satisfies ClusterMessage)
  else worker.process.kill('SIGTERM')
}

// ---- worker ------------------------------------------------------------------------------------

/** Worker: its part in forwarding to superior platforms (the primary chose the forwarder). */
export function platformCluster(forwarder: boolean): PlatformCluster {
  return {
    forwarder,
    relay(rows) {
      if (process.send && process.connected) process.send({ jt808: 'forward', rows } satisfies ClusterMessage)
    },
    onRows(handler) {
      process.on('message', (m: unknown) => {
        if (isClusterMessage(m) && m.jt808 === 'forward') handler(m.rows)
      })
    },
  }
}

/** Worker: resolves when the primary asks this worker to stop, or goes away. */
export function stopRequestedByPrimary(): Promise<string> {
  return new Promise((resolve) => {
    process.on('message', (m: unknown) => {
      if (isClusterMessage(m) && m.jt808 === 'stop') resolve('stop requested by the primary')
    })
    cluster.worker?.on('disconnect', () => resolve('primary gone'))
  })
}

/**
 * Worker: `registry` is what the primary gathers from this worker, and its metrics() (what
 * /metrics serves) becomes the whole cluster's, fetched from the primary.
 */
export function aggregateMetricsThroughPrimary(registry: Registry): void {
  // Constructing one installs prom-client's answer to the primary's gathering (in a worker).
  new AggregatorRegistry()
  AggregatorRegistry.setRegistries([registry])
  const local = registry.metrics.bind(registry)
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>()
  let next = 0
  process.on('message', (m: unknown) => {
    if (!isClusterMessage(m) || m.jt808 !== 'metrics-response') return
    const p = pending.get(m.id)
    if (!p) return
    pending.delete(m.id)
    if (m.text !== undefined) p.resolve(m.text)
    else p.reject(new Error(m.error ?? 'no metrics'))
  })
  registry.metrics = async () => {
    if (!process.send || !process.connected) return local()
    const id = next++
    let timer: NodeJS.Timeout | undefined
    try {
      return await new Promise<string>((resolve, reject) => {
        pending.set(id, { resolve, reject })
        timer = setTimeout(() => reject(new Error(`no answer within ${METRICS_TIMEOUT_MS} ms`)), METRICS_TIMEOUT_MS)
        process.send!({ jt808: 'metrics-request', id } satisfies ClusterMessage)
      })
    } catch (err) {
      // Better this worker's figures, said to be partial, than no scrape at all.
      return `# cluster metrics unavailable (${(err as Error).message}): this worker only\n${await local()}`
    } finally {
      clearTimeout(timer)
      pending.delete(id)
    }
  }
}
