/**
 * Issue 14 "Security" over both backends: bodies are not type-coerced; over-long path
 * parameters answer in the API's error shape after authentication; a resource outside an
 * enterprise's scope is indistinguishable from one that does not exist; /metrics can need a token.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { QrSigner, qrText } from '../../src/api/qr.js'
import { qrPayloadOf } from '../../src/api/routes/waybills.js'
import { paramLimitProblem } from '../../src/api/validation.js'
import { newWaybill, parseWaybill } from '../../src/domain.js'
import pino from 'pino'
import { Registry } from 'prom-client'
import { startApi } from '../../src/api/index.js'
import { buildApi } from '../../src/api/server.js'
import { ConfigError, loadConfig } from '../../src/config/index.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, openBackends, vehicleInput, waybill, type Fixture } from './harness.js'

const NOW = Date.parse('2025-03-10T04:00:00Z')

/** A response with each id the caller typed replaced, so "vehicle X not found" compares equal for any X. */
function shape(res: { statusCode: number; body: string }, ids: string[]): string {
  let body = res.body
  for (const id of ids) body = body.split(id).join('<id>')
  return `${res.statusCode} ${body}`
}

/** Another carrier's data: B's vehicle and terminal, a terminal bound to nothing, B's waybill and anomaly. */
async function foreignData(f: Fixture) {
  const { app, auth, tokens } = f
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/vehicles',
    headers: auth(tokens.supervisor),
    payload: [vehicleInput('浙A60001', LICENCE_A, { terminalPhone: '013600000001' }), vehicleInput('浙B60001', LICENCE_B, { terminalPhone: '013600000002' })],
  })
  if (res.statusCode !== 200) throw new Error(res.body)
  await f.store.saveTerminal({
    phone: '013600000003',
    terminalId: 'T3',
    vehicleId: null,
    authCodeHash: null,
    protocolVersion: 1,
    manufacturer: null,
    model: null,
    imei: null,
    firmware: null,
    registeredAt: null,
  })
  const wb = await app.inject({ method: 'POST', url: '/api/v1/waybills', headers: auth(tokens.supervisor), payload: waybill('WB-B-6001', LICENCE_B, { plate: '浙B60001' }) })
  if (wb.statusCode !== 201) throw new Error(wb.body)
  await f.store.enqueueCommand({ id: 'cmd-b-6001', phone: '013600000002', msgId: 0x8201, body: {}, createdAt: NOW, expiresAt: NOW + 3_600_000 })
  const vB = (await f.store.findVehicle('浙B60001', 2))!
  await f.store.upsertAnomalies([
    {
      id: 'b-6001',
      type: 'OVERSPEED',
      status: 'open',
      severity: 'warning',
      vehicleId: vB.id,
      plate: vB.plate,
      plateColor: 2,
      waybillNo: 'WB-B-6001',
      enterpriseLicenseNo: LICENCE_B,
      startedAt: NOW - 3_600_000,
      endedAt: null,
      lastSeenAt: NOW - 60_000,
      evidence: { maxSpeed: 95 },
    },
  ])
  // B's alarm photo (attachment file 1)
  const alarmNumber = 'b'.repeat(32)
  await f.store.insertAttachmentAlarm({
    alarmNumber,
    alarmKey: 'AS-b-6001',
    phone: '13600000002',
    vehicleId: vB.id,
    plate: vB.plate,
    plateColor: 2,
    enterpriseLicenseNo: LICENCE_B,
    variant: 'jsatl12',
    kind: 'dsm',
    alarmType: 2,
    alarmLevel: 2,
    alarmId: { terminalId: 'T2', time: '2025-03-10T11:00:00+08:00', serial: 1, attachmentCount: 1, reserved: 0 },
    deviceTime: NOW,
    expectedFiles: 1,
    anomalyId: 'AS-b-6001',
    state: 'complete',
    createdAt: NOW,
    updatedAt: NOW,
  })
  const dir = mkdtempSync(join(tmpdir(), 'jt808-photo-'))
  writeFileSync(join(dir, 'b.jpg'), Buffer.from('ffd8ffe000104a464946', 'hex'))
  await f.objects.putFile(`${alarmNumber}/1`, join(dir, 'b.jpg'), 'image/jpeg')
  rmSync(dir, { recursive: true, force: true })
  const id = await f.store.saveAttachmentFile({
    alarmNumber,
    name: 'b.jpg',
    fileType: 0,
    size: 10,
    received: 10,
    state: 'complete',
    rounds: 0,
    contentType: 'image/jpeg',
    sha256: '0'.repeat(64),
    objectKey: `${alarmNumber}/1`,
    failure: null,
    startedAt: NOW,
    completedAt: NOW,
  })
  if (id !== 1) throw new Error(`B's attachment is file ${id}, WALK expects 1`)
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend)
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
        payload: {
          name: 12,
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

    t.test('path parameters: every id the schema allows is reachable; anything else answers in the API’s shape, after authentication', async (t) => {
      const errorShape = (res: { statusCode: number; json(): { error?: Record<string, unknown> } }, status: number, code: string, what: string) => {
        t.equal(res.statusCode, status, what)
        t.same(Object.keys(res.json().error ?? {}).sort(), ['code', 'details', 'message'], `${what}: the documented error shape`)
        t.equal(res.json().error?.code, code, what)
      }
      // The longest anomaly id the schema allows (200), in ASCII, CJK and astral characters: the route answers, not the router.
      for (const id of ['x'.repeat(200), '异'.repeat(200), '𠀀'.repeat(200)]) {
        const res = await app.inject({ method: 'GET', url: `/api/v1/anomalies/${encodeURIComponent(id)}`, headers: auth(tokens.supervisor) })
        errorShape(res, 404, 'NOT_FOUND', `anomaly id of ${id.length} UTF-16 units`)
        t.equal(res.json().error.message, `anomaly ${id} not found`)
      }
      const tooLongForSchema = await app.inject({ method: 'GET', url: `/api/v1/anomalies/${'x'.repeat(201)}`, headers: auth(tokens.supervisor) })
      errorShape(tooLongForSchema, 400, 'VALIDATION_FAILED', 'one over the schema')

      const urls = [
        `/api/v1/anomalies/${'x'.repeat(2000)}`,
        `/api/v1/vehicles/${encodeURIComponent('浙'.repeat(600))}/track?from=${encodeURIComponent('2025-03-01T00:00:00Z')}&to=${encodeURIComponent('2025-03-02T00:00:00Z')}`,
        `/api/v1/waybills/${'W'.repeat(1000)}/qrcode`,
        '/api/v1/vehicles/%E6%B5',
        '/api/v1/no-such-route',
      ]
      for (const url of urls) {
        for (const method of ['GET', 'POST', 'PATCH'] as const) {
          const anonymous = await app.inject({ method, url })
          errorShape(anonymous, 401, 'UNAUTHORIZED', `anonymous ${method} ${url.slice(0, 40)}`)
          t.equal(anonymous.headers['www-authenticate'], 'Bearer')
          const badToken = await app.inject({ method, url, headers: auth('jt808_not-a-token') })
          errorShape(badToken, 401, 'UNAUTHORIZED', `bad token ${method} ${url.slice(0, 40)}`)
        }
        const res = await app.inject({ method: 'GET', url, headers: auth(tokens.supervisor) })
        if (url.endsWith('no-such-route')) errorShape(res, 404, 'NOT_FOUND', url)
        else errorShape(res, 400, 'VALIDATION_FAILED', `authenticated ${url.slice(0, 40)}`)
      }
      // A refused write is still a write: audited with the caller, the status and the URL as sent.
      for (const url of [`/api/v1/vehicles/${encodeURIComponent('浙'.repeat(600))}/retire`, '/api/v1/vehicles/%E6%B5/retire', '/api/v1/no-such-route']) {
        const before = (await f.store.listAudit({ limit: 10_000 })).length
        const res = await app.inject({ method: 'POST', url, headers: auth(tokens.entA) })
        t.ok(res.statusCode === 400 || res.statusCode === 404, `refused: ${url.slice(0, 40)}`)
        t.equal((await f.store.listAudit({ limit: 10_000 })).length, before + 1, 'one record')
        const [last] = await f.store.listAudit({ limit: 1 })
        t.match(last, { method: 'POST', status: res.statusCode, role: 'enterprise', enterpriseLicenseNo: LICENCE_A }, `audited: ${url.slice(0, 40)}`)
        t.equal(last?.route, url.slice(0, 1_000), 'the URL as sent, bounded')
      }
      const anonymousBefore = (await f.store.listAudit({ limit: 1 }))[0]?.id
      await app.inject({ method: 'POST', url: '/api/v1/vehicles/%E6%B5/retire' })
      t.equal((await f.store.listAudit({ limit: 1 }))[0]?.id, anonymousBefore, 'an anonymous refusal (401) has nobody to audit')
      t.match(
        paramLimitProblem('/api/v1/things/:id', { properties: { id: { type: 'string', maxLength: 300 } } }),
        /parameter id allows 300 characters/,
        'a route allowing more than the router is refused at start',
      )
      t.equal(paramLimitProblem('/api/v1/things/:id', { properties: { id: { type: 'string', maxLength: 200 } } }), null)
    })
  })
}

