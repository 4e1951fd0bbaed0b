/**
 * Waybills over both backends: create (201, 400 with field errors, 409 duplicate), read, list
 * with filters and cursor, lifecycle moves (409 when invalid), the SM2-signed QR code, roadside
 * verification (valid, tampered, foreign key), and enterprise scope on every route.
 */
import t from 'tap'
import { generateKeyPair, QrSigner, qrText } from '../../src/api/qr.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput, waybill } from './harness.js'

const NOW = Date.parse('2025-03-10T04:00:00Z') // 12:00 Beijing

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend, { now: () => NOW })
    const { app, auth, tokens } = f
    const post = (body: unknown, token = tokens.supervisor) => app.inject({ method: 'POST', url: '/api/v1/waybills', headers: auth(token), payload: body as object })
    await app.inject({
      method: 'POST',
      url: '/api/v1/vehicles',
      headers: auth(tokens.supervisor),
      payload: [vehicleInput('浙A30001', LICENCE_A, { terminalPhone: '013500000001' }), vehicleInput('浙B30001', LICENCE_B)],
    })

    t.test('create: 201, field errors, duplicate, scope', async (t) => {
      const created = await post(waybill('WB-A-0001', LICENCE_A), tokens.entA)
      t.equal(created.statusCode, 201, created.body)
      t.match(created.json(), { waybillNo: 'WB-A-0001', status: 'created', createdAt: new Date(NOW).toISOString(), goods: [{ unNumber: '1203', quantity: 25.5 }] })
      t.equal(created.json().statusHistory.length, 1)

      const dup = await post(waybill('WB-A-0001', LICENCE_A))
      t.equal(dup.statusCode, 409)
      t.equal(dup.json().error.code, 'CONFLICT')

      const bad = await post(
        waybill('WB-A-0002', LICENCE_A, { carrierLicenseNo: '123', loadingDate: '2025-13-40', goods: [{ unNumber: '12', name: 'x', hazardClass: '3', quantity: 1.234 }], extra: 1 }),
      )
      t.equal(bad.statusCode, 400)
      t.equal(bad.json().error.code, 'VALIDATION_FAILED')
      const fields = bad.json().error.details.fields.map((x: { field: string }) => x.field)
      t.same(fields.sort(), ['body/carrierLicenseNo', 'body/extra', 'body/goods/0/quantity', 'body/goods/0/unNumber', 'body/loadingDate'].sort(), 'every problem with its field')

      const missing = await post({ waybillNo: 'WB-X' })
      t.equal(missing.statusCode, 400)
      t.ok(missing.json().error.details.fields.some((x: { field: string; message: string }) => x.field === 'body/goods' && /non-empty/.test(x.message)))

      const foreign = await post(waybill('WB-B-0009', LICENCE_B), tokens.entA)
      t.equal(foreign.statusCode, 403, 'an enterprise cannot create a waybill of another carrier')
      const onForeignTruck = await post(waybill('WB-A-0008', LICENCE_A, { plate: '浙B30001' }), tokens.entA)
      t.equal(onForeignTruck.statusCode, 404, "an enterprise cannot put its waybill on another carrier's truck (answered as an unregistered one)")
      const onForeignTrailer = await post(waybill('WB-A-0007', LICENCE_A, { trailerPlate: '浙B30001', trailerTransportCertNo: '330100000002' }), tokens.entA)
      t.equal(onForeignTrailer.statusCode, 404, "nor on another carrier's trailer")
      const inspector = await post(waybill('WB-A-0003', LICENCE_A), tokens.inspector)
      t.equal(inspector.statusCode, 403)
      t.equal((await post(waybill('WB-B-0001', LICENCE_B), tokens.entB)).statusCode, 201)
    })

    t.test('read and list: scope, filters, cursor', async (t) => {
      for (let i = 2; i <= 6; i++) t.equal((await post(waybill(`WB-A-000${i}`, LICENCE_A))).statusCode, 201)
      const one = await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0001', headers: auth(tokens.entA) })
      t.equal(one.statusCode, 200)
      t.equal(one.json().carrierLicenseNo, LICENCE_A)
      t.equal((await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0001', headers: auth(tokens.entB) })).statusCode, 404)
      t.equal((await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0001', headers: auth(tokens.inspector) })).statusCode, 200)
      t.equal((await app.inject({ method: 'GET', url: '/api/v1/waybills/NOPE', headers: auth(tokens.supervisor) })).statusCode, 404)

      const seen: string[] = []
      let cursor: string | null = null
      do {
        const url: string = `/api/v1/waybills?limit=2${cursor ? `&cursor=${cursor}` : ''}`
        const res = await app.inject({ method: 'GET', url, headers: auth(tokens.entA) })
        t.equal(res.statusCode, 200, res.body)
        seen.push(...res.json().items.map((w: { waybillNo: string }) => w.waybillNo))
        cursor = res.json().nextCursor
      } while (cursor)
      t.same(seen, ['WB-A-0006', 'WB-A-0005', 'WB-A-0004', 'WB-A-0003', 'WB-A-0002', 'WB-A-0001'], 'newest first, each once, only A’s')
      const all = await app.inject({ method: 'GET', url: '/api/v1/waybills?limit=100', headers: auth(tokens.supervisor) })
      t.equal(all.json().items.length, 7)
      const byPlate = await app.inject({ method: 'GET', url: `/api/v1/waybills?plate=${encodeURIComponent('浙B30001')}`, headers: auth(tokens.supervisor) })
      t.same(
        byPlate.json().items.map((w: { waybillNo: string }) => w.waybillNo),
        ['WB-B-0001'],
      )
      const inWindow = await app.inject({ method: 'GET', url: '/api/v1/waybills?from=2025-03-10T00:00:00Z&to=2025-03-10T23:00:00Z&status=created', headers: auth(tokens.supervisor) })
      t.equal(inWindow.json().items.length, 7)
      const outside = await app.inject({ method: 'GET', url: '/api/v1/waybills?from=2025-04-01T00:00:00Z&to=2025-04-02T00:00:00Z', headers: auth(tokens.supervisor) })
      t.equal(outside.json().items.length, 0)
      t.equal((await app.inject({ method: 'GET', url: `/api/v1/waybills?enterprise=${LICENCE_A}`, headers: auth(tokens.entB) })).statusCode, 403)
      t.equal((await app.inject({ method: 'GET', url: '/api/v1/waybills?status=lost', headers: auth(tokens.supervisor) })).statusCode, 400)
      t.equal((await app.inject({ method: 'GET', url: '/api/v1/waybills?cursor=abc', headers: auth(tokens.supervisor) })).statusCode, 400)
    })

    t.test('lifecycle: allowed moves, 409 for the others, history kept, vehicle shows the active waybill', async (t) => {
      const patch = (no: string, body: unknown, token = tokens.entA) => app.inject({ method: 'PATCH', url: `/api/v1/waybills/${no}`, headers: auth(token), payload: body as object })
      const skip = await patch('WB-A-0001', { status: 'completed' })
      t.equal(skip.statusCode, 409)
      t.match(skip.json().error, { code: 'CONFLICT', details: { from: 'created', to: 'completed' } })
      t.equal((await patch('WB-A-0001', { status: 'dispatched' }, tokens.entB)).statusCode, 404)
      t.equal((await patch('WB-A-0001', { status: 'dispatched' }, tokens.inspector)).statusCode, 403)
      t.equal((await patch('WB-A-0001', { status: 'sideways' })).statusCode, 400)
      const d = await patch('WB-A-0001', { status: 'dispatched', note: '08:00 出车' })
      t.equal(d.statusCode, 200, d.body)
      t.equal(d.json().status, 'dispatched')
      t.same(
        d.json().statusHistory.map((h: { status: string }) => h.status),
        ['created', 'dispatched'],
      )
      t.equal(d.json().statusHistory[1].note, '08:00 出车')

      const vehicle = await app.inject({ method: 'GET', url: `/api/v1/vehicles/${encodeURIComponent('浙A30001')}`, headers: auth(tokens.entA) })
      t.match(vehicle.json().live.activeWaybill, { waybillNo: 'WB-A-0001', status: 'dispatched' }, 'active for its vehicle within its window')

      t.equal((await patch('WB-A-0001', { status: 'in_transit' })).statusCode, 200)
      t.equal((await patch('WB-A-0001', { status: 'completed' })).statusCode, 200)
      const again = await patch('WB-A-0001', { status: 'cancelled' })
      t.equal(again.statusCode, 409, 'completed is final')
      t.equal((await patch('NOPE', { status: 'dispatched' }, tokens.supervisor)).statusCode, 404)
      const audit = await f.store.listAudit({ limit: 100 })
      t.ok(
        audit.some((a) => a.method === 'PATCH' && a.target === 'WB-A-0001' && a.status === 200 && a.details.status === 'completed'),
        'moves are audited',
      )
    })

    t.test('QR code: SM2-signed payload as JSON, SVG and PNG; verification; tampering rejected', async (t) => {
      const qr = await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0002/qrcode', headers: auth(tokens.entA) })
      t.equal(qr.statusCode, 200, qr.body)
      const body = qr.json()
      t.match(body, { alg: 'SM2-SM3', payload: { v: 1, waybillNo: 'WB-A-0002', plate: '浙A30001', goods: [{ unNumber: '1203', name: '汽油', quantity: 25.5 }] } })
      t.match(body.sig, /^[0-9a-f]{128}$/)
      t.match(body.publicKey, /^04[0-9a-f]{128}$/)
      t.match(body.svg, /^<svg/)
      const svg = await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0002/qrcode?format=svg', headers: auth(tokens.entA) })
      t.equal(svg.headers['content-type'], 'image/svg+xml')
      const png = await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0002/qrcode?format=png', headers: auth(tokens.entA) })
      t.equal(png.headers['content-type'], 'image/png')
      t.same([...png.rawPayload.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG')
      t.equal((await app.inject({ method: 'GET', url: '/api/v1/waybills/WB-A-0002/qrcode', headers: auth(tokens.entB) })).statusCode, 404)

      const verify = (payload: unknown, token = tokens.inspector) => app.inject({ method: 'POST', url: '/api/v1/waybills/verify', headers: auth(token), payload: payload as object })
      const ok = await verify({ qr: body.text })
      t.equal(ok.statusCode, 200, ok.body)
      t.same(ok.json().differences, [])
      t.match(ok.json(), { valid: true, matchesCurrent: true, differences: [], waybill: { waybillNo: 'WB-A-0002', status: 'created' }, vehicle: { plate: '浙A30001' }, live: { online: false } })
      // The signed object itself, keys in another order, verifies too (canonical JSON).
      const reordered = { sig: body.sig, payload: Object.fromEntries(Object.entries(body.payload).reverse()), kid: body.kid, alg: body.alg }
      t.equal((await verify(reordered)).statusCode, 200)

      const tampered = JSON.parse(body.text)
      tampered.payload.goods[0].quantity = 2.5
      const rejected = await verify({ qr: JSON.stringify(tampered) })
      t.equal(rejected.statusCode, 422)
      t.match(rejected.json().error, { code: 'SIGNATURE_INVALID', message: /signature does not match/ })
      const otherPlate = JSON.parse(body.text)
      otherPlate.payload.plate = '浙A99999'
      t.equal((await verify({ qr: JSON.stringify(otherPlate) })).statusCode, 422)
      const badSig = JSON.parse(body.text)
      badSig.sig = badSig.sig.slice(0, 126) + (badSig.sig.endsWith('00') ? '11' : '00')
      t.equal((await verify({ qr: JSON.stringify(badSig) })).statusCode, 422)
      // Signed by someone else's key: rejected.
      const forger = new QrSigner({ getSetting: async () => null, putSettingIfAbsent: async <T>(_k: string, v: T) => v }, generateKeyPair())
      const forged = await forger.sign(JSON.parse(body.text).payload)
      t.equal((await verify({ qr: qrText({ ...forged, kid: body.kid }) })).statusCode, 422)
      t.equal((await verify({ qr: 'not json' })).statusCode, 422)
      t.equal((await verify({})).statusCode, 400)

      // Signed, but the waybill changed since (re-imported with less cargo): valid, flagged.
      await f.store.upsertWaybills([
        { ...(await f.store.getWaybill('WB-A-0002'))!, goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', packingGroup: 'II', specification: '罐装', quantity: 10, unit: 't' }] },
      ])
      const stale = await verify({ qr: body.text })
      t.equal(stale.statusCode, 200)
      t.match(stale.json(), { valid: true, matchesCurrent: false, differences: ['goods'] })

      // Every process of a deployment signs with the one stored key pair.
      const key = await f.store.getSetting<{ publicKey: string }>('qr.sm2-keypair')
      t.equal(key?.publicKey, body.publicKey, 'generated at first use and stored')
      t.equal((await verify({ qr: body.text }, tokens.entB)).statusCode, 404, 'an enterprise cannot inspect another carrier’s waybill')
    })
  })
}
