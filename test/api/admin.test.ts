/**
 * The admin surface over both backends: tokens (supervisor only, secret shown once and never in
 * the audit log, revocation effective at once), the audit log with its filters and paging, a
 * queued command's status, online terminal sessions, retiring a vehicle, changing and deleting
 * geofences, correcting a `created` waybill with history, the bulk waybill import and the raw
 * frame export. Enterprise scope: another carrier's resource answers exactly like an unknown one.
 */
import t, { type Test } from 'tap'
import { hashToken } from '../../src/api/tokens.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput, waybill } from './harness.js'

const NOW = Date.parse('2025-03-10T04:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

/** Same status and error code; messages differ only by the identifier the caller sent. */
function indistinguishable(t: Test, foreign: { statusCode: number; json(): unknown }, unknown: { statusCode: number; json(): unknown }, foreignId: string, unknownId: string) {
  t.equal(foreign.statusCode, 404, 'foreign: 404')
  t.equal(unknown.statusCode, 404, 'unknown: 404')
  const a = JSON.stringify(foreign.json()).replaceAll(foreignId, 'ID')
  const b = JSON.stringify(unknown.json()).replaceAll(unknownId, 'ID')
  t.equal(a, b, 'the same answer for a foreign and an unknown resource')
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    let now = NOW
    const f = await apiFixture(t, backend, { now: () => now })
    const { app, auth, tokens, store } = f
    const req = (method: string, url: string, token: string, payload?: unknown) =>
      app.inject({ method: method as 'GET', url, headers: auth(token), ...(payload !== undefined ? { payload: payload as object } : {}) })
    t.equal(
      (
        await req('POST', '/api/v1/vehicles', tokens.supervisor, [
          vehicleInput('浙A30001', LICENCE_A, { terminalPhone: '013500000001' }),
          vehicleInput('浙B30001', LICENCE_B, { terminalPhone: '013500000002' }),
        ])
      ).statusCode,
      200,
    )

    t.test('tokens: create (secret once, hashed, not audited), list, revoke at once; supervisor only', async (t) => {
      const created = await req('POST', '/api/v1/tokens', tokens.supervisor, { role: 'enterprise', enterpriseLicenseNo: LICENCE_A, label: 'dispatch desk' })
      t.equal(created.statusCode, 201, created.body)
      const { id, token: secret } = created.json()
      t.match(created.json(), { role: 'enterprise', enterpriseLicenseNo: LICENCE_A, label: 'dispatch desk', revokedAt: null })
      t.match(secret, /^jt808_/)
      t.equal((await store.findToken(hashToken(secret)))?.id, id, 'stored by its hash')
      t.equal((await req('GET', '/api/v1/vehicles', secret)).statusCode, 200, 'the new token works')

      const list = await req('GET', '/api/v1/tokens', tokens.supervisor)
      t.equal(list.statusCode, 200)
      t.ok(list.json().items.some((x: { id: string }) => x.id === id))
      t.notOk(list.body.includes(secret) || list.body.includes(hashToken(secret)), 'the list holds neither the secret nor its hash')

      const audit = await store.listAudit({ route: '/api/v1/tokens' })
      t.equal(audit[0]?.target, id, 'creation audited under the token id')
      t.notOk(JSON.stringify(audit).includes(secret), 'the secret is not in the audit log')

      const bad = await req('POST', '/api/v1/tokens', tokens.supervisor, { role: 'enterprise' })
      t.equal(bad.statusCode, 400, 'an enterprise token needs its licence')
      for (const who of [tokens.entA, tokens.inspector]) {
        t.equal((await req('POST', '/api/v1/tokens', who, { role: 'supervisor' })).statusCode, 403)
        t.equal((await req('GET', '/api/v1/tokens', who)).statusCode, 403)
        t.equal((await req('DELETE', `/api/v1/tokens/${id}`, who)).statusCode, 403)
      }

      const revoked = await req('DELETE', `/api/v1/tokens/${id}`, tokens.supervisor)
      t.equal(revoked.statusCode, 200)
      t.ok(revoked.json().revokedAt)
      t.equal((await req('GET', '/api/v1/vehicles', secret)).statusCode, 401, 'refused at once (not after the cache expires)')
      t.equal((await req('DELETE', `/api/v1/tokens/${id}`, tokens.supervisor)).statusCode, 409, 'already revoked')
      t.equal((await req('DELETE', '/api/v1/tokens/tok_nope', tokens.supervisor)).statusCode, 404)
    })

    t.test('audit log: filters by token, route, method, target, time; cursor paging; supervisor only', async (t) => {
      now = NOW + 3_600_000
      for (let i = 0; i < 3; i++) t.equal((await req('POST', '/api/v1/vehicles/浙A30001/retire', tokens.entA)).statusCode, 200)
      t.equal((await req('POST', '/api/v1/vehicles/浙A30001/reinstate', tokens.entA)).statusCode, 200)
      const entA = (await store.listTokens()).find((x) => x.enterpriseLicenseNo === LICENCE_A && x.label === null)!

      const byA = await req('GET', `/api/v1/audit?tokenId=${entA.id}&limit=2`, tokens.supervisor)
      t.equal(byA.statusCode, 200, byA.body)
      t.equal(byA.json().items.length, 2)
      t.match(byA.json().items[0], { tokenId: entA.id, role: 'enterprise', method: 'POST', route: '/api/v1/vehicles/:plate/reinstate', target: '浙A30001', status: 200 })
      const rest = await req('GET', `/api/v1/audit?tokenId=${entA.id}&limit=10&cursor=${byA.json().nextCursor}`, tokens.supervisor)
      t.equal(rest.json().items.length, 4, 'the second page holds the rest (two retirements, and the two refusals of the token test)')
      t.equal(rest.json().nextCursor, null)
      t.ok(Number(rest.json().items[0].id) < Number(byA.json().items[1].id), 'newest first, no overlap')
      const retires = await req('GET', `/api/v1/audit?route=${encodeURIComponent('/api/v1/vehicles/:plate/retire')}&method=POST&target=${encodeURIComponent('浙A30001')}`, tokens.supervisor)
      t.equal(retires.json().items.length, 3)
      const earlier = await req('GET', `/api/v1/audit?to=${iso(NOW + 1)}&tokenId=${entA.id}`, tokens.supervisor)
      t.same(
        earlier.json().items.map((e: { status: number }) => e.status),
        [403, 403],
        'before the hour: only the refused token requests',
      )
      const window = await req('GET', `/api/v1/audit?from=${iso(NOW + 3_600_000)}&to=${iso(NOW + 3_600_001)}&tokenId=${entA.id}`, tokens.supervisor)
      t.equal(window.json().items.length, 4)
      t.equal((await req('GET', '/api/v1/audit', tokens.entA)).statusCode, 403)
      t.equal((await req('GET', '/api/v1/audit', tokens.inspector)).statusCode, 403)
    })

    t.test('command status: queued, delivered, answered with the answer, failed, expired; scope', async (t) => {
      const at = Date.now()
      const mk = (id: string, phone: string, ttl: number) => store.enqueueCommand({ id, phone, msgId: 0x8300, body: { flags: 8, text: 'hi' }, createdAt: at, expiresAt: at + ttl })
      await mk('cmd-a1', '013500000001', 3_600_000)
      await mk('cmd-a2', '013500000001', 3_600_000)
      await mk('cmd-b1', '013500000002', 3_600_000)
      await mk('cmd-x', '013500000009', 1)
      now = at + 10
      const get = (id: string, token = tokens.supervisor) => req('GET', `/api/v1/commands/${id}`, token)
      t.match((await get('cmd-a1')).json(), { id: 'cmd-a1', phone: '013500000001', msgId: '0x8300', status: 'queued', result: null, answer: null })
      t.equal((await get('cmd-x')).json().status, 'expired', 'past its expiry before any delivery')
      const taken = await store.takePendingCommands('013500000001', at + 10)
      t.equal(taken.length, 2)
      t.equal((await get('cmd-a1', tokens.entA)).json().status, 'delivered')
      await store.recordCommandResult(
        'cmd-a1',
        { status: 'answered', answer: { msgId: 1, body: { replySerial: 3, replyId: 0x8300, result: 0, big: 2n ** 40n, raw: Buffer.from('0102', 'hex') } } },
        at + 20,
      )
      await store.recordCommandResult('cmd-a2', { status: 'failed', result: 3 }, at + 20)
      t.match((await get('cmd-a1', tokens.entA)).json(), { status: 'answered', answer: { msgId: 1, body: { replyId: 0x8300, big: '1099511627776', raw: '0102' } } })
      t.match((await get('cmd-a2')).json(), { status: 'failed', result: 3 })
      t.equal((await get('cmd-a1', tokens.inspector)).statusCode, 200)
      indistinguishable(t, await get('cmd-b1', tokens.entA), await get('cmd-b9', tokens.entA), 'cmd-b1', 'cmd-b9')
      t.equal(await store.deleteCommandStatusBefore(at + 1), 2, 'retention drops the settled statuses…')
      t.equal((await get('cmd-b1')).json().status, 'queued', '…and keeps those still waiting in the queue')
      t.equal((await get('cmd-a1')).statusCode, 404)
    })

    t.test('sessions: online terminals with since, address, edition, IMEI, firmware; stale ones left out; scope', async (t) => {
      const since = Date.now() - 60_000
      await store.saveTerminal({
        phone: '013500000001',
        terminalId: 'T1',
        vehicleId: (await store.findVehicle('浙A30001'))!.id,
        authCodeHash: null,
        protocolVersion: 2019,
        manufacturer: 'M1',
        model: 'X',
        imei: '860000000000001',
        firmware: '1.2.3',
        registeredAt: since,
      })
      await store.recordSessionEvents([
        { phone: '013500000001', vehicleId: null, nodeId: 'n1', address: '10.0.0.1:5000', kind: 'online', at: since },
        { phone: '013500000002', vehicleId: (await store.findVehicle('浙B30001'))!.id, nodeId: 'n1', address: '10.0.0.2:5000', kind: 'online', at: since },
        { phone: '013500000003', vehicleId: null, nodeId: 'n1', address: '10.0.0.3:5000', kind: 'online', at: since - 1000 },
        { phone: '013500000003', vehicleId: null, nodeId: 'n1', address: '10.0.0.3:5000', kind: 'offline', at: since },
        { phone: '013500000004', vehicleId: null, nodeId: 'n-dead', address: '10.0.0.4:5000', kind: 'online', at: since },
      ])
      for (const [phone, address, vehicleId] of [
        ['013500000001', '10.0.0.1:5000', null],
        ['013500000002', '10.0.0.2:5000', null],
      ] as const)
        await f.state.putSession({ phone, nodeId: 'n1', since, address, vehicleId, plate: null }, 60_000)
      const all = await req('GET', '/api/v1/terminals/sessions', tokens.supervisor)
      t.equal(all.statusCode, 200, all.body)
      t.same(
        all
          .json()
          .items.map((s: { phone: string }) => s.phone)
          .sort(),
        ['013500000001', '013500000002'],
        'offline and crashed-node sessions are not online',
      )
      t.match(
        all.json().items.find((s: { phone: string }) => s.phone === '013500000001'),
        {
          since: iso(since),
          address: '10.0.0.1:5000',
          node: 'n1',
          plate: '浙A30001',
          enterpriseLicenseNo: LICENCE_A,
          protocolEdition: 2019,
          imei: '860000000000001',
          firmware: '1.2.3',
        },
      )
      const mine = await req('GET', '/api/v1/terminals/sessions', tokens.entB)
      t.same(
        mine.json().items.map((s: { phone: string }) => s.phone),
        ['013500000002'],
        'an enterprise sees its own terminals',
      )
    })

    t.test('retiring a vehicle: gone from active lists, history reachable; scope', async (t) => {
      const v = (await store.findVehicle('浙B30001'))!
      await store.insertPositions([
        {
          vehicleId: v.id,
          deviceTime: NOW - 60_000,
          receivedAt: NOW,
          latitude: 30,
          longitude: 120,
          altitude: 0,
          speed: 50,
          direction: 0,
          alarm: 0,
          status: 0,
          mileage: null,
          blindArea: false,
          extras: {},
          sourceMsgId: 0x0200,
        },
      ])
      indistinguishable(t, await req('POST', '/api/v1/vehicles/浙B30001/retire', tokens.entA), await req('POST', '/api/v1/vehicles/浙B39999/retire', tokens.entA), '浙B30001', '浙B39999')
      t.equal((await req('POST', '/api/v1/vehicles/浙B30001/retire', tokens.inspector)).statusCode, 403)
      const retired = await req('POST', '/api/v1/vehicles/浙B30001/retire', tokens.entB)
      t.equal(retired.statusCode, 200, retired.body)
      t.equal(retired.json().retiredAt, iso(now))
      const again = await req('POST', '/api/v1/vehicles/浙B30001/retire', tokens.entB)
      t.equal(again.json().retiredAt, iso(now), 'retiring twice keeps the first time')
      const list = await req('GET', '/api/v1/vehicles', tokens.supervisor)
      t.notOk(
        list.json().items.some((x: { plate: string }) => x.plate === '浙B30001'),
        'not in the active list',
      )
      const view = await req('GET', '/api/v1/vehicles/浙B30001', tokens.entB)
      t.equal(view.statusCode, 200, 'its record is still reachable')
      t.equal(view.json().vehicle.retiredAt, iso(now), 'and shows when it was retired')
      t.equal(retired.json().vehicle.retiredAt, iso(now), 'as does the retirement answer')
      const track = await req('GET', `/api/v1/vehicles/浙B30001/track?from=${iso(NOW - 3_600_000)}&to=${iso(NOW)}`, tokens.entB)
      t.equal(track.json().points.length, 1, 'its positions too')
      await store.upsertAnomalies([
        {
          id: 'an-retired-1',
          type: 'OVERSPEED',
          status: 'closed',
          severity: 'warning',
          vehicleId: v.id,
          plate: v.plate,
          plateColor: v.plateColor,
          waybillNo: null,
          enterpriseLicenseNo: LICENCE_B,
          startedAt: NOW - 60_000,
          endedAt: NOW - 30_000,
          lastSeenAt: NOW - 30_000,
          evidence: {},
        },
      ])
      t.equal((await req('GET', '/api/v1/anomalies/an-retired-1', tokens.entB)).statusCode, 200, 'and its anomalies')
      t.ok((await req('GET', `/api/v1/anomalies?plate=${encodeURIComponent('浙B30001')}`, tokens.entB)).json().items.some((a: { id: string }) => a.id === 'an-retired-1'))
      const retiredList = await req('GET', '/api/v1/retired-vehicles', tokens.supervisor)
      t.same(
        retiredList.json().items.map((x: { vehicle: { plate: string } }) => x.vehicle.plate),
        ['浙B30001'],
      )
      t.same((await req('GET', '/api/v1/retired-vehicles', tokens.entA)).json().items, [], "another carrier's retirements are not listed")
      t.equal((await req('POST', '/api/v1/vehicles/浙B30001/reinstate', tokens.entB)).json().retiredAt, null)
      t.ok(
        (await req('GET', '/api/v1/vehicles', tokens.supervisor)).json().items.some((x: { plate: string }) => x.plate === '浙B30001'),
        'back in service',
      )
      t.equal((await req('GET', '/api/v1/vehicles/浙B30001', tokens.entB)).json().vehicle.retiredAt, null, 'no longer retired in its view')
    })

    t.test('geofences: change and delete (supervisor only), validated like creation', async (t) => {
      const created = await req('POST', '/api/v1/geofences', tokens.supervisor, {
        name: '钱塘江大桥',
        kind: 'bridge',
        geometry: {
          type: 'LineString',
          coordinates: [
            [120.15, 30.2],
            [120.16, 30.21],
          ],
        },
        bufferMeters: 50,
      })
      t.equal(created.statusCode, 201, created.body)
      const id = created.json().id
      const changed = await req('PATCH', `/api/v1/geofences/${id}`, tokens.supervisor, { name: '钱塘江一桥', kind: 'speed-zone', speedLimit: 40, bufferMeters: 100 })
      t.equal(changed.statusCode, 200, changed.body)
      t.match(changed.json(), { id, name: '钱塘江一桥', kind: 'speed-zone', speedLimit: 40, bufferMeters: 100, createdAt: created.json().createdAt })
      t.ok(changed.json().bbox[0] < created.json().bbox[0], 'the bounding box follows the wider buffer')
      t.match(await store.getGeofence(id), { name: '钱塘江一桥', speedLimit: 40 })
      const invalid = await req('PATCH', `/api/v1/geofences/${id}`, tokens.supervisor, { speedLimit: null })
      t.equal(invalid.statusCode, 400, 'a speed zone without a limit is refused')
      t.equal((await req('PATCH', `/api/v1/geofences/${id}`, tokens.supervisor, {})).statusCode, 400, 'an empty change is refused')
      t.equal((await req('PATCH', `/api/v1/geofences/${id}`, tokens.entA, { name: 'x' })).statusCode, 403)
      t.equal((await req('PATCH', '/api/v1/geofences/99999', tokens.supervisor, { name: 'x' })).statusCode, 404)
      t.equal((await req('DELETE', `/api/v1/geofences/${id}`, tokens.entA)).statusCode, 403)
      t.equal((await req('DELETE', `/api/v1/geofences/${id}`, tokens.supervisor)).statusCode, 200)
      t.equal((await req('DELETE', `/api/v1/geofences/${id}`, tokens.supervisor)).statusCode, 404)
      t.notOk((await req('GET', '/api/v1/geofences', tokens.supervisor)).json().items.some((g: { id: number }) => g.id === id))
      t.match((await store.listAudit({ route: '/api/v1/geofences/:id' }))[0], { method: 'DELETE', target: `geofence ${id}`, status: 404 })
    })

    t.test('waybill corrections while created, with history; 409 afterwards; scope', async (t) => {
      t.equal((await req('POST', '/api/v1/waybills', tokens.entA, waybill('WB-C-0001', LICENCE_A))).statusCode, 201)
      t.equal((await req('POST', '/api/v1/waybills', tokens.entB, waybill('WB-C-0002', LICENCE_B))).statusCode, 201)
      now = NOW + 7_200_000
      const fixed = await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { driverName: '王五', destination: '宁波市镇海区' } })
      t.equal(fixed.statusCode, 200, fixed.body)
      t.match(fixed.json().waybill, { waybillNo: 'WB-C-0001', driverName: '王五', destination: '宁波市镇海区', status: 'created' })
      t.same(fixed.json().correction.changes, { driverName: { from: '张三', to: '王五' }, destination: { from: '宁波市北仑区', to: '宁波市镇海区' } })
      t.equal(fixed.json().correction.at, iso(now))
      t.equal((await req('GET', '/api/v1/waybills/WB-C-0001', tokens.entA)).json().driverName, '王五', 'stored')
      const same = await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { driverName: '王五' } })
      t.equal(same.json().correction, null, 'nothing changed, nothing recorded')
      const invalid = await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { loadingDate: '2025-13-40' } })
      t.equal(invalid.statusCode, 400)
      t.same(
        invalid.json().error.details.fields.map((x: { field: string }) => x.field),
        ['body/fields/loadingDate'],
      )
      t.equal((await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { waybillNo: 'WB-OTHER' } })).statusCode, 400, 'the number cannot change')
      t.equal((await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { plate: '浙B30001' } })).statusCode, 404, "not onto another carrier's truck")
      t.equal((await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { carrierLicenseNo: LICENCE_B } })).statusCode, 400, 'nor to another licence')
      indistinguishable(
        t,
        await req('POST', '/api/v1/waybills/WB-C-0002/corrections', tokens.entA, { fields: { driverName: 'x' } }),
        await req('POST', '/api/v1/waybills/WB-C-0009/corrections', tokens.entA, { fields: { driverName: 'x' } }),
        'WB-C-0002',
        'WB-C-0009',
      )
      indistinguishable(t, await req('GET', '/api/v1/waybills/WB-C-0002/corrections', tokens.entA), await req('GET', '/api/v1/waybills/WB-C-0009/corrections', tokens.entA), 'WB-C-0002', 'WB-C-0009')
      t.equal((await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.inspector, { fields: { driverName: 'x' } })).statusCode, 403)

      const history = await req('GET', '/api/v1/waybills/WB-C-0001/corrections', tokens.inspector)
      t.equal(history.json().items.length, 1)
      t.match(history.json().items[0], { at: iso(NOW + 7_200_000), changes: { driverName: { from: '张三', to: '王五' } } })
      t.ok(history.json().items[0].by, 'with who')

      t.equal((await req('PATCH', '/api/v1/waybills/WB-C-0001', tokens.entA, { status: 'dispatched' })).statusCode, 200)
      const late = await req('POST', '/api/v1/waybills/WB-C-0001/corrections', tokens.entA, { fields: { driverName: '赵六' } })
      t.equal(late.statusCode, 409, 'a dispatched waybill is not corrected')
      t.equal((await req('GET', '/api/v1/waybills/WB-C-0001', tokens.entA)).json().driverName, '王五', 'unchanged')
    })

    t.test('bulk waybill import: all or nothing, supervisor only', async (t) => {
      const bad = await req('POST', '/api/v1/waybills/import', tokens.supervisor, { items: [waybill('WB-I-0001', LICENCE_A), waybill('WB-I-0002', LICENCE_A, { loadingDate: 'x' })] })
      t.equal(bad.statusCode, 400)
      t.same(
        bad.json().error.details.fields.map((x: { field: string }) => x.field),
        ['body/items/1/loadingDate'],
      )
      t.equal((await req('GET', '/api/v1/waybills/WB-I-0001', tokens.supervisor)).statusCode, 404, 'nothing imported')
      const ok = await req('POST', '/api/v1/waybills/import', tokens.supervisor, { items: [waybill('WB-I-0001', LICENCE_A), waybill('WB-C-0002', LICENCE_B, { driverName: '钱七' })] })
      t.same(ok.json(), { inserted: 1, updated: 1 })
      t.equal((await req('POST', '/api/v1/waybills/import', tokens.entA, { items: [waybill('WB-I-0003', LICENCE_A)] })).statusCode, 403)
    })

    t.test('raw frames of a terminal as NDJSON (supervisor only)', async (t) => {
      const T = NOW - 600_000
      await store.archiveFrames([
        { phone: '013500000001', receivedAt: T, connection: '10.0.0.1:5000', frame: Buffer.from('7e0002000001350000000100017e', 'hex') },
        { phone: '013500000001', receivedAt: T + 1000, connection: '10.0.0.1:5000', frame: Buffer.from('7e0002000001350000000100027e', 'hex') },
        { phone: '013500000002', receivedAt: T, connection: '10.0.0.2:5000', frame: Buffer.from('7e7e', 'hex') },
      ])
      const res = await req('GET', `/api/v1/terminals/013500000001/frames?from=${iso(T - 1)}&to=${iso(T + 60_000)}`, tokens.supervisor)
      t.equal(res.statusCode, 200, res.body)
      t.match(res.headers['content-type'], /application\/x-ndjson/)
      t.same(
        res.body
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
        [
          { t: iso(T), phone: '013500000001', connection: '10.0.0.1:5000', hex: '7e0002000001350000000100017e' },
          { t: iso(T + 1000), phone: '013500000001', connection: '10.0.0.1:5000', hex: '7e0002000001350000000100027e' },
        ],
      )
      t.equal((await req('GET', `/api/v1/terminals/013500000001/frames?from=${iso(T - 1)}&to=${iso(T + 60_000)}`, tokens.entA)).statusCode, 403)
      t.equal((await req('GET', `/api/v1/terminals/013500000001/frames?from=${iso(T - 40 * 86_400_000)}&to=${iso(T)}`, tokens.supervisor)).statusCode, 400, 'at most 31 days per request')
    })
  })
}
