/**
 * bench/storm: many authenticated terminals on `jt808 serve --workers N`, then the reconnect
 * storm after every gateway process is killed.
 *
 *   node --import tsx bench/storm.ts [--terminals N] [--workers W] [--clients K] [--sources S]
 *        [--immediate-share F] [--heartbeat SECONDS] [--hold SECONDS] [--report-ms MS]
 *        [--down SECONDS] [--storm-timeout SECONDS] [--port P] [--connect-rate PER_SECOND]
 *
 * The gateway is `jt808 serve` as an operator runs it (node:cluster, PostgreSQL in a scratch
 * schema through DATABASE_URL's options, Redis database 9 emptied first — BENCH_DATABASE_URL,
 * BENCH_REDIS_URL), registry mode, N vehicles and terminals provisioned beforehand. K load
 * generator processes (this file, --role client) hold N/K terminals each, bound to source
 * addresses 127.0.0.2 … 127.0.0.(S+1): every process, gateway workers and generators, stays under
 * the per-process file limit, and no address runs out of ephemeral ports.
 *
 * Phases and what is reported:
 *  1. held: every terminal authenticates (0x0102), half first, then the rest, opening at most
 *     --connect-rate connections a second over all generators (a fleet coming online, not a storm); the gateway's RSS
 *     summed over its processes (primary + workers, /proc) after each half → RSS per connection
 *     (the slope); then --hold seconds of heartbeats only → gateway CPU per 1,000 idle terminals.
 *     JT808_* variables (JT808_AUTH_CONCURRENCY, JT808_AUTH_QUEUE, JT808_TCP_BACKLOG …) pass
 *     through to the gateway: the levers are tried from the command line.
 *  2. reporting: each terminal sends a 0x0200 every --report-ms, acknowledged after commit.
 *  3. storm: every gateway process is SIGKILLed; the terminals keep recording (each position not
 *     acknowledged is kept, plus those taken while offline: the blind area) and reconnect — a
 *     share (--immediate-share) at once and again every 100 ms until in, the rest with
 *     exponential backoff (1 s doubling to 32 s) and full jitter. After --down seconds the gateway
 *     is started again. Each terminal, once authenticated, re-sends its blind area as 0x0704
 *     type 1 (up to 30 fixes a frame) and goes on reporting.
 *     Reported: time from the restart (listening) to 99 % and 100 % re-authenticated; accept-queue
 *     overflows (TcpExtListenOverflows / ListenDrops of /proc/net/netstat, machine-wide, before
 *     and after); gateway CPU from the restart to 100 % per terminal; ack latency p50/p99 of
 *     0x0200 from terminals already back while the storm goes on; connections refused by
 *     admission control (closed unanswered, reason auth_overload, from /metrics).
 *  4. settle: reporting stops, every terminal's positions are acknowledged, and each terminal's
 *     acknowledged positions are compared with the rows stored for its vehicle in PostgreSQL:
 *     positions lost (acknowledged, not stored) must be 0.
 *
 * Targets (issue 18): all re-authenticated within 60 s, no position lost, p99 ≤ 1 s during the
 * storm; 100,000 held at ≤ 10 KB RSS each. On a shared machine the figures depend on its load:
 * RESULTS.md lines say what else ran.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createWriteStream, readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Deframer, decodeFrame, encodeMessage, type Location } from '../protocol/index.js'
import { locationOf } from '../src/terminal/position.js'
import { fdLimits, type Msg, phoneOf, provisionFleet, request, spawnRole, waitFor } from './processes.js'

const DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379/9'
const AUTH_CODE = 'bench-storm-code'
const SELF = new URL(import.meta.url).pathname
const GATEWAY_LOG = process.env.BENCH_GATEWAY_LOG || `/tmp/bench-storm-gateway-${process.pid}.log`
const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    terminals: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '2' },
    clients: { type: 'string' },
    sources: { type: 'string', default: '4' },
    'immediate-share': { type: 'string', default: '0.2' },
    'connect-rate': { type: 'string', default: '10000' },
    heartbeat: { type: 'string', default: '30' },
    hold: { type: 'string', default: '10' },
    'report-ms': { type: 'string', default: '5000' },
    down: { type: 'string', default: '3' },
    'storm-timeout': { type: 'string', default: '180' },
    port: { type: 'string', default: '47820' },
    // client role
    first: { type: 'string', default: '0' },
    count: { type: 'string', default: '0' },
    prefix: { type: 'string', default: '1390000' },
    base: { type: 'string', default: '0' },
  },
})

function frame(msgId: number, phone: string, serial: number, body: unknown): Buffer {
  const r = encodeMessage({ msgId, phone, serial, body } as Parameters<typeof encodeMessage>[0])
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

// ---- load generator process ----------------------------------------------------------------------

const REPORT_LOC = (seq: number, base: number, i: number): Location =>
  locationOf({ latitude: 36 + (i % 1000) / 1000, longitude: 117 + seq / 100_000, speed: 40 + (seq % 30), direction: 90, time: base + seq * 1000 })

interface Terminal {
  i: number
  phone: string
  socket: Socket | null
  online: boolean
  /** reconnect attempts since the last success */
  attempt: number
  immediate: boolean
  serial: number
  /** next position sequence (device time = base + seq s) */
  seq: number
  /** positions not yet sent or whose frame was not acknowledged (the blind area after a drop) */
  unsent: number[]
  /** frames in flight: serial → [positions, sent at, live (0x0200 while the storm goes on)] */
  inflight: Map<number, { seqs: number[]; at: number; timed: boolean }>
  acked: number
  authSerial: number
  authedAt: number
  /** when its authentication was written (performance.now) */
  authAt: number
  retry: NodeJS.Timeout | null
}

