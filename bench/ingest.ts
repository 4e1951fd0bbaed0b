/**
 * bench/ingest: how fast positions become durable.
 *
 *   node --import tsx bench/ingest.ts transports [--rows N] [--batch B] [--rounds R]
 *     Database side only: the batch transports of src/store/positions.ts (prepared INSERT …
 *     SELECT FROM unnest; binary COPY into a staging table + INSERT … SELECT, both ON CONFLICT
 *     DO NOTHING; direct binary COPY under a savepoint with the staging path as fallback)
 *     against the same rows bulk-loaded by raw binary COPY (the ceiling), each into a fresh
 *     schema, one batch at a time. Prints rows/s and the ratio to raw COPY.
 *
 *   node --import tsx bench/ingest.ts queue [--rate R] [--seconds S] [--batch-rows N] [--batch-ms T] [--in-flight F]
 *     The IngestQueue alone over the real database, offered R single-position messages/s:
 *     committed rows/s and submit→done (ack) latency p50/p99. For choosing batch defaults.
 *
 *   node --import tsx bench/ingest.ts e2e [--terminals K] [--seconds S] [--interval-ms I] [--batch B] [--loaders N] [--floor] [--archive on|off]
 *     End to end: K terminals from bench/loadgen.ts (--generator sim: src/sim) over loopback →
 *     the gateway as `jt808 serve` runs it (src/app.ts, in a child process) → PostgreSQL.
 *     --floor first runs the same load against bench/ack-floor.ts (answers, stores nothing).
 *     Reports committed positions/s (rows in the database over time), p50/p99 ack latency,
 *     rows in DB vs acks received, and a raw binary COPY of the same rows in the same run with
 *     the ratio. Targets (issue 4): ≥ 50 000 positions/s sustained, p99 ack ≤ 200 ms, 0 lost,
 *     ratio ≥ 0.5.
 *
 * Database: BENCH_DATABASE_URL, else DATABASE_URL, else TEST_DATABASE_URL, else the local test
 * database. Each run works in its own schema and drops it at the end.
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { DEFAULTS, type Config } from '../src/config/index.js'
import type { PositionRecord } from '../src/domain.js'
import { openStore, type OpenedStore } from '../src/store/index.js'
import { copyPayload, type PositionTransport } from '../src/store/positions.js'
import { mergedQuantile, startLoadgenChild, type LoadgenReport } from './loadgen.js'

const DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const POSITION_COLUMNS = 'vehicle_id, device_time, received_at, lat, lon, altitude, speed, direction, alarm, status, mileage, extras, blind_area, source_msg_id'

function config(): Config {
  return { ...structuredClone(DEFAULTS), databaseUrl: DATABASE_URL, nodeId: 'bench' }
}

/** A fresh schema with the migrated tables; dropped by the returned cleanup. */
export async function scratchStore(transport?: PositionTransport): Promise<{ store: OpenedStore; drop: () => Promise<void> }> {
  const schema = `bench_ingest_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const store = await openStore(config(), { schema, transport, poolSize: 4, statementTimeoutMs: 120_000 })
  return {
    store,
    drop: async () => {
      await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await store.close()
    },
  }
}

/** Rows shaped like a fleet reporting every `intervalS` seconds: vehicles interleaved, times rising. */
export function fleetRows(n: number, vehicles: number, startMs: number, intervalS = 30): PositionRecord[] {
  const out: PositionRecord[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const v = (i % vehicles) + 1
    const round = Math.floor(i / vehicles)
    const t = startMs + round * intervalS * 1000 + (v % intervalS) * 1000
    out[i] = {
      vehicleId: v,
      deviceTime: t,
      receivedAt: t + 300,
      latitude: 30 + (v % 1000) / 100 + round * 1e-4,
      longitude: 115 + (v % 700) / 100,
      altitude: 20 + (i % 50),
      speed: (i % 900) / 10,
      direction: i % 360,
      alarm: 0,
      status: 0x000c0003,
      mileage: 10_000 + round * 0.25,
      extras: { '0x30': 25, '0x31': 12 },
      blindArea: false,
      sourceMsgId: 0x0200,
    }
  }
  return out
}

/** The ceiling: the same rows in one binary COPY straight into positions (no dedupe, no staging). */
export async function rawCopyRate(rows: PositionRecord[], chunkRows = 50_000): Promise<number> {
  const { store, drop } = await scratchStore()
  try {
    await store.ensurePartitions(rows[0]!.deviceTime, Math.ceil((rows[rows.length - 1]!.deviceTime - rows[0]!.deviceTime) / 86_400_000) + 1)
    const payloads: Buffer[] = []
    for (let i = 0; i < rows.length; i += chunkRows) payloads.push(copyPayload(rows.slice(i, i + chunkRows)))
    const t0 = performance.now()
    for (const p of payloads) await store.sql.copyFrom(`COPY positions (${POSITION_COLUMNS}) FROM STDIN WITH (FORMAT binary)`, p)
    const seconds = (performance.now() - t0) / 1000
    const n = await store.countPositions()
    if (n !== rows.length) throw new Error(`raw COPY stored ${n} of ${rows.length} rows`)
    return rows.length / seconds
  } finally {
    await drop()
  }
}

/** One transport: batches of `batch` rows through store.insertPositions, sequentially (one flush in flight). */
export async function transportRate(transport: PositionTransport, rows: PositionRecord[], batch: number): Promise<number> {
  const { store, drop } = await scratchStore(transport)
  try {
    await store.ensurePartitions(rows[0]!.deviceTime, Math.ceil((rows[rows.length - 1]!.deviceTime - rows[0]!.deviceTime) / 86_400_000) + 1)
    const t0 = performance.now()
    let inserted = 0
    for (let i = 0; i < rows.length; i += batch) inserted += (await store.insertPositions(rows.slice(i, i + batch))).inserted
    const seconds = (performance.now() - t0) / 1000
    if (inserted !== rows.length) throw new Error(`${transport} inserted ${inserted} of ${rows.length}`)
    return rows.length / seconds
  } finally {
    await drop()
  }
}

async function benchTransports(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { rows: { type: 'string' }, batch: { type: 'string' }, rounds: { type: 'string' }, vehicles: { type: 'string' } } })
  const n = Number(values.rows ?? 100_000)
  const batch = Number(values.batch ?? DEFAULTS.ingestBatchRows)
  const rounds = Number(values.rounds ?? 3)
  const rows = fleetRows(n, Number(values.vehicles ?? 10_000), Date.now() - 3 * 3600_000)
  const results: Record<string, number[]> = { unnest: [], 'copy-staging': [], copy: [], raw: [] }
  // Interleaved rounds so background load on the shared machine hits every variant alike.
  for (let r = 0; r < rounds; r++) {
    results.unnest!.push(await transportRate('unnest', rows, batch))
    results['copy-staging']!.push(await transportRate('copy-staging', rows, batch))
    results.copy!.push(await transportRate('copy', rows, batch))
    results.raw!.push(await rawCopyRate(rows))
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const raw = median(results.raw!)
  console.log(`bench/ingest transports: ${n} rows, batches of ${batch}, ${rounds} interleaved rounds (median), ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')}`)
  for (const [name, xs] of Object.entries(results)) {
    const m = median(xs)
    console.log(`  ${name.padEnd(12)} ${Math.round(m).toString().padStart(8)} rows/s   ratio to raw COPY ${(m / raw).toFixed(2)}   (rounds: ${xs.map((x) => Math.round(x)).join(', ')})`)
  }
}

