/**
 * `jt808 serve`: the gateway (and, once wired in src/app.ts, the matcher and the REST API).
 * One process by default; `--workers N` forks N processes with node:cluster sharing the TCP
 * port, each with its own ingest writer, sharing sessions through Redis.
 */
import cluster, { type Worker } from 'node:cluster'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { apiBase, tokenHint } from '../../api/tokens.js'
import { startApp, type App } from '../../app.js'
import { applyAttachmentRetention, openObjectStore, startAttachmentRetention } from '../../attachments/index.js'
import { CONFIG_FLAGS, ConfigError, loadConfig, type Config } from '../../config/index.js'
import { loadMatcherConfig, MatcherConfigError } from '../../matcher/config.js'
import { redactUrl } from '../../state/index.js'
import { embeddedDatabaseDir, embeddedDatabaseExists, openStore, startStoreUpkeep } from '../../store/index.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import {
  aggregateMetricsThroughPrimary,
  FORWARDER_ENV,
  listenerCopiesThroughPrimary,
  platformCluster,
  relayForwarding,
  requestStop,
  routePlatformCalls,
  serveClusterMetrics,
  serveListenerCopies,
  stopRequestedByPrimary,
} from './serve-cluster.js'

const BOOLEAN_FLAGS = new Set(['lenient', 'archive-raw'])
const KNOWN_FLAGS = new Set(CONFIG_FLAGS.map((f) => f.flag.slice(2)))

const USAGE = `usage: jt808 serve [options]

Runs the JT/T 808 gateway: terminals connect over TCP (default port 7611), positions are
acknowledged once committed to the database. With no DATABASE_URL it uses the embedded
PGlite database in --data-dir (./data), with no REDIS_URL the in-process state.
SIGINT / SIGTERM stop it gracefully: reading stops, what was received is committed and
acknowledged, then connections close.

options (each also from its environment variable):
${CONFIG_FLAGS.map((f) => `  ${(f.flag + (BOOLEAN_FLAGS.has(f.flag.slice(2)) ? '[=true|false]' : ' VALUE')).padEnd(36)} ${f.env}`).join('\n')}

  --workers N needs REDIS_URL (shared sessions) and DATABASE_URL (the embedded database
  belongs to one process).`

/** `--name value`, `--name=value`, and bare boolean flags. */
export function parseServeFlags(argv: string[]): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`)
    const eq = a.indexOf('=')
    const name = a.slice(2, eq === -1 ? undefined : eq)
    if (!KNOWN_FLAGS.has(name)) throw new UsageError(`unknown option --${name}`)
    if (eq !== -1) flags[name] = a.slice(eq + 1)
    else if (BOOLEAN_FLAGS.has(name)) {
      const next = argv[i + 1]
      if (next !== undefined && /^(true|false|1|0|yes|no|on|off)$/i.test(next)) flags[name] = argv[++i]
      else flags[name] = true
    } else {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`)
      flags[name] = v
    }
  }
  return flags
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (TCP for terminals) on the configured database and state',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseServeFlags(argv)
    let config: Config
    try {
      config = loadConfig(io.env, flags)
    } catch (e) {
      if (e instanceof ConfigError) {
        io.stderr.write(`jt808 serve: ${e.message}\n`)
        return 2
      }
      throw e
    }
    try {
      // before any database or Redis is opened: a typo in the thresholds is a one-line refusal
      loadMatcherConfig(config.matcherConfig)
    } catch (e) {
      // MatcherConfigError lists the problems; a missing or unreadable file is named by fs
      io.stderr.write(`jt808 serve: ${e instanceof MatcherConfigError ? '' : 'JT808_MATCHER_CONFIG: '}${(e as Error).message}\n`)
      return 2
    }
    if (config.workers > 1 && !config.databaseUrl) {
      io.stderr.write(`jt808 serve: workers=${config.workers} needs DATABASE_URL: the embedded database cannot be shared between processes\n`)
      return 2
    }
    if (cluster.isWorker) return runWorker(config, io)
    if (config.workers > 1) return runPrimary(config, io)
    return runSingle(config, io)
  },
}

function describe(config: Config): string {
  const store = config.databaseUrl ? `database ${redactUrl(config.databaseUrl)}` : `embedded database in ${config.dataDir}`
  const state = config.redisUrl ? `state ${redactUrl(config.redisUrl)}` : 'in-process state'
  return `${store}, ${state}, registration ${config.registrationMode}`
}

/**
 * Resolves with what asked to stop first: a SIGINT/SIGTERM, or `request` (a worker: the
 * primary's stop request). A second signal exits at once; a request followed by the same Ctrl-C's
 * signal (the whole process group gets it) is still one stop.
 */
function stopRequested(onSecondSignal: () => void, request?: Promise<string>): Promise<string> {
  return new Promise((resolve) => {
    let signals = 0
    const handler = (signal: NodeJS.Signals) => {
      if (++signals > 1) return onSecondSignal()
      resolve(signal)
    }
    process.on('SIGINT', handler)
    process.on('SIGTERM', handler)
    void request?.then(resolve)
  })
}

async function runSingle(config: Config, io: CliIO): Promise<number> {
  io.stdout.write(`jt808 gateway starting: ${startingWhat(config)}\n`)
  const app = await startApp(config)
  io.stdout.write(`jt808 gateway listening on tcp://${hostText(app.tcp.address)}:${app.tcp.port} (node ${config.nodeId}; ${describe(config)})\n`)
  const base = apiBase(app.http)
  io.stdout.write(`REST API on ${base}/api/v1 (docs: ${base}/docs)\n${await tokenHint(app.store, config.bootstrapToken, base)}\n`)
  return serveUntilSignal(app, io, 'jt808 gateway')
}

