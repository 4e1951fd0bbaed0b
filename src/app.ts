/**
 * The composition root: config → store → state → ingest → gateway (→ matcher, API); the path of
 * a committed batch is declared in src/pipeline.ts.
 * `jt808 serve` runs one of these per process; tests run several in one process (port 0,
 * injected store/state, a fresh metrics registry each).
 */
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import { Registry, collectDefaultMetrics } from 'prom-client'
import type { Config } from './config/index.js'
import { startApi } from './api/index.js'
import { createAttachments, type Attachments } from './attachments/index.js'
import { createGateway, type Gateway, type ListenerCopies } from './gateway/index.js'
import { IngestQueue, ingestOptionsFromConfig } from './ingest/queue.js'
import { startMatcher, type MatcherService } from './matcher/service.js'
import { committedConsumers } from './pipeline.js'
import { Platforms, type PlatformCluster } from './platform/index.js'
import { openState, type OpenStateOptions } from './state/index.js'
import { registerStateMetrics } from './state/metrics.js'
import type { State } from './state/port.js'
import { openStore, startStoreUpkeep, type OpenedStore, type OpenStoreOptions, type StoreUpkeep } from './store/index.js'
import type { Store } from './store/port.js'

export interface AppOverrides {
  /** a worker of `serve --workers N`: its part in forwarding to superior platforms */
  platformCluster?: PlatformCluster
  /** a worker of `serve --workers N`: more descriptors of the terminal port (accept lanes) */
  listenerCopies?: ListenerCopies
  /** Use this store instead of opening one (the caller closes it). */
  store?: Store
  storeOptions?: OpenStoreOptions
  /** Use this state instead of opening one (the caller closes it). */
  state?: State
  stateOptions?: OpenStateOptions
  logger?: Logger
  /** Metrics registry (default: a new one with the process metrics). */
  registry?: Registry
  now?: () => number
  /** Partition upkeep and retention (default true; a cluster runs it once, in the primary). */
  upkeep?: boolean
}

export interface App {
  readonly config: Config
  readonly store: Store
  readonly state: State
  readonly ingest: IngestQueue
  readonly gateway: Gateway
  readonly matcher: MatcherService
  /** active-safety attachment server and alarms (src/attachments) */
  readonly attachments: Attachments
  /** JT/T 809 links: lower platforms logging in to us, superiors we forward to */
  readonly platforms: Platforms
  readonly registry: Registry
  readonly logger: Logger
  /** where terminals connect */
  readonly tcp: AddressInfo
  /** where the REST API listens */
  readonly http: AddressInfo
  /** Graceful: stop reading, commit what was received (its acks go out), close connections, then the rest. */
  close(): Promise<void>
}

export function createLogger(config: Pick<Config, 'logLevel' | 'nodeId'>): Logger {
  return pino({ level: config.logLevel, base: { node: config.nodeId } })
}

