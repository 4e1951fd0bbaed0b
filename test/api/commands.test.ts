/**
 * POST /api/v1/terminals/{phone}/commands through the real composition root (gateway + API in
 * one app) and real terminals over TCP, on both backends: answered, failed, 504 timeout, 202
 * queued for an offline terminal and delivered on reconnect, set-params / confirm-alarm
 * encodings, validation, and enterprise scope.
 */
import t from 'tap'
import type { Message } from '../../protocol/index.js'
import { createToken } from '../../src/api/tokens.js'
import { BACKENDS, connect, eventually, online, openBackends, startGateway } from '../gateway/harness.js'
import { LICENCE_A, LICENCE_B } from './harness.js'

let seq = 0
const phone = () => `1380${String(process.pid % 1000).padStart(3, '0')}${String(++seq).padStart(4, '0')}`

/** The answer of POST /terminals/:phone/commands, as far as these tests read it (the assertions check it). */
interface CommandAnswer {
  status: string
  id: string
  expiresAt: string
  reply: { msgId: string; body: { location: { latitude: number } } }
  error: { code: string; details: { fields: { field: string; message: string }[] } }
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const gw = await startGateway(backends)
    t.teardown(() => gw.close())
    const { store } = backends
    const base = `http://127.0.0.1:${gw.app.http.port}/api/v1`
    const token = async (role: string, licence: string | null = null) => (await createToken(store, { role, enterpriseLicenseNo: licence })).secret
    const tokens = { supervisor: await token('supervisor'), inspector: await token('inspector'), entA: await token('enterprise', LICENCE_A), entB: await token('enterprise', LICENCE_B) }

