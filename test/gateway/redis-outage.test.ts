/**
 * A Redis outage under load (issue 14, Faults 1): terminals keep reporting through a gateway
 * whose Redis (a server of the test's own) is killed and, seconds later, started again empty.
 * Acknowledgements keep coming, a terminal that registers and authenticates meanwhile is
 * answered, /readyz and /metrics say "degraded", the log says it once each way, and once Redis is
 * back the state catches up: sessions, last positions, and the positions held for the matcher.
 * The gateway runs the several-workers wiring (every committed batch is published to Redis
 * streams) with a low high-water mark, so a publish waiting on Redis would pause the sockets.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import t from 'tap'
import { startApp } from '../../src/app.js'
import { RedisState } from '../../src/state/index.js'
import { startOwnRedis } from '../state/redis-server.js'
import { connect, eventually, fixAt, metricValue, newPhone, newPlate, online, openBackends, provision, registerFields, sleep, testConfig } from './harness.js'

/** Longest silence allowed between two acks of one terminal (the command timeout is 1 s). */
const MAX_ACK_GAP_MS = 2500
const OUTAGE_MS = 6000

t.test('Redis killed and restarted under load', async (t) => {
  const redis = await startOwnRedis()
  t.teardown(() => redis.stop())
  const backends = await openBackends('servers')
  t.teardown(() => backends.close())
  const state = new RedisState(redis.url, { prefix: 'outage:', commandTimeoutMs: 1000 })
  t.teardown(() => state.close())
  await state.ping()
  const lines: { level: number; msg: string }[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { level: number; msg: string })
      done()
    },
  })
  const registry = new Registry()
  const token = 'outage-test-token-0123456789'
  const app = await startApp(testConfig({ workers: 2, ingestHighWater: 100, logLevel: 'info', bootstrapToken: token }), {
    store: backends.store,
    state,
    registry,
    upkeep: false,
    logger: pino({ level: 'info' }, sink),
  })
  t.teardown(() => app.close())
  const port = app.tcp.port
  const http = `http://127.0.0.1:${app.http.port}`

  // six terminals, each reporting every 100 ms and waiting for its ack
  const fleet = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const v = await provision(backends.store)
      const { client } = await online(port, v, 2013, { replyTimeoutMs: 30_000 })
      return { v, client, acks: [] as number[], lastAcked: 0 }
    }),
  )
  t.teardown(() => Promise.all(fleet.map((f) => f.client.close())))
  let running = true
  const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000
  const loops = fleet.map(async (f) => {
    for (let n = 0; running; n++) {
      const time = base + n * 1000
      const result = await f.client.reportPosition(fixAt(time))
      if (result === 0) {
        f.acks.push(Date.now())
        f.lastAcked = time
      }
      await sleep(100)
    }
  })
  await eventually(() => fleet.every((f) => f.acks.length >= 5), 10_000)

  await redis.kill()
  await eventually(() => !state.health().available, 5000)
  const downAt = Date.now()
  // A position reaches the matcher from its partition's stream, or — when the restarted Redis lost the
  // partition leases and the matcher takes its partitions over again — from the store, replayed
  // after the vehicle's checkpoint (src/matcher/checkpoint.ts). Both are the matcher judging it.
  const judged = async () => (await metricValue(registry, 'jt808_matcher_positions_total')) + (await metricValue(registry, 'jt808_matcher_replayed_positions_total'))
  const judgedAtDown = await judged()
  const acksAtDown = fleet.reduce((n, f) => n + f.acks.length, 0)

  // a terminal registering and authenticating during the outage is answered at once
  const late = { phone: newPhone(), plate: newPlate(), plateColor: 2 }
  await backends.store.upsertVehicles([{ plate: late.plate, plateColor: 2, terminalPhone: late.phone, terminalId: null, enterpriseLicenseNo: '370100000001' }])
  const lateClient = await connect(port, late.phone)
  t.teardown(() => lateClient.close())
  let began = Date.now()
  const reg = await lateClient.register(registerFields(late.plate))
  t.equal(reg.result, 0, 'registered during the outage')
  t.equal(await lateClient.authenticate(reg.authCode!), 0, 'authenticated during the outage')
  t.ok(Date.now() - began < 2000, `register + authenticate answered within 2 s (${Date.now() - began} ms)`)
  began = Date.now()
  t.equal(await lateClient.reportPosition(fixAt(base + 5_000_000)), 0, 'its position acknowledged')
  t.ok(Date.now() - began < 2000, `within 2 s (${Date.now() - began} ms)`)

  const ready = await fetch(`${http}/readyz`)
  t.equal(ready.status, 200, '/readyz still 200: terminals are served')
  t.match(await ready.json(), { status: 'degraded', checks: { store: 'ok', state: /^degraded/ } })
  t.match(await (await fetch(`${http}/metrics`)).text(), /^jt808_state_available 0$/m)
  const live = await fetch(`${http}/api/v1/vehicles/${encodeURIComponent(fleet[0].v.plate)}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(live.status, 503, 'a live view answers 503 meanwhile')
  t.match(await live.json(), { error: { code: 'NOT_AVAILABLE' } })

  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)))
  await redis.start()
  await eventually(() => state.health().available, 15_000)
  const upAt = Date.now()
  const acksDuringOutage = fleet.reduce((n, f) => n + f.acks.length, 0) - acksAtDown
  await sleep(500)
  running = false
  await Promise.all(loops)

  for (const f of fleet) {
    const during = f.acks.filter((a) => a >= downAt - MAX_ACK_GAP_MS && a <= upAt + 500)
    let gap = 0
    for (let i = 1; i < during.length; i++) gap = Math.max(gap, during[i] - during[i - 1])
    t.ok(during.length >= 10 && gap < MAX_ACK_GAP_MS, `${f.v.phone}: ${during.length} acks through the outage, longest gap ${gap} ms`)
  }
  t.equal(await metricValue(registry, 'jt808_ingest_pressure_pauses_total'), 0, 'the sockets were never paused')

  // the state catches up
  t.match(await (await fetch(`${http}/readyz`)).json(), { status: 'ready' })
  t.match(await (await fetch(`${http}/metrics`)).text(), /^jt808_state_available 1$/m)
  const reader = new RedisState(redis.url, { prefix: 'outage:' })
  t.teardown(() => reader.close())
  await eventually(async () => (await reader.getSession(late.phone)) !== null, 15_000)
  t.pass('the session authenticated during the outage is in Redis')
  await eventually(async () => (await Promise.all(fleet.map(async (f) => (await reader.getSession(f.v.phone)) !== null))).every(Boolean), 15_000)
  t.pass('every session is registered again in the restarted Redis')
  for (const f of fleet) t.equal((await reader.getLastPosition(f.v.vehicleId))?.deviceTime, f.lastAcked, `${f.v.phone}: its newest position in Redis`)
  await eventually(async () => (await judged()) >= judgedAtDown + acksDuringOutage, 20_000)
  t.pass(`the ${acksDuringOutage} positions acknowledged during the outage reached the matcher`)

  const said = (re: RegExp) => lines.filter((l) => re.test(l.msg)).length
  t.equal(said(/live state unreachable/), 1, 'degraded: said once')
  t.equal(said(/live state reachable again/), 1, 'recovered: said once')
  const errors = lines.filter((l) => l.level >= 50)
  t.ok(errors.length <= 2, `no error per terminal or per retry (${errors.length}: ${errors.map((e) => e.msg).join('; ')})`)
})
