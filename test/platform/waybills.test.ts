/**
 * Waybills from a lower platform (upper role), on both storage backends: 0x120D as JSON, as
 * field:=value pairs and as plain text; kept as received; the structured ones that validate, for a
 * carrier the platform may report for and for the message's own vehicle, become dispatched
 * waybills the matcher covers the vehicle's positions with (the overspeed anomaly names the
 * waybill); our 0x920B request through the API and the platform's 0x120B answer.
 */
import t from 'tap'
import { newPlatform } from '../../src/platform/admin.js'
import { eventually, openBackends, startGateway, BACKENDS } from '../gateway/harness.js'
import { KM_PER_DEG_LON, waybill as waybillOf } from './helpers.js'
import { RawPlatform } from './raw-platform.js'

const TOKEN = 'platform-waybill-token-0123456789'
const LICENCE = '370100000001'
const waybill = (no: string, extra: Record<string, unknown> = {}) => waybillOf(no, '鲁A20001', extra)

for (const variant of BACKENDS) {
  t.test(`${variant}: waybills reported over 809 are kept as received and, where they parse, used for matching`, async (t) => {
    const b = await openBackends(variant)
    t.teardown(() => b.close())
    const st = b.store
    await st.createPlatform(newPlatform({ role: 'lower', name: 'W', accessCode: 2101, userId: 21, password: 'secretW', enterpriseLicences: [LICENCE] }), Date.now())
    await st.createPlatform(newPlatform({ role: 'lower', name: 'offline', accessCode: 2102, userId: 22, password: 'secretX', enterpriseLicences: [LICENCE] }), Date.now())
    const [own] = await st.upsertVehicles([
      { plate: '鲁A20001', plateColor: 2, enterpriseLicenseNo: LICENCE },
      { plate: '鲁A20002', plateColor: 2, enterpriseLicenseNo: '999999999999' },
      { plate: '鲁A20003', plateColor: 2, enterpriseLicenseNo: LICENCE },
    ])
    const gw = await startGateway(b, { platformPort: 0, platformHost: '127.0.0.1', platformIdleSeconds: 30, bootstrapToken: TOKEN })
    t.teardown(() => gw.close())
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
    const p = await RawPlatform.open(gw.app.platforms.address()!.port, 2101)
    t.teardown(() => p.close())
    t.equal(await p.login(21, 'secretW'), 0)
    const platformId = (await st.findLowerPlatform(2101))!.id

    const report = (plate: string, text: string) => p.send(0x1200, { plate, plateColor: 2, dataType: 0x120d, data: { waybill: text } })
    const { goods: _g, ...flat } = waybill('YD-809-0002')
    const pairs = Object.entries({ ...flat, unNumber: '1203', goodsName: '汽油', hazardClass: '3', quantity: '20', unit: 't' })
      .map(([k, v]) => `${k}:=${String(v)}`)
      .join(';')
    report('鲁A20001', JSON.stringify(waybill('YD-809-0001')))
    report('鲁A20001', pairs)
    report('鲁A20001', '运单 YD-809-0009：汽油 20 吨，济南至青岛')
    report('鲁A20001', JSON.stringify(waybill('YD-809-0004', { carrierLicenseNo: '888888888888' })))
    report('鲁A20001', JSON.stringify(waybill('YD-809-0005', { plate: '鲁A20003' })))
    report('鲁A20002', JSON.stringify(waybill('YD-809-0006', { plate: '鲁A20002' })))
    report('鲁A20001', JSON.stringify(waybill('YD-809-0007', { escortName: '' })))

    const items = await eventually(
      async () => {
        const list = await st.listPlatformWaybills({ platformId })
        return list.length === 6 ? list : null
      },
      10_000,
      50,
    )
    // handled concurrently: found by the number each text carries
    const got = ['0001', '0002', '0009', '0004', '0005', '0007'].map((n) => items.find((w) => w.text.includes(`YD-809-${n}`))!)
    t.same(
      got.map((w) => [w.dataType, w.plate, w.vehicleId, w.format, w.waybillNo]),
      [
        [0x120d, '鲁A20001', own, 'json', 'YD-809-0001'],
        [0x120d, '鲁A20001', own, 'pairs', 'YD-809-0002'],
        [0x120d, '鲁A20001', own, 'text', null],
        [0x120d, '鲁A20001', own, 'json', null],
        [0x120d, '鲁A20001', own, 'json', null],
        [0x120d, '鲁A20001', own, 'json', null],
      ],
      "each kept as received with its vehicle; the two that validate became waybills; a foreign vehicle's was refused",
    )
    t.equal(got[2]!.text, '运单 YD-809-0009：汽油 20 吨，济南至青岛', 'plain text kept as it came')
    t.equal(got[2]!.errors, null, 'plain text is no error')
    t.same(
      got[3]!.errors!.map((e) => e.field),
      ['carrierLicenseNo'],
      'a carrier the platform may not report for',
    )
    t.same(
      got[4]!.errors!.map((e) => e.field),
      ['plate'],
      "a waybill of another vehicle than the message's",
    )
    t.same(got[5]!.errors, [{ field: 'escortName', message: 'is required' }], 'field errors as the API gives them')
    const metrics = await (await fetch(`http://127.0.0.1:${gw.app.http.port}/metrics`)).text()
    t.match(metrics, /jt808_platform_waybills_in_total\{link="2101",result="foreign_enterprise"\} 1/)
    t.match(metrics, /jt808_platform_waybills_in_total\{link="2101",result="matched"\} 2/)

    const w1 = (await st.getWaybill('YD-809-0001'))!
    t.same([w1.status, w1.statusHistory.at(-1)?.by, w1.goods[0]?.name], ['dispatched', 'platform 2101', '汽油'], 'stored dispatched, by the platform')
    t.equal((await st.getWaybill('YD-809-0002'))?.goods[0]?.quantity, 20, 'pairs with plain goods columns')
    t.equal(await st.getWaybill('YD-809-0004'), null)

    // the matcher covers the vehicle's positions with it: an overspeed names the waybill
    await gw.app.matcher.pollWaybills()
    const start = Date.now() + 2000
    const stepDeg = (95 * 5) / 3600 / KM_PER_DEG_LON
    for (let i = 0; i <= 24; i++) p.position('鲁A20001', 2, start + i * 5000, 95, 0x1202, 117.12 + i * stepDeg)
    await eventually(async () => (await st.countPositions(own!)) === 25, 10_000, 50)
    const overspeed = await eventually(async () => (await st.listAnomalies({ type: 'OVERSPEED' })).items.find((a) => a.vehicleId === own), 15_000, 100)
    t.ok(['YD-809-0001', 'YD-809-0002'].includes(overspeed.waybillNo ?? ''), `the overspeed is judged under the platform's waybill (${overspeed.waybillNo})`)

    // 0x920B through the API; the platform answers 0x120B, kept like a 0x120D
    const asked = await api(`/platforms/${platformId}/waybill-requests`, { method: 'POST', body: JSON.stringify({ plate: '鲁A20001', plateColor: 2 }) })
    t.equal(asked.status, 202)
    const request = await p.reply(0x9200)
    t.same([(request.body as { dataType: number; plate: string }).dataType, (request.body as { plate: string }).plate], [0x920b, '鲁A20001'], 'the platform got 0x920B for the vehicle')
    p.send(0x1200, { plate: '鲁A20001', plateColor: 2, dataType: 0x120b, data: { waybill: '当前运单 YD-809-0001' } })
    const answer = await eventually(async () => (await st.listPlatformWaybills({ platformId })).find((w) => w.dataType === 0x120b), 5000)
    t.same([answer.text, answer.format, answer.vehicleId], ['当前运单 YD-809-0001', 'text', own])
    const listed = (await (await api(`/platforms/waybills?platform=${platformId}&limit=2`)).json()) as { items: Array<{ dataType: string; text: string }> }
    t.same(
      listed.items.map((i) => i.dataType),
      ['0x120b', '0x120d'],
      'listed newest first, through the API',
    )
    const offline = (await st.findLowerPlatform(2102))!.id
    t.equal(
      (await api(`/platforms/${offline}/waybill-requests`, { method: 'POST', body: JSON.stringify({ plate: '鲁A20001', plateColor: 2 }) })).status,
      409,
      'a platform not logged in cannot be asked',
    )
    t.equal((await fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1/platforms/waybills`)).status, 401)
    const audit = await st.listAudit({ limit: 5 })
    t.ok(
      audit.some((a) => a.route.includes('/waybill-requests') && a.method === 'POST'),
      'the request is audited',
    )
  })
}
