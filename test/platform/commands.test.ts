/**
 * Text (0x9503) and photo requests (0x9502) to vehicles reached through a lower platform, through
 * the commands API (POST /vehicles/{plate}/commands), over a live loopback link between two of our
 * instances: U (upper role: the supervisor's API) and L (lower role: the vehicle's terminal talks
 * 808 to it). U → 0x9500 → L → 0x8300 → terminal → 0x0001 → L → 0x1503 → U: the command's answer.
 * Photo: U → 0x9502 → L → 0x8801 → terminal → 0x0805, 0x0801 → L → 0x1502 with the image.
 * Also: the 808 path by plate, scope and audit, a channel the terminal lacks (0x1502 flag 4), a
 * vehicle whose terminal is offline (0x1503 result 1), expiry without a reply, and each
 * PHOTO_RSP_FLAG the lower role answers (answerSuperiorControl on its own).
 */
import t, { type Test } from 'tap'
import type { Message } from '../../protocol/index.js'
import { randomBytes } from 'node:crypto'
import { answerSuperiorControl, VehicleCommands, type SuperiorControlDeps } from '../../src/platform/vehicle-commands.js'
import { eventually, fixAt, online, openBackends, provision, type Backends } from '../gateway/harness.js'
import { KEYS, LICENCE, lower, TOKEN, upper, type Combo } from './helpers.js'
import pino from 'pino'

const combos: Combo[] = [
  { edition: 2011, encryption: null, variant: 'embedded' },
  { edition: 2019, encryption: KEYS, variant: 'servers' },
]

