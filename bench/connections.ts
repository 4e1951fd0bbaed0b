/**
 * bench/connections: how many authenticated terminals one gateway process holds, and what each
 * costs.
 *
 *   node --import tsx bench/connections.ts [--connections N] [--clients K] [--sources S]
 *        [--heartbeat SECONDS] [--hold SECONDS] [--embedded]
 *
 * A gateway process (this file with --role server: the real startApp, PostgreSQL in a scratch
 * schema unless --embedded, in-process state) and K client processes that open N TCP
 * connections over loopback from S source addresses (127.0.0.1 … 127.0.0.S, so more than the
 * ~28k ephemeral ports of one address are available), authenticate each terminal with 0x0102,
 * then keep heartbeats going (each terminal every --heartbeat seconds, spread evenly).
 *
 * Reported, from the gateway process only:
 *   - RSS before any connection (the baseline, same run) and with N authenticated terminals
 *     (after a GC), the difference per connection, and V8 heap per connection;
 *   - CPU of the gateway during the steady heartbeat phase (% of one core) and heartbeats/s;
 *   - how long connecting + authenticating took.
 * Target (issue 3): 100,000 connections at ≤ 10 KB RSS each (go-jt808 reports ≈ 17 KB).
 *
 * BENCH_GATEWAY_NODE_ARGS adds node flags to the gateway process (e.g. "--cpu-prof").
 *
 * File descriptors: the gateway needs N + ~200, each client N/K + ~200. The script raises the
 * soft limit of its children up to the hard limit (`ulimit -n` in a shell wrapper); beyond the
 * hard limit it refuses and says so — raise it first (`ulimit -Hn`, systemd LimitNOFILE,
 * docker --ulimit nofile=200000:200000). For 100k connections also check
 * net.core.somaxconn and net.ipv4.ip_local_port_range (S × the range must exceed N / S).
 */
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { encodeMessage } from '../protocol/index.js'
import { type Msg, fdLimits, phoneOf, provisionFleet, request, spawnRole, waitFor } from './processes.js'

const DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const AUTH_CODE = 'bench-auth-code1'
const SELF = new URL(import.meta.url).pathname

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    connections: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '2' },
    sources: { type: 'string', default: '4' },
    heartbeat: { type: 'string', default: '30' },
    hold: { type: 'string', default: '10' },
    embedded: { type: 'boolean', default: false },
    index: { type: 'string', default: '0' },
    first: { type: 'string', default: '0' },
    count: { type: 'string', default: '0' },
    port: { type: 'string', default: '0' },
    prefix: { type: 'string', default: '1390000' },
  },
})

function send(m: Msg): void {
  process.send?.(m)
}

// ---- gateway process -------------------------------------------------------------------------

interface ServerStats {
  type: 'stats'
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  cpuUserUs: number
  cpuSystemUs: number
  connections: number
  sessions: number
}

