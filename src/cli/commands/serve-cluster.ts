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
 * - platform calls: each worker says which lower platforms are logged in to it (platform-held);
 *   an action toward a platform whose link another worker holds (查岗, 督办, a command to a
 *   vehicle, a waybill request, the answer to a superior's 查岗) goes to the primary
 *   (platform-call), which hands it to the holder (platform-run, naming the platform it picked)
 *   and passes the holder's answer back (platform-answer). No holder: answered not-held at once;
 *   a holder that dies with calls in hand: they are answered unreachable (src/platform/cluster.ts).
 *   A platform held by a worker that logs in on another: the first is told its session is stale
 *   (platform-superseded).
 * - listener copies: a worker sends its terminal port's listening handle (listener-copies) and the
 *   primary sends it back as many times as asked (listener-copy), then says it is done
 *   (listener-copies-done): each passage is a new descriptor of the same socket, one more accept
 *   lane for the worker (src/gateway/accept-lanes.ts). Needs the kernel to spread connections
 *   (cluster.SCHED_NONE): under round-robin a worker holds no descriptor to send.
 */
import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'
import type { CommittedPosition } from '../../domain.js'
import { isListeningHandle, type ListenerCopies, type ListeningHandle } from '../../gateway/index.js'
import type { CallAnswer, PlatformCall, PlatformCluster, PlatformHolder } from '../../platform/index.js'

/** The environment variable by which the primary tells one worker it owns the superiors' links. */
export const FORWARDER_ENV = 'JT808_WORKER_FORWARDER'

type ClusterMessage =
  | { jt808: 'stop' }
  | { jt808: 'forward'; rows: CommittedPosition[] }
  | { jt808: 'metrics-request'; id: number }
  | { jt808: 'metrics-response'; id: number; text?: string; error?: string }
  | { jt808: 'platform-held'; platformId: number; held: boolean }
  | { jt808: 'platform-call'; id: number; to: PlatformHolder; call: PlatformCall }
  | { jt808: 'platform-run'; id: number; from: number; platformId: number | null; call: PlatformCall }
  | { jt808: 'platform-answer'; id: number; from: number; answer: CallAnswer }
  | { jt808: 'platform-superseded'; platformId: number }
  | { jt808: 'listener-copies'; count: number }
  | { jt808: 'listener-copy' }
  | { jt808: 'listener-copies-done' }

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

/**
 * Primary: which worker holds each lower platform's link, and the platform calls between workers.
 * A platform that logs in again on another worker (its old link not yet found dead) is held by the
 * latest login; the worker with the older session is told to end it.
 */
export function routePlatformCalls(forwarder: () => Worker | null): void {
  const holders = new Map<number, Worker[]>()
  /** calls handed to a holder, by requester and call id: answered unreachable if the holder exits */
  const inHand = new Map<string, { from: Worker; id: number; to: Worker }>()
  const answer = (to: Worker, id: number, a: CallAnswer) => {
    if (to.isConnected()) to.send({ jt808: 'platform-answer', id, from: to.id, answer: a } satisfies ClusterMessage, undefined, undefined, () => undefined)
  }
  const drop = (platformId: number, w: Worker) => {
    const list = holders.get(platformId)?.filter((x) => x !== w)
    if (list?.length) holders.set(platformId, list)
    else holders.delete(platformId)
  }
  const holder = (to: PlatformHolder): { worker: Worker; platformId: number | null } | null => {
    if ('superiors' in to) {
      const f = forwarder()
      return f?.isConnected() ? { worker: f, platformId: null } : null
    }
    for (const platformId of to.lower) {
      const w = holders
        .get(platformId)
        ?.filter((x) => x.isConnected())
        .at(-1)
      if (w) return { worker: w, platformId }
    }
    return null
  }
  cluster.on('message', (worker: Worker, m: unknown) => {
    if (!isClusterMessage(m)) return
    if (m.jt808 === 'platform-held') {
      drop(m.platformId, worker)
      if (!m.held) return
      for (const w of holders.get(m.platformId) ?? []) {
        if (w.isConnected()) w.send({ jt808: 'platform-superseded', platformId: m.platformId } satisfies ClusterMessage, undefined, undefined, () => undefined)
      }
      holders.set(m.platformId, [...(holders.get(m.platformId) ?? []), worker])
    } else if (m.jt808 === 'platform-call') {
      const h = holder(m.to)
      if (!h) return answer(worker, m.id, { ok: false, reason: 'not-held' })
      const key = `${worker.id}:${m.id}`
      inHand.set(key, { from: worker, id: m.id, to: h.worker })
      h.worker.send({ jt808: 'platform-run', id: m.id, from: worker.id, platformId: h.platformId, call: m.call } satisfies ClusterMessage, undefined, undefined, (err) => {
        if (!err || !inHand.delete(key)) return
        answer(worker, m.id, { ok: false, reason: 'unreachable' })
      })
    } else if (m.jt808 === 'platform-answer') {
      const key = `${m.from}:${m.id}`
      const call = inHand.get(key)
      if (!call || call.to !== worker) return
      inHand.delete(key)
      answer(call.from, m.id, m.answer)
    }
  })
  cluster.on('exit', (worker: Worker) => {
    for (const [platformId, list] of holders) if (list.includes(worker)) drop(platformId, worker)
    for (const [key, call] of inHand) {
      if (call.from === worker) inHand.delete(key)
      else if (call.to === worker) {
        inHand.delete(key)
        answer(call.from, call.id, { ok: false, reason: 'unreachable' })
      }
    }
  })
}

/** Primary: a worker's listening handle sent back to it `count` times (a new descriptor each time). */
export function serveListenerCopies(): void {
  cluster.on('message', (worker: Worker, m: unknown, handle: unknown) => {
    if (!isClusterMessage(m) || m.jt808 !== 'listener-copies') return
    void (async () => {
      const send = (msg: ClusterMessage, h?: ListeningHandle) =>
        new Promise<boolean>((resolve) => {
          if (!worker.isConnected()) return resolve(false)
          // handles queue behind each other's acknowledgement: one in flight at a time
          worker.send(msg, h as never, undefined, (err) => resolve(!err))
        })
      if (isListeningHandle(handle)) {
        for (let i = 0; i < Math.min(m.count, 255); i++) if (!(await send({ jt808: 'listener-copy' }, handle))) break
        // the primary's own descriptor: it never listens on it
        handle.close()
      }
      await send({ jt808: 'listener-copies-done' })
    })()
  })
}

/** Primary: asks a worker to drain and stop (SIGTERM when its channel is already gone). */
export function requestStop(worker: Worker): void {
  if (worker.isConnected()) worker.send({ jt808: 'stop' } satisfies ClusterMessage)
  else worker.process.kill('SIGTERM')
}

// ---- worker ------------------------------------------------------------------------------------

/** Worker: its part in forwarding to superior platforms (the primary chose the forwarder) and in the platform calls. */
export function platformCluster(forwarder: boolean): PlatformCluster {
  const send = (m: ClusterMessage, onError?: () => void): void => {
    if (!process.send || !process.connected) return onError?.()
    process.send(m, undefined, undefined, (err: Error | null) => {
      if (err) onError?.()
    })
  }
  const waiting = new Map<number, (a: CallAnswer) => void>()
  let next = 0
  process.on('message', (m: unknown) => {
    if (!isClusterMessage(m) || m.jt808 !== 'platform-answer') return
    waiting.get(m.id)?.(m.answer)
  })
  return {
    forwarder,
    relay(rows) {
      send({ jt808: 'forward', rows })
    },
    onRows(handler) {
      process.on('message', (m: unknown) => {
        if (isClusterMessage(m) && m.jt808 === 'forward') handler(m.rows)
      })
    },
    holding(platformId, held) {
      send({ jt808: 'platform-held', platformId, held })
    },
    call(to, call, timeoutMs) {
      const id = next++
      return new Promise((resolve) => {
        const timer = setTimeout(() => done({ ok: false, reason: 'unreachable' }), timeoutMs)
        const done = (a: CallAnswer) => {
          if (!waiting.delete(id)) return
          clearTimeout(timer)
          // the holder's answer to this call: the shape its op gives (src/platform/index.ts run())
          resolve(a as Parameters<typeof resolve>[0])
        }
        waiting.set(id, done)
        send({ jt808: 'platform-call', id, to, call }, () => done({ ok: false, reason: 'unreachable' }))
      })
    },
    onSuperseded(handler) {
      process.on('message', (m: unknown) => {
        if (isClusterMessage(m) && m.jt808 === 'platform-superseded') handler(m.platformId)
      })
    },
    onCall(handler) {
      process.on('message', (m: unknown) => {
        if (!isClusterMessage(m) || m.jt808 !== 'platform-run') return
        const { id, from } = m
        void handler(m.call, m.platformId).then(
          (value) => send({ jt808: 'platform-answer', id, from, answer: { ok: true, value: plainJson(value) } }),
          (err: unknown) => send({ jt808: 'platform-answer', id, from, answer: { ok: false, reason: 'failed', message: (err as Error)?.message ?? String(err) } }),
        )
      })
    },
  }
}

/** What crosses the IPC channel is JSON: protocol bodies may hold bigints (as decimal text) and bytes (as hex). */
function plainJson(value: unknown): unknown {
  if (value === undefined) return null
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString()
      if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return Buffer.from((v as { data: number[] }).data).toString('hex')
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
      return v
    }),
  )
}

/** How long a worker waits for the primary's copies of its listening socket before serving with what it has. */
const COPIES_TIMEOUT_MS = 10_000

/** Worker: more descriptors of a listening socket, through the primary (serveListenerCopies). */
export const listenerCopiesThroughPrimary: ListenerCopies = (handle, count) =>
  new Promise((resolve) => {
    const copies: ListeningHandle[] = []
    const done = () => {
      clearTimeout(timer)
      process.off('message', onMessage)
      resolve(copies)
    }
    const onMessage = (m: unknown, h: unknown) => {
      if (!isClusterMessage(m)) return
      if (m.jt808 === 'listener-copy' && isListeningHandle(h)) copies.push(h)
      else if (m.jt808 === 'listener-copies-done') done()
    }
    const timer = setTimeout(done, COPIES_TIMEOUT_MS)
    if (!process.send || !process.connected) return done()
    process.on('message', onMessage)
    process.send({ jt808: 'listener-copies', count } satisfies ClusterMessage, handle as never, undefined, (err: Error | null) => {
      if (err) done()
    })
  })

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