    const vehicle = async (licence = LICENCE_A) => {
      const p = phone()
      const plate = `浙A${String(seq).padStart(5, '0')}`
      const [vehicleId] = await store.upsertVehicles([{ plate, plateColor: 2, terminalPhone: p, enterpriseLicenseNo: licence }])
      return { phone: p, plate, plateColor: 2, vehicleId }
    }
    const command = (p: string, body: unknown, tok = tokens.supervisor) =>
      fetch(`${base}/terminals/${p}/commands`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as CommandAnswer,
      }))

    t.test('connected terminal: text, location, parameters, alarm confirmation are answered', async (t) => {
      const v = await vehicle()
      const seen: Message[] = []
      const { client } = await online(gw.port, v, 2013, { onMessage: (m) => seen.push(m) })
      t.teardown(() => client.close())

      const text = await command(v.phone, { type: 'text', text: '请立即停车休息' }, tokens.entA)
      t.equal(text.status, 200, JSON.stringify(text.body))
      t.equal(text.body.status, 'answered')
      t.equal(text.body.reply.msgId, '0x0001')
      const sent = seen.find((m) => m.msgId === 0x8300)!
      t.ok(sent, 'the terminal received 0x8300')
      t.match(sent.body, { flags: 0x0c, text: '请立即停车休息' }, 'display + TTS flags, GBK text intact')
      t.match(text.body.reply.body, { replySerial: sent.serial, result: 0 })

      const loc = await command(v.phone, { type: 'query-location' })
      t.equal(loc.status, 200)
      t.equal(loc.body.reply.msgId, '0x0201')
      t.type(loc.body.reply.body.location.latitude, 'number')

      const params = await command(v.phone, { type: 'query-params' })
      t.equal(params.status, 200)
      t.equal(params.body.reply.msgId, '0x0104')

      const set = await command(v.phone, {
        type: 'set-params',
        params: [
          { id: 'heartbeatInterval', value: 30 },
          { id: '0x0029', value: 10 },
          { id: 0x0013, text: 'gw.example.cn' },
        ],
      })
      t.equal(set.status, 200, JSON.stringify(set.body))
      const setMsg = seen.find((m) => m.msgId === 0x8103)!
      t.match((setMsg.body as { params: unknown[] }).params, [
        { id: 0x0001, value: 30 },
        { id: 0x0029, value: 10 },
        { id: 0x0013, text: 'gw.example.cn' },
      ])

      const confirm = await command(v.phone, { type: 'confirm-alarm', alarmSerial: 0, alarmTypes: 1 })
      t.equal(confirm.status, 200)
      t.match(seen.find((m) => m.msgId === 0x8203)?.body, { replySerial: 0, alarmType: 1 })

      const audit = await store.listAudit({ limit: 50 })
      const row = audit.find((a) => a.route === '/api/v1/terminals/:phone/commands' && a.target === v.phone && a.details.type === 'text')
      t.match(row, { status: 200, role: 'enterprise', enterpriseLicenseNo: LICENCE_A, details: { outcome: 'answered' } }, 'audited with its outcome')
    })

    t.test('failure result is reported; silence is a 504', async (t) => {
      const v = await vehicle()
      let mode: 'fail' | 'silent' = 'fail'
      const { client } = await online(gw.port, v, 2013, {
        onDownlink: (m) => (mode === 'fail' ? { msgId: 0x0001, body: { replySerial: m.serial, replyId: m.msgId, result: 3 } } : null),
      })
      t.teardown(() => client.close())
      const failed = await command(v.phone, { type: 'text', text: 'x' })
      t.equal(failed.status, 200)
      t.same(failed.body, { status: 'failed', result: 3, reason: 'not supported' })
      mode = 'silent'
      const started = Date.now()
      const timeout = await command(v.phone, { type: 'text', text: 'x', timeoutSeconds: 1 })
      t.equal(timeout.status, 504)
      t.equal(timeout.body.error.code, 'TERMINAL_TIMEOUT')
      t.ok(Date.now() - started >= 900, 'waited the requested timeout')
    })

    t.test('photo: 0x8801 to the terminal, its 0x0805 result and media ids are the answer (also by plate)', async (t) => {
      const v = await vehicle()
      const asked: Message[] = []
      let result = 0
      const { client } = await online(gw.port, v, 2019, {
        onDownlink: (m) => {
          if (m.msgId !== 0x8801) return undefined
          asked.push(m)
          return { msgId: 0x0805, body: result === 0 ? { replySerial: m.serial, result, mediaIds: [41, 42] } : { replySerial: m.serial, result } }
        },
      })
      t.teardown(() => client.close())
      const photo = await command(v.phone, { type: 'photo', channel: 2, resolution: 4, quality: 3 }, tokens.entA)
      t.equal(photo.status, 200, JSON.stringify(photo.body))
      t.match(photo.body, { status: 'answered', reply: { msgId: '0x0805', body: { replySerial: asked[0]?.serial, result: 0, mediaIds: [41, 42] } } })
      t.match(asked[0]?.body, { channel: 2, command: 1, interval: 0, save: 0, resolution: 4, quality: 3 }, 'one photo, uploaded at once')

      result = 2
      const refused = await command(v.phone, { type: 'photo' })
      t.same(refused.body, { status: 'failed', result: 2, reason: 'channel not supported' }, 'a 0x0805 refusal is a failure with its own meaning')
      t.match(asked[1]?.body, { channel: 1, resolution: 1, quality: 5 }, 'defaults')

      result = 0
      const byPlate = await fetch(`${base}/vehicles/${encodeURIComponent(v.plate)}/commands?plateColor=2`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.supervisor}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'photo', lensId: 3, sizeType: 2 }),
      })
      const json = (await byPlate.json()) as CommandAnswer & Record<string, unknown>
      t.equal(byPlate.status, 200, JSON.stringify(json))
      t.match(json, { status: 'answered', via: 'terminal', reply: { msgId: '0x0805', body: { result: 0, mediaIds: [41, 42] } } }, 'a photo by plate goes to its online terminal')
      t.match(asked[2]?.body, { channel: 3, resolution: 2 }, 'lens as channel, size as resolution')
      const bad = await command(v.phone, { type: 'photo', quality: 11 })
      t.equal(bad.status, 400)
    })

    t.test('offline terminal: 202 queued, delivered when it comes back; or 504 when queueing is refused', async (t) => {
      const v = await vehicle()
      const first = await online(gw.port, v)
      await first.client.close()
      await eventually(() => !gw.app.gateway.isConnected(v.phone))
      const queued = await command(v.phone, { type: 'text', text: '上线后请联系调度', ttlSeconds: 600 })
      t.equal(queued.status, 202, JSON.stringify(queued.body))
      t.equal(queued.body.status, 'queued')
      t.type(queued.body.id, 'string')
      const expires = Date.parse(queued.body.expiresAt)
      t.ok(expires > Date.now() + 500_000 && expires <= Date.now() + 600_000, 'expiry from ttlSeconds')

      const refused = await command(v.phone, { type: 'text', text: 'now or never', queueIfOffline: false, timeoutSeconds: 1 })
      t.equal(refused.status, 504)

      const got: Message[] = []
      const again = await connect(gw.port, v.phone, { onMessage: (m) => m.msgId === 0x8300 && got.push(m) })
      t.teardown(() => again.close())
      t.equal(await again.authenticate(first.authCode), 0)
      await eventually(() => got.length > 0)
      t.equal((got[0].body as { text: string }).text, '上线后请联系调度', 'delivered after authentication')
      t.equal(got.length, 1, 'the refused one was not queued')
    })

    t.test('scope, roles, unknown terminals, validation', async (t) => {
      const a = await vehicle(LICENCE_A)
      const foreign = await command(a.phone, { type: 'query-location' }, tokens.entB)
      t.equal(foreign.status, 404, 'another carrier’s terminal looks unknown')
      const inspector = await command(a.phone, { type: 'query-location' }, tokens.inspector)
      t.equal(inspector.status, 403)
      const unknown = await command('13999999999', { type: 'query-location' })
      t.equal(unknown.status, 404)
      const badBits = await command(a.phone, { type: 'confirm-alarm', alarmSerial: 1, alarmTypes: 2 })
      t.equal(badBits.status, 400)
      t.same(badBits.body.error.details.fields, [{ field: 'body/alarmTypes', message: 'contains bits that need no confirmation' }])
      const badParam = await command(a.phone, {
        type: 'set-params',
        params: [
          { id: 'noSuchParam', value: 1 },
          { id: 'apn', value: 3 },
        ],
      })
      t.equal(badParam.status, 400)
      t.same(
        badParam.body.error.details.fields.map((f: { field: string }) => f.field),
        ['body/params/0/id', 'body/params/1/text'],
      )
      const noText = await command(a.phone, { type: 'text' })
      t.equal(noText.status, 400)
      t.same(noText.body.error.details.fields, [{ field: 'body/text', message: 'is required' }])
      const badType = await command(a.phone, { type: 'reboot' })
      t.equal(badType.status, 400)
      const badPhone = await command('12ab', { type: 'query-location' })
      t.equal(badPhone.status, 400)
    })
  })
}