async function client(): Promise<void> {
  const first = Number(args.first)
  const count = Number(args.count)
  const port = Number(args.port)
  const sources = Number(args.sources)
  const base = Number(args.base)
  const share = Number(args['immediate-share'])
  const heartbeatMs = Number(args.heartbeat) * 1000
  const reportMs = Number(args['report-ms'])
  const send = (m: Msg) => process.send?.(m)
  const ts: Terminal[] = Array.from({ length: count }, (_, k) => ({
    i: first + k,
    phone: phoneOf(args.prefix, first + k),
    socket: null,
    online: false,
    attempt: 0,
    immediate: k < Math.round(count * share),
    serial: 1,
    seq: 0,
    unsent: [],
    inflight: new Map(),
    acked: 0,
    authSerial: -1,
    authedAt: 0,
    authAt: 0,
    retry: null,
  }))
  let reporting = false
  let storm = false
  let connectErrors = 0
  let refusedClosed = 0
  const latencies: number[] = []
  let unansweredAuth = 0
  /** of those: the TCP handshake never completed (SYN unanswered, or still in the server's queues) */
  let unansweredNoConnect = 0
  /** connect() → 'connect' and auth written → answered, ms (storm phase only) */
  const connectMs: number[] = []
  const authMs: number[] = []
  /** the generator's own event-loop delay: a late 'connect' or 'data' here is not the gateway's */
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()

  const nextSerial = (t: Terminal) => (t.serial = (t.serial + 1) & 0xffff)

  const lost = (t: Terminal) => {
    // connection gone: what was in flight is unacknowledged, back to the blind area (in order)
    t.online = false
    t.socket = null
    const back: number[] = []
    for (const f of t.inflight.values()) back.push(...f.seqs)
    t.inflight.clear()
    if (back.length) t.unsent = back.concat(t.unsent).sort((a, b) => a - b)
    schedule(t)
  }

  const schedule = (t: Terminal) => {
    if (t.retry || stopped) return
    const delay = t.immediate ? 100 : Math.random() * Math.min(32_000, 1000 * 2 ** Math.min(t.attempt, 5))
    t.attempt++
    t.retry = setTimeout(() => {
      t.retry = null
      open(t)
    }, delay)
  }

  const flushBlind = (t: Terminal) => {
    // blind area: 0x0704 type 1, up to 30 fixes a frame, one frame in flight per terminal at a time
    while (t.online && t.unsent.length && t.inflight.size < 4) {
      const seqs = t.unsent.splice(0, 30)
      const s = nextSerial(t)
      const items = seqs.map((q) => REPORT_LOC(q, base, t.i))
      t.inflight.set(s, { seqs, at: performance.now(), timed: false })
      t.socket!.write(frame(0x0704, t.phone, s, { type: 1, items }))
    }
  }

  const onMessage = (t: Terminal, escaped: Buffer) => {
    const d = decodeFrame(escaped)
    if (!d.ok) return
    const m = d.value.message
    if (m.msgId !== 0x8001) return
    const b = m.body as { replySerial: number; replyId: number; result: number }
    if (b.replyId === 0x0102 && b.replySerial === t.authSerial) {
      if (b.result !== 0) {
        t.socket?.destroy()
        return
      }
      t.online = true
      t.attempt = 0
      t.authedAt = Date.now()
      if (storm) authMs.push(performance.now() - t.authAt)
      flushBlind(t)
      return
    }
    const f = t.inflight.get(b.replySerial)
    if (!f || (b.replyId !== 0x0200 && b.replyId !== 0x0704)) return
    t.inflight.delete(b.replySerial)
    if (b.result !== 0) {
      // not stored: kept for the next try
      t.unsent = f.seqs.concat(t.unsent).sort((a, c) => a - c)
      return
    }
    t.acked += f.seqs.length
    if (f.timed) latencies.push(performance.now() - f.at)
    flushBlind(t)
  }

  let stopped = false
  let opened = 0
  function open(t: Terminal): void {
    if (stopped) return
    const s = connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${2 + (t.i % sources)}` })
    t.socket = s
    const deframer = new Deframer({ maxFrameLength: 4096, onFrame: (e) => onMessage(t, e), onError: () => undefined })
    let done = false
    const openedAt = performance.now()
    let connectedAt = 0
    const authTimer = setTimeout(() => {
      if (!t.online) {
        unansweredAuth++
        if (!connectedAt) unansweredNoConnect++
        s.destroy()
      }
    }, 30_000)
    s.on('connect', () => {
      connectedAt = performance.now()
      if (storm) connectMs.push(connectedAt - openedAt)
      t.authAt = connectedAt
      t.authSerial = nextSerial(t)
      s.write(frame(0x0102, t.phone, t.authSerial, { authCode: AUTH_CODE }))
    })
    s.on('data', (d: Buffer) => deframer.push(d))
    s.on('error', () => {
      if (!t.online) connectErrors++
    })
    s.on('close', () => {
      clearTimeout(authTimer)
      if (done) return
      done = true
      if (!t.online && s.bytesRead === 0 && s.bytesWritten > 0) refusedClosed++
      if (t.socket === s) lost(t)
    })
  }

  // one timer: heartbeats spread over the interval, reports every reportMs (positions accrue while offline too)
  const tickMs = 100
  let hbCursor = 0
  let repCursor = 0
  let repCarry = 0
  let hbCarry = 0
  const timer = setInterval(() => {
    hbCarry += (count * tickMs) / heartbeatMs
    for (; hbCarry >= 1; hbCarry--) {
      const t = ts[hbCursor++ % count]!
      if (t.online && !reporting) t.socket!.write(frame(0x0002, t.phone, nextSerial(t), {}))
    }
    if (!reporting) return
    repCarry += (count * tickMs) / reportMs
    for (; repCarry >= 1; repCarry--) {
      const t = ts[repCursor++ % count]!
      const seq = t.seq++
      if (t.online && t.unsent.length === 0) {
        const s = nextSerial(t)
        t.inflight.set(s, { seqs: [seq], at: performance.now(), timed: storm })
        t.socket!.write(frame(0x0200, t.phone, s, REPORT_LOC(seq, base, t.i)))
      } else {
        t.unsent.push(seq)
        if (t.online) flushBlind(t)
      }
    }
  }, tickMs)

  const counts = () => {
    let online = 0
    let immediateOnline = 0
    let immediate = 0
    let pending = 0
    let acked = 0
    let generated = 0
    for (const t of ts) {
      if (t.online) online++
      if (t.immediate) {
        immediate++
        if (t.online) immediateOnline++
      }
      pending += t.unsent.length + [...t.inflight.values()].reduce((n, f) => n + f.seqs.length, 0)
      acked += t.acked
      generated += t.seq
    }
    return { online, immediate, immediateOnline, pending, acked, generated, connectErrors, refusedClosed, unansweredAuth }
  }

  process.on('message', (m: Msg) => {
    if (m.type === 'connect') {
      // first connections: a bounded number of handshakes at a time, up to a share of this generator's terminals
      const end = Math.round(count * (m.share as number))
      const perWave = Math.max(1, Math.round(((m.rate as number) * 20) / 1000))
      const wave = () => {
        for (let k = 0; k < perWave && opened < end; k++) open(ts[opened++]!)
        if (opened < end) setTimeout(wave, 20)
      }
      wave()
    } else if (m.type === 'counts') send({ type: 'counts', ...counts() })
    else if (m.type === 'report') reporting = m.on as boolean
    else if (m.type === 'storm') {
      storm = m.on as boolean
      if (storm) {
        latencies.length = connectMs.length = authMs.length = 0
        loopDelay.reset()
      }
    } else if (m.type === 'latencies')
      send({ type: 'latencies', values: latencies.slice(), connectMs, authMs, unansweredNoConnect, loopP99: loopDelay.percentile(99) / 1e6, loopMax: loopDelay.max / 1e6 })
    else if (m.type === 'acked') send({ type: 'acked', perTerminal: ts.map((t) => [t.i, t.acked, t.seq]) })
    else if (m.type === 'stop') {
      stopped = true
      clearInterval(timer)
      for (const t of ts) {
        if (t.retry) clearTimeout(t.retry)
        t.socket?.destroy()
      }
      send({ type: 'stopped' })
      process.disconnect()
    }
  })
  send({ type: 'ready' })
}

// ---- orchestration ---------------------------------------------------------------------------------

/** The gateway's processes: the primary and its workers. */
function gatewayPids(primary: number): number[] {
  let kids = ''
  try {
    kids = readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8')
  } catch {
    /* gone */
  }
  return [primary, ...kids.split(/\s+/).filter(Boolean).map(Number)]
}

function procStat(pids: number[]): { cpuS: number; rss: number } {
  let ticks = 0
  let rss = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(f[11]) + Number(f[12])
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024
    } catch {
      /* exited */
    }
  }
  return { cpuS: ticks / 100, rss }
}

function listenCounters(): { overflows: number; drops: number } {
  const lines = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'))
  const names = lines[0]!.split(/\s+/)
  const values = lines[1]!.split(/\s+/)
  const get = (n: string) => Number(values[names.indexOf(n)] ?? NaN)
  return { overflows: get('ListenOverflows'), drops: get('ListenDrops') }
}

interface Gateway {
  proc: ChildProcess
  pids: () => number[]
  metrics: () => Promise<string>
}

async function startGateway(schema: string, workers: number, port: number, httpPort: number): Promise<Gateway> {
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema},public`)
  // BENCH_GATEWAY_NODE_ARGS: extra node flags for the gateway and its workers (cluster.fork passes
  // the primary's execArgv on), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (written at a clean stop).
  const extra = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
  const proc = spawn(process.execPath, ['--max-semi-space-size=64', ...extra, '--import', 'tsx', CLI, 'serve'], {
    env: {
      ...process.env,
      DATABASE_URL: url.href,
      REDIS_URL,
      JT808_WORKERS: String(workers),
      JT808_TCP_PORT: String(port),
      JT808_TCP_HOST: '0.0.0.0',
      JT808_HTTP_PORT: String(httpPort),
      JT808_HTTP_HOST: '127.0.0.1',
      JT808_LOG_LEVEL: 'warn',
      JT808_NODE_ID: 'storm',
      JT808_ARCHIVE_RAW: 'false',
      JT808_HEARTBEAT_S: args.heartbeat!,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  // the gateway's log (warnings and errors: JT808_LOG_LEVEL=warn) kept in a file for diagnosis
  const log = createWriteStream(GATEWAY_LOG, { flags: 'a' })
  proc.stdout!.pipe(log)
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const onData = (d: Buffer) => {
      out += d.toString()
      if (/listening on tcp:\/\/\S*:\d+ with/.test(out)) {
        proc.stdout!.off('data', onData)
        resolve()
      }
    }
    proc.stdout!.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`jt808 serve exited with ${code}: ${out}`)))
  })
  return {
    proc,
    pids: () => gatewayPids(proc.pid!),
    metrics: () =>
      fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(30_000) })
        .then((r) => r.text())
        .catch(() => ''),
  }
}

