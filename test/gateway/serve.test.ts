/**
 * `jt808 serve` as a process: prints where it listens, serves terminals, stops gracefully on
 * SIGTERM (what was received is committed), refuses bad configuration clearly, and runs
 * `--workers 2` with node:cluster on PostgreSQL + Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import t from 'tap'
import { RedisState } from '../../src/state/index.js'
import { openStore } from '../../src/store/index.js'
import { startOwnRedis } from '../state/redis-server.js'
import { DATABASE_URL, eventually, fixAt, newPhone, newPlate, online, REDIS_URL, testConfig } from './harness.js'
import { JT808 } from '../cli-process.js'

interface Served {
  child: ChildProcess
  out: () => string
  err: () => string
  exited: Promise<number | null>
}

/** `detached`: the child leads a process group of its own (its workers join it), as a shell job does. */
function serve(args: string[], env: Record<string, string> = {}, opts: { detached?: boolean } = {}): Served {
  const child = spawn(process.execPath, [...JT808, 'serve', ...args], {
    env: { ...process.env, JT808_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, out: () => out, err: () => err, exited }
}

async function listeningPort(s: Served, pattern = /listening on tcp:\/\/[^:]+:(\d+)/, timeoutMs = 60_000): Promise<number> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const m = pattern.exec(s.out())
    if (m) return Number(m[1])
    if (s.child.exitCode !== null) throw new Error(`serve exited ${s.child.exitCode}: ${s.err()}`)
    if (Date.now() > end) throw new Error(`serve did not listen within ${timeoutMs} ms: ${s.out()} ${s.err()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A schema of our own on the test PostgreSQL, reached through the connection string. */
async function schemaUrl(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const schema = `serve_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const store = await openStore(testConfig({ databaseUrl: DATABASE_URL }), { schema, migrate: false })
  t.teardown(async () => {
    const s = await openStore(testConfig({ databaseUrl: DATABASE_URL }), { schema, migrate: false })
    await s.sql.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await s.close()
  })
  await store.close()
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema},public`)
  return url.toString()
}

t.test('bad configuration is refused with a clear message and exit code 2', async (t) => {
  const a = serve(['--port', 'seventy'])
  t.equal(await a.exited, 2)
  t.match(a.err(), /--port: expected an integer, got "seventy"/)
  const b = serve(['--workers', '2'], { REDIS_URL: '', DATABASE_URL: '' })
  t.equal(await b.exited, 2)
  t.match(b.err(), /workers=2 needs REDIS_URL/)
  const c = serve(['--frobnicate'])
  t.equal(await c.exited, 2)
  t.match(c.err(), /unknown option --frobnicate/)
})

t.test('one process: serves, and SIGTERM commits what was received before exiting', async (t) => {
  const databaseUrl = await schemaUrl(t)
  const s = serve(
    ['--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1', '--attachments-port', '0', '--attachments-host', '127.0.0.1', '--registration', 'open', '--batch-ms', '200'],
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: '',
    },
  )
  t.teardown(() => void s.child.kill('SIGKILL'))
  const port = await listeningPort(s)
  t.match(s.out(), /in-process state, registration open/)
  const { client } = await online(port, { phone: newPhone(), plate: newPlate(), plateColor: 2 })
  const acks = [0, 1, 2].map((i) => client.reportPosition(fixAt(Date.now() - 10_000 + i * 1000)))
  // stop while the batch (200 ms) is still open: its positions must be committed and acked
  await new Promise((r) => setTimeout(r, 20))
  s.child.kill('SIGTERM')
  t.same(await Promise.all(acks), [0, 0, 0], 'every position acknowledged during shutdown')
  t.equal(await s.exited, 0, 'clean exit')
  t.match(s.out(), /SIGTERM, shutting down[\s\S]*stopped/)
  await client.close()
  const store = await openStore(testConfig({ databaseUrl }), { migrate: false })
  t.equal(await store.countPositions(), 3, 'the positions are in the database')
  await store.close()
})

t.test('--workers 2: two processes share the port (16 accept lanes each), sessions go to Redis', async (t) => {
  const databaseUrl = await schemaUrl(t)
  // a Redis database of its own: `serve` uses the default key prefix
  const redisUrl = new URL(REDIS_URL)
  redisUrl.pathname = '/7'
  const s = serve(
    ['--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1', '--attachments-port', '0', '--attachments-host', '127.0.0.1', '--registration', 'open', '--workers', '2'],
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl.toString(),
    },
  )
  t.teardown(() => {
    if (!t.passing()) t.comment(`serve output:\n${s.out()}\n${s.err()}`)
    s.child.kill('SIGKILL')
  })
  await listeningPort(s, /listening on tcp:\/\/[^:]+:(\d+) with 2 workers/)
  const [, port, httpPort] = /listening on tcp:\/\/[^:]+:(\d+) with 2 workers, API on http:\/\/[^:]+:(\d+)/.exec(s.out())!.map(Number)
  const state = new RedisState(redisUrl.toString(), { prefix: 'jt808:' })
  t.teardown(() => state.close())
  // The kernel spreads connections between the workers' descriptors (no round-robin under accept
  // lanes): terminals come in fours until both workers hold some.
  const terminals: Awaited<ReturnType<typeof online>>[] = []
  const nodes = new Set<string>()
  while (nodes.size < 2 && terminals.length < 40) {
    const four = await Promise.all([0, 1, 2, 3].map(() => online(port, { phone: newPhone(), plate: newPlate(), plateColor: 2 })))
    terminals.push(...four)
    const results = await Promise.all(four.map(({ client }) => client.reportPosition(fixAt(Date.now() - 5000))))
    t.same(results, [0, 0, 0, 0], 'all served')
    for (const { client } of four) {
      const session = await state.getSession(client.phone)
      t.ok(session, `session of ${client.phone} in Redis`)
      if (session) nodes.add(session.nodeId)
    }
  }
  t.equal(nodes.size, 2, `connections spread over both workers (${terminals.length} terminals)`)
  const metrics = await eventually(async () => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    return /^jt808_accept_lanes 32$/m.test(text) ? text : null
  }, 10_000)
  t.match(metrics, new RegExp(`^jt808_sessions ${terminals.length}$`, 'm'), 'every session counted')
  await Promise.all(terminals.map(({ client }) => client.close()))
  s.child.kill('SIGTERM')
  t.equal(await s.exited, 0)
  t.match(s.out(), /stopping 2 workers[\s\S]*stopped/)
  await state.clear()
})

t.test('--workers 2: Ctrl-C (SIGINT to the whole process group) drains every worker; /metrics adds both workers up', async (t) => {
  const databaseUrl = await schemaUrl(t)
  const redis = await startOwnRedis()
  t.teardown(() => redis.stop())
  // a long batch: the positions are still uncommitted when the signal comes
  const s = serve(
    // one accept lane: node:cluster's round-robin hands the six terminals to both workers
    ['--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1', '--registration', 'open', '--workers', '2', '--batch-ms', '1500', '--accept-lanes', '1'],
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
    },
    { detached: true },
  )
  t.teardown(() => {
    if (!t.passing()) t.comment(`serve output:\n${s.out()}\n${s.err()}`)
    if (s.child.exitCode === null && s.child.signalCode === null) process.kill(-s.child.pid!, 'SIGKILL')
  })
  await listeningPort(s, /listening on tcp:\/\/[^:]+:(\d+) with 2 workers, API on http/)
  const [, tcpPort, httpPort] = /listening on tcp:\/\/[^:]+:(\d+) with 2 workers, API on http:\/\/[^:]+:(\d+)/.exec(s.out())!.map(Number)
  const terminals = await Promise.all(Array.from({ length: 6 }, () => online(tcpPort, { phone: newPhone(), plate: newPlate(), plateColor: 2 }, 2013, { replyTimeoutMs: 30_000 })))
  t.teardown(() => Promise.all(terminals.map(({ client }) => client.close())))
  const state = new RedisState(redis.url, { prefix: 'jt808:' })
  t.teardown(() => state.close())
  const nodes = new Set<string>()
  for (const { client } of terminals) nodes.add((await state.getSession(client.phone))?.nodeId ?? 'none')
  t.equal(nodes.size, 2, 'the terminals are spread over both workers')

  // every scrape, whichever worker answers it, counts both workers' sessions
  for (let i = 0; i < 4; i++) {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    t.match(text, /^jt808_sessions 6$/m, `scrape ${i + 1}: 6 sessions in all`)
    t.match(text, /^jt808_accept_lanes 2$/m, 'one lane per worker')
    t.notMatch(text, /cluster metrics unavailable/)
  }

  const base = Math.floor(Date.now() / 1000) * 1000 - 600_000
  const sent = terminals.map(({ client }) => [0, 1, 2, 3].map((n) => client.reportPosition(fixAt(base + n * 1000))))
  await new Promise((r) => setTimeout(r, 200))
  process.kill(-s.child.pid!, 'SIGINT')
  const results = await Promise.all(sent.map((list) => Promise.allSettled(list)))
  t.equal(await s.exited, 0, 'clean exit')
  t.notMatch(s.err(), /second signal/, 'no worker took the stop for a second signal')
  // each worker stops on whichever comes first: its own SIGINT or the primary's request
  t.equal(s.out().match(/jt808 worker \d+: (SIG\w+|stop requested by the primary), shutting down/g)?.length, 2, 'both workers drained')
  t.match(s.out(), /stopping 2 workers[\s\S]*jt808 serve: stopped/)

  const store = await openStore(testConfig({ databaseUrl }), { migrate: false })
  t.teardown(() => store.close())
  let acked = 0
  for (const [i, { client }] of terminals.entries()) {
    const ok = results[i].filter((r) => r.status === 'fulfilled' && r.value === 0).length
    acked += ok
    const terminal = await store.getTerminal(client.phone)
    t.equal(await store.countPositions(terminal!.vehicleId!), ok, `${client.phone}: acknowledged = committed (${ok})`)
  }
  t.equal(acked, 24, 'every position received before the signal was committed and acknowledged')
})