export async function startApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config)
  const registry = overrides.registry ?? newRegistry()
  const cleanups: Array<() => Promise<void>> = []
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => logger.error({ err: e }, 'shutdown step failed'))
  }
  try {
    const store = overrides.store ?? (await openStore(config, { copyInWorker: true, ...overrides.storeOptions, onDatabaseError: (err) => logger.error({ err }, 'database connection error') }))
    if (!overrides.store) cleanups.push(() => store.close())

    let upkeep: StoreUpkeep | null = null
    if (overrides.upkeep !== false) {
      upkeep = startStoreUpkeep(store, {
        now: overrides.now,
        onError: (err) => logger.error({ err }, 'partition/retention upkeep failed'),
        onDone: (created, dropped) => {
          if (created.length || dropped.length) logger.info({ created, dropped }, 'storage upkeep')
        },
      })
      cleanups.push(async () => upkeep?.stop())
    }

    const state = overrides.state ?? (await openState(config, { ...overrides.stateOptions, onError: (err) => logger.error({ err }, 'redis connection error') }))
    if (!overrides.state) cleanups.push(() => state.close())
    registerStateMetrics(registry, state)
    // Said once each way: while it lasts, reconnect attempts and the failing calls stay quiet.
    let lostAt = 0
    const unwatch = state.onHealthChange((h) => {
      if (!h.available) {
        lostAt = h.since
        logger.warn(
          'live state unreachable: terminals are still served; sessions, last positions and stream entries are buffered (bounded) until it answers; commands cannot reach terminals on other nodes',
        )
      } else {
        logger.info({ unavailableMs: h.since - lostAt, dropped: h.dropped }, 'live state reachable again: buffered writes replayed')
      }
    })
    cleanups.push(async () => unwatch())

    const ingest = new IngestQueue(store, { ...ingestOptionsFromConfig(config), registry, ...(overrides.now ? { now: overrides.now } : {}) })
    const ingestLog = logger.child({ component: 'ingest' })
    ingest.on('retry', (err: Error, attempt: number, delayMs: number) => ingestLog.warn({ err, attempt, delayMs }, 'batch write failed; retrying'))
    ingest.on('callbackError', (err: Error) => ingestLog.error({ err }, 'ingest callback failed'))
    ingest.on('consumerError', (err: Error, consumer: string) => ingestLog.error({ err, consumer }, 'a consumer of committed positions failed'))
    let ingestClosed = false
    const closeIngest = async () => {
      if (ingestClosed) return
      ingestClosed = true
      await ingest.close()
    }
    // (ingest.close() also waits for its consumers: runs after the gateway closed, before the state closes)
    cleanups.push(closeIngest)

    const gateway = createGateway({ config, store, state, ingest, logger: logger.child({ component: 'gateway' }), registry, now: overrides.now, listenerCopies: overrides.listenerCopies })
    // Matcher (in-process, or partitioned Redis streams with several workers) → anomalies.
    // Started before the gateway listens, so the reconnect storm after a restart is judged too.
    const matcher = await startMatcher({ config, store, state, gateway, registry, logger, now: overrides.now })
    cleanups.push(() => matcher.close())
    // Active-safety alarms of committed positions → anomalies and 0x9208 (closes after the gateway's last commits).
    const attachments = await createAttachments({ config, store, state, registry, logger, commander: gateway, now: overrides.now, retention: overrides.upkeep !== false })
    cleanups.push(() => attachments.close())
    const platforms = new Platforms({
      config,
      store,
      state,
      ingest,
      logger,
      registry,
      now: overrides.now,
      commander: gateway,
      ...(overrides.platformCluster ? { cluster: overrides.platformCluster } : {}),
    })
    // Every consumer of a committed batch, in order: src/pipeline.ts.
    ingest.deliverTo(
      committedConsumers({
        state,
        alarmTransitions: gateway.alarmTransitions,
        activeSafety: { name: 'active-safety', take: (rows) => attachments.alarms.onCommitted(rows) },
        matcher,
        forwarders: [platforms.forwarding],
      }),
    )
    // Lower platforms are a source like terminals; superiors get what commits from now on.
    await platforms.start()
    let platformsClosed = false
    cleanups.push(async () => {
      if (!platformsClosed) await platforms.close()
    })

    const tcp = await gateway.listen()
    // The gateway closes before the ingest queue: it stops reading, lets the queue commit (acks go out), then disconnects.
    cleanups.push(() => gateway.close(closeIngest))
    // 809 links close before the gateway: lower platforms stop sending first; what commits after
    // the forwarders stopped goes up from the durable forwarding position at the next start.
    cleanups.push(async () => {
      platformsClosed = true
      await platforms.close()
    })

    // The REST API closes first (its SSE streams end) — cleanups run in reverse.
    const dataDirLock = (store as Partial<OpenedStore>).dataDirLock ?? null
    const api = await startApi({ config, store, state, commander: gateway, registry, logger, now: overrides.now, dataDirLock, objects: attachments.objects, platforms })
    cleanups.push(() => api.close())
    await attachments.listen()

    let closing: Promise<void> | null = null
    return {
      config,
      store,
      state,
      ingest,
      gateway,
      matcher,
      attachments,
      platforms,
      registry,
      logger,
      tcp,
      http: api.address,
      close: () => (closing ??= unwind()),
    }
  } catch (e) {
    await unwind()
    throw e
  }
}

function newRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  return registry
}
