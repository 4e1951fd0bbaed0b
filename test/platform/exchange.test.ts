/**
 * Two instances of the gateway exchanging over JT/T 809 on loopback: L (lower role: terminals
 * report to it over 808, it forwards to its superior) and U (upper role: L logs in to it).
 *   terminal ─808─▶ L ─commit─▶ forwarder ─809 0x1202─▶ U ─ingest─▶ matcher ─▶ anomaly ─▶ SSE
 * In 2011 and 2019, with and without body encryption; the embedded backends for every
 * combination, PostgreSQL + Redis for one. Then a superior that is down and comes back (twice):
 * the backlog arrives as 0x1203 and nothing is lost.
 */
import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { newPlatform } from '../../src/platform/admin.js'
import type { PlatformEncryption } from '../../src/store/platforms.js'
import { eventually, fixAt, online, openBackends, provision, startGateway, type Backends, type TestGateway, type Variant } from '../gateway/harness.js'

const TOKEN = 'platform-exchange-token-0123456789'
const LICENCE = '370100000001'
const KEYS: PlatformEncryption = { m1: 30_000_000, ia1: 20_000_000, ic1: 10_000_000, key: 123_456 }
const KM_PER_DEG_LON = 111.32 * Math.cos((36.65 * Math.PI) / 180)
/** short idle timeout: link tests every second */
const LINK = { platformIdleSeconds: 3 }

interface Combo {
  edition: 2011 | 2019
  encryption: PlatformEncryption | null
  variant: Variant
}

const COMBOS: Combo[] = [
  { edition: 2011, encryption: null, variant: 'embedded' },
  { edition: 2011, encryption: KEYS, variant: 'embedded' },
  { edition: 2019, encryption: null, variant: 'embedded' },
  { edition: 2019, encryption: KEYS, variant: 'servers' },
]

async function upper(t: Test, b: Backends, combo: Omit<Combo, 'variant'>, port = 0): Promise<TestGateway> {
  if (!(await b.store.findLowerPlatform(1001))) {
    await b.store.createPlatform(
      newPlatform({ role: 'lower', name: 'Enterprise platform A', accessCode: 1001, userId: 77, password: 'pw123456', edition: combo.edition, encryption: combo.encryption, enterpriseLicences: [LICENCE] }),
      Date.now(),
    )
  }
  const u = await startGateway(b, { ...LINK, platformPort: port, platformHost: '127.0.0.1', bootstrapToken: TOKEN })
  t.teardown(() => u.close())
  return u
}

async function lower(t: Test, b: Backends, combo: Omit<Combo, 'variant'>, superiorPort: number): Promise<TestGateway> {
  const l = await startGateway(b, { ...LINK, platformPort: 0, platformHost: '127.0.0.1' })
  t.teardown(() => l.close())
  await b.store.createPlatform(
    newPlatform({ role: 'superior', name: 'Provincial platform', accessCode: 1001, userId: 77, password: 'pw123456', edition: combo.edition, encryption: combo.encryption, host: '127.0.0.1', port: superiorPort, enterpriseLicences: [LICENCE] }),
    Date.now(),
  )
  await l.app.platforms.reload()
  return l
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

for (const combo of COMBOS) {
  t.test(`${combo.edition}, ${combo.encryption ? 'encrypted' : 'plain'}, ${combo.variant}: terminal → lower → upper → matcher → anomaly → SSE`, async (t) => {
    const bU = await openBackends(combo.variant)
    t.teardown(() => bU.close())
    const bL = await openBackends(combo.variant)
    t.teardown(() => bL.close())
    const u = await upper(t, bU, combo)
    const l = await lower(t, bL, combo, u.app.platforms.address()!.port)

    const vehicle = await provision(bL.store)
    await bU.store.upsertVehicles([{ plate: vehicle.plate, plateColor: vehicle.plateColor, enterpriseLicenseNo: LICENCE }])
    const inU = (await bU.store.findVehicle(vehicle.plate, vehicle.plateColor))!

    await eventually(() => l.app.platforms.states().superior[0]?.state === 'live', 10_000)
    const lowerSeen = await eventually(() => u.app.platforms.states().lower[0], 5_000)
    t.equal(lowerSeen.accessCode, 1001, 'the lower platform is logged in by its access code')
    await eventually(() => u.app.platforms.states().lower[0]?.sub?.up && l.app.platforms.states().superior[0]?.sub?.up, 10_000)
    t.pass('the upper platform opened its sub-link to the announced address')

    const api = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${u.app.http.port}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } })
    const sse = await api('/anomalies/stream', { headers: { accept: 'text/event-stream' } })
    const reader = sse.body!.getReader()
    let feed = ''
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
        if (done) return
        feed += new TextDecoder().decode(value)
      }
    })()
    t.teardown(async () => {
      await reader.cancel().catch(() => undefined)
      await pump
    })

    const { client } = await online(l.port, vehicle, combo.edition === 2019 ? 2019 : 2013)
    t.teardown(() => client.close())
    const start = Date.now() - 20 * 60_000
    const stepDeg = (95 * 5) / 3600 / KM_PER_DEG_LON
    for (let i = 0; i <= 24; i++) {
      t.equal(await client.reportPosition(fixAt(start + i * 5000, { speed: 95, longitude: 117.12 + i * stepDeg })), 0)
    }
    await eventually(async () => (await bU.store.countPositions(inU.id)) === 25, 15_000, 50)
    t.pass('every fix the lower instance committed reached the upper one')
    const track = await bU.store.track(inU.id, start, start + 3_600_000)
    t.same(new Set(track.map((p) => p.sourceMsgId)), new Set([0x1202]), 'each position remembers it came as 0x1202 …')
    t.ok(track.every((p) => p.extras.platform === 1001), '… from platform 1001')
    const sent = await bL.store.track(vehicle.vehicleId, start, start + 3_600_000)
    t.same(
      track.map((p) => [p.deviceTime, p.latitude.toFixed(6), p.longitude.toFixed(6), p.speed, p.direction]),
      sent.map((p) => [p.deviceTime, p.latitude.toFixed(6), p.longitude.toFixed(6), p.speed, p.direction]),
      'time, coordinates (1e-6 degree), speed and direction arrive as the lower instance stored them',
    )

    const overspeed = await eventually(async () => {
      const { items } = (await (await api(`/anomalies?plate=${encodeURIComponent(vehicle.plate)}&type=OVERSPEED`)).json()) as { items: Array<{ id: string; type: string }> }
      return items[0]
    }, 15_000, 100)
    await eventually(() => feed.includes(overspeed.id), 10_000, 50)
    t.pass('the upper instance judged the platform-reported vehicle and announced the anomaly on its feed')
    t.equal((await bL.store.listAnomalies({ type: 'OVERSPEED' })).items.length, 1, 'the lower instance judged it too')

    const states = (await (await api('/platforms/links')).json()) as { lower: Array<{ accessCode: number; positionsIn: number }> }
    t.equal(states.lower[0]?.positionsIn, 25, 'link state in the API')
    const metrics = await (await fetch(`http://127.0.0.1:${u.app.http.port}/metrics`)).text()
    t.match(metrics, /jt808_platform_positions_in_total\{link="1001",msg="0x1202"\} 25/)
  })
}