for (const combo of combos) {
  t.test(`${combo.edition}, ${combo.encryption ? 'encrypted' : 'plain'}, ${combo.variant}: commands to a vehicle through its platform`, async (t) => {
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
    await eventually(() => u.app.platforms.states().lower[0], 5_000)

    const t0 = Date.now()
    const texts: Message[] = []
    // the terminal's camera: 0x8801 → 0x0805 with the media id, then the photo as 0x0801; channel 9 it does not have
    const asked: Message[] = []
    const jpeg = randomBytes(600)
    const taken = fixAt(Date.now() - 1000)
    const { client } = await online(l.port, vehicle, combo.edition === 2019 ? 2019 : 2013, {
      onMessage: (m) => void (m.msgId === 0x8300 && texts.push(m)),
      onDownlink: (m, c) => {
        if (m.msgId !== 0x8801) return undefined
        asked.push(m)
        const { channel } = m.body as { channel: number }
        if (channel === 9) return { msgId: 0x0805, body: { replySerial: m.serial, result: 2 } }
        const mediaId = 500 + asked.length
        setTimeout(() => c.post(0x0801, { mediaId, type: 0, format: 0, event: 0, channel, location: taken, data: jpeg.toString('hex') }), 50)
        return { msgId: 0x0805, body: { replySerial: m.serial, result: 0, mediaIds: [mediaId] } }
      },
    })
    const api = async (path: string, init: { method?: string; body?: unknown; token?: string } = {}) => {
      const r = await fetch(`http://127.0.0.1:${u.app.http.port}/api/v1${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${init.token ?? TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
        ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      })
      return {
        status: r.status,
        json: (await r.json()) as Record<string, unknown> & { id?: string; token?: string; reply?: { body?: { photo?: string; position?: { latitude?: number; gnss?: { latitude?: number } } } } },
      }
    }
    const to = `/vehicles/${encodeURIComponent(vehicle.plate)}/commands?plateColor=${vehicle.plateColor}`

    // text: through L to the terminal, whose acknowledgement comes back as 0x1503 result 0
    const text = await api(to, { method: 'POST', body: { type: 'text', text: '前方施工，减速慢行', emergency: true } })
    t.equal(text.status, 200, JSON.stringify(text.json))
    t.match(text.json, { status: 'answered', via: 'platform', reply: { msgId: '0x1503', body: { result: 0 } } }, 'answered by the platform: sent to the vehicle')
    t.equal(texts.length, 1, 'the terminal behind the lower instance got one 0x8300')
    t.match(texts[0]?.body, { text: '前方施工，减速慢行' })
    t.equal(((texts[0]?.body as { flags: number } | undefined)?.flags ?? 0) & 1, 1, 'emergency (MSG_PRIORITY 0) became the 808 emergency flag')
    const status = await api(`/commands/${text.json.id}`)
    t.match(
      status.json,
      { id: text.json.id, status: 'answered', msgId: '0x9503', phone: '', vehicleId: inU.id, answer: { msgId: 0x1503, body: { result: 0 } } },
      'its status: answered, named by vehicle',
    )

    // photo: L asks the terminal (0x8801, one photo uploaded at once), which accepts (0x0805) and
    // uploads it (0x0801): 0x1502 flag 1 carries the image and where it was taken
    const photo = await api(to, { method: 'POST', body: { type: 'photo', lensId: 1, sizeType: 2 } })
    t.equal(photo.status, 200, JSON.stringify(photo.json).slice(0, 300))
    t.match(photo.json, { status: 'answered', via: 'platform', reply: { msgId: '0x1502', body: { photoRspFlag: 1, lensId: 1, sizeType: 2, type: 1 } } })
    t.equal(photo.json.reply?.body?.photo, jpeg.toString('hex'), 'the photo the terminal uploaded, byte for byte')
    const at = photo.json.reply?.body?.position
    t.ok(Math.abs(Number((combo.edition === 2019 ? at?.gnss : at)?.latitude) - taken.latitude) < 1e-5, 'the position it was taken at')
    t.match(asked[0]?.body, { channel: 1, command: 1, interval: 0, save: 0, resolution: 2 }, 'lens as channel, size as resolution, upload at once')
    t.match((await api(`/commands/${photo.json.id}`)).json, { status: 'answered', msgId: '0x9502' })
    const noLens = await api(to, { method: 'POST', body: { type: 'photo', lensId: 9, sizeType: 1 } })
    t.match(noLens.json, { status: 'failed', via: 'platform', result: 4, reason: 'lens unusable' }, 'a channel the terminal does not have: flag 4')

    // the terminal gone: L answers 0x1503 result 1
    await client.close()
    await eventually(async () => !(await l.app.state.getSession(vehicle.phone)), 5000)
    const offline = await api(to, { method: 'POST', body: { type: 'text', text: 'anyone there?' } })
    t.match(offline.json, { status: 'failed', via: 'platform', result: 1 }, 'not delivered to the vehicle: failed with the platform’s result')

    t.comment(`${Date.now() - t0} ms to the offline case`)
    // scope: another enterprise sees neither the vehicle nor the command; both are audited
    const other = await api('/tokens', { method: 'POST', body: { role: 'enterprise', enterpriseLicenseNo: '999999999999' } })
    t.equal(other.status, 201)
    t.equal((await api(to, { method: 'POST', body: { type: 'text', text: 'x' }, token: other.json.token })).status, 404, 'a vehicle outside the scope looks absent')
    t.equal((await api(`/commands/${text.json.id}`, { token: other.json.token })).status, 404, 'and so does its command')
    const own = await api('/tokens', { method: 'POST', body: { role: 'enterprise', enterpriseLicenseNo: LICENCE } })
    t.equal((await api(`/commands/${text.json.id}`, { token: own.json.token })).status, 200, 'the vehicle’s enterprise sees it')
    await eventually(async () => {
      const audit = await api(`/audit?route=${encodeURIComponent('/api/v1/vehicles/:plate/commands')}&method=POST`)
      const entries = audit.json.items as Array<{ target: string; details: Record<string, unknown> }>
      return entries.some((e) => e.target === `vehicle ${vehicle.plate}` && e.details.via === 'platform' && e.details.commandId === text.json.id && e.details.outcome === 'answered')
    }, 5000)
    t.pass('audited with its path and outcome')

    // the 808 path by plate is unchanged: a vehicle of U's own terminal (online here: preferred to a platform reporting the same enterprise)
    const direct = await provision(bU.store)
    const seen: Message[] = []
    const { client: c2 } = await online(u.port, direct, 2013, { onMessage: (m) => void (m.msgId === 0x8300 && seen.push(m)) })
    t.teardown(() => c2.close())
    const viaTerminal = await api(`/vehicles/${encodeURIComponent(direct.plate)}/commands?plateColor=${direct.plateColor}`, { method: 'POST', body: { type: 'text', text: 'direct' } })
    t.match(viaTerminal.json, { status: 'answered', via: 'terminal', reply: { msgId: '0x0001' } })
    t.equal(seen.length, 1)
    if (combo.variant === 'embedded') await t.test('a command no platform replies to expires', (t) => expiry(t, bU))
  })
}

/** The waiting side alone, on the store of a running test (no second database to open). */
async function expiry(t: Test, b: Backends): Promise<void> {
  const [v] = await b.store.upsertVehicles([{ plate: '鲁A09999', plateColor: 2, enterpriseLicenseNo: LICENCE }])
  const cmds = new VehicleCommands({ store: b.store, now: Date.now, log: pino({ level: 'silent' }) })
  t.teardown(() => cmds.close())
  let frames = 0
  const sent = await cmds.send({ platformId: 1, vehicleId: v!, plate: '鲁A09999', plateColor: 2 }, { type: 'text', text: 'hello' }, 200, () => ++frames)
  t.equal(frames, 1)
  t.match(await b.store.getCommandStatus(sent.id, Date.now()), { status: 'delivered', vehicleId: v, platformId: 1 }, 'delivered while it waits')
  t.same(await sent.settled, { status: 'expired' })
  t.match(await b.store.getCommandStatus(sent.id, Date.now()), { status: 'expired' }, 'expired once its time to live passed unanswered')
  // a reply naming no waiting command settles nothing and costs nothing
  cmds.reply(1, { plate: '鲁A09999', plateColor: 2, dataType: 0x1503, data: { msgId: 1, result: 0 } }, pino({ level: 'silent' }))
  const failed = await cmds.send({ platformId: 1, vehicleId: v!, plate: '鲁A09999', plateColor: 2 }, { type: 'photo', lensId: 1, sizeType: 1 }, 60_000, () => null)
  t.match(await failed.settled, { status: 'failed' }, 'a link gone before sending fails at once')
  t.match(await b.store.getCommandStatus(failed.id, Date.now()), { status: 'failed' })
  // 2011 photo replies name only the vehicle: the oldest request takes the first final one; flag 2 ("later") is not final
  const silent = pino({ level: 'silent' })
  const first = await cmds.send({ platformId: 1, vehicleId: v!, plate: '鲁A09999', plateColor: 2 }, { type: 'photo', lensId: 1, sizeType: 1 }, 60_000, () => 7)
  const second = await cmds.send({ platformId: 1, vehicleId: v!, plate: '鲁A09999', plateColor: 2 }, { type: 'photo', lensId: 2, sizeType: 1 }, 60_000, () => 8)
  const photo = (flag: number) => ({
    plate: '鲁A09999 ',
    plateColor: 2,
    dataType: 0x1502,
    data: { photoRspFlag: flag, position: {}, lensId: 1, sizeType: 1, type: 1, photo: flag === 1 ? 'ffd8ffd9' : '' },
  })
  cmds.reply(1, photo(2), silent)
  cmds.reply(1, photo(1), silent)
  t.match(await first.settled, { status: 'answered', reply: { msgId: 0x1502, body: { photo: 'ffd8ffd9' } } }, 'the oldest request got the photo')
  cmds.reply(1, photo(3), silent)
  t.match(await second.settled, { status: 'failed', result: 3, reason: 'vehicle offline' }, 'the next one the next reply')
  await eventually(async () => (await b.store.getCommandStatus(first.id, Date.now()))?.status === 'answered')
}

t.test("lower role: a superior's 0x9502 answered with each PHOTO_RSP_FLAG", async (t) => {
  const log = pino({ level: 'silent' })
  type Outcome = Awaited<ReturnType<NonNullable<SuperiorControlDeps['commander']>['sendCommand']>>
  const ask = async (over: Partial<SuperiorControlDeps>, outcome: Outcome | null, edition: 2011 | 2019 = 2019) => {
    const sent: Array<{ phone: string; msgId: number }> = []
    const deps: SuperiorControlDeps = {
      findVehicle: async () => ({ terminalPhone: '013800000001' }),
      commander: outcome
        ? {
            sendCommand: async (phone, m) => {
              sent.push({ phone, msgId: m.msgId })
              return outcome
            },
          }
        : null,
      findPhoto: async () => null,
      timeoutMs: 100,
      photoPollMs: 10,
      log,
      ...over,
    }
    let answer: { dataType: number; data: Record<string, unknown> } | undefined
    await answerSuperiorControl(deps, edition, { sn: 77, body: { plate: '鲁A1', plateColor: 2, dataType: 0x9502, data: { lensId: 1, sizeType: 1 } } }, (b) => (answer = b as typeof answer))
    return { answer: answer!, sent }
  }
  const accepted: Outcome = { status: 'answered', reply: { msgId: 0x0805, body: { replySerial: 1, result: 0, mediaIds: [5] } } }
  t.match((await ask({}, null)).answer, { dataType: 0x1502, data: { photoRspFlag: 0, sourceMsgSn: 77, photo: '' } }, 'no gateway here: not supported')
  t.match((await ask({ findVehicle: async () => ({ terminalPhone: null }) }, accepted)).answer.data, { photoRspFlag: 3 }, 'no terminal: vehicle offline')
  t.match((await ask({}, { status: 'timeout' })).answer.data, { photoRspFlag: 3 }, 'offline or silent terminal')
  t.match((await ask({}, { status: 'failed', result: 2, reply: { msgId: 0x0805, body: {} } })).answer.data, { photoRspFlag: 4 }, '0x0805 channel not supported: lens unusable')
  t.match((await ask({}, { status: 'failed', result: 1, reply: { msgId: 0x0805, body: {} } })).answer.data, { photoRspFlag: 5 }, '0x0805 failed: other')
  t.match((await ask({}, { status: 'failed', result: 3 })).answer.data, { photoRspFlag: 0 }, '0x0001 not supported')
  const later = await ask({}, accepted)
  t.match(later.answer.data, { photoRspFlag: 2, photo: '' }, 'accepted, no upload within the timeout: done, sent later')
  t.same(later.sent, [{ phone: '013800000001', msgId: 0x8801 }])
  const looked: Array<[string[], number[] | null]> = []
  const media = {
    phone: '13800000001',
    vehicleId: 1,
    mediaId: 5,
    type: 0,
    format: 0,
    event: 0,
    channel: 1,
    location: { latitude: 36.5, longitude: 117.25, timeMs: Date.parse('2026-12-01T00:00:00Z') },
    data: Buffer.from('ffd8ffd9', 'hex'),
    receivedAt: Date.now(),
  }
  const done = await ask(
    {
      findPhoto: async (phones, _since, ids) => {
        looked.push([phones, ids])
        return looked.length < 3 ? null : media
      },
    },
    accepted,
    2011,
  )
  t.match(done.answer.data, { photoRspFlag: 1, photo: 'ffd8ffd9', type: 1, position: { latitude: 36.5, longitude: 117.25 } }, 'the upload found while polling: sent with its position')
  t.same(looked[0], [['013800000001', '13800000001'], [5]], 'looked for by the media ids 0x0805 gave, under both spellings of the phone')
})
