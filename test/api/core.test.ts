/**
 * The API's core over both backends: health/readiness/metrics, the OpenAPI document, bearer
 * authentication and roles, the audit log, the error format, vehicles and geofences.
 */
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { hashToken } from '../../src/api/tokens.js'
import { ensureBootstrapToken } from '../../src/api/tokens.js'
import type { CommittedPosition, PositionRecord } from '../../src/domain.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput } from './harness.js'

const T0 = Date.parse('2025-03-01T02:00:00Z')

function position(vehicleId: number, deviceTime: number, extra: Partial<PositionRecord> = {}): PositionRecord {
  return {
    vehicleId,
    deviceTime,
    receivedAt: deviceTime + 1000,
    latitude: 30.27 + (deviceTime - T0) / 1e9,
    longitude: 120.15,
    altitude: 10,
    speed: 60,
    direction: 90,
    alarm: 0,
    status: 3,
    mileage: 100,
    extras: {},
    blindArea: false,
    sourceMsgId: 0x0200,
    ...extra,
  }
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend)
    const { app, auth, tokens } = f

    t.test('health, readiness, metrics', async (t) => {
      const health = await app.inject({ method: 'GET', url: '/healthz' })
      t.equal(health.statusCode, 200)
      t.equal(health.json().status, 'ok')
      const ready = await app.inject({ method: 'GET', url: '/readyz' })
      t.equal(ready.statusCode, 200)
      t.same(ready.json().checks, { store: 'ok', state: 'ok' })
      const metrics = await app.inject({ method: 'GET', url: '/metrics' })
      t.equal(metrics.statusCode, 200)
      t.match(metrics.headers['content-type'], /text\/plain/)
      t.match(metrics.body, /jt808_http_request_duration_seconds_bucket\{.*route="\/readyz"/)
    })

    t.test('readiness fails with 503 in the error format when the state is down', async (t) => {
      const original = f.state.ping.bind(f.state)
      f.state.ping = async () => {
        throw new Error('connection refused')
      }
      t.teardown(() => {
        f.state.ping = original
      })
      const ready = await app.inject({ method: 'GET', url: '/readyz' })
      t.equal(ready.statusCode, 503)
      t.equal(ready.json().error.code, 'NOT_AVAILABLE')
      t.match(ready.json().error.details.checks.state, /connection refused/)
      t.equal(ready.json().error.details.checks.store, 'ok')
    })

    t.test('the OpenAPI document is valid and lists every route', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/openapi.json' })
      t.equal(res.statusCode, 200)
      const doc = res.json()
      t.equal(doc.openapi, '3.1.0')
      await t.resolves(SwaggerParser.validate(structuredClone(doc)), 'swagger-parser accepts it')
      for (const path of [
        '/api/v1/vehicles',
        '/api/v1/vehicles/{plate}',
        '/api/v1/vehicles/{plate}/track',
        '/api/v1/anomalies/stream',
        '/api/v1/terminals/{phone}/commands',
        '/api/v1/geofences',
        '/healthz',
        '/readyz',
      ])
        t.ok(doc.paths[path], `documents ${path}`)
      t.same(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' })
      const docs = await app.inject({ method: 'GET', url: '/docs' })
      t.ok(docs.statusCode === 200 || docs.statusCode === 302, 'docs page served')
    })

    t.test('every /api/v1 route is covered by a test of enterprise scope', async (t) => {
      // Where each route's "another enterprise's data" case is tested. A new route must be added here with its test.
      const scopeTested: Record<string, string> = {
        'POST /api/v1/vehicles': 'core.test.ts vehicles',
        'GET /api/v1/vehicles': 'core.test.ts vehicles',
        'GET /api/v1/vehicles/{plate}': 'core.test.ts vehicles',
        'GET /api/v1/vehicles/{plate}/track': 'core.test.ts track',
        'GET /api/v1/vehicles/{plate}/self-check': 'stats.test.ts self-check',
        'POST /api/v1/waybills': 'waybills.test.ts create',
        'GET /api/v1/waybills': 'waybills.test.ts list',
        'GET /api/v1/waybills/{waybillNo}': 'waybills.test.ts read',
        'PATCH /api/v1/waybills/{waybillNo}': 'waybills.test.ts lifecycle',
        'GET /api/v1/waybills/{waybillNo}/qrcode': 'waybills.test.ts QR',
        'POST /api/v1/waybills/verify': 'waybills.test.ts QR',
        'GET /api/v1/anomalies': 'anomalies.test.ts list',
        'GET /api/v1/anomalies/{id}': 'anomalies.test.ts one',
        'POST /api/v1/anomalies/{id}/handling': 'anomalies.test.ts handling',
        'GET /api/v1/anomalies/stream': 'feed.test.ts live delivery',
        'GET /api/v1/fleet': 'fleet.test.ts (an enterprise sees its own vehicles only)',
        'GET /api/v1/me': 'fleet.test.ts (the caller only: nothing of another enterprise)',
        'GET /api/v1/attachments/{id}': 'attachments/upload.test.ts (another enterprise: 404)',
        'POST /api/v1/terminals/{phone}/commands': 'commands.test.ts scope',
        'POST /api/v1/vehicles/{plate}/commands': 'platform/commands.test.ts (another enterprise: 404, and its command too); security.test.ts walk',
        'POST /api/v1/geofences': 'core.test.ts authentication (supervisor only)',
        'GET /api/v1/geofences': 'shared reference data: visible to every role',
        'GET /api/v1/stats/corridors': 'stats.test.ts corridors',
        'GET /api/v1/stats/flows': 'stats.test.ts flows',
        'GET /api/v1/stats/quality': 'stats.test.ts quality',
        'GET /api/v1/stats/grades': 'stats.test.ts grades',
        'POST /api/v1/tokens': 'admin.test.ts tokens (supervisor only)',
        'GET /api/v1/tokens': 'admin.test.ts tokens (supervisor only)',
        'DELETE /api/v1/tokens/{id}': 'admin.test.ts tokens (supervisor only)',
        'GET /api/v1/audit': 'admin.test.ts audit log (supervisor only)',
        'GET /api/v1/commands/{id}': 'admin.test.ts command status',
        'GET /api/v1/terminals/sessions': 'admin.test.ts sessions',
        'GET /api/v1/terminals/{phone}/frames': 'admin.test.ts raw frames (supervisor only)',
        'POST /api/v1/vehicles/{plate}/retire': 'admin.test.ts retiring',
        'POST /api/v1/vehicles/{plate}/reinstate': 'admin.test.ts retiring',
        'GET /api/v1/retired-vehicles': 'admin.test.ts retiring',
        'PATCH /api/v1/geofences/{id}': 'admin.test.ts geofences (supervisor only)',
        'DELETE /api/v1/geofences/{id}': 'admin.test.ts geofences (supervisor only)',
        'POST /api/v1/waybills/{waybillNo}/corrections': 'admin.test.ts waybill corrections',
        'GET /api/v1/waybills/{waybillNo}/corrections': 'admin.test.ts waybill corrections',
        'POST /api/v1/waybills/import': 'admin.test.ts bulk waybill import (supervisor only)',
        // JT/T 809 platforms: supervisor only (authentication below; flows in test/platform/upper.test.ts)
        'GET /api/v1/platforms': 'core.test.ts authentication (supervisor only)',
        'POST /api/v1/platforms': 'core.test.ts authentication (supervisor only)',
        'PATCH /api/v1/platforms/{id}': 'core.test.ts authentication (supervisor only)',
        'DELETE /api/v1/platforms/{id}': 'core.test.ts authentication (supervisor only)',
        'GET /api/v1/platforms/links': 'core.test.ts authentication (supervisor only)',
        'GET /api/v1/platforms/post-queries': 'core.test.ts authentication (supervisor only)',
        'POST /api/v1/platforms/{id}/post-queries': 'core.test.ts authentication (supervisor only)',
        'POST /api/v1/platforms/post-queries/{id}/answer': 'core.test.ts authentication (supervisor only)',
        'GET /api/v1/platforms/waybills': 'core.test.ts authentication (supervisor only); flows in test/platform/waybills.test.ts',
        'POST /api/v1/platforms/{id}/waybill-requests': 'core.test.ts authentication (supervisor only); flows in test/platform/waybills.test.ts',
        'POST /api/v1/platforms/{id}/static-info-requests': 'core.test.ts authentication (supervisor only); flows in test/platform/vehicle-info.test.ts',
        'GET /api/v1/platforms/alarm-notices': 'core.test.ts authentication (supervisor only); flows in test/platform/vehicle-info.test.ts',
        'GET /api/v1/vehicles/{plate}/platform-info': 'platform/vehicle-info.test.ts (another enterprise: 404); security.test.ts walk',
        'POST /api/v1/vehicles/lookup': 'cli/import-server.test.ts lookup routes',
        'POST /api/v1/waybills/lookup': 'cli/import-server.test.ts lookup routes',
      }
      const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
      const routes: string[] = []
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>))
        for (const method of Object.keys(ops)) if (path.startsWith('/api/v1')) routes.push(`${method.toUpperCase()} ${path}`)
      t.same(routes.sort(), Object.keys(scopeTested).sort())
    })

    t.test('authentication: 401 without or with a bad token, 403 outside the role', async (t) => {
      const none = await app.inject({ method: 'GET', url: '/api/v1/vehicles' })
      t.equal(none.statusCode, 401)
      t.equal(none.headers['www-authenticate'], 'Bearer')
      t.same(Object.keys(none.json().error).sort(), ['code', 'details', 'message'])
      t.equal(none.json().error.code, 'UNAUTHORIZED')
      const bad = await app.inject({ method: 'GET', url: '/api/v1/vehicles', headers: auth('jt808_not-a-token') })
      t.equal(bad.statusCode, 401)
      const basic = await app.inject({ method: 'GET', url: '/api/v1/vehicles', headers: { authorization: 'Basic Zm9vOmJhcg==' } })
      t.equal(basic.statusCode, 401)
      const inspectorWrite = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.inspector), payload: vehicleInput('浙A00001', LICENCE_A) })
      t.equal(inspectorWrite.statusCode, 403)
      t.equal(inspectorWrite.json().error.code, 'FORBIDDEN')
      t.equal(inspectorWrite.json().error.message, 'an inspector token cannot change data')
      for (const [method, url] of [
        ['GET', '/api/v1/platforms'],
        ['GET', '/api/v1/platforms/links'],
        ['GET', '/api/v1/platforms/post-queries'],
        ['DELETE', '/api/v1/platforms/1'],
        ['PATCH', '/api/v1/platforms/1'],
        ['POST', '/api/v1/platforms'],
        ['POST', '/api/v1/platforms/1/post-queries'],
        ['POST', '/api/v1/platforms/post-queries/1/answer'],
        ['GET', '/api/v1/platforms/waybills'],
        ['POST', '/api/v1/platforms/1/waybill-requests'],
        ['POST', '/api/v1/platforms/1/static-info-requests'],
        ['GET', '/api/v1/platforms/alarm-notices'],
      ] as const) {
        const r = await app.inject({ method, url, headers: auth(tokens.entA), ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) })
        t.equal(r.statusCode, 403, `${method} ${url}: supervisor only`)
      }
      const enterpriseGeofence = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.entA),
        payload: {
          name: 'x',
          kind: 'bridge',
          geometry: {
            type: 'LineString',
            coordinates: [
              [120, 30],
              [120.1, 30],
            ],
          },
          bufferMeters: 50,
        },
      })
      t.equal(enterpriseGeofence.statusCode, 403)
    })

    t.test('tokens are stored hashed; revoked tokens stop working; the bootstrap token is a supervisor', async (t) => {
      const rows = await f.store.sql.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens')
      t.ok(rows.rows.length >= 4)
      for (const secret of Object.values(tokens)) {
        t.notOk(
          rows.rows.some((r) => r.token_hash === secret),
          'the secret itself is not stored',
        )
        t.ok(
          rows.rows.some((r) => r.token_hash === hashToken(secret)),
          'its sha256 is',
        )
      }
      const secret = 'bootstrap-secret-0123456789'
      const boot = await ensureBootstrapToken(f.store, secret)
      t.equal(boot.role, 'supervisor')
      const again = await ensureBootstrapToken(f.store, secret)
      t.equal(again.id, boot.id, 'idempotent')
      const ok = await app.inject({ method: 'GET', url: '/api/v1/vehicles', headers: auth(secret) })
      t.equal(ok.statusCode, 200)
      t.ok(await f.store.revokeToken(boot.id, Date.now()))
      t.equal(await f.store.findToken(hashToken(secret)), null, 'revoked tokens are not found')
      await ensureBootstrapToken(f.store, secret)
      t.ok(await f.store.findToken(hashToken(secret)), 'the bootstrap token is reinstated at start')
      await t.rejects(ensureBootstrapToken(f.store, 'short'), /at least 16/)
    })

    t.test('vehicles: import, read with live state, scope, validation', async (t) => {
      const one = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.supervisor), payload: vehicleInput('浙A10001', LICENCE_A, { terminalPhone: '013300000001' }) })
      t.equal(one.statusCode, 200, one.body)
      t.equal(one.json().items.length, 1)
      t.match(one.json().items[0], { plate: '浙A10001', plateColor: 2, terminalPhone: '013300000001', enterpriseLicenseNo: LICENCE_A, businessScope: ['2.1', '3'] })
      const many = await app.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: auth(tokens.supervisor),
        payload: [vehicleInput('浙B20001', LICENCE_B, { terminalPhone: '013300000002' }), vehicleInput('浙A10002', LICENCE_A)],
      })
      t.equal(many.statusCode, 200, many.body)
      t.same(
        many.json().items.map((v: { plate: string }) => v.plate),
        ['浙B20001', '浙A10002'],
      )

      // Enterprise A imports its own vehicle without naming the licence: it is filled in.
      const own = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.entA), payload: { plate: '浙A10003' } })
      t.equal(own.statusCode, 200, own.body)
      t.equal(own.json().items[0].enterpriseLicenseNo, LICENCE_A)
      // ...but cannot import for B, nor take over B's plate.
      const foreign = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.entA), payload: vehicleInput('浙A10004', LICENCE_B) })
      t.equal(foreign.statusCode, 403)
      const takeover = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.entA), payload: { plate: '浙B20001' } })
      t.equal(takeover.statusCode, 409)
      const b = await f.store.findVehicle('浙B20001', 2)
      t.equal(b?.enterpriseLicenseNo, LICENCE_B, 'B’s vehicle unchanged')

      // Validation: field errors with paths.
      const invalid = await app.inject({
        method: 'POST',
        url: '/api/v1/vehicles',
        headers: auth(tokens.supervisor),
        payload: { plate: '', plateColor: 300, terminalPhone: 'abc', businessScope: ['x'], colour: 'yellow' },
      })
      t.equal(invalid.statusCode, 400)
      const fields = invalid.json().error.details.fields.map((x: { field: string }) => x.field)
      t.equal(invalid.json().error.code, 'VALIDATION_FAILED')
      t.ok(fields.length >= 1, `field errors: ${fields.join(', ')}`)
      const dup = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: auth(tokens.supervisor), payload: [{ plate: '浙C1' }, { plate: '浙C1' }] })
      t.equal(dup.statusCode, 400)
      t.same(dup.json().error.details.fields, [{ field: 'body/1/plate', message: 'duplicates item 0' }])
      const notJson = await app.inject({ method: 'POST', url: '/api/v1/vehicles', headers: { ...auth(tokens.supervisor), 'content-type': 'application/json' }, payload: '{"plate":' })
      t.equal(notJson.statusCode, 400)
      t.equal(notJson.json().error.code, 'VALIDATION_FAILED')

      // Reads: own, foreign, unknown.
      const vA = (await f.store.findVehicle('浙A10001', 2))!
      await f.state.putSession({ phone: '013300000001', nodeId: 'node-1', since: T0, address: '127.0.0.1:5000', vehicleId: vA.id, plate: vA.plate }, 60_000)
      const last: CommittedPosition = { ...position(vA.id, T0), phone: '013300000001', plate: vA.plate, plateColor: 2, enterpriseLicenseNo: LICENCE_A }
      await f.state.setLastPosition(last)
      const get = await app.inject({ method: 'GET', url: `/api/v1/vehicles/${encodeURIComponent('浙A10001')}`, headers: auth(tokens.entA) })
      t.equal(get.statusCode, 200, get.body)
      t.match(get.json(), {
        vehicle: { plate: '浙A10001', enterpriseLicenseNo: LICENCE_A },
        live: { online: true, session: { nodeId: 'node-1', address: '127.0.0.1:5000' }, lastPosition: { deviceTime: new Date(T0).toISOString(), speed: 60 } },
      })
      const offline = await app.inject({ method: 'GET', url: `/api/v1/vehicles/${encodeURIComponent('浙B20001')}`, headers: auth(tokens.inspector) })
      t.equal(offline.statusCode, 200)
      t.match(offline.json().live, { online: false, session: null, lastPosition: null })
      const foreignRead = await app.inject({ method: 'GET', url: `/api/v1/vehicles/${encodeURIComponent('浙B20001')}`, headers: auth(tokens.entA) })
      t.equal(foreignRead.statusCode, 404, 'another carrier’s vehicle looks unknown')
      const missing = await app.inject({ method: 'GET', url: `/api/v1/vehicles/${encodeURIComponent('浙Z99999')}`, headers: auth(tokens.supervisor) })
      t.equal(missing.statusCode, 404)
      t.equal(missing.json().error.code, 'NOT_FOUND')

      // Listing is confined.
      const listA = await app.inject({ method: 'GET', url: '/api/v1/vehicles', headers: auth(tokens.entA) })
      t.ok(listA.json().items.length >= 3)
      t.ok(listA.json().items.every((v: { enterpriseLicenseNo: string }) => v.enterpriseLicenseNo === LICENCE_A))
      const listOther = await app.inject({ method: 'GET', url: `/api/v1/vehicles?enterprise=${LICENCE_B}`, headers: auth(tokens.entA) })
      t.equal(listOther.statusCode, 403)
      const listAll = await app.inject({ method: 'GET', url: '/api/v1/vehicles', headers: auth(tokens.supervisor) })
      t.ok(listAll.json().items.some((v: { enterpriseLicenseNo: string }) => v.enterpriseLicenseNo === LICENCE_B))
    })

    t.test('vehicles: track in order, downsampled, limited, scoped', async (t) => {
      const v = (await f.store.findVehicle('浙A10002', 2))!
      const points = Array.from({ length: 120 }, (_, i) => position(v.id, T0 + i * 10_000))
      // Insert out of order: the track must come back in device-time order.
      await f.store.insertPositions([...points.slice(60), ...points.slice(0, 60)])
      const url = (q: string) => `/api/v1/vehicles/${encodeURIComponent('浙A10002')}/track?${q}`
      const from = new Date(T0).toISOString()
      const to = new Date(T0 + 1_200_000).toISOString()
      const all = await app.inject({ method: 'GET', url: url(`from=${from}&to=${to}`), headers: auth(tokens.entA) })
      t.equal(all.statusCode, 200, all.body)
      const times = all.json().points.map((p: { deviceTime: string }) => Date.parse(p.deviceTime))
      t.equal(times.length, 120)
      t.same(
        times,
        [...times].sort((a, b) => a - b),
        'ordered by device time',
      )
      t.equal(all.json().truncated, false)
      const sampled = await app.inject({ method: 'GET', url: url(`from=${from}&to=${to}&every=60`), headers: auth(tokens.entA) })
      t.equal(sampled.json().points.length, 20, 'one point per minute')
      const limited = await app.inject({ method: 'GET', url: url(`from=${from}&to=${to}&limit=7`), headers: auth(tokens.entA) })
      t.equal(limited.json().points.length, 7)
      t.equal(limited.json().truncated, true)
      const reversed = await app.inject({ method: 'GET', url: url(`from=${to}&to=${from}`), headers: auth(tokens.entA) })
      t.equal(reversed.statusCode, 400)
      t.same(reversed.json().error.details.fields, [{ field: 'query/to', message: 'must be after from' }])
      const noRange = await app.inject({ method: 'GET', url: url(''), headers: auth(tokens.entA) })
      t.equal(noRange.statusCode, 400)
      const badTime = await app.inject({ method: 'GET', url: url(`from=yesterday&to=${to}`), headers: auth(tokens.entA) })
      t.equal(badTime.statusCode, 400)
      const foreign = await app.inject({ method: 'GET', url: url(`from=${from}&to=${to}`), headers: auth(tokens.entB) })
      t.equal(foreign.statusCode, 404)
    })

    t.test('geofences: polygon and buffered line; validation', async (t) => {
      const bridge = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: {
          name: '钱塘江大桥',
          kind: 'bridge',
          geometry: {
            type: 'LineString',
            coordinates: [
              [120.14, 30.2],
              [120.16, 30.21],
            ],
          },
          bufferMeters: 60,
        },
      })
      t.equal(bridge.statusCode, 201, bridge.body)
      t.match(bridge.json(), { name: '钱塘江大桥', kind: 'bridge', bufferMeters: 60, geometry: { type: 'LineString' } })
      t.ok(bridge.json().bbox[0] < 120.14 && bridge.json().bbox[2] > 120.16, 'bbox widened by the buffer')
      const zone = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: {
          name: 'urban',
          kind: 'speed-zone',
          roadClass: 'other',
          speedLimit: 40,
          geometry: {
            type: 'Polygon',
            coordinates: [
              [
                [120, 30],
                [120.1, 30],
                [120.1, 30.1],
                [120, 30.1],
                [120, 30],
              ],
            ],
          },
        },
      })
      t.equal(zone.statusCode, 201, zone.body)
      const open = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: {
          name: 'open ring',
          kind: 'tunnel',
          geometry: {
            type: 'Polygon',
            coordinates: [
              [
                [120, 30],
                [120.1, 30],
                [120.1, 30.1],
                [120, 30.2],
              ],
            ],
          },
        },
      })
      t.equal(open.statusCode, 400)
      t.same(open.json().error.details.fields, [{ field: 'body/geometry/coordinates/0', message: 'a ring must end where it starts' }])
      const noBuffer = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: {
          name: 'line',
          kind: 'key-segment',
          geometry: {
            type: 'LineString',
            coordinates: [
              [120, 30],
              [120.1, 30],
            ],
          },
        },
      })
      t.equal(noBuffer.statusCode, 400)
      const list = await app.inject({ method: 'GET', url: '/api/v1/geofences', headers: auth(tokens.inspector) })
      t.equal(list.json().items.length, 2)
    })

    t.test('every write is audited (who, what, when), refused ones too', async (t) => {
      const audit = await f.store.listAudit({ limit: 1000 })
      t.ok(audit.length >= 6)
      const created = audit.find((a) => a.route === '/api/v1/geofences' && a.status === 201)
      t.ok(created, 'geofence creation recorded')
      t.match(created, { method: 'POST', role: 'supervisor', target: /^geofence \d+$/ })
      t.ok(created!.at > Date.now() - 60_000)
      const refused = audit.find((a) => a.route === '/api/v1/vehicles' && a.status === 403 && a.enterpriseLicenseNo === LICENCE_A)
      t.ok(refused, 'a refused enterprise write is recorded with its enterprise')
      const reads = audit.filter((a) => a.method === 'GET')
      t.equal(reads.length, 0, 'reads are not audited')
    })
  })
}
