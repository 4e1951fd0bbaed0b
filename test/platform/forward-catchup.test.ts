/**
 * The lower role's catch-up against a superior that goes away and returns while positions keep
 * committing: every committed position arrives, and what arrives twice is bounded by the commit
 * lag and the confirmation interval — not by a fixed rewind of seconds of traffic.
 */
import { pino } from 'pino'
import { Registry } from 'prom-client'
import t from 'tap'
import { startApp } from '../../src/app.js'
import { DEFAULTS, type Config } from '../../src/config/index.js'
import type { CommittedPosition } from '../../src/domain.js'
import { newPlatform } from '../../src/platform/admin.js'
import { FakeSuperior } from '../../src/sim/superior.js'
import { openEmbeddedStore } from '../embedded-db.js'
import { eventually } from '../gateway/harness.js'

t.setTimeout(120_000)

t.test('outage and return under load: nothing missing, duplicates only from the last moments before the break', async (t) => {
  const config: Config = {
    ...structuredClone(DEFAULTS),
    nodeId: 'catchup',
    tcpPort: 0,
    httpPort: 0,
    attachmentsPort: 0,
    tcpHost: '127.0.0.1',
    httpHost: '127.0.0.1',
    attachmentsHost: '127.0.0.1',
    archiveRawFrames: false,
    logLevel: 'warn',
    databaseUrl: null,
    platformIdleSeconds: 6,
    platformBacklogRate: 50_000,
  }
  const store = await openEmbeddedStore(config)
  t.teardown(() => store.close())
  const superior = new FakeSuperior(2011)
  const port = await superior.start()
  t.teardown(() => superior.stop())
  await store.createPlatform(newPlatform({ role: 'superior', name: 'up', accessCode: 9002, userId: 1, password: 'pw', edition: 2011, host: '127.0.0.1', port, enterpriseLicences: ['L'] }), Date.now())
  const plates = Array.from({ length: 20 }, (_, i) => `鲁C${String(i).padStart(5, '0')}`)
  const ids = await store.upsertVehicles(plates.map((plate) => ({ plate, plateColor: 2, enterpriseLicenseNo: 'L' })))
  const app = await startApp(config, { store, registry: new Registry(), upkeep: false, logger: pino({ level: 'silent' }) })
  t.teardown(() => app.close())
  const link = () => app.platforms.states().superior[0]!
  await eventually(() => link().state === 'live', 20_000)

  const base = Date.now() - 86_400_000
  let k = 0
  let committed = 0
  const row = (i: number): CommittedPosition => ({
    vehicleId: ids[i % ids.length]!,
    deviceTime: base + Math.floor(i / ids.length) * 1000,
    receivedAt: Date.now(),
    latitude: 36.65,
    longitude: 117.12,
    altitude: 30,
    speed: 60,
    direction: 90,
    alarm: 0,
    status: 3,
    mileage: 1000,
    extras: {},
    blindArea: false,
    sourceMsgId: 0x0200,
    phone: '',
    plate: plates[i % ids.length]!,
    plateColor: 2,
    enterpriseLicenseNo: 'L',
    alarmTransition: null,
  })
  /** commits `perTick` rows every 10 ms for `ms` */
  const drive = async (ms: number, perTick: number) => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const rows = Array.from({ length: perTick }, () => row(k++))
      app.ingest.submit(rows, (err) => {
        if (!err) committed += rows.length
      })
      await new Promise((r) => setTimeout(r, 10))
    }
    await eventually(() => committed === k, 20_000)
  }

  await drive(4_000, 5) // rows live, as 0x1202
  await eventually(() => superior.unique === committed, 10_000)
  const beforeBreak = committed
  // the confirmations catch up (a link test a second while positions flow)
  await new Promise((r) => setTimeout(r, 2_500))
  await superior.stop()
  await eventually(() => link().state !== 'live', 10_000)
  await drive(1_500, 5) // the backlog
  await superior.start(port)
  await drive(3_000, 5) // keeps committing while the backlog goes up
  await eventually(() => superior.unique === committed, 30_000)
  t.equal(superior.unique, committed, `every committed row arrived (${committed})`)
  const dup = superior.duplicates()
  // Before the rewind was measured, every position of the 5 s before the confirmed one went again
  // (here: all ${beforeBreak} rows of the live phase).
  t.ok(dup < beforeBreak / 2, `duplicates ${dup}, of ${beforeBreak} rows sent live before the break`)
  await eventually(() => link().state === 'live', 10_000)
})