const FROM = new Date(NOW - 86_400_000).toISOString()
const TO = new Date(NOW).toISOString()
const PLATES = { foreign: ['浙B60001', '浙b60001', '浙B 60001', '浙Ｂ６０００１'], unknown: '浙Z60009' }

/**
 * Every /api/v1 route with a path parameter, as an enterprise A caller: B's resource and one that
 * does not exist, with a request the route would otherwise accept. Supervisor-only routes need no
 * entry (the role check answers first, the same for any id).
 */
const WALK: Record<string, { foreign: string[]; unknown: string; query?: string; body?: object }> = {
  'GET /api/v1/vehicles/{plate}': { ...PLATES },
  'GET /api/v1/vehicles/{plate}/track': { ...PLATES, query: `from=${FROM}&to=${TO}` },
  'GET /api/v1/vehicles/{plate}/self-check': { ...PLATES },
  'GET /api/v1/vehicles/{plate}/platform-info': { ...PLATES },
  'GET /api/v1/waybills/{waybillNo}': { foreign: ['WB-B-6001'], unknown: 'WB-Z-6009' },
  'PATCH /api/v1/waybills/{waybillNo}': { foreign: ['WB-B-6001'], unknown: 'WB-Z-6009', body: { status: 'dispatched' } },
  'GET /api/v1/waybills/{waybillNo}/qrcode': { foreign: ['WB-B-6001'], unknown: 'WB-Z-6009' },
  'GET /api/v1/anomalies/{id}': { foreign: ['b-6001'], unknown: 'z-6009' },
  'POST /api/v1/anomalies/{id}/handling': { foreign: ['b-6001'], unknown: 'z-6009', body: { action: 'rectify' } },
  'POST /api/v1/terminals/{phone}/commands': { foreign: ['013600000002', '013600000003'], unknown: '013600000009', body: { type: 'query-location' } },
  'GET /api/v1/commands/{id}': { foreign: ['cmd-b-6001'], unknown: 'cmd-z-6009' },
  'POST /api/v1/vehicles/{plate}/retire': { ...PLATES },
  'POST /api/v1/vehicles/{plate}/reinstate': { ...PLATES },
  'POST /api/v1/vehicles/{plate}/commands': { ...PLATES, body: { type: 'text', text: 'x' } },
  'POST /api/v1/waybills/{waybillNo}/corrections': { foreign: ['WB-B-6001'], unknown: 'WB-Z-6009', body: { fields: { consigneePhone: '0574-66660001' } } },
  'GET /api/v1/waybills/{waybillNo}/corrections': { foreign: ['WB-B-6001'], unknown: 'WB-Z-6009' },
  'GET /api/v1/attachments/{id}': { foreign: ['1'], unknown: '999999' },
}

