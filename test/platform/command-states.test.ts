/**
 * A command to a vehicle through its lower platform outlives the process that sent it (migration
 * 012_platform_command_states): one upper instance sends a text and a photo request and stops;
 * the platform logs in to the next instance on the same database and replies there — the replies
 * settle their commands, and GET /commands/{id} answers what they became. Both store backends,
 * both editions (2011: the text by MSG_ID, the photo by its vehicle; 2019: by SOURCE_MSG_SN).
 * Also: a MSG_SN numbered again by a newer link (numbers restart at every login) belongs to the
 * newer command, and only to a command of the vehicle the reply names.
 */
import t from 'tap'
import type { Message809 } from '../../protocol/jt809/index.js'
import { toPosition809 } from '../../src/platform/positions.js'
import { eventually, openBackends, startGateway, type TestGateway } from '../gateway/harness.js'
import { LICENCE, LINK, TOKEN, upper } from './helpers.js'
import { RawPlatform } from './raw-platform.js'

const combos = [
  { edition: 2011, variant: 'embedded' },
  { edition: 2019, variant: 'servers' },
] as const

type Json = Record<string, unknown> & { id?: string; status?: string }

async function api(gw: TestGateway, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const r = await fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  return { status: r.status, json: (await r.json()) as Json }
}

async function loggedIn(gw: TestGateway, edition: 2011 | 2019): Promise<RawPlatform> {
  const raw = await RawPlatform.open(gw.app.platforms.address()!.port, 1001, edition)
  if ((await raw.login(77, 'pw123456')) !== 0) throw new Error('login refused')
  await eventually(() => gw.app.platforms.states().lower.length === 1, 5000)
  return raw
}

for (const combo of combos) {
  t.test(`${combo.edition}, ${combo.variant}: a platform's reply after a restart settles the command it answers`, async (t) => {
    const b = await openBackends(combo.variant)
    t.teardown(() => b.close())
    const u1 = await upper(t, b, { edition: combo.edition, encryption: null })
    const platformId = (await b.store.findLowerPlatform(1001))!.id
    const plate = `鲁A${combo.edition}7`
    // no terminal of ours: the platform path
    const [vehicleId] = await b.store.upsertVehicles([{ plate, plateColor: 2, enterpriseLicenseNo: LICENCE }])
    const to = `/vehicles/${encodeURIComponent(plate)}/commands?plateColor=2`

    let raw = await loggedIn(u1, combo.edition)
    const text = await api(u1, to, { type: 'text', text: '请在前方服务区停车', timeoutSeconds: 1 })
    t.match(text, { status: 202, json: { status: 'delivered', via: 'platform', platformId } }, 'text: no reply within the wait')
    const photo = await api(u1, to, { type: 'photo', lensId: 2, sizeType: 1, timeoutSeconds: 1 })
    t.match(photo, { status: 202, json: { status: 'delivered', via: 'platform' } }, 'photo: no reply within the wait')
    const frames = raw.received.filter((m) => m.msgId === 0x9500) as Array<Message809 & { body: { dataType: number; data: { msgSequence?: number } } }>
    const textFrame = frames.find((m) => m.body.dataType === 0x9503)!
    const photoFrame = frames.find((m) => m.body.dataType === 0x9502)!
    t.ok(textFrame && photoFrame, 'both reached the platform')
    t.match((await api(u1, `/commands/${text.json.id}`)).json, { status: 'delivered' })

    // the process that sent them stops; the platform logs in to the next one and replies there
    raw.close()
    await u1.close()
    const u2 = await startGateway(b, { ...LINK, platformPort: 0, platformHost: '127.0.0.1', bootstrapToken: TOKEN })
    t.teardown(() => u2.close())
    raw = await loggedIn(u2, combo.edition)
    t.teardown(() => raw.close())
    const source = (m: Message809, dataType: number) => (combo.edition === 2019 ? { sourceDataType: dataType, sourceMsgSn: m.sn } : {})
    raw.send(0x1500, {
      plate,
      plateColor: 2,
      dataType: 0x1503,
      data: { ...source(textFrame, 0x9503), ...(combo.edition === 2011 ? { msgId: textFrame.body.data.msgSequence } : {}), result: 0 },
    })
    const taken = toPosition809(
      {
        vehicleId,
        deviceTime: Math.floor(Date.now() / 1000) * 1000 - 5000,
        receivedAt: 0,
        latitude: 36.65,
        longitude: 117.12,
        altitude: 30,
        speed: 40,
        direction: 90,
        alarm: 0,
        status: 3,
        mileage: null,
        extras: {},
        blindArea: false,
        sourceMsgId: 0x0801,
      },
      combo.edition,
    )
    raw.send(0x1500, {
      plate,
      plateColor: 2,
      dataType: 0x1502,
      data: { ...source(photoFrame, 0x9502), photoRspFlag: 1, position: taken, lensId: 2, sizeType: 1, type: 1, photo: 'ffd8ffe000ffd9' },
    })

    await eventually(async () => (await api(u2, `/commands/${photo.json.id}`)).json.status !== 'delivered', 5000).catch(() => undefined)
    t.match(
      (await api(u2, `/commands/${text.json.id}`)).json,
      { status: 'answered', msgId: '0x9503', vehicleId, platformId, answer: { msgId: 0x1503, body: { result: 0 } } },
      'the text: answered, as the next process reads it',
    )
    t.match(
      (await api(u2, `/commands/${photo.json.id}`)).json,
      { status: 'answered', msgId: '0x9502', vehicleId, platformId, answer: { msgId: 0x1502, body: { photoRspFlag: 1, lensId: 2, photo: 'ffd8ffe000ffd9' } } },
      'the photo: answered with the image',
    )

    await t.test('a MSG_SN numbered again on a newer link belongs to the newer command, of the vehicle the reply names', async (t) => {
      const now = Date.now()
      const command = (id: string, at: number) =>
        b.store.createPlatformCommand({ id: `${combo.edition}-${id}`, vehicleId, platformId, msgId: 0x9503, createdAt: at, expiresAt: at + 60_000, plate, plateColor: 2, msgSequence: null })
      await command('old', now - 1000)
      await b.store.platformCommandSent(`${combo.edition}-old`, platformId, 7)
      await command('new', now)
      await b.store.platformCommandSent(`${combo.edition}-new`, platformId, 7)
      const answered = { status: 'answered', answer: { msgId: 0x1503, body: { result: 0 } } } as const
      t.equal(await b.store.settlePlatformCommand(platformId, { msgSn: 7, vehicle: { plate: '鲁B00000', plateColor: 2 } }, answered, now), null, 'not for a command of another vehicle')
      t.equal(await b.store.settlePlatformCommand(platformId, { msgSn: 7, vehicle: { plate, plateColor: 2 } }, answered, now), `${combo.edition}-new`, 'the newer command')
      t.equal(await b.store.settlePlatformCommand(platformId, { msgSn: 7, vehicle: null }, answered, now), null, 'the older one gave the number up')
      await command('late', now)
      await b.store.platformCommandSent(`${combo.edition}-late`, platformId, 8)
      t.equal(await b.store.settlePlatformCommand(platformId, { msgSn: 8, vehicle: null }, answered, now + 61_000), null, 'a reply after the expiry settles nothing')
      t.match(await b.store.getCommandStatus(`${combo.edition}-late`, now + 61_000), { status: 'expired' })
    })
  })
}
