/**
 * Issue 14 "Security" over both backends: bodies are not type-coerced; over-long path
 * parameters answer in the API's error shape after authentication; a resource outside an
 * enterprise's scope is indistinguishable from one that does not exist; /metrics can need a token.
 */
import t from 'tap'
import { apiFixture, BACKENDS, LICENCE_A, vehicleInput, waybill } from './harness.js'

for (const kind of BACKENDS) {
  t.test(kind, async (t) => {
    const f = await apiFixture(t, kind)
    const { app, auth, tokens } = f

    t.test('request bodies are not type-coerced (query strings and path parameters are)', async (t) => {
      const plate = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.supervisor), payload: { plate: true } })
      t.equal(plate.statusCode, 400, plate.body)
      t.match(plate.json().error.details.fields, [{ field: 'body/plate', message: 'must be string' }])
      t.equal(await f.store.findVehicle('true'), null, 'nothing stored as "true"')
      const colour = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.supervisor), payload: { plate: '浙A55501', plateColor: '2' } })
      t.equal(colour.statusCode, 400, 'a colour given as text is refused in a body')
      const geofence = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: { name: 12, kind: 'bridge', geometry: { type: 'LineString', coordinates: [[120, 30], [120.1, 30]] }, bufferMeters: 50 },
      })
      t.equal(geofence.statusCode, 400, geofence.body)
      t.same(geofence.json().error.details.fields, [{ field: 'body/name', message: 'must be string' }])
      t.same((await f.store.listGeofences()).length, 0, 'no geofence named "12"')
      const waybillPlate = await app.inject({ method: 'POST', url: '/api/v1/waybills', headers: auth(tokens.supervisor), payload: waybill('WB-COERCE-1', LICENCE_A, { plate: true }) })
      t.equal(waybillPlate.statusCode, 400, waybillPlate.body)
      const handling = await app.inject({ method: 'PATCH', url: '/api/v1/waybills/WB-NONE', headers: auth(tokens.supervisor), payload: { status: 'dispatched', note: 5 } })
      t.equal(handling.statusCode, 400, 'a number as note is refused')

      // Text parts still coerce: ?limit=2 and ?plateColor=2 are numbers.
      const ok = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.supervisor), payload: vehicleInput('浙A55502', LICENCE_A) })
      t.equal(ok.statusCode, 200, ok.body)
      const q = await app.inject({ method: 'GET', url: `/api/v1/vehicles/${encodeURIComponent('浙A55502')}?plateColor=2`, headers: auth(tokens.supervisor) })
      t.equal(q.statusCode, 200, q.body)
      const list = await app.inject({ method: 'GET', url: '/api/v1/vehicles?limit=1', headers: auth(tokens.supervisor) })
      t.equal(list.json().items.length, 1)
    })
  })
}
