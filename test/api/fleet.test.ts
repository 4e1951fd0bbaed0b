/**
 * GET /fleet (the console's map feed) and GET /me on both backends: each vehicle's display state
 * from its session, last fix, active waybill and open critical anomalies; enterprise scope; the
 * state filter. Also: the console page and its assets are served without a token.
 */
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import type { Anomaly, CommittedPosition } from '../../src/domain.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput, waybill } from './harness.js'

const beijingDay = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '')

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend)
    const { app, auth, tokens } = f
    const now = Date.now()
    // A: moving (online, waybill), no_waybill (online), no_position (waybill, no fix), alarm; B: offline
    const plates = { moving: '浙A30001', noWaybill: '浙A30002', noPosition: '浙A30003', alarm: '浙A30004', offline: '浙B30009' }
    const imported = await app.inject({
      method: 'POST',
      url: '/api/v1/vehicles',
      headers: auth(tokens.supervisor),
      payload: [
        vehicleInput(plates.moving, LICENCE_A, { terminalPhone: '13300000001' }),
        vehicleInput(plates.noWaybill, LICENCE_A, { terminalPhone: '13300000002' }),
        vehicleInput(plates.noPosition, LICENCE_A, { terminalPhone: '13300000003' }),
        vehicleInput(plates.alarm, LICENCE_A, { terminalPhone: '13300000004' }),
        vehicleInput(plates.offline, LICENCE_B, { terminalPhone: '13300000009' }),
      ],
    })
    t.equal(imported.statusCode, 200, imported.body)
    const ids = new Map<string, number>((imported.json().items as { plate: string; id: number }[]).map((v) => [v.plate, v.id]))
    const fix = (plate: string, phone: string, licence: string, lon: number): CommittedPosition => ({
      vehicleId: ids.get(plate)!,
      deviceTime: now - 30_000,
      receivedAt: now - 29_000,
      latitude: 30.27,
      longitude: lon,
      altitude: 10,
      speed: 55,
      direction: 90,
      alarm: 0,
      status: 3,
      mileage: 100,
      extras: {},
      blindArea: false,
      sourceMsgId: 0x0200,
      phone,
      plate,
      plateColor: 2,
      enterpriseLicenseNo: licence,
    })
    for (const [plate, phone, lon] of [
      [plates.moving, '13300000001', 120.1],
      [plates.noWaybill, '13300000002', 120.2],
      [plates.alarm, '13300000004', 120.4],
    ] as const) {
      await f.state.putSession({ phone, nodeId: 'n1', since: now - 60_000, address: '127.0.0.1:1', vehicleId: ids.get(plate)!, plate }, 60_000)
      await f.state.setLastPosition(fix(plate, phone, LICENCE_A, lon))
    }
    await f.state.setLastPosition(fix(plates.offline, '13300000009', LICENCE_B, 121))
    const window = { loadingDate: beijingDay(now), expectedArrivalDate: beijingDay(now + 86_400_000) }
    for (const [no, plate] of [
      ['WB-F1', plates.moving],
      ['WB-F3', plates.noPosition],
    ]) {
      const created = await app.inject({ method: 'POST', url: '/api/v1/waybills', headers: auth(tokens.supervisor), payload: waybill(no, LICENCE_A, { plate, ...window }) })
      t.equal(created.statusCode, 201, created.body)
      const moved = await app.inject({ method: 'PATCH', url: `/api/v1/waybills/${no}`, headers: auth(tokens.supervisor), payload: { status: 'dispatched' } })
      t.equal(moved.statusCode, 200, moved.body)
    }
    const critical: Anomaly = {
      id: 'fleet-critical-1',
      type: 'TERMINAL_ALARM',
      status: 'open',
      severity: 'critical',
      vehicleId: ids.get(plates.alarm)!,
      plate: plates.alarm,
      plateColor: 2,
      waybillNo: null,
      enterpriseLicenseNo: LICENCE_A,
      startedAt: now - 20_000,
      endedAt: null,
      lastSeenAt: now - 10_000,
      evidence: {},
    }
    await f.store.upsertAnomalies([critical])

    const fleet = await app.inject({ method: 'GET', url: '/api/v1/fleet', headers: auth(tokens.supervisor) })
    t.equal(fleet.statusCode, 200, fleet.body)
    const byPlate = new Map(
      (fleet.json().items as { plate: string; state: string; online: boolean; waybillNo: string | null; criticalAnomalies: number; position: { longitude: number } | null }[]).map((v) => [v.plate, v]),
    )
    t.match(byPlate.get(plates.moving), { state: 'moving', online: true, waybillNo: 'WB-F1', position: { longitude: 120.1, speed: 55 } })
    t.match(byPlate.get(plates.noWaybill), { state: 'no_waybill', online: true, waybillNo: null })
    t.match(byPlate.get(plates.noPosition), { state: 'no_position', online: false, waybillNo: 'WB-F3', position: null })
    t.match(byPlate.get(plates.alarm), { state: 'alarm', criticalAnomalies: 1 })
    t.match(byPlate.get(plates.offline), { state: 'offline', online: false, position: { longitude: 121 } })
    t.same(fleet.json().counts, { alarm: 1, moving: 1, no_waybill: 1, no_position: 1, offline: 1 })

    const onlyAlarm = await app.inject({ method: 'GET', url: '/api/v1/fleet?state=alarm&state=offline', headers: auth(tokens.inspector) })
    t.same(
      onlyAlarm
        .json()
        .items.map((v: { plate: string }) => v.plate)
        .sort(),
      [plates.alarm, plates.offline].sort(),
      'state filter',
    )

    const entB = await app.inject({ method: 'GET', url: '/api/v1/fleet', headers: auth(tokens.entB) })
    t.same(
      entB.json().items.map((v: { plate: string }) => v.plate),
      [plates.offline],
      'an enterprise sees its own vehicles only',
    )
    t.same(entB.json().counts, { alarm: 0, moving: 0, no_waybill: 0, no_position: 0, offline: 1 }, 'and counts only its own')
    const foreign = await app.inject({ method: 'GET', url: `/api/v1/fleet?enterprise=${LICENCE_A}`, headers: auth(tokens.entB) })
    t.equal(foreign.statusCode, 403, 'asking for another enterprise is refused')
    const anonymous = await app.inject({ method: 'GET', url: '/api/v1/fleet' })
    t.equal(anonymous.statusCode, 401)

    // deltas: ?since=<cursor> answers only the vehicles whose entry changed, and those that left
    type Delta = {
      cursor: string
      full: boolean
      items: { plate: string; state: string; position: { longitude: number } | null }[]
      removed: { plate: string; plateColor: number }[]
      counts: Record<string, number>
    }
    const poll = async (token: string, query = '') => {
      const res = await app.inject({ method: 'GET', url: `/api/v1/fleet${query}`, headers: auth(token) })
      t.equal(res.statusCode, 200, res.body)
      return res.json() as Delta
    }
    const since = (cursor: string, more = '') => `?since=${encodeURIComponent(cursor)}${more}`
    const sup0 = await poll(tokens.supervisor)
    t.equal(sup0.full, true, 'no cursor: the whole fleet')
    t.equal(sup0.items.length, 5)
    const ent0 = await poll(tokens.entB)
    const quiet = await poll(tokens.supervisor, since(sup0.cursor))
    t.same([quiet.full, quiet.items, quiet.removed], [false, [], []], 'nothing changed: nothing sent')
    t.same(quiet.counts, sup0.counts, 'the counts are over the whole scope all the same')
    await f.state.setLastPosition({ ...fix(plates.noWaybill, '13300000002', LICENCE_A, 120.25), receivedAt: Date.now() })
    const moved = await poll(tokens.supervisor, since(quiet.cursor))
    t.same(
      moved.items.map((v) => [v.plate, v.position?.longitude]),
      [[plates.noWaybill, 120.25]],
      'one fix: one vehicle sent',
    )
    t.same((await poll(tokens.entB, since(ent0.cursor))).items, [], "A's vehicle moving is not in B's delta")
    await f.state.setLastPosition({ ...fix(plates.offline, '13300000009', LICENCE_B, 121.5), receivedAt: Date.now() })
    const entMoved = await poll(tokens.entB, since(ent0.cursor))
    t.same(
      entMoved.items.map((v) => v.plate),
      [plates.offline],
      "B's own vehicle moving is",
    )
    t.same(
      (await poll(tokens.supervisor, since(moved.cursor, '&state=offline'))).items.map((v) => v.plate),
      [plates.offline],
      'the state filter applies to the delta',
    )
    // the critical anomaly ends: the vehicle leaves the alarm state, so an alarm-only view drops it
    const alarmOnly = await poll(tokens.supervisor, '?state=alarm')
    t.same(
      alarmOnly.items.map((v) => v.plate),
      [plates.alarm],
    )
    await f.store.upsertAnomalies([{ ...critical, status: 'closed', endedAt: now - 5_000 }])
    const leftAlarm = await poll(tokens.supervisor, since(alarmOnly.cursor, '&state=alarm'))
    t.same([leftAlarm.items, leftAlarm.removed], [[], [{ plate: plates.alarm, plateColor: 2 }]], 'out of the state filter: named in removed')
    // a retired vehicle leaves the fleet: removed, for the supervisor and for its own enterprise only
    const entA0 = await poll(tokens.entA)
    const before = await poll(tokens.supervisor)
    const retired = await app.inject({ method: 'POST', url: `/api/v1/vehicles/${encodeURIComponent(plates.noPosition)}/retire`, headers: auth(tokens.supervisor), payload: {} })
    t.equal(retired.statusCode, 200, retired.body)
    const afterRetire = await poll(tokens.supervisor, since(before.cursor))
    t.same(afterRetire.removed, [{ plate: plates.noPosition, plateColor: 2 }], 'retired: removed')
    t.notOk(afterRetire.items.some((v) => v.plate === plates.noPosition))
    t.same((await poll(tokens.entA, since(entA0.cursor))).removed, [{ plate: plates.noPosition, plateColor: 2 }], 'its enterprise hears of it too')
    t.same((await poll(tokens.entB, since(entMoved.cursor))).removed, [], 'another enterprise does not')
    for (const bad of ['nonsense', '00000000.1', `${before.cursor.split('.')[0]}.99999999999999`]) {
      const r = await poll(tokens.supervisor, since(bad))
      t.same([r.full, r.items.length], [true, 4], `a cursor this process cannot answer from (${bad}): the whole fleet`)
    }

    const me = await app.inject({ method: 'GET', url: '/api/v1/me', headers: auth(tokens.entA) })
    t.match(me.json(), { role: 'enterprise', enterpriseLicenseNo: LICENCE_A })
    t.equal((await app.inject({ method: 'GET', url: '/api/v1/me' })).statusCode, 401)
  })
}

