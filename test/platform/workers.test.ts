/**
 * Forwarding to a superior platform from `jt808 serve --workers 2` (real processes, PostgreSQL +
 * Redis): one worker owns the superior's link, positions committed in either worker go up; an
 * outage of the superior is caught up from the durable forwarding position (0x1203), and so is the
 * death of the forwarding worker itself (its successor starts from the database). Nothing lost.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { newPlatform } from '../../src/platform/admin.js'
import { RedisState } from '../../src/state/index.js'
import { openStore } from '../../src/store/index.js'
import { DATABASE_URL, eventually, fixAt, online, provision, REDIS_URL, testConfig } from '../gateway/harness.js'
import { FakeSuperior } from '../../src/sim/superior.js'
import { LICENCE } from './helpers.js'
import { JT808 } from '../cli-process.js'

t.test('--workers 2: one worker forwards what every worker commits; outages of the superior and of that worker lose nothing', async (t) => {
  const schema = `fwd_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const store = await openStore(testConfig({ databaseUrl: DATABASE_URL }), { schema })
  t.teardown(async () => {
    await store.sql.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await store.close()
  })
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema},public`)
  const redisUrl = new URL(REDIS_URL)
  redisUrl.pathname = '/5'

  const superior = new FakeSuperior()
  const port = await superior.start()
  t.teardown(() => superior.stop())
  await store.createPlatform(
    newPlatform({ role: 'superior', name: 'Provincial platform', accessCode: 1001, userId: 77, password: 'pw123456', host: '127.0.0.1', port, enterpriseLicences: [LICENCE] }),
    Date.now(),
  )
  const vehicles = await Promise.all([0, 1, 2, 3, 4, 5].map(() => provision(store)))

  // one accept lane: node:cluster's round-robin hands the terminals to both workers (with lanes the kernel picks)
  const child = spawn(
    process.execPath,
    [
      ...JT808,
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--http-host',
      '127.0.0.1',
      '--attachments-port',
      '0',
      '--attachments-host',
      '127.0.0.1',
      '--workers',
      '2',
      '--accept-lanes',
      '1',
    ],
    {
      env: { ...process.env, JT808_LOG_LEVEL: 'warn', DATABASE_URL: url.toString(), REDIS_URL: redisUrl.toString(), JT808_PLATFORM_IDLE_S: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = once(child, 'exit')
  t.teardown(() => {
    if (!t.passing()) t.comment(`serve output:\n${out}`)
    child.kill('SIGKILL')
  })
  const gw = Number((await eventually(() => /listening on tcp:\/\/[^:]+:(\d+) with 2 workers/.exec(out), 60_000, 50))[1])
  // live: the catch-up after login ends with a link test
  await eventually(() => superior.linkTests > 0, 20_000, 50)
  t.equal(superior.logins, 1, 'one process logged in to the superior')

  const terminals = await Promise.all(vehicles.map((v) => online(gw, v)))
  t.teardown(() => Promise.all(terminals.map(({ client }) => client.close())))
  const state = new RedisState(redisUrl.toString(), { prefix: 'jt808:' })
  t.teardown(async () => {
    await state.clear()
    await state.close()
  })
  const nodes = new Set((await Promise.all(vehicles.map((v) => state.getSession(v.phone)))).map((s) => s?.nodeId))
  t.equal(nodes.size, 2, 'the terminals are spread over both workers')

  // whole seconds: device times are BCD seconds
  const base = Math.floor(Date.now() / 1000) * 1000 - 60_000
  let round = 0
  const report = async () => {
    const acks = await Promise.all(terminals.map(({ client }) => Promise.all([0, 1, 2, 3, 4].map((i) => client.reportPosition(fixAt(base + round * 5000 + i * 1000))))))
    round++
    t.ok(
      acks.flat().every((r) => r === 0),
      `round ${round}: every position committed`,
    )
  }
  const expected = () => new Set(vehicles.flatMap((v) => Array.from({ length: round }, (_, r) => [0, 1, 2, 3, 4].map((i) => `${v.plate}@${base + r * 5000 + i * 1000}`)).flat()))
  const missing = () => [...expected()].filter((k) => !superior.has(k.slice(0, k.indexOf('@')), Number(k.slice(k.indexOf('@') + 1))))

  await report()
  await eventually(() => missing().length === 0, 15_000, 50).catch((err: unknown) => {
    t.comment(
      `superior: ${JSON.stringify({ byMsg: superior.byMsg, unique: superior.unique, plates: [...superior.positions.keys()].slice(0, 3), times: [...(superior.positions.values().next().value?.keys() ?? [])].slice(0, 3), missing: missing().slice(0, 3) })}`,
    )
    throw err
  })
  t.equal(superior.duplicates(), 0, 'live: each position went up once, from both workers')
  t.equal(superior.byMsg[0x1202], 30, 'as 0x1202')

  // the superior is down while positions commit; back, it gets them as 0x1203
  await superior.stop()
  await report()
  await new Promise((r) => setTimeout(r, 1000))
  await superior.start(port)
  await eventually(() => missing().length === 0, 20_000, 50)
  t.ok(superior.byMsg[0x1203] >= 30, 'the backlog went up as 0x1203 after the outage')
  t.comment(`after the outage: ${superior.duplicates()} duplicates (the catch-up rewinds 5 s before the confirmed position)`)

  // the forwarding worker dies; what commits meanwhile in the other reaches the superior through its successor
  const pids = execFileSync('pgrep', ['-P', String(child.pid)])
    .toString()
    .trim()
    .split('\n')
    .map(Number)
  const forwarder = pids.find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('JT808_WORKER_FORWARDER=1'))
  t.ok(forwarder, 'one worker is the forwarder')
  process.kill(forwarder!, 'SIGKILL')
  // the survivors' terminals report again; those of the dead worker reconnect first
  const logins = superior.logins
  const acked: string[] = []
  await Promise.all(
    terminals.map(async ({ client }, n) => {
      for (let i = 0; i < 5; i++) {
        const time = base + round * 5000 + i * 1000
        if ((await client.reportPosition(fixAt(time)).catch(() => null)) === 0) acked.push(`${vehicles[n]!.plate}@${time}`)
      }
    }),
  )
  t.ok(acked.length >= 5, `${acked.length} positions committed by the surviving worker while no worker forwarded`)
  await eventually(() => superior.logins > logins, 30_000, 100)
  await eventually(() => acked.every((k) => superior.has(k.slice(0, k.indexOf('@')), Number(k.slice(k.indexOf('@') + 1)))), 20_000, 50)
  t.pass('its successor forwarded every one of them')

  child.kill('SIGTERM')
  t.equal((await exited)[0], 0, 'clean exit')
})