for (const backend of BACKENDS) {
  t.test(`${backend}: another carrier's resource looks exactly like one that does not exist`, async (t) => {
    const f = await apiFixture(t, backend, { now: () => NOW })
    const { app, auth, tokens } = f
    await foreignData(f)
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()

    t.test('every route with a path parameter', async (t) => {
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, { description?: string }> }>>)) {
        if (!path.startsWith('/api/v1') || !path.includes('{')) continue
        for (const [method, op] of Object.entries(ops)) {
          const route = `${method.toUpperCase()} ${path}`
          const supervisorOnly = /supervisor/i.test(op.responses['403']?.description ?? '')
          const entry = WALK[route] ?? (supervisorOnly ? { foreign: ['1'], unknown: '999999' } : undefined)
          if (!entry) {
            t.fail(`${route}: add it to WALK with B's id, an unknown id and a request it accepts`)
            continue
          }
          const call = (id: string, token: string) =>
            app.inject({
              method: method.toUpperCase() as 'GET',
              url: path.replace(/\{[^}]+\}/, encodeURIComponent(id)) + (entry.query ? `?${entry.query}` : ''),
              headers: auth(token),
              ...(entry.body ? { payload: entry.body } : {}),
            })
          const unknown = await call(entry.unknown, tokens.entA)
          if (!supervisorOnly) t.equal(unknown.statusCode, 404, `${route}: unknown is 404`)
          for (const id of entry.foreign) {
            const foreign = await call(id, tokens.entA)
            t.equal(shape(foreign, [id]), shape(unknown, [entry.unknown]), `${route} ${id}: foreign = unknown`)
            if (supervisorOnly || method !== 'get') continue
            const seen = await call(id, tokens.supervisor)
            t.equal(seen.statusCode, 200, `${route} ${id}: it exists (the supervisor sees it)`)
          }
        }
      }
    })

    t.test('resources named in a body or a filter', async (t) => {
      const post = (body: object, token = tokens.entA) => app.inject({ method: 'POST', url: '/api/v1/waybills', headers: auth(token), payload: body })
      for (const plate of PLATES.foreign) {
        const foreign = await post(waybill(`WB-A-61`, LICENCE_A, { plate }))
        const unknown = await post(waybill(`WB-A-61`, LICENCE_A, { plate: PLATES.unknown }))
        t.equal(foreign.statusCode, 404, `a waybill on ${plate} is refused`)
        t.equal(shape(foreign, [plate]), shape(unknown, [PLATES.unknown]), `waybill on ${plate} = on an unregistered plate`)
        const trailer = await post(waybill(`WB-A-62`, LICENCE_A, { plate: '浙A60001', trailerPlate: plate, trailerTransportCertNo: '330100000002' }))
        const noTrailer = await post(waybill(`WB-A-62`, LICENCE_A, { plate: '浙A60001', trailerPlate: PLATES.unknown, trailerTransportCertNo: '330100000002' }))
        t.equal(trailer.statusCode, 404)
        t.equal(shape(trailer, [plate]), shape(noTrailer, [PLATES.unknown]), `trailer ${plate} = an unregistered trailer`)
      }
      t.equal((await f.store.listWaybills({ plate: '浙B60001' })).items.length, 1, 'only B’s own waybill is on B’s truck')

      // A scanned code of B's waybill, and a validly signed code of a waybill that does not exist.
      const signer = new QrSigner(f.store, null)
      const ghost = parseWaybill(waybill('WB-Z-6009', LICENCE_B))
      if (!ghost.ok) throw new Error('fixture waybill invalid')
      const codeOf = async (no: string) => {
        const w = no === 'WB-Z-6009' ? newWaybill(ghost.value, NOW, 'test') : (await f.store.getWaybill(no))!
        return qrText(await signer.sign(qrPayloadOf(w, NOW)))
      }
      const verify = async (no: string) => app.inject({ method: 'POST', url: '/api/v1/waybills/verify', headers: auth(tokens.entA), payload: { qr: await codeOf(no) } })
      const foreignCode = await verify('WB-B-6001')
      t.equal(foreignCode.statusCode, 404)
      t.equal(shape(foreignCode, ['WB-B-6001']), shape(await verify('WB-Z-6009'), ['WB-Z-6009']), 'verifying B’s code = verifying a code of no waybill')

      const filters = [
        (x: string) => `/api/v1/waybills?plate=${encodeURIComponent(x)}`,
        (x: string) => `/api/v1/anomalies?plate=${encodeURIComponent(x)}`,
        (x: string) => `/api/v1/anomalies?waybillNo=${encodeURIComponent(x === PLATES.unknown ? 'WB-Z-6009' : 'WB-B-6001')}`,
      ]
      for (const url of filters) {
        const unknown = await app.inject({ method: 'GET', url: url(PLATES.unknown), headers: auth(tokens.entA) })
        t.same(unknown.json().items, [], url(PLATES.unknown))
        for (const plate of PLATES.foreign) {
          const foreign = await app.inject({ method: 'GET', url: url(plate), headers: auth(tokens.entA) })
          t.equal(foreign.body, unknown.body, `${url(plate)}: as empty as an unknown one`)
        }
      }
      for (const route of ['/api/v1/vehicles', '/api/v1/waybills', '/api/v1/anomalies', `/api/v1/stats/flows?from=${FROM}&to=${TO}`, `/api/v1/stats/quality?from=${FROM}&to=${TO}`]) {
        const sep = route.includes('?') ? '&' : '?'
        const foreign = await app.inject({ method: 'GET', url: `${route}${sep}enterprise=${LICENCE_B}`, headers: auth(tokens.entA) })
        const unknown = await app.inject({ method: 'GET', url: `${route}${sep}enterprise=339999999999`, headers: auth(tokens.entA) })
        t.equal(foreign.statusCode, 403, `${route}: another licence is refused`)
        t.equal(foreign.body, unknown.body, `${route}: the same whether the licence exists or not`)
      }
    })
  })
}