// ---- the queue alone ---------------------------------------------------------------------------

/**
 * The IngestQueue over the real database with an offered load of `rate` single-position
 * messages per second (as 0x0200 arrives), for `seconds`: committed rows/s and the latency
 * from submit to `done` (when the gateway writes the 0x8001). No sockets, no decoding.
 */
async function benchQueue(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { rate: { type: 'string' }, seconds: { type: 'string' }, 'batch-rows': { type: 'string' }, 'batch-ms': { type: 'string' }, 'in-flight': { type: 'string' }, vehicles: { type: 'string' } },
  })
  const rate = Number(values.rate ?? 50_000)
  const seconds = Number(values.seconds ?? 5)
  const vehicles = Number(values.vehicles ?? 10_000)
  const { IngestQueue } = await import('../src/ingest/index.js')
  const { Registry } = await import('prom-client')
  const { store, drop } = await scratchStore()
  try {
    const q = new IngestQueue(store, {
      batchRows: Number(values['batch-rows'] ?? DEFAULTS.ingestBatchRows),
      batchMs: Number(values['batch-ms'] ?? DEFAULTS.ingestBatchMs),
      highWater: DEFAULTS.ingestHighWater,
      maxInFlight: Number(values['in-flight'] ?? 1),
      retentionMs: 180 * 86_400_000,
      registry: new Registry(),
    })
    const rows = fleetRows(Math.ceil(rate * seconds), vehicles, Date.now() - 6 * 3600_000, 1)
    const latencies: number[] = []
    let next = 0
    let refused = 0
    const t0 = performance.now()
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const due = Math.min(rows.length, Math.floor(((performance.now() - t0) / 1000) * rate))
        for (; next < due; next++) {
          const at = performance.now()
          const row = rows[next]!
          q.submit([{ ...row, phone: String(row.vehicleId), plate: '', plateColor: 2, enterpriseLicenseNo: null }], (err) => {
            if (err) refused++
            else latencies.push(performance.now() - at)
          })
        }
        if (next >= rows.length) {
          clearInterval(tick)
          resolve()
        }
      }, 1)
    })
    await q.close()
    const elapsed = (performance.now() - t0) / 1000
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN
    const stored = await store.countPositions()
    console.log(
      `bench/ingest queue: offered ${rate}/s for ${seconds} s, batchRows ${values['batch-rows'] ?? DEFAULTS.ingestBatchRows}, batchMs ${values['batch-ms'] ?? DEFAULTS.ingestBatchMs}, in flight ${values['in-flight'] ?? 1}`,
    )
    console.log(
      `  committed ${Math.round(stored / elapsed)} rows/s (${stored} rows, ${refused} refused), ack p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms, max ${pct(1).toFixed(1)} ms`,
    )
  } finally {
    await drop()
  }
}

