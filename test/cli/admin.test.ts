/**
 * `jt808 admin`: every action against a server (--server/--token, both backends behind it), the
 * API's refusals as exit 1 with its field errors, usage errors as exit 2; and with no server, the
 * same routes in-process over the embedded data directory, audited as the local admin.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../src/cli/main.js'
import { loadConfig } from '../../src/config/index.js'
import { openStore } from '../../src/store/index.js'
import { apiFixture, BACKENDS, LICENCE_A, vehicleInput, waybill } from '../api/harness.js'
import { captureIO } from './io.js'
import { seedEmbeddedDataDir } from '../embedded-db.js'

async function jt808(args: string[], env: NodeJS.ProcessEnv = {}) {
  const c = captureIO()
  c.io.env = { ...env }
  const code = await main(args, c.io)
  const lines = c
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
  return { code, lines, err: c.stderr() }
}

for (const backend of BACKENDS) {
  t.test(`through a server (${backend})`, async (t) => {
    const f = await apiFixture(t, backend)
    const url = await f.listen()
    const via = ['--server', url, '--token', f.tokens.supervisor]
    const post = (path: string, body: unknown) => f.app.inject({ method: 'POST', url: path, headers: f.auth(f.tokens.supervisor), payload: body as object })
    t.equal((await post('/api/v1/vehicles', [vehicleInput('浙A30001', LICENCE_A, { terminalPhone: '013500000001' })])).statusCode, 200)
    t.equal((await post('/api/v1/waybills', waybill('WB-CLI-1', LICENCE_A))).statusCode, 201)
    const fence = await post('/api/v1/geofences', {
      name: 'zone',
      kind: 'speed-zone',
      speedLimit: 60,
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [120, 30],
            [120.1, 30],
            [120.1, 30.1],
            [120, 30],
          ],
        ],
      },
    })
    t.equal(fence.statusCode, 201, fence.body)
    const fenceId = fence.json().id
    const now = Date.now()
    await f.store.enqueueCommand({ id: 'cmd-cli-1', phone: '013500000001', msgId: 0x8300, body: {}, createdAt: now, expiresAt: now + 60_000 })

    const retired = await jt808(['admin', 'retire', '浙A30001', ...via])
    t.equal(retired.code, 0, retired.err)
    t.match(retired.lines[0], { vehicle: { plate: '浙A30001' }, retiredAt: String })
    t.same(
      (await jt808(['admin', 'retired', ...via])).lines.map((x) => x.vehicle.plate),
      ['浙A30001'],
    )
    t.equal((await jt808(['admin', 'reinstate', '浙A30001', '--plate-color', '2', ...via])).lines[0].retiredAt, null)

    const audit = await jt808(['admin', 'audit', '--route', '/api/v1/vehicles/:plate/retire', '--method', 'post', ...via])
    t.equal(audit.code, 0, audit.err)
    t.match(audit.lines, [{ method: 'POST', target: '浙A30001', status: 200 }])

    t.match((await jt808(['admin', 'command', 'cmd-cli-1', ...via])).lines[0], { id: 'cmd-cli-1', status: 'queued' })
    t.same((await jt808(['admin', 'sessions', ...via])).lines, [], 'nobody online')

    const changed = await jt808(['admin', 'geofence-update', String(fenceId), 'speedLimit=40', 'name=钱江三桥', ...via])
    t.equal(changed.code, 0, changed.err)
    t.match(changed.lines[0], { id: fenceId, name: '钱江三桥', speedLimit: 40 })
    t.equal((await jt808(['admin', 'geofence-delete', String(fenceId), ...via])).code, 0)
    const gone = await jt808(['admin', 'geofence-delete', String(fenceId), ...via])
    t.equal(gone.code, 1)
    t.match(gone.err, /404 geofence \d+ not found/)

    const corrected = await jt808(['admin', 'waybill-correct', 'WB-CLI-1', 'driverName=王五', 'plateColor=2', ...via])
    t.equal(corrected.code, 0, corrected.err)
    t.same(corrected.lines[0].correction.changes, { driverName: { from: '张三', to: '王五' } })
    t.match((await jt808(['admin', 'waybill-corrections', 'WB-CLI-1', ...via])).lines, [{ changes: { driverName: { to: '王五' } } }])
    const bad = await jt808(['admin', 'waybill-correct', 'WB-CLI-1', 'loadingDate=2025-13-40', ...via])
    t.equal(bad.code, 1)
    t.match(bad.err, /body\/fields\/loadingDate: /, 'field errors listed')

    const notSupervisor = await jt808(['admin', 'audit', '--server', url, '--token', f.tokens.entA])
    t.equal(notSupervisor.code, 1)
    t.match(notSupervisor.err, /403/)
    t.equal((await jt808(['admin', 'retire', ...via])).code, 2, 'usage: the plate is missing')
    t.equal((await jt808(['admin', 'frobnicate', ...via])).code, 2)
    t.equal((await jt808(['admin', 'audit', '--server', url])).code, 2, '--server needs a token')
  })
}

t.test('no server: the routes run in-process over the embedded directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-admin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { JT808_DATA_DIR: dir }
  await seedEmbeddedDataDir(dir)
  const store = await openStore(loadConfig(env))
  await store.upsertVehicles([{ plate: '浙A30009', plateColor: 2, enterpriseLicenseNo: LICENCE_A }])
  await store.close()

  const retired = await jt808(['admin', 'retire', '浙A30009'], env)
  t.equal(retired.code, 0, retired.err)
  const audit = await jt808(['admin', 'audit'], env)
  t.match(audit.lines, [{ tokenId: 'local-admin', role: 'supervisor', method: 'POST', target: '浙A30009', status: 200 }], 'audited as the local admin')
  const reopened = await openStore(loadConfig(env))
  t.same(
    (await reopened.listVehicles()).map((v) => v.plate),
    [],
    'written to the directory',
  )
  await reopened.close()
})