t.test('a superior that is down, comes back, goes down again and returns: the backlog goes up as 0x1203, nothing is lost', async (t) => {
  const combo = { edition: 2011 as const, encryption: null }
  const bU = await openBackends('embedded')
  t.teardown(() => bU.close())
  const bL = await openBackends('embedded')
  t.teardown(() => bL.close())
  const port = await freePort()
  const l = await lower(t, bL, combo, port)
  const vehicle = await provision(bL.store)
  await bU.store.upsertVehicles([{ plate: vehicle.plate, plateColor: vehicle.plateColor, enterpriseLicenseNo: LICENCE }])
  const inU = (await bU.store.findVehicle(vehicle.plate, vehicle.plateColor))!
  const { client } = await online(l.port, vehicle)
  t.teardown(() => client.close())
  const start = Date.now() - 60 * 60_000
  let n = 0
  const report = async (count: number) => {
    for (let i = 0; i < count; i++, n++) t.equal(await client.reportPosition(fixAt(start + n * 10_000, { speed: 50 })), 0)
  }

  await report(10)
  t.equal(l.app.platforms.states().superior[0]?.state === 'live', false, 'no superior yet')
  await eventually(() => l.app.platforms.states().superior[0]!.backlogRows === 10, 5_000)
  t.pass('backlog counted while the superior is unreachable')

  let u = await upper(t, bU, combo, port)
  await eventually(async () => (await bU.store.countPositions(inU.id)) === 10, 30_000, 100)
  t.pass('the backlog arrived after the superior came back')
  const first = await bU.store.track(inU.id, start, start + 3_600_000)
  t.same(new Set(first.map((p) => p.sourceMsgId)), new Set([0x1203]), 'as 0x1203 history')
  await eventually(() => l.app.platforms.states().superior[0]?.state === 'live', 5_000)
  t.equal(l.app.platforms.states().superior[0]!.backlogRows, 0)

  await report(5)
  await eventually(async () => (await bU.store.countPositions(inU.id)) === 15, 10_000, 50)
  t.pass('live again: 0x1202')

  // down again; what is committed meanwhile waits in the database
  await u.close()
  await eventually(() => l.app.platforms.states().superior[0]?.state !== 'live', 10_000)
  await report(10)
  u = await upper(t, bU, combo, port)
  await eventually(async () => (await bU.store.countPositions(inU.id)) === 25, 30_000, 100)
  t.pass('nothing lost across the second outage')
  const late = await (await fetch(`http://127.0.0.1:${u.app.http.port}/metrics`)).text()
  t.match(late, /jt808_platform_late_positions_total\{link="1001"\} [1-9]/, 'late arrivals counted per link')
  const cursor = await bL.store.getForwardCursor(l.app.platforms.states().superior[0]!.platformId)
  t.ok(cursor && cursor.receivedAt > start, 'the forwarding position is durable in the database')
})