/** The slow part of a start, said before it (a first start creates the embedded database: tens of seconds, silent otherwise). */
function startingWhat(config: Config): string {
  if (config.databaseUrl) return `connecting to ${redactUrl(config.databaseUrl)} and applying migrations…`
  const dir = embeddedDatabaseDir(config)
  return embeddedDatabaseExists(config) ? `opening the embedded database in ${dir}…` : `creating the embedded database in ${dir} (first start only; this takes up to a minute)…`
}

async function serveUntilSignal(app: App, io: CliIO, what: string, request?: Promise<string>): Promise<number> {
  const signal = await stopRequested(() => {
    io.stderr.write(`${what}: second signal, exiting without waiting\n`)
    process.exit(1)
  }, request)
  io.stdout.write(`${what}: ${signal}, shutting down (committing and acknowledging what was received)\n`)
  await app.close()
  io.stdout.write(`${what}: stopped\n`)
  return 0
}

async function runWorker(config: Config, io: CliIO): Promise<number> {
  const id = cluster.worker?.id ?? 0
  const nodeId = io.env.JT808_NODE_ID ? `${config.nodeId}-w${id}` : config.nodeId
  // Listening for the primary's stop request from the start: it may come before the app is up.
  const request = stopRequestedByPrimary()
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  aggregateMetricsThroughPrimary(registry)
  // The primary migrated and keeps partitions ahead; workers only serve.
  const platforms = platformCluster(process.env[FORWARDER_ENV] === '1')
  const app = await startApp(
    { ...config, nodeId },
    {
      storeOptions: { migrate: false },
      upkeep: false,
      registry,
      platformCluster: platforms,
      listenerCopies: listenerCopiesThroughPrimary,
    },
  )
  const code = await serveUntilSignal(app, io, `jt808 worker ${id}`, request)
  // The IPC channel to the primary would keep this process alive.
  cluster.worker?.disconnect()
  return code
}

async function runPrimary(config: Config, io: CliIO): Promise<number> {
  // Migrate once, before any worker opens the database, and keep partitions/retention here.
  const store = await openStore(config)
  const upkeep = startStoreUpkeep(store, { onError: (err) => io.stderr.write(`jt808 serve: storage upkeep failed: ${err.message}\n`) })
  serveClusterMetrics()
  // the workers run no upkeep: attachment retention (files, then rows) is the primary's too
  const objects = await openObjectStore(config.attachmentsStore, config.dataDir)
  const attachmentUpkeep = startAttachmentRetention(
    () => applyAttachmentRetention(store, objects, config.retention, Date.now()),
    (err) => io.stderr.write(`jt808 serve: attachment retention failed: ${(err as Error).message}\n`),
  )
  let stopping = false
  const workers = new Set<Worker>()
  // Each worker listens for terminals first, then for the API (startApp's order) — after the JT/T
  // 809 port when there is one (platforms start first: lower platforms are a source like terminals).
  const ports = new Map<Worker, { address: string; port: number }[]>()
  const first = config.platformPort !== null ? 1 : 0
  let announced = false
  // One worker owns the superior platforms' links (JT/T 809); the others' committed rows reach it through here.
  let forwarder: Worker | null = null
  relayForwarding(() => forwarder)
  // Actions toward a platform go to the worker holding its link (the superiors': the forwarder).
  routePlatformCalls(() => forwarder)
  // Accept lanes (src/gateway/accept-lanes.ts) need each worker to hold the listening socket itself:
  // the kernel spreads connections instead of the primary handing them over one at a time. An
  // operator's NODE_CLUSTER_SCHED_POLICY (read by node:cluster at load) is left as set.
  if (config.acceptLanes > 1 && !process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE
  serveListenerCopies()
  const fork = () => {
    if (stopping) return
    const w = cluster.fork(forwarder ? {} : { [FORWARDER_ENV]: '1' })
    forwarder ??= w
    workers.add(w)
    // a message to a worker that just died fails with EPIPE: its exit is handled below
    w.on('error', (err) => io.stderr.write(`jt808 serve: worker ${w.id}: ${err.message}\n`))
    ports.set(w, [])
    w.on('listening', (address) => {
      ports.get(w)?.push({ address: address.address ?? config.tcpHost, port: address.port })
      if (announced || [...ports.values()].filter((l) => l.length >= first + 2).length < config.workers) return
      announced = true
      const [tcp, http] = ports.get(w)!.slice(first)
      io.stdout.write(
        `jt808 gateway listening on tcp://${hostText(tcp.address)}:${tcp.port} with ${config.workers} workers, API on http://${hostText(http.address)}:${http.port} (${describe(config)})\n`,
      )
    })
    w.on('exit', (code, signal) => {
      workers.delete(w)
      ports.delete(w)
      if (forwarder === w) forwarder = null
      if (stopping) return
      io.stderr.write(`jt808 serve: worker ${w.id} exited (${signal ?? code}); starting another\n`)
      setTimeout(fork, 1000).unref()
    })
  }
  for (let i = 0; i < config.workers; i++) fork()
  const signal = await stopRequested(() => {
    for (const w of workers) w.process.kill('SIGKILL')
    process.exit(1)
  })
  stopping = true
  io.stdout.write(`jt808 serve: ${signal}, stopping ${workers.size} workers\n`)
  // Asked, not signalled: a worker that got the same Ctrl-C would take a SIGTERM for a second signal.
  await Promise.all(
    [...workers].map(
      (w) =>
        new Promise<void>((resolve) => {
          w.once('exit', () => resolve())
          requestStop(w)
        }),
    ),
  )
  await upkeep.stop()
  attachmentUpkeep.stop()
  await objects.close()
  await store.close()
  io.stdout.write('jt808 serve: stopped\n')
  return 0
}

function hostText(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}