// ---- end to end ------------------------------------------------------------------------------

/**
 * Child process: the real gateway (what `jt808 serve` runs: store, ingest queue, gateway, API) on
 * the bench schema, so its CPU is its own and not the simulator's. Prints its TCP port over IPC.
 */
async function serveGatewayChild(schema: string, archive: boolean): Promise<void> {
  const { startApp } = await import('../src/app.js')
  const { loadConfig } = await import('../src/config/index.js')
  const cfg: Config = {
    ...config(),
    // JT808_BATCH_ROWS, JT808_BATCH_MS, JT808_INGEST_IN_FLIGHT … from the environment reach the gateway
    ...Object.fromEntries(Object.entries(loadConfig(process.env)).filter(([k]) => k.startsWith('ingest'))),
    tcpPort: 0,
    tcpHost: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    attachmentsPort: 0,
    registrationMode: 'open',
    archiveRawFrames: archive,
    logLevel: 'warn',
  }
  const app = await startApp(cfg, { upkeep: false, storeOptions: { schema, migrate: false } })
  const { createToken } = await import('../src/api/tokens.js')
  const { secret } = await createToken(app.store, { role: 'supervisor' })
  process.send?.({ port: app.tcp.port, httpPort: app.http.port, token: secret })
  process.on('message', (m) => {
    if (m === 'stop') void app.close().then(() => process.exit(0))
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() })
    if (m === 'profile-start' || m === 'profile-stop') void profileSteadyWindow(m)
  })
}

/** bench/ack-floor.ts as a child, speaking the same IPC as the gateway child. */
async function serveFloorChild(): Promise<void> {
  const { startAckFloor } = await import('./ack-floor.js')
  const server = await startAckFloor()
  process.send?.({ port: (server.address() as { port: number }).port, httpPort: 0, token: '' })
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() })
    if (m === 'stop') {
      server.close(() => process.exit(0))
      setTimeout(() => process.exit(0), 2000).unref() // connections the generator left open must not hold the exit
    }
  })
}

/**
 * BENCH_GATEWAY_PROFILE=<file>: the gateway child profiles exactly the measured window (the
 * parent sends profile-start/-stop), so the profile is not diluted by startup and the ramp.
 * BENCH_GATEWAY_HEAP_PROFILE=<file> samples allocations over the window instead, short-lived
 * objects included (what the young generation's collections pay for); with
 * BENCH_GATEWAY_HEAP_LIVE=1 only what is still alive at the window's end (what each collection
 * has to copy or mark: the reports in flight and everything they hold).
 */
let profiler: import('node:inspector').Session | null = null
async function profileSteadyWindow(what: 'profile-start' | 'profile-stop'): Promise<void> {
  const cpuFile = process.env.BENCH_GATEWAY_PROFILE
  const heapFile = process.env.BENCH_GATEWAY_HEAP_PROFILE
  if (!cpuFile && !heapFile) return
  const { Session } = await import('node:inspector')
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => profiler!.post(method, params, (err, res) => (err ? reject(err) : resolve(res))))
  if (what === 'profile-start') {
    profiler = new Session()
    profiler.connect()
    if (cpuFile) {
      await post('Profiler.enable')
      await post('Profiler.start')
    } else {
      await post('HeapProfiler.enable')
      const collected = !process.env.BENCH_GATEWAY_HEAP_LIVE
      await post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: collected, includeObjectsCollectedByMinorGC: collected })
    }
  } else if (profiler) {
    const { profile } = (await post(cpuFile ? 'Profiler.stop' : 'HeapProfiler.stopSampling')) as { profile: unknown }
    const { writeFile } = await import('node:fs/promises')
    await writeFile((cpuFile ?? heapFile)!, JSON.stringify(profile))
    profiler.disconnect()
    profiler = null
  }
}

