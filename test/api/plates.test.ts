/**
 * Issue 14 security 1 over both backends: every route that takes a plate, with the plate spelled
 * otherwise (lower case, inner spaces, full width). Enterprise A cannot put a waybill on B's truck
 * nor register B's plate under another spelling; B reaches its own truck under any spelling.
 */
import t from 'tap'
import { matches } from '../../src/api/feed.js'
import { canonicalPlate, type AnomalyEvent } from '../../src/domain.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput, waybill } from './harness.js'

const NOW = Date.parse('2025-03-10T04:00:00Z') // 12:00 Beijing, inside the fixture waybill's window
const SPELLINGS = ['浙B82002', '浙b82002', '浙B 82002', '浙b 8 2002', '浙Ｂ８２００２', '浙B\u300082002']

t.test('the live feed’s ?plate filter', async (t) => {
  const event = (plate: string) => ({ event: 'anomaly.opened', at: NOW, anomaly: { plate, enterpriseLicenseNo: LICENCE_B, type: 'OVERSPEED', severity: 'warning' } }) as unknown as AnomalyEvent
  for (const plate of SPELLINGS) {
    const filter = { enterpriseLicenseNo: null, types: null, severities: null, plate: canonicalPlate(plate) }
    t.ok(matches(filter, event('浙B82002')), `?plate=${plate} passes 浙B82002`)
    t.notOk(matches(filter, event('浙B82003')))
  }
})

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend, { now: () => NOW })
    const { app, auth, tokens } = f
    const post = (url: string, payload: unknown, token: string) => app.inject({ method: 'POST', url, headers: auth(token), payload: payload as object })
    const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: auth(token) })
    const reg = await post(
      '/api/v1/vehicles',
      [vehicleInput('浙B82001', LICENCE_B), vehicleInput('浙B82002', LICENCE_B, { terminalPhone: '013820000002' }), vehicleInput('浙A82003', LICENCE_A)],
      tokens.supervisor,
    )
    t.equal(reg.statusCode, 200, reg.body)

    t.test('A cannot register B’s plate under another spelling (409), nor twice in one import', async (t) => {
      for (const plate of ['浙b82001', '浙B 82001', '浙Ｂ８２００１']) {
        const res = await post('/api/v1/vehicles', { plate }, tokens.entA)
        t.equal(res.statusCode, 409, `${plate}: ${res.body}`)
        t.equal(res.json().error.code, 'CONFLICT')
        t.notMatch(res.body, LICENCE_B, 'the answer does not name the holder')
      }
      t.equal((await f.store.findVehicle('浙B82001', 2))?.enterpriseLicenseNo, LICENCE_B, 'B’s truck unchanged')
      const dup = await post('/api/v1/vehicles', [{ plate: '浙A82009' }, { plate: '浙a 82009' }], tokens.entA)
      t.equal(dup.statusCode, 400)
      t.same(dup.json().error.details.fields, [{ field: 'body/1/plate', message: 'duplicates item 0' }])
      const own = await post('/api/v1/vehicles', { plate: '浙a 82003', enterpriseName: '甲' }, tokens.entA)
      t.equal(own.statusCode, 200, 'A updates its own truck under another spelling')
      t.match(own.json().items[0], { plate: '浙A82003', enterpriseName: '甲' }, 'the same vehicle, shown as registered')
      const { rows } = await f.store.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM vehicles`)
      t.equal(rows[0]!.n, 3, 'no second vehicle for any plate')
    })

    t.test('A cannot post a waybill for B’s truck under any spelling; B can', async (t) => {
      for (const [i, plate] of SPELLINGS.entries()) {
        const res = await post('/api/v1/waybills', waybill(`WB-A-82${i}`, LICENCE_A, { plate }), tokens.entA)
        t.equal(res.statusCode, 404, `${JSON.stringify(plate)}: ${res.body}`)
        const trailer = await post('/api/v1/waybills', waybill(`WB-A-83${i}`, LICENCE_A, { plate: '浙A82003', trailerPlate: plate, trailerTransportCertNo: '330100000002' }), tokens.entA)
        t.equal(trailer.statusCode, 404, `trailer ${JSON.stringify(plate)}`)
      }
      // A trailer names no colour and matches a vehicle of any colour: A's blue 浙B82009, registered
      // before B's yellow one, does not let A's waybill onto B's truck as its trailer.
      t.equal((await post('/api/v1/vehicles', { plate: '浙B82009', plateColor: 1 }, tokens.entA)).statusCode, 200)
      t.equal((await post('/api/v1/vehicles', vehicleInput('浙B82009', LICENCE_B), tokens.entB)).statusCode, 200)
      const shared = await post('/api/v1/waybills', waybill('WB-A-8299', LICENCE_A, { plate: '浙A82003', trailerPlate: '浙b 82009', trailerTransportCertNo: '330100000002' }), tokens.entA)
      t.equal(shared.statusCode, 404, shared.body)
      t.equal((await f.store.listWaybills({ carrierLicenseNo: LICENCE_A })).items.length, 0, 'none of A’s was stored')
      const ownTrailer = await post('/api/v1/waybills', waybill('WB-A-8298', LICENCE_A, { plate: '浙A82003' }), tokens.entA)
      t.equal(ownTrailer.statusCode, 201, 'A’s waybill on its own truck')
      const own = await post('/api/v1/waybills', waybill('WB-B-8201', LICENCE_B, { plate: '浙b 82002' }), tokens.entB)
      t.equal(own.statusCode, 201, own.body)
      const moved = await app.inject({ method: 'PATCH', url: '/api/v1/waybills/WB-B-8201', headers: auth(tokens.entB), payload: { status: 'dispatched' } })
      t.equal(moved.statusCode, 200, moved.body)
    })

    t.test('every route with a plate in the path or the query, any spelling', async (t) => {
      for (const plate of SPELLINGS) {
        const p = encodeURIComponent(plate)
        const one = await get(`/api/v1/vehicles/${p}`, tokens.entB)
        t.equal(one.statusCode, 200, `GET /vehicles/${plate}`)
        t.equal(one.json().vehicle.plate, '浙B82002')
        t.equal(one.json().live.activeWaybill?.waybillNo, 'WB-B-8201', 'the waybill posted as "浙b 82002" is active on the truck')
        t.equal((await get(`/api/v1/vehicles/${p}?plateColor=2`, tokens.entB)).statusCode, 200)
        t.equal((await get(`/api/v1/vehicles/${p}/track?from=2025-03-10T00:00:00Z&to=2025-03-10T05:00:00Z`, tokens.entB)).statusCode, 200, `track ${plate}`)
        t.equal((await get(`/api/v1/vehicles/${p}/self-check`, tokens.entB)).statusCode, 200, `self-check ${plate}`)
        for (const token of [tokens.entA]) {
          t.equal((await get(`/api/v1/vehicles/${p}`, token)).statusCode, 404, `A: GET /vehicles/${plate}`)
          t.equal((await get(`/api/v1/vehicles/${p}/track?from=2025-03-10T00:00:00Z&to=2025-03-10T05:00:00Z`, token)).statusCode, 404)
          t.equal((await get(`/api/v1/vehicles/${p}/self-check`, token)).statusCode, 404)
          t.same((await get(`/api/v1/waybills?plate=${p}`, token)).json().items, [], `A: waybills of ${plate}`)
          t.same((await get(`/api/v1/anomalies?plate=${p}`, token)).json().items, [])
        }
        const byPlate = await get(`/api/v1/waybills?plate=${p}`, tokens.entB)
        t.same(
          byPlate.json().items.map((w: { waybillNo: string }) => w.waybillNo),
          ['WB-B-8201'],
          `GET /waybills?plate=${plate}`,
        )
      }
      const vB = (await f.store.findVehicle('浙B82002', 2))!
      await f.store.upsertAnomalies([
        {
          id: 'pl-1',
          type: 'RUNNING_WITHOUT_WAYBILL',
          status: 'open',
          severity: 'critical',
          vehicleId: vB.id,
          plate: vB.plate,
          plateColor: 2,
          waybillNo: null,
          enterpriseLicenseNo: LICENCE_B,
          startedAt: NOW - 600_000,
          endedAt: null,
          lastSeenAt: NOW,
          evidence: {},
        },
      ])
      for (const plate of SPELLINGS) {
        const res = await get(`/api/v1/anomalies?plate=${encodeURIComponent(plate)}`, tokens.entB)
        t.same(
          res.json().items.map((a: { id: string }) => a.id),
          ['pl-1'],
          `GET /anomalies?plate=${plate}`,
        )
      }

      // Retiring and reinstating by plate; correcting a waybill onto another carrier's truck.
      for (const plate of SPELLINGS) {
        const p = encodeURIComponent(plate)
        t.equal((await post(`/api/v1/vehicles/${p}/retire`, undefined, tokens.entA)).statusCode, 404, `A cannot retire ${plate}`)
        t.equal((await post(`/api/v1/vehicles/${p}/retire`, undefined, tokens.entB)).statusCode, 200, `B retires ${plate}`)
        t.equal((await post(`/api/v1/vehicles/${p}/reinstate`, undefined, tokens.entB)).statusCode, 200, `B reinstates ${plate}`)
        const corrected = await post('/api/v1/waybills/WB-A-8298/corrections', { fields: { plate } }, tokens.entA)
        t.equal(corrected.statusCode, 404, `A cannot correct its waybill onto ${JSON.stringify(plate)}`)
        const trailer = await post('/api/v1/waybills/WB-A-8298/corrections', { fields: { trailerPlate: plate, trailerTransportCertNo: '330100000002' } }, tokens.entA)
        t.equal(trailer.statusCode, 404, `nor with ${JSON.stringify(plate)} as its trailer`)
      }
      t.equal((await f.store.getWaybill('WB-A-8298'))?.plate, '浙A82003', 'A’s waybill unchanged')
    })
  })
}