async function server(): Promise<void> {
  const { startApp } = await import('../src/app.js')
  const { DEFAULTS } = await import('../src/config/index.js')
  const { openStore } = await import('../src/store/index.js')
  const { hashAuthCode } = await import('../src/gateway/index.js')
  const { pino } = await import('pino')
  const n = Number(args.connections)
  const schema = `bench_conn_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const config = {
    ...structuredClone(DEFAULTS),
    tcpPort: 0,
    tcpHost: '0.0.0.0',
    httpPort: 0,
    httpHost: '127.0.0.1',
    attachmentsPort: 0,
    databaseUrl: args.embedded ? null : DATABASE_URL,
    nodeId: 'bench-gateway',
    archiveRawFrames: false,
    heartbeatSeconds: Number(args.heartbeat),
    idleTimeoutSeconds: Number(args.heartbeat) * 3,
    logLevel: 'warn',
  }
  const store = await openStore(config, args.embedded ? { embedded: 'memory' } : { schema, poolSize: 8 })
  // Provision N vehicles with their terminals (same auth code: the hash is what is stored).
  const hash = hashAuthCode(AUTH_CODE)
  const prefix = args.prefix
  await provisionFleet(store, n, '鲁B', prefix, hash)
  const app = await startApp(config, { store, upkeep: false, logger: pino({ level: 'warn' }) })
  const gc = (globalThis as { gc?: () => void }).gc
  const stats = (): ServerStats => {
    const m = process.memoryUsage()
    const c = process.cpuUsage()
    const s = app.gateway.stats()
    return {
      type: 'stats',
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      cpuUserUs: c.user,
      cpuSystemUs: c.system,
      connections: s.connections,
      sessions: s.sessions,
    }
  }
  process.on('message', async (m: Msg) => {
    if (m.type === 'stats') {
      if (m.gc && gc) {
        gc()
        gc()
      }
      send(stats() as unknown as Msg)
    } else if (m.type === 'stop') {
      await app.close()
      if (!args.embedded) await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
      await store.close()
      send({ type: 'stopped' })
      process.disconnect()
    }
  })
  send({ type: 'ready', port: app.tcp.port })
}

// ---- client process --------------------------------------------------------------------------

async function client(): Promise<void> {
  const first = Number(args.first)
  const count = Number(args.count)
  const port = Number(args.port)
  const sources = Number(args.sources)
  const heartbeatMs = Number(args.heartbeat) * 1000
  const sockets: Socket[] = new Array(count)
  const heartbeats: Buffer[] = new Array(count)
  let authenticated = 0
  let replies = 0
  let errors = 0
  let closed = 0
  const frame = (msgId: number, phone: string, body: unknown) => {
    const r = encodeMessage({ msgId, phone, serial: 1, body } as Parameters<typeof encodeMessage>[0])
    if (!r.ok) throw new Error(r.error.message)
    return r.value
  }
  const open = (i: number) =>
    new Promise<void>((resolve) => {
      const phone = phoneOf(args.prefix, first + i)
      heartbeats[i] = frame(0x0002, phone, {})
      const s = connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${1 + ((first + i) % sources)}` })
      sockets[i] = s
      let authed = false
      s.on('connect', () => s.write(frame(0x0102, phone, { authCode: AUTH_CODE })))
      s.on('data', (d: Buffer) => {
        // Each platform frame carries two 0x7e delimiters and none inside (escaped).
        let flags = 0
        for (let k = d.indexOf(0x7e); k >= 0; k = d.indexOf(0x7e, k + 1)) flags++
        replies += flags / 2
        if (!authed) {
          authed = true
          authenticated++
          resolve()
        }
      })
      s.on('error', () => {
        errors++
        resolve()
      })
      s.on('close', () => closed++)
    })
  // Two halves: the gateway's RSS is read after each, and the slope between them is the cost of
  // a connection (fixed costs and allocator noise cancel out).
  let next = 0
  const openUpTo = async (end: number) => {
    const started = Date.now()
    // a bounded number of handshakes in flight (the listen backlog is finite)
    await Promise.all(
      Array.from({ length: Math.min(256, end - next) }, async () => {
        while (next < end) await open(next++)
      }),
    )
    send({ type: 'connected', authenticated, errors, ms: Date.now() - started })
  }
  await openUpTo(Math.floor(count / 2))
  await new Promise<void>((resolve) => {
    const on = (m: Msg) => {
      if (m.type !== 'more') return
      process.off('message', on)
      resolve()
    }
    process.on('message', on)
  })
  await openUpTo(count)
  // heartbeats: every terminal once per interval, spread over it by one timer
  const tickMs = 100
  let cursor = 0
  const perTick = Math.max(1, Math.ceil((count * tickMs) / heartbeatMs))
  const timer = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const i = cursor++ % count
      const s = sockets[i]
      if (s && !s.destroyed) s.write(heartbeats[i])
    }
  }, tickMs)
  process.on('message', (m: Msg) => {
    if (m.type === 'counts') send({ type: 'counts', replies, errors, closed, authenticated })
    else if (m.type === 'stop') {
      clearInterval(timer)
      for (const s of sockets) s?.destroy()
      send({ type: 'stopped' })
      process.disconnect()
    }
  })
}