t.test('console page and assets need no token and come from the gateway', async (t) => {
  const f = await apiFixture(t, 'embedded')
  const page = await f.app.inject({ method: 'GET', url: '/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  const scripts = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])
  t.same(scripts.sort(), ['/console/app.css', '/console/app.js'], 'every asset the page names is local')
  for (const url of [...scripts, '/console/maplibre-gl-worker.js', '/console/outlines.geojson', '/console/settings.json']) {
    const res = await f.app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.ok(res.body.length > 0, `${url} has a body`)
  }
  const js = await f.app.inject({ method: 'GET', url: '/console/app.js' })
  t.notMatch(js.body, /https?:\/\/(unpkg|cdn|cdnjs|fonts\.googleapis)/, 'the bundle loads nothing from a CDN')
  const gz = await f.app.inject({ method: 'GET', url: '/console/app.js', headers: { 'accept-encoding': 'gzip, deflate' } })
  t.equal(gz.headers['content-encoding'], 'gzip')
  t.equal(gunzipSync(gz.rawPayload).toString(), js.body, 'gzipped when the browser accepts it')
  const outlines = (await f.app.inject({ method: 'GET', url: '/console/outlines.geojson' })).json()
  t.ok(
    outlines.features.some((x: { properties: { name: string } }) => x.properties.name === 'China'),
    'the offline outlines include China',
  )
  t.same((await f.app.inject({ method: 'GET', url: '/console/settings.json' })).json(), { baseMapUrl: null, baseMapAttribution: null })
  const spec = (await f.app.inject({ method: 'GET', url: '/openapi.json' })).json()
  t.ok(spec.paths['/api/v1/fleet'] && spec.paths['/api/v1/me'], 'the new routes are in the OpenAPI document')
  t.notOk(spec.paths['/'], 'the console page is not an API route')
})
