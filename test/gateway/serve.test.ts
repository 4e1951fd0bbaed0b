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
import { DATABASE_URL, fixAt, newPhone, newPlate, online, REDIS_URL, testConfig } from './harness.js'

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname

interface Served {
  child: ChildProcess
  out: () => string
  err: () => string
  exited: Promise<number | null>
}

function serve(args: string[], env: Record<string, string> = {}): Served {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', ...args], {
    env: { ...process.env, JT808_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
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
  const s = serve(['--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1', '--attachments-port', '0', '--attachments-host', '127.0.0.1', '--registration', 'open', '--batch-ms', '200'], {
    DATABASE_URL: databaseUrl,
    REDIS_URL: '',
  })
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

t.test('--workers 2: two processes share the port, sessions go to Redis', async (t) => {
  const databaseUrl = await schemaUrl(t)
  // a Redis database of its own: `serve` uses the default key prefix
  const redisUrl = new URL(REDIS_URL)
  redisUrl.pathname = '/7'
  const s = serve(['--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1', '--attachments-port', '0', '--attachments-host', '127.0.0.1', '--registration', 'open', '--workers', '2'], {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl.toString(),
  })
  t.teardown(() => {
    if (!t.passing()) t.comment(`serve output:\n${s.out()}\n${s.err()}`)
    s.child.kill('SIGKILL')
  })
  const port = await listeningPort(s, /listening on tcp:\/\/[^:]+:(\d+) with 2 workers/)
  const terminals = await Promise.all([0, 1, 2, 3].map(() => online(port, { phone: newPhone(), plate: newPlate(), plateColor: 2 })))
  const results = await Promise.all(terminals.map(({ client }) => client.reportPosition(fixAt(Date.now() - 5000))))
  t.same(results, [0, 0, 0, 0], 'all served')
  const state = new RedisState(redisUrl.toString(), { prefix: 'jt808:' })
  t.teardown(() => state.close())
  const nodes = new Set<string>()
  for (const { client } of terminals) {
    const session = await state.getSession(client.phone)
    t.ok(session, `session of ${client.phone} in Redis`)
    if (session) nodes.add(session.nodeId)
  }
  t.equal(nodes.size, 2, 'connections spread over both workers')
  await Promise.all(terminals.map(({ client }) => client.close()))
  s.child.kill('SIGTERM')
  t.equal(await s.exited, 0)
  t.match(s.out(), /stopping 2 workers[\s\S]*stopped/)
  await state.clear()
})