// ---- orchestration ---------------------------------------------------------------------------

/**
 * Gateway stats once its RSS has settled: V8 returns freed pages to the OS gradually after a GC
 * (start-up leaves a lot), so read until two readings 1 s apart agree within 256 KiB (≤ 15 s).
 */
async function settled(srv: ChildProcess): Promise<ServerStats> {
  let prev = await request<ServerStats>(srv, { type: 'stats', gc: true }, 'stats')
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 1000))
    const cur = await request<ServerStats>(srv, { type: 'stats', gc: true }, 'stats')
    if (Math.abs(cur.rss - prev.rss) < 256 * 1024) return cur
    prev = cur
  }
  return prev
}

async function main(): Promise<void> {
  const n = Number(args.connections)
  const k = Math.max(1, Number(args.clients))
  const holdS = Number(args.hold)
  const { soft, hard } = fdLimits()
  const serverFds = n + 256
  const clientFds = Math.ceil(n / k) + 256
  const need = Math.max(serverFds, clientFds)
  if (need > hard) {
    console.error(`bench/connections: ${n} connections need ${serverFds} file descriptors in the gateway; the hard limit here is ${hard}.`)
    console.error(`Raise it first (ulimit -Hn, systemd LimitNOFILE, docker --ulimit nofile=...), or use --connections ≤ ${hard - 256}.`)
    process.exit(2)
  }
  const prefix = String(1300000 + (process.pid % 90000)).slice(0, 7)
  console.log(`bench/connections: ${n} terminals, ${k} client processes, ${args.sources} source addresses, heartbeat every ${args.heartbeat} s; fd limit ${soft}/${hard} → children at ${need}`)
  console.log(`  store: ${args.embedded ? 'embedded PGlite (in the gateway process: its memory counts)' : 'PostgreSQL (scratch schema)'}, state: in-process`)

  const srv = spawnRole(
    SELF,
    'server',
    serverFds,
    ['--connections', String(n), '--heartbeat', String(args.heartbeat), '--prefix', prefix, ...(args.embedded ? ['--embedded'] : [])],
    ['--expose-gc', ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
  )
  const ready = await waitFor<{ port: number }>(srv, 'ready')
  const base = await settled(srv)

  const connectCpu0 = await request<ServerStats>(srv, { type: 'stats' }, 'stats')
  const clients: ChildProcess[] = []
  const per = Math.ceil(n / k)
  const t0 = Date.now()
  for (let i = 0; i < k; i++) {
    const first = i * per
    const count = Math.min(per, n - first)
    if (count <= 0) break
    clients.push(
      spawnRole(SELF, 'client', clientFds, [
        '--first',
        String(first),
        '--count',
        String(count),
        '--port',
        String(ready.port),
        '--sources',
        String(args.sources),
        '--heartbeat',
        String(args.heartbeat),
        '--prefix',
        prefix,
      ]),
    )
  }
  await Promise.all(clients.map((c) => waitFor(c, 'connected')))
  const halfMs = Date.now() - t0
  const half = await settled(srv)
  const t1 = Date.now()
  const phase2 = Promise.all(clients.map((c) => waitFor<{ authenticated: number; errors: number }>(c, 'connected')))
  for (const c of clients) c.send({ type: 'more' })
  const connected = await phase2
  const connectMs = halfMs + (Date.now() - t1)
  const authenticated = connected.reduce((a, c) => a + c.authenticated, 0)
  const connErrors = connected.reduce((a, c) => a + c.errors, 0)

  const connectCpu1 = await request<ServerStats>(srv, { type: 'stats' }, 'stats')
  const loaded = await settled(srv)
  const before = await Promise.all(clients.map((c) => request<{ replies: number }>(c, { type: 'counts' }, 'counts')))
  const cpu0 = await request<ServerStats>(srv, { type: 'stats' }, 'stats')
  const h0 = Date.now()
  await new Promise((r) => setTimeout(r, holdS * 1000))
  const cpu1 = await request<ServerStats>(srv, { type: 'stats' }, 'stats')
  const heldMs = Date.now() - h0
  const after = await Promise.all(clients.map((c) => request<{ replies: number; closed: number; errors: number }>(c, { type: 'counts' }, 'counts')))
  const final = await request<ServerStats>(srv, { type: 'stats', gc: true }, 'stats')

  const acked = after.reduce((a, c) => a + c.replies, 0) - before.reduce((a, c) => a + c.replies, 0)
  const closedByServer = after.reduce((a, c) => a + c.closed, 0)
  const kb = (b: number) => (b / 1024).toFixed(2)
  const mib = (b: number) => (b / 1048576).toFixed(1)
  const added = Math.max(1, loaded.connections - half.connections)
  const perConn = (loaded.rss - half.rss) / added
  const perConnBase = (loaded.rss - base.rss) / Math.max(1, loaded.connections)
  const perConnFinal = (final.rss - half.rss) / Math.max(1, final.connections - half.connections)
  const cpuPct = ((cpu1.cpuUserUs + cpu1.cpuSystemUs - cpu0.cpuUserUs - cpu0.cpuSystemUs) / 1000 / heldMs) * 100

  console.log('')
  console.log(`connected + authenticated   ${authenticated} / ${n} in ${(connectMs / 1000).toFixed(1)} s (${Math.round((authenticated / connectMs) * 1000)}/s), ${connErrors} errors`)
  const connectCpuMs = (connectCpu1.cpuUserUs + connectCpu1.cpuSystemUs - connectCpu0.cpuUserUs - connectCpu0.cpuSystemUs) / 1000
  console.log(
    `  gateway CPU while connecting: ${(connectCpuMs / authenticated).toFixed(2)} ms per authentication (the rest is the database: the terminal with its vehicle in one query, the session event)`,
  )
  console.log(`gateway connections         ${loaded.connections} open, ${loaded.sessions} sessions`)
  console.log(`gateway RSS                 ${mib(base.rss)} MiB with 0, ${mib(half.rss)} MiB with ${half.connections}, ${mib(loaded.rss)} MiB with ${loaded.connections} connections (after GC)`)
  console.log(`RSS per connection          ${kb(perConn)} KB (slope between the halves); ${kb(perConnBase)} KB against the empty baseline; ${kb(perConnFinal)} KB after ${holdS} s of heartbeats`)
  console.log(`  V8 heap per connection    ${kb((loaded.heapUsed - half.heapUsed) / added)} KB; external ${kb((loaded.external - half.external) / added)} KB`)
  console.log(
    `gateway CPU, steady         ${cpuPct.toFixed(1)} % of one core for ${Math.round((acked / heldMs) * 1000)} heartbeats/s acked (${((cpuPct / Math.max(1, (acked / heldMs) * 1000)) * 1000).toFixed(2)} % per 1k hb/s)`,
  )
  console.log(`connections dropped         ${closedByServer}`)
  console.log(`target ≤ 10 KB per connection: ${perConn <= 10 * 1024 ? 'met' : 'NOT met'} (ratio ${(perConn / (10 * 1024)).toFixed(2)}; go-jt808 reports ≈ 17 KB)`)

  await Promise.all(clients.map((c) => request(c, { type: 'stop' }, 'stopped')))
  await request(srv, { type: 'stop' }, 'stopped')
}

if (args.role === 'server') await server()
else if (args.role === 'client') await client()
else await main()