/** jt808_handshake_seconds by stage: count, mean, and the share over 1 s and over 10 s (from its buckets). */
function handshakeStages(metrics: string): string {
  const stages = ['accepted', 'line', 'run'].map((stage) => {
    const v = (suffix: string, le?: string) => Number(new RegExp(`^jt808_handshake_seconds_${suffix}\\{${le ? `le="${le}",` : ''}stage="${stage}"\\} ([\\d.e+-]+)`, 'm').exec(metrics)?.[1] ?? NaN)
    const count = v('count')
    const over = (le: string) => (((count - v('bucket', le)) / count) * 100).toFixed(1)
    return `${stage} ${count} (mean ${((v('sum') / count) * 1000).toFixed(1)} ms, ${over('1')} % > 1 s, ${over('10')} % > 10 s)`
  })
  return stages.join('; ')
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN
}

async function main(): Promise<void> {
  const n = Number(args.terminals)
  const workers = Number(args.workers)
  const k = Number(args.clients ?? Math.max(2, Math.ceil(n / 15_000)))
  const port = Number(args.port)
  const httpPort = port + 1
  const { hard } = fdLimits()
  const workerFds = Math.ceil(n / workers) + 512
  const clientFds = Math.ceil(n / k) + 256
  if (workerFds > hard || clientFds > hard) {
    console.error(`bench/storm: ${n} terminals need ${workerFds} fds per worker and ${clientFds} per generator; the hard limit is ${hard}: raise --workers / --clients`)
    process.exit(2)
  }
  console.log(
    `bench/storm: ${n} terminals, jt808 serve --workers ${workers}, ${k} generators on ${args.sources} source addresses, immediate share ${args['immediate-share']}, heartbeat ${args.heartbeat} s, report every ${args['report-ms']} ms`,
  )
  console.log(`  gateway log (warnings and errors) in ${GATEWAY_LOG}`)
  console.log(`  ${new Date().toISOString()}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}, fd hard limit ${hard}`)

  // scratch schema, migrated, N vehicles with their terminals registered (one auth code, its hash stored)
  const { DEFAULTS } = await import('../src/config/index.js')
  const { openStore } = await import('../src/store/index.js')
  const { hashAuthCode } = await import('../src/gateway/index.js')
  const { Redis } = await import('ioredis')
  const schema = `bench_storm_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const store = await openStore({ ...structuredClone(DEFAULTS), databaseUrl: DATABASE_URL }, { schema, poolSize: 4 })
  const prefix = String(1300000 + (process.pid % 90000)).slice(0, 7)
  const hash = hashAuthCode(AUTH_CODE)
  const vehicleOf = await provisionFleet(store, n, '鲁S', prefix, hash)
  const redis = new Redis(REDIS_URL)
  await redis.flushdb()
  redis.disconnect()

  let gw: Gateway | null = null
  const clients: ChildProcess[] = []
  try {
    gw = await startGateway(schema, workers, port, httpPort)
    await new Promise((r) => setTimeout(r, 3000))
    const empty = procStat(gw.pids())
    const base = Math.floor(Date.now() / 1000) * 1000 - 3600_000
    const per = Math.ceil(n / k)
    for (let i = 0; i < k; i++) {
      const first = i * per
      const count = Math.min(per, n - first)
      if (count <= 0) break
      const c = spawnRole(SELF, 'client', clientFds, [
        '--first',
        String(first),
        '--count',
        String(count),
        '--port',
        String(port),
        '--sources',
        args.sources!,
        '--prefix',
        prefix,
        '--base',
        String(base),
        '--immediate-share',
        args['immediate-share']!,
        '--heartbeat',
        args.heartbeat!,
        '--report-ms',
        args['report-ms']!,
      ])
      c.setMaxListeners(0)
      clients.push(c)
      await waitFor(c, 'ready')
    }
    type Counts = {
      online: number
      immediate: number
      immediateOnline: number
      pending: number
      acked: number
      generated: number
      connectErrors: number
      refusedClosed: number
      unansweredAuth: number
    }
    const total = async (): Promise<Counts> => {
      const all = await Promise.all(clients.map((c) => request<Counts>(c, { type: 'counts' }, 'counts')))
      const sum = { online: 0, immediate: 0, immediateOnline: 0, pending: 0, acked: 0, generated: 0, connectErrors: 0, refusedClosed: 0, unansweredAuth: 0 }
      for (const a of all) for (const key of Object.keys(sum) as (keyof Counts)[]) sum[key] += a[key]
      return sum
    }
    const until = async (cond: (c: Counts) => boolean, timeoutS: number, onTick?: (c: Counts, ms: number) => void): Promise<Counts> => {
      const t0 = Date.now()
      for (;;) {
        const c = await total()
        onTick?.(c, Date.now() - t0)
        if (cond(c) || Date.now() - t0 > timeoutS * 1000) return c
        await new Promise((r) => setTimeout(r, 100))
      }
    }

    // 1. held: in two halves, RSS read after each (settled 3 s): the slope between them is the cost of
    // a connection (the processes' warm-up with the first traffic cancels out)
    const c0 = procStat(gw.pids())
    const t0 = Date.now()
    for (const c of clients) c.send({ type: 'connect', share: 0.5, rate: Number(args['connect-rate']) / clients.length })
    const halfHeld = await until((c) => c.online >= Math.floor(n / 2) - clients.length, Number(args['storm-timeout']))
    await new Promise((r) => setTimeout(r, 3000))
    const half = procStat(gw.pids())
    for (const c of clients) c.send({ type: 'connect', share: 1, rate: Number(args['connect-rate']) / clients.length })
    const held = await until((c) => c.online === n, Number(args['storm-timeout']))
    const connectS = (Date.now() - t0) / 1000 - 3
    const c1 = procStat(gw.pids())
    await new Promise((r) => setTimeout(r, 3000))
    const loaded = procStat(gw.pids())
    const holdS = Number(args.hold)
    await new Promise((r) => setTimeout(r, holdS * 1000))
    const idle = procStat(gw.pids())
    const kb = (b: number) => (b / 1024).toFixed(2)
    console.log(
      `held             ${held.online} / ${n} authenticated in ${connectS.toFixed(1)} s; gateway CPU ${(((c1.cpuS - c0.cpuS) * 1000) / Math.max(1, held.online)).toFixed(2)} ms per authentication (first connection; 3 s pause at half-way not counted in the time, its idle CPU is)`,
    )
    const perConn = (loaded.rss - half.rss) / Math.max(1, held.online - halfHeld.online)
    console.log(
      `  RSS            ${(empty.rss / 1048576).toFixed(1)} MiB empty, ${(half.rss / 1048576).toFixed(1)} MiB with ${halfHeld.online}, ${(loaded.rss / 1048576).toFixed(1)} MiB with ${held.online} (${gw.pids().length} processes): ${kb(perConn)} KB per connection (slope between the halves; ${kb((loaded.rss - empty.rss) / Math.max(1, held.online))} KB against the empty processes)`,
    )
    console.log(
      `  idle CPU       ${(((idle.cpuS - loaded.cpuS) / holdS) * 100).toFixed(1)} % of one core over ${holdS} s of heartbeats: ${((((idle.cpuS - loaded.cpuS) / holdS) * 100 * 1000) / Math.max(1, held.online)).toFixed(2)} % per 1,000 idle terminals`,
    )

    // 2. reporting
    for (const c of clients) c.send({ type: 'report', on: true })
    await new Promise((r) => setTimeout(r, Math.max(5000, Number(args['report-ms']) * 2)))

    // 3. storm
    const before = listenCounters()
    const acked0 = (await total()).acked
    const pids = gw.pids()
    for (const pid of pids) process.kill(pid, 'SIGKILL')
    const killedAt = Date.now()
    await new Promise<void>((r) => (gw!.proc.exitCode !== null || gw!.proc.signalCode !== null ? r() : gw!.proc.once('exit', () => r())))
    for (const c of clients) c.send({ type: 'storm', on: true })
    await new Promise((r) => setTimeout(r, Number(args.down) * 1000))
    gw = await startGateway(schema, workers, port, httpPort)
    const restartedAt = Date.now()
    const r0 = procStat(gw.pids())
    let t99 = NaN
    let cpu99 = NaN
    let tImmediate = NaN
    const back = await until(
      (c) => c.online === n,
      Number(args['storm-timeout']),
      (c, ms) => {
        if (Number.isNaN(tImmediate) && c.immediateOnline === c.immediate) tImmediate = ms
        if (Number.isNaN(t99) && c.online >= 0.99 * n) {
          t99 = ms
          cpu99 = procStat(gw!.pids()).cpuS
        }
      },
    )
    const t100 = Date.now() - restartedAt
    const r1 = procStat(gw.pids())
    const after = listenCounters()
    for (const c of clients) c.send({ type: 'storm', on: false })
    const fromClients = await Promise.all(
      clients.map((c) => request<{ values: number[]; connectMs: number[]; authMs: number[]; unansweredNoConnect: number; loopP99: number; loopMax: number }>(c, { type: 'latencies' }, 'latencies')),
    )
    const lat = fromClients.flatMap((l) => l.values).sort((a, b) => a - b)
    const sorted = (k: 'connectMs' | 'authMs') => fromClients.flatMap((l) => l[k]).sort((a, b) => a - b)
    const [conn, auth] = [sorted('connectMs'), sorted('authMs')]
    const noConnect = fromClients.reduce((n, l) => n + l.unansweredNoConnect, 0)
    const metrics = await gw.metrics()
    const overload = Number(/jt808_connections_closed_total\{reason="auth_overload"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    const skipped = Number(/^jt808_admission_skipped_total (\d+)/m.exec(metrics)?.[1] ?? 0)
    console.log(
      `storm            SIGKILL of ${pids.length} gateway processes with ${acked0} positions acknowledged; restarted ${((restartedAt - killedAt) / 1000).toFixed(1)} s later (--down ${args.down} s + start)`,
    )
    console.log(
      `  re-authenticated  ${back.online} / ${n}: 99 % in ${(t99 / 1000).toFixed(1)} s, ${back.online === n ? `100 % in ${(t100 / 1000).toFixed(1)} s` : `NOT all within ${args['storm-timeout']} s`} after the restart (${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill); the ${back.immediate} retrying every 100 ms all in ${(tImmediate / 1000).toFixed(1)} s (the rest wait out their backoff, up to 32 s)`,
    )
    console.log(
      `  gateway CPU       ${(((r1.cpuS - r0.cpuS) * 1000) / n).toFixed(2)} ms per terminal from the restart to 100 % (${(((cpu99 - r0.cpuS) * 1000) / n).toFixed(2)} to 99 %; includes the blind-area uploads)`,
    )
    console.log(
      `  accept queue      ListenOverflows +${after.overflows - before.overflows}, ListenDrops +${after.drops - before.drops} (machine-wide counters); closed by admission control (auth_overload) ${overload}; handshakes skipped (terminal gone while in line) ${skipped}; ${metrics ? '' : '(no /metrics answer) '} generator: ${back.connectErrors} connection attempts failed (refused while down, reset), ${back.unansweredAuth} auths unanswered in 30 s`,
    )
    console.log(`  handshake stages  ${handshakeStages(metrics)}`)
    console.log(
      `  terminal's view   TCP connect p50 ${pct(conn, 50).toFixed(1)} / p99 ${pct(conn, 99).toFixed(1)} / max ${(conn[conn.length - 1] ?? NaN).toFixed(0)} ms (${conn.length} connects); auth answered p50 ${pct(auth, 50).toFixed(1)} / p99 ${pct(auth, 99).toFixed(1)} ms (${auth.length}); of the unanswered, ${noConnect} never connected; generators' event-loop delay p99 ${Math.max(...fromClients.map((l) => l.loopP99)).toFixed(0)} ms, max ${Math.max(...fromClients.map((l) => l.loopMax)).toFixed(0)} ms`,
    )
    console.log(
      `  ack latency       0x0200 of terminals already back during the storm: ${lat.length} acks, p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${(lat[lat.length - 1] ?? NaN).toFixed(1)} ms`,
    )

    // 4. settle: everything acknowledged, then compared with the rows stored
    for (const c of clients) c.send({ type: 'report', on: false })
    const settled = await until((c) => c.pending === 0, 120)
    const perTerminal = (await Promise.all(clients.map((c) => request<{ perTerminal: [number, number, number][] }>(c, { type: 'acked' }, 'acked')))).flatMap((a) => a.perTerminal)
    const { rows } = await store.sql.query<{ vehicle_id: number; n: string }>('SELECT vehicle_id, count(*) AS n FROM positions GROUP BY vehicle_id')
    const stored = new Map(rows.map((r) => [Number(r.vehicle_id), Number(r.n)]))
    let lostPositions = 0
    let storedTotal = 0
    for (const [i, ackedN] of perTerminal) {
      const s = stored.get(vehicleOf[i]!) ?? 0
      storedTotal += s
      lostPositions += Math.max(0, ackedN - s)
    }
    console.log(
      `positions        ${settled.generated} taken, ${settled.acked} acknowledged (${settled.pending} still pending), ${storedTotal} stored: lost ${lostPositions} ${lostPositions === 0 ? '(target 0: met)' : '(target 0: NOT met)'}`,
    )
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met')
    console.log(`targets          all back within 60 s: ${met(back.online === n && t100 <= 60_000)}; p99 ≤ 1 s: ${met(pct(lat, 99) <= 1000)}; ≤ 10 KB per connection: ${met(perConn <= 10240)}`)
  } finally {
    await Promise.all(clients.map((c) => request(c, { type: 'stop' }, 'stopped').catch(() => undefined)))
    if (gw) {
      const g = gw
      const exited = new Promise<void>((r) => (g.proc.exitCode !== null || g.proc.signalCode !== null ? r() : g.proc.once('exit', () => r())))
      g.proc.kill('SIGTERM')
      const force = setTimeout(() => {
        for (const pid of g.pids()) {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            /* gone */
          }
        }
      }, 20_000)
      await exited
      clearTimeout(force)
    }
    await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
    await store.close()
  }
}

if (args.role === 'client') await client()
else await main()
