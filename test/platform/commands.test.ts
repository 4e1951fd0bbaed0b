/**
 * Text (0x9503) and photo requests (0x9502) to vehicles reached through a lower platform, through
 * the commands API (POST /vehicles/{plate}/commands), over a live loopback link between two of our
 * instances: U (upper role: the supervisor's API) and L (lower role: the vehicle's terminal talks
 * 808 to it). U → 0x9500 → L → 0x8300 → terminal → 0x0001 → L → 0x1503 → U: the command's answer.
 * Also: the 808 path by plate, scope and audit, a photo request L cannot serve (0x1502 flag 0), a
 * vehicle whose terminal is offline (0x1503 result 1), and expiry without a reply.
 */
import t, { type Test } from 'tap'
import type { Message } from '../../protocol/index.js'
import { VehicleCommands } from '../../src/platform/vehicle-commands.js'
import { eventually, online, openBackends, provision, type Backends } from '../gateway/harness.js'
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
    const { client } = await online(l.port, vehicle, combo.edition === 2019 ? 2019 : 2013, { onMessage: (m) => void (m.msgId === 0x8300 && texts.push(m)) })
    const api = async (path: string, init: { method?: string; body?: unknown; token?: string } = {}) => {
      const r = await fetch(`http://127.0.0.1:${u.app.http.port}/api/v1${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${init.token ?? TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
        ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      })
      return { status: r.status, json: (await r.json()) as Record<string, unknown> & { id?: string; token?: string } }
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

    // photo: L has no camera command on its 808 path and says so (0x1502 flag 0)
    const photo = await api(to, { method: 'POST', body: { type: 'photo', lensId: 1, sizeType: 2 } })
    t.equal(photo.status, 200)
    t.match(photo.json, { status: 'failed', via: 'platform', result: 0, reason: 'not supported' })
    t.match((await api(`/commands/${photo.json.id}`)).json, { status: 'failed', result: 0, msgId: '0x9502' })

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
    const photoDirect = await api(`/vehicles/${encodeURIComponent(direct.plate)}/commands?plateColor=${direct.plateColor}`, { method: 'POST', body: { type: 'photo' } })
    t.equal(photoDirect.status, 409, 'photo requests go through platforms only')
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