/** CPU seconds used so far by the whole machine (all cores, Linux /proc/stat; 0 elsewhere). */
async function machineCpuSeconds(): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? ''
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number)
  return (user + nice + system + irq + softirq + steal) / 100 // USER_HZ
}

export interface GatewayChild {
  /** TCP port for terminals */
  port: number
  /** HTTP port of the API, and a supervisor token for it */
  httpPort: number
  token: string
  cpuSeconds: () => Promise<number>
  /** CPU seconds in the kernel so far */
  kernelSeconds: () => Promise<number>
  /** 'profile-start' / 'profile-stop' (BENCH_GATEWAY_PROFILE) */
  signal: (what: string) => void
  stop: () => Promise<void>
}

/** The gateway as `jt808 serve` runs it, in a child process, on an already migrated schema. */
export function startGatewayChild(schema: string, archive: boolean): Promise<GatewayChild> {
  return startChild(['child-gateway', schema, archive ? 'archive' : 'no-archive'])
}

/** This script in a child process in one of its child modes (child-gateway, child-floor). */
async function startChild(args: string[]): Promise<GatewayChild> {
  const { fork } = await import('node:child_process')
  const proc = fork(new URL(import.meta.url).pathname, args, {
    // The young generation `npm start` and the Dockerfile give the gateway (README); BENCH_GATEWAY_NODE_ARGS
    // adds or overrides node flags (e.g. "--max-semi-space-size=16" for Node's default).
    execArgv: ['--max-semi-space-size=64', '--import', 'tsx', ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const { port, httpPort, token } = await new Promise<{ port: number; httpPort: number; token: string }>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as { port: number; httpPort: number; token: string }))
    proc.once('exit', (code) => reject(new Error(`gateway child exited with ${code}`)))
  })
  const cpuUsage = () =>
    new Promise<NodeJS.CpuUsage>((resolve) => {
      const on = (m: unknown) => {
        const cpu = (m as { cpu?: NodeJS.CpuUsage }).cpu
        if (!cpu) return
        proc.off('message', on)
        resolve(cpu)
      }
      proc.on('message', on)
      proc.send('cpu')
    })
  return {
    port,
    httpPort,
    token,
    signal: (what) => proc.send(what),
    cpuSeconds: async () => {
      const cpu = await cpuUsage()
      return (cpu.user + cpu.system) / 1e6
    },
    kernelSeconds: async () => (await cpuUsage()).system / 1e6,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once('exit', () => resolve())
        proc.send('stop')
        setTimeout(() => proc.kill(), 10_000).unref()
      }),
  }
}

/**
 * `jt808 serve --workers N` as an operator runs it (node:cluster, state in Redis — database 9 of
 * the local server, emptied first), on the bench schema through the URL's options. CPU is the
 * primary's and its workers' (Linux /proc).
 */