const METRICS_TOKEN = 'metrics-secret-0123456789'

t.test('/metrics: a token when configured, or only on the admin listener', async (t) => {
  t.test('settings', async (t) => {
    const ok = loadConfig({ JT808_METRICS_TOKEN: METRICS_TOKEN, JT808_ADMIN_HTTP_ADDR: '127.0.0.1:9464' })
    t.equal(ok.metricsToken, METRICS_TOKEN)
    t.equal(ok.adminHttpAddr, '127.0.0.1:9464')
    t.equal(loadConfig({}, { 'admin-http-addr': '[::1]:0' }).adminHttpAddr, '[::1]:0', 'also a flag')
    t.throws(() => loadConfig({ JT808_METRICS_TOKEN: 'short' }), ConfigError)
    t.throws(() => loadConfig({ JT808_ADMIN_HTTP_ADDR: 'localhost' }), /JT808_ADMIN_HTTP_ADDR: expected host:port/)
    t.throws(() => loadConfig({ JT808_ADMIN_HTTP_ADDR: '127.0.0.1:70000' }), ConfigError)
    const defaults = loadConfig({})
    t.equal(defaults.metricsToken, null)
    t.equal(defaults.adminHttpAddr, null)
  })

  for (const backend of BACKENDS) {
    t.test(`${backend}: the API port with a metrics token`, async (t) => {
      const backends = await openBackends(backend)
      const registry = new Registry()
      const app = await buildApi({
        config: { commandTimeoutSeconds: 5, offlineCommandTtlSeconds: 60, bootstrapToken: null, metricsToken: METRICS_TOKEN },
        store: backends.store,
        state: backends.state,
        commander: null,
        registry,
      })
      t.teardown(async () => {
        await app.close()
        await backends.close()
      })
      for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${METRICS_TOKEN}` }]) {
        const refused = await app.inject({ method: 'GET', url: '/metrics', headers })
        t.equal(refused.statusCode, 401, JSON.stringify(headers))
        t.equal(refused.json().error.code, 'UNAUTHORIZED')
        t.equal(refused.headers['www-authenticate'], 'Bearer')
        t.notMatch(refused.body, /jt808_/, 'no metric leaks')
      }
      const scraped = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      t.equal(scraped.statusCode, 200)
      t.match(scraped.body, /jt808_http_request_duration_seconds/)
      t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'probes stay open')
    })
  }

  t.test('the admin listener: /metrics there (with its token), not on the API port', async (t) => {
    const backends = await openBackends('embedded')
    const config = loadConfig({ JT808_HTTP_HOST: '127.0.0.1', JT808_HTTP_PORT: '0', JT808_ADMIN_HTTP_ADDR: '127.0.0.1:0', JT808_METRICS_TOKEN: METRICS_TOKEN })
    const api = await startApi({ config, store: backends.store, state: backends.state, commander: null, registry: new Registry(), logger: pino({ level: 'silent' }) })
    t.teardown(async () => {
      await api.close()
      await backends.close()
    })
    t.ok(api.adminAddress, 'the admin listener runs')
    t.not(api.adminAddress!.port, api.address.port)
    const onApi = await fetch(`http://127.0.0.1:${api.address.port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    t.equal(onApi.status, 404, 'the API port does not serve /metrics')
    t.equal(((await onApi.json()) as { error: { code: string } }).error.code, 'NOT_FOUND')
    const admin = `http://127.0.0.1:${api.adminAddress!.port}/metrics`
    const anonymous = await fetch(admin)
    t.equal(anonymous.status, 401)
    t.same(Object.keys(((await anonymous.json()) as { error: object }).error).sort(), ['code', 'details', 'message'])
    const scraped = await fetch(admin, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    t.equal(scraped.status, 200)
    t.match(await scraped.text(), /# TYPE/)
    t.equal((await fetch(`http://127.0.0.1:${api.adminAddress!.port}/api/v1/vehicles`)).status, 404, 'nothing else on the admin listener')
  })
})
