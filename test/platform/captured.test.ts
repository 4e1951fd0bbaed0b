/**
 * Captured JT/T 809 frames (fixtures/jt809-frames.json, public sources in fixtures/README.md) fed,
 * byte for byte, through a live upper-role link: the lower platform logs in with the frame's
 * access code and link keys (the captures came without their login: ours is sent in their
 * place), then the captured 0x1202 frames are written to the socket as they were captured —
 * encrypted, unescaped senders, one with a raw 0x5b inside. The positions must arrive in the store
 * with the plate, colour, time and coordinates the frames carry; the expected values below were
 * read from the frames by hand (decrypt, then the embedded JT/T 808 0x0200 fields), not by our codec.
 */
import t from 'tap'
import { newPlatform } from '../../src/platform/admin.js'
import { eventually, openBackends, startGateway, testConfig, BACKENDS } from '../gateway/harness.js'
import { fixture809 } from '../protocol/jt809/helpers.js'
import { RawPlatform } from './raw-platform.js'

const LICENCE = '320600000001'

/** What each capture carries (its 0x0200 time is Beijing time: UTC + 8 h). */
const CAPTURES = [
  {
    name: '2019 1202 real-time position with 808 0x0200 body, encrypted',
    accessCode: 70000001,
    plate: '测B01844',
    plateColor: 2,
    deviceTime: Date.UTC(2025, 7, 22, 3, 35, 45),
    latitude: 32.353134,
    longitude: 121.357231,
    speed: 22.4,
  },
  {
    name: '2019 1202 real-time position, raw 0x5b inside the frame',
    accessCode: 86896940,
    plate: '陕CJ3819',
    plateColor: 2,
    deviceTime: Date.UTC(2025, 8, 28, 5, 28, 44),
    latitude: 34.479181,
    longitude: 108.630994,
    speed: 83,
  },
]

for (const variant of BACKENDS) {
  t.test(`${variant}: captured 0x1202 frames through a live upper-role link reach the store as sent`, async (t) => {
    const b = await openBackends(variant)
    t.teardown(() => b.close())
    // the captures are older than the default position retention (180 days): kept ten years here
    const retention = { ...testConfig().retention, positionsDays: 3650 }
    const gw = await startGateway(b, { platformPort: 0, platformHost: '127.0.0.1', platformIdleSeconds: 30, retention })
    t.teardown(() => gw.close())
    const port = gw.app.platforms.address()!.port
    for (const c of CAPTURES) {
      const f = fixture809(c.name)
      t.ok(f.keys && f.source.startsWith('https://'), `${c.name}: a public capture with its link keys`)
      await b.store.createPlatform(
        newPlatform({
          role: 'lower',
          name: `captured ${c.accessCode}`,
          accessCode: c.accessCode,
          userId: 1,
          password: 'pw1',
          edition: 2019,
          encryption: { ...f.keys!, key: 15241 },
          enterpriseLicences: [LICENCE],
        }),
        Date.now(),
      )
      const [vehicleId] = await b.store.upsertVehicles([{ plate: c.plate, plateColor: c.plateColor, enterpriseLicenseNo: LICENCE }])
      const p = await RawPlatform.open(port, c.accessCode, 2019, f.keys)
      t.teardown(() => p.close())
      t.equal(await p.login(1, 'pw1'), 0, `logged in as ${c.accessCode}`)
      p.write(f.hex)
      await eventually(async () => (await b.store.countPositions(vehicleId!)) === 1, 10_000, 50)
      const [stored] = await b.store.track(vehicleId!, c.deviceTime - 1000, c.deviceTime + 1000)
      t.ok(stored, `${c.plate}: stored at the frame's device time`)
      t.same(
        [stored!.deviceTime, stored!.latitude.toFixed(6), stored!.longitude.toFixed(6), stored!.speed, stored!.sourceMsgId, stored!.extras.platform],
        [c.deviceTime, c.latitude.toFixed(6), c.longitude.toFixed(6), c.speed, 0x1202, c.accessCode],
        `${c.plate} colour ${c.plateColor}: time, coordinates and speed as captured, source 0x1202 from ${c.accessCode}`,
      )
    }
    const state = gw.app.platforms.states().lower
    t.same(state.map((l) => [l.accessCode, l.positionsIn, l.latePositions]).sort(), CAPTURES.map((c) => [c.accessCode, 1, 1]).sort(), 'counted per link, late (captured months ago)')
  })
}