async function startClusterChild(schema: string, workers: number): Promise<GatewayChild> {
  const { spawn } = await import('node:child_process')
  const { readFile } = await import('node:fs/promises')
  const { Redis } = await import('ioredis')
  const redisUrl = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379/9'
  const redis = new Redis(redisUrl)
  await redis.flushdb()
  redis.disconnect()
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema},public`)
  const cli = new URL('../src/cli/main.ts', import.meta.url).pathname
  const proc = spawn(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []), cli, 'serve'], {
    env: {
      ...process.env,
      DATABASE_URL: url.href,
      REDIS_URL: redisUrl,
      JT808_WORKERS: String(workers),
      JT808_TCP_PORT: process.env.BENCH_TCP_PORT ?? '47808',
      JT808_TCP_HOST: '127.0.0.1',
      JT808_HTTP_PORT: process.env.BENCH_HTTP_PORT ?? '47809',
      JT808_HTTP_HOST: '127.0.0.1',
      JT808_ATTACHMENTS_PORT: '0',
      JT808_REGISTRATION: 'open',
      JT808_LOG_LEVEL: 'warn',
      JT808_NODE_ID: 'bench',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on tcp:\/\/[^\s]*:(\d+) with/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    proc.once('exit', (code) => reject(new Error(`jt808 serve exited with ${code}: ${out}`)))
  })
  const ticks = async (): Promise<{ user: number; system: number }> => {
    const pids = [proc.pid!]
    const children = await readFile(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').catch(() => '')
    pids.push(...children.split(/\s+/).filter(Boolean).map(Number))
    let user = 0
    let system = 0
    for (const pid of pids) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      user += Number(f[11] ?? 0)
      system += Number(f[12] ?? 0)
    }
    return { user: user / 100, system: system / 100 }
  }
  return {
    port,
    httpPort: Number(process.env.BENCH_HTTP_PORT ?? 47809),
    token: '',
    signal: () => undefined,
    cpuSeconds: async () => {
      const t = await ticks()
      return t.user + t.system
    },
    kernelSeconds: async () => (await ticks()).system,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once('exit', () => resolve())
        proc.kill('SIGTERM')
        setTimeout(() => proc.kill('SIGKILL'), 20_000).unref()
      }),
  }
}

/** Samples committed rows over time: the "rows in the database" series of the end-to-end run. */
export function sampleCommitted(store: OpenedStore, everyMs = 1000): { stop: () => Promise<Array<{ atMs: number; rows: number }>> } {
  const series: Array<{ atMs: number; rows: number }> = []
  const t0 = performance.now()
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    store
      .countPositions()
      .then((rows) => series.push({ atMs: performance.now() - t0, rows }))
      .catch(() => undefined)
      .finally(() => (busy = false))
  }, everyMs)
  return {
    stop: async () => {
      clearInterval(timer)
      series.push({ atMs: performance.now() - t0, rows: await store.countPositions() })
      return series
    },
  }
}

/** The rows the run stored (up to `limit`), to bulk-load again by raw COPY: "the same rows". */
async function storedRows(store: OpenedStore, limit: number): Promise<PositionRecord[]> {
  const { rowToPosition } = await import('../src/store/positions.js')
  const { rows } = await store.sql.query<Parameters<typeof rowToPosition>[0]>(
    `SELECT vehicle_id, device_time, received_at, lat, lon, altitude, speed, direction, alarm, status, mileage, extras, blind_area, source_msg_id
       FROM positions ORDER BY received_at LIMIT $1`,
    [limit],
  )
  return rows.map(rowToPosition)
}

async function benchEndToEnd(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      terminals: { type: 'string' },
      seconds: { type: 'string' },
      'interval-ms': { type: 'string' },
      archive: { type: 'string' },
      generator: { type: 'string' },
      loaders: { type: 'string' },
      batch: { type: 'string' },
      floor: { type: 'boolean' },
      workers: { type: 'string' },
    },
  })
  const terminals = Number(values.terminals ?? 5000)
  const seconds = Number(values.seconds ?? 60)
  const intervalMs = Number(values['interval-ms'] ?? 100)
  const archive = (values.archive ?? 'off') === 'on'
  if ((values.generator ?? 'lean') === 'lean') {
    return benchEndToEndLean({ terminals, seconds, intervalMs, loaders: Number(values.loaders ?? 1), batch: Number(values.batch ?? 1) }, archive, values.floor === true, Number(values.workers ?? 1))
  }
  const { startSimulation } = await import('../src/sim/simulate.js')
  const { decodeFrame } = await import('../protocol/index.js')

  const { store, drop } = await scratchStore() // migrates the schema the gateway child then uses
  const schema = (await store.sql.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s
  const gateway = await startGatewayChild(schema, archive)
  try {
    const sampler = sampleCommitted(store)
    // Positions sent: one per 0x0200, the items of each 0x0704 (blind-area uploads after the connect ramp).
    let positionsSent = 0
    const countPositions = (_phone: string, frame: Buffer, msgId: number) => {
      if (msgId === 0x0200) positionsSent++
      else if (msgId === 0x0704) {
        const d = decodeFrame(frame[0] === 0x7e ? frame.subarray(1, -1) : frame)
        if (d.ok) positionsSent += (d.value.message.body as { items: unknown[] }).items.length
      }
    }
    // Simulated 30 s report interval compressed to intervalMs of wall time per terminal.
    const sim = startSimulation({
      target: { host: '127.0.0.1', port: gateway.port },
      terminals,
      intervalS: 30,
      timeScale: 30_000 / intervalMs,
      heartbeatS: 1e9,
      durationMs: seconds * 1000,
      auth: 'register',
      logout: false,
      startTime: Date.now() - 2 * 3600_000,
      onFrame: countPositions,
    })
    // Steady-state latency: answers recorded between 20 % and 90 % of the run (after the connect
    // ramp and its blind-area catch-up, before the stop); BENCH_DEBUG prints a per-second timeline.
    // CPU seconds of each party over the same window: where a position's cost goes on a shared machine.
    const cpuNow = async () => {
      const own = process.cpuUsage()
      return { at: performance.now(), rows: await store.countPositions(), gateway: await gateway.cpuSeconds(), simulator: (own.user + own.system) / 1e6, machine: await machineCpuSeconds() }
    }
    type CpuSample = Awaited<ReturnType<typeof cpuNow>>
    let cpuFrom: CpuSample | null = null
    let cpuTo: CpuSample | null = null
    const hist = sim.stats.latency
    let steadyFrom: ReturnType<typeof hist.snapshot> | null = null
    let steadyTo: { p50: number | null; p99: number | null } | null = null
    let prev = hist.snapshot()
    let second = 0
    const timeline = setInterval(() => {
      second++
      if (process.env.BENCH_DEBUG) {
        const p = (q: number) => hist.quantileSince(prev, q)?.toFixed(0) ?? '–'
        console.log(`  t=${second}s answers ${hist.count - prev.count} p50 ${p(0.5)} ms p99 ${p(0.99)} ms in flight ${sim.inFlight}`)
        prev = hist.snapshot()
      }
      if (second === Math.round(seconds * 0.2)) {
        steadyFrom = hist.snapshot()
        void cpuNow().then((c) => (cpuFrom = c))
      }
      if (second === Math.round(seconds * 0.9) && steadyFrom) {
        steadyTo = { p50: hist.quantileSince(steadyFrom, 0.5), p99: hist.quantileSince(steadyFrom, 0.99) }
        void cpuNow().then((c) => (cpuTo = c))
      }
    }, 1000)
    const result = await sim.done
    clearInterval(timeline)
    if (process.env.BENCH_DEBUG) console.log(JSON.stringify(result, null, 1))
    await new Promise((r) => setTimeout(r, 1500)) // let the last batches commit
    const series = await sampler.stop()
    const last = series[series.length - 1]!
    // Sustained rate: the middle of the run (the first 20 % ramps up connections, the last 10 % drains).
    const inWindow = series.filter((x) => x.atMs >= last.atMs * 0.2 && x.atMs <= last.atMs * 0.9)
    const first = inWindow[0]
    const end = inWindow[inWindow.length - 1]
    const rate = first && end && end.atMs > first.atMs ? ((end.rows - first.rows) * 1000) / (end.atMs - first.atMs) : NaN
    const refused = Object.entries(result.acksByResult)
      .filter(([code]) => code !== '0')
      .reduce((a, [, n]) => a + n, 0)
    const sample = await storedRows(store, 500_000)
    const raw = sample.length ? await rawCopyRate(sample) : NaN
    console.log(
      `bench/ingest e2e: ${terminals} terminals, ${seconds} s, one position per terminal every ${intervalMs} ms (offered ${Math.round((terminals * 1000) / intervalMs)}/s), raw archive ${archive ? 'on' : 'off'}`,
    )
    console.log(`  committed           ${Math.round(rate)} positions/s (sustained, rows in DB over time)`)
    // RunSummary's latency covers every answered frame, registration and authentication included.
    const steady = steadyTo as { p50: number | null; p99: number | null } | null
    console.log(`  ack latency         p50 ${steady?.p50?.toFixed(1)} ms, p99 ${steady?.p99?.toFixed(1)} ms (steady: 20–90 % of the run)`)
    console.log(
      `                      p50 ${result.ackLatencyMs.p50?.toFixed(1)} ms, p99 ${result.ackLatencyMs.p99?.toFixed(1)} ms, max ${result.ackLatencyMs.max?.toFixed(1)} ms (all answers, connect ramp included)`,
    )
    const acked = result.framesWithoutAnswer === 0 && refused === 0
    console.log(
      `  rows in DB / sent   ${last.rows} / ${positionsSent} positions; ${result.framesWithoutAnswer} frames unanswered, ${refused} refused` +
        (acked ? ` → every position acknowledged; lost ${positionsSent - last.rows}` : ''),
    )
    console.log(`  raw binary COPY     ${Math.round(raw)} rows/s of ${sample.length} stored rows   ratio ${(rate / raw).toFixed(2)}`)
    const [c0, c1] = [cpuFrom as CpuSample | null, cpuTo as CpuSample | null]
    if (c0 && c1 && c1.rows > c0.rows) {
      const n = c1.rows - c0.rows
      const wall = (c1.at - c0.at) / 1000
      const part = (k: string, cpu: number) => `${k} ${((cpu * 1e6) / n).toFixed(1)} µs (${Math.round((cpu / wall) * 100)} % of a core)`
      const gw = c1.gateway - c0.gateway
      const sim = c1.simulator - c0.simulator
      console.log(
        `  CPU per position    ${part('gateway', gw)}, ${part('simulator', sim)}, ${part('PostgreSQL and the rest', c1.machine - c0.machine - gw - sim)} — steady window, ${n} rows in ${wall.toFixed(1)} s`,
      )
    }
  } finally {
    await gateway.stop()
    await drop()
  }
}

/** One loaded window against a server that answers terminals (the gateway, or the ack floor). */
interface Window {
  reports: LoadgenReport[]
  /** terminals online after the ramp, and the ramp's length */
  online: number
  rampS: number
  wall: number
  /** server process CPU seconds (and their kernel part) and whole-machine CPU seconds over the window */
  serverCpu: number
  serverKernel: number
  machineCpu: number
  /** rows committed in the window (gateway only) */
  rows?: number
}

interface Target {
  port: number
  cpuSeconds: () => Promise<number>
  kernelSeconds: () => Promise<number>
  signal?: (what: string) => void
  /** rows in the database now (gateway only) */
  countRows?: () => Promise<number>
}

interface LoadShape {
  terminals: number
  seconds: number
  intervalMs: number
  loaders: number
  batch: number
}

/**
 * Terminals from `loaders` bench/loadgen processes connect and authenticate (the ramp, up to
 * 120 s), then all start reporting; after 3 s of that the next `seconds` are the measured window.
 */
async function loadWindow(target: Target, shape: LoadShape): Promise<Window> {
  const { terminals, seconds, intervalMs, loaders, batch } = shape
  const per = Math.ceil(terminals / loaders)
  const gens = Array.from({ length: loaders }, (_, k) =>
    startLoadgenChild({ host: '127.0.0.1', port: target.port, first: k * per, terminals: Math.min(per, terminals - k * per), intervalMs, seconds, batch, holdUntilGo: true }),
  )
  // Rows are counted at the window's edges only: a count(*) every second over millions of rows
  // would be load of its own on the database being measured.
  const edge = async () => ({
    at: performance.now(),
    rows: (await target.countRows?.()) ?? 0,
    server: await target.cpuSeconds(),
    kernel: await target.kernelSeconds(),
    machine: await machineCpuSeconds(),
  })
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const rampStart = performance.now()
  let online = 0
  while (performance.now() - rampStart < 120_000) {
    online = (await Promise.all(gens.map((g) => g.online()))).reduce((a, b) => a + b, 0)
    if (online >= terminals) break
    await sleep(250)
  }
  const rampS = (performance.now() - rampStart) / 1000
  for (const g of gens) g.go()
  await sleep(3000)
  for (const g of gens) g.mark()
  target.signal?.('profile-start')
  const c0 = await edge()
  await sleep(seconds * 1000)
  for (const g of gens) g.mark()
  target.signal?.('profile-stop')
  const c1 = await edge()
  const reports = await Promise.all(gens.map((g) => g.stop()))
  return {
    reports,
    online,
    rampS,
    wall: (c1.at - c0.at) / 1000,
    serverCpu: c1.server - c0.server,
    serverKernel: c1.kernel - c0.kernel,
    machineCpu: c1.machine - c0.machine,
    ...(target.countRows ? { rows: c1.rows - c0.rows } : {}),
  }
}

function windowLines(w: Window, perPositionOf: number, serverName: string): { latency: string; cpu: string; p99: number | null } {
  const sum = (k: 'cpuSeconds' | 'kernelSeconds') => w.reports.reduce((n, r) => n + r[k], 0)
  const ms = (v: number | null) => (v === null ? '–' : v.toFixed(1))
  const p99 = mergedQuantile(w.reports, 0.99)
  const us = (cpu: number) => ((cpu * 1e6) / perPositionOf).toFixed(1)
  const part = (cpu: number, kernel?: number) => `${us(cpu)} µs${kernel === undefined ? '' : ` (${us(kernel)} in the kernel)`}, ${Math.round((cpu / w.wall) * 100)} % of a core`
  const gen = sum('cpuSeconds')
  return {
    p99,
    latency: `p50 ${ms(mergedQuantile(w.reports, 0.5))} ms, p99 ${ms(p99)} ms, max ${ms(Math.max(...w.reports.map((r) => r.window.max)))} ms (steady window)`,
    cpu: `${serverName} ${part(w.serverCpu, w.serverKernel)}; generator ${part(gen, sum('kernelSeconds'))}; PostgreSQL and the rest ${part(w.machineCpu - w.serverCpu - gen)}; machine ${Math.round((w.machineCpu / w.wall) * 100)} % of 200 %`,
  }
}

/**
 * End to end with bench/loadgen.ts: the terminals in `loaders` processes of their own, the
 * gateway in another, PostgreSQL. Committed rows, latency and CPU are taken over the steady
 * window (loadWindow). Lost = acknowledged positions missing from the database. With `floor`
 * the same load first runs against bench/ack-floor.ts (answers, stores nothing): the latency and
 * CPU any Node server pays for these sockets here, printed beside the gateway's.
 */
async function benchEndToEndLean(shape: LoadShape, archive: boolean, floor: boolean, workers = 1): Promise<void> {
  const { terminals, seconds, intervalMs, batch, loaders } = shape
  const offered = Math.round((terminals * batch * 1000) / intervalMs)
  console.log(
    `bench/ingest e2e (lean generator, ${loaders} process${loaders > 1 ? 'es' : ''}): ${terminals} terminals, ${seconds} s, one ${batch > 1 ? `0x0704 of ${batch} fixes` : '0x0200'} per terminal every ${intervalMs} ms (offered ${offered} positions/s), raw archive ${archive ? 'on' : 'off'}`,
  )
  let floorP99: number | null = null
  let floorCpu = NaN
  if (floor) {
    const f = await startChild(['child-floor'])
    try {
      const w = await loadWindow(f, shape)
      const answered = w.reports.reduce((n, r) => n + r.window.count, 0) * batch
      const lines = windowLines(w, answered, 'floor server')
      floorP99 = lines.p99
      floorCpu = (w.serverCpu * 1e6) / answered
      console.log(`  ack floor           ${Math.round(answered / w.wall)} positions/s answered, nothing stored (bench/ack-floor.ts, same load)`)
      console.log(`    ack latency       ${lines.latency}`)
      console.log(`    CPU per position  ${lines.cpu}`)
    } finally {
      await f.stop()
    }
  }
  const { store, drop } = await scratchStore()
  const schema = (await store.sql.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s
  const gateway = workers > 1 ? await startClusterChild(schema, workers) : await startGatewayChild(schema, archive)
  if (workers > 1) console.log(`  gateway             jt808 serve --workers ${workers} (node:cluster, state in Redis)`)
  try {
    const w = await loadWindow({ ...gateway, countRows: () => store.countPositions() }, shape)
    if (process.env.BENCH_DEBUG && workers === 1) {
      // batches as the gateway saw them (whole run): mean rows and mean write+commit time
      const text = await (await fetch(`http://127.0.0.1:${gateway.httpPort}/metrics`, { headers: { authorization: `Bearer ${gateway.token}` } })).text()
      const metric = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? NaN)
      const batches = metric('jt808_ingest_batch_rows_count')
      console.log(
        `  (debug) ${batches} batches, ${(metric('jt808_ingest_batch_rows_sum') / batches).toFixed(0)} rows and ${((metric('jt808_ingest_flush_seconds_sum') / batches) * 1000).toFixed(1)} ms each on average`,
      )
    }
    await new Promise((r) => setTimeout(r, 1500)) // the last commits
    const total = await store.countPositions()
    const sum = (k: 'sent' | 'acked' | 'refused' | 'unanswered' | 'authenticated' | 'connectionErrors' | 'lateTicks') => w.reports.reduce((n, r) => n + r[k], 0)
    const n = w.rows ?? 0
    const rate = n / w.wall
    const sample = await storedRows(store, 500_000)
    const raw = sample.length ? await rawCopyRate(sample) : NaN
    const lines = windowLines(w, n, 'gateway')
    console.log(`  committed           ${Math.round(rate)} positions/s (steady window ${w.wall.toFixed(1)} s, rows in DB over time)`)
    console.log(`  ack latency         ${lines.latency}`)
    const acked = sum('acked') - sum('refused')
    console.log(`  rows in DB / acked  ${total} / ${acked} (sent ${sum('sent')}, refused ${sum('refused')}, unanswered ${sum('unanswered')}); acknowledged but missing: ${Math.max(0, acked - total)}`)
    console.log(
      `  terminals           ${sum('authenticated')} / ${terminals} authenticated (${w.online} after the ramp of ${w.rampS.toFixed(1)} s, before any report), ${sum('connectionErrors')} connection errors, generator late ticks ${sum('lateTicks')}`,
    )
    console.log(`  raw binary COPY     ${Math.round(raw)} rows/s of ${sample.length} stored rows   ratio ${(rate / raw).toFixed(2)}`)
    console.log(`  CPU per position    ${lines.cpu}`)
    if (floor) {
      const gwCpu = (w.serverCpu * 1e6) / n
      console.log(`  against the floor   gateway CPU ${(gwCpu / floorCpu).toFixed(2)}× the floor server's; p99 ${lines.p99?.toFixed(1)} vs ${floorP99?.toFixed(1)} ms`)
    }
  } finally {
    await gateway.stop()
    await drop()
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
const [mode, ...rest] = process.argv.slice(2)
const run = mode === 'transports' ? benchTransports : mode === 'queue' ? benchQueue : mode === 'e2e' ? benchEndToEnd : null
if (!isEntry) {
  // imported (tests, other benches): no run
} else if (mode === 'child-gateway') {
  void serveGatewayChild(rest[0]!, rest[1] === 'archive')
} else if (mode === 'child-floor') {
  void serveFloorChild()
} else if (!run) {
  console.error('usage: node --import tsx bench/ingest.ts transports|queue|e2e [options]  (see the comment at the top)')
  process.exitCode = 2
} else {
  run(rest).catch((e: unknown) => {
    console.error((e as Error).message)
    process.exitCode = 1
  })
}
