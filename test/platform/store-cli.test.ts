/**
 * Platforms as data on both backends: `jt808 platforms add|list|remove` (embedded data directory
 * and PostgreSQL), secrets stored as they must be, the forwarding position never moving back, and
 * the positions a superior is owed in received order, the outbox of anomalies and waybills.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import type { CliIO } from '../../src/cli/command.js'
import { platformsCommand } from '../../src/cli/commands/platforms.js'
import type { Anomaly } from '../../src/domain.js'
import { verifyAuthCode } from '../../src/gateway/auth-code.js'
import { newWaybill, parseWaybill } from '../../src/domain.js'
import { openStore } from '../../src/store/index.js'
import { fix, openTestStore, STORE_BACKENDS, type StoreBackend } from '../store/helpers.js'
import { waybill } from './helpers.js'

function io(env: NodeJS.ProcessEnv): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c) => (out += c))
  stderr.on('data', (c) => (err += c))
  return { stdin: new PassThrough(), stdout, stderr, env, out: () => out, err: () => err }
}

t.test('jt808 platforms on an embedded data directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-platforms-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { JT808_DATA_DIR: dir }
  const add = io(env)
  const code = await platformsCommand.run(
    ['add', '--role', 'lower', '--name', 'Enterprise A', '--access-code', '3001', '--user-id', '5', '--password', 'abc12345', '--licences', '370100000001,370100000002', '--keys', '1,2,3,4', '--json'],
    add,
  )
  t.equal(code, 0, add.err())
  const created = JSON.parse(add.out())
  t.equal(created.accessCode, 3001)
  t.notOk(add.out().includes('abc12345'), 'the password is not echoed')
  const dup = io(env)
  t.equal(await platformsCommand.run(['add', '--role', 'lower', '--name', 'again', '--access-code', '3001', '--user-id', '5', '--password', 'x'], dup), 1, 'one lower platform per access code')
  const sup = io(env)
  t.equal(
    await platformsCommand.run(
      ['add', '--role', 'superior', '--name', 'Province', '--access-code', '3001', '--user-id', '9', '--password', 'up', '--host', '10.0.0.1', '--port', '9000', '--edition', '2019'],
      sup,
    ),
    0,
    sup.err(),
  )
  await t.rejects(platformsCommand.run(['add', '--role', 'superior', '--name', 'x', '--access-code', '1', '--user-id', '1', '--password', 'toolongpassword'], io(env)), /password/)
  const list = io(env)
  t.equal(await platformsCommand.run(['list'], list), 0)
  t.match(list.out(), /^1\tlower\t3001\tEnterprise A\t2011\tenabled\t-\t370100000001,370100000002\n2\tsuperior\t3001\tProvince\t2019\tenabled\t10\.0\.0\.1:9000\t-\n$/)

  const store = await openStore({ ...(await import('../../src/config/index.js')).DEFAULTS, dataDir: dir, nodeId: 't' })
  const lower = await store.findLowerPlatform(3001)
  t.ok(lower?.passwordHash.startsWith('scrypt$') && verifyAuthCode('abc12345', lower.passwordHash), 'stored as a scrypt hash only')
  t.same(lower?.encryption, { m1: 1, ia1: 2, ic1: 3, key: 4 })
  t.same(await store.superiorCredentials(2), { password: 'up' }, "a superior's password is kept to log in")
  await store.close()

  const rm = io(env)
  t.equal(await platformsCommand.run(['remove', '1'], rm), 0)
  t.equal(await platformsCommand.run(['remove', '1'], io(env)), 1, 'removing twice: not found')
})

for (const backend of STORE_BACKENDS) {
  t.test(`${backend}: positions_received exists only once a superior platform does`, async (t) => {
    const store = await openTestStore(t, backend)
    const index = async () =>
      (await store.sql.query(`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'positions' AND indexname = 'positions_received'`)).rows.length === 1
    const T = Date.parse('2026-11-20T00:00:00Z')
    const platform = {
      name: 'S',
      accessCode: 1,
      userId: 1,
      edition: 2011 as const,
      encryption: null,
      allowedAddresses: [],
      enterpriseLicences: [],
      vehicles: [],
      unknownVehicles: 'refuse' as const,
      host: 'h',
      port: 1,
      enabled: true,
    }
    t.equal(await index(), false, 'no superior after migrating: no index on the position insert path')
    await store.createPlatform({ ...platform, role: 'lower', passwordHash: 'scrypt$x', password: null }, T)
    t.equal(await index(), false, 'a lower platform does not need it')
    const sup = await store.createPlatform({ ...platform, role: 'superior', passwordHash: null, password: 'pw' }, T)
    t.equal(await index(), true, 'the first superior builds it')
    await store.createPlatform({ ...platform, role: 'superior', passwordHash: null, password: 'pw', name: 'S2' }, T)
    t.equal(await index(), true, 'a second one finds it there')
    await store.deletePlatform(sup.id)
    t.equal(await index(), true, 'removing a superior leaves it')

    // a database that had a superior before migration 010: the migration builds it
    await store.sql.query(`DROP INDEX positions_received`)
    await store.sql.query(`DELETE FROM schema_migrations WHERE id = '010_platform_commands'`)
    t.same((await store.migrate()).applied, ['010_platform_commands'])
    t.equal(await index(), true, 'migration 010 builds it where a superior exists')
  })
}

for (const backend of ['pg', 'pglite'] as StoreBackend[]) {
  t.test(`${backend}: forwarding position and the positions owed to a superior`, async (t) => {
    const store = await openTestStore(t, backend)
    const [mine, other, picked] = await store.upsertVehicles([
      { plate: '鲁A1', plateColor: 2, enterpriseLicenseNo: 'L1' },
      { plate: '鲁A2', plateColor: 2, enterpriseLicenseNo: 'L2' },
      { plate: '鲁A3', plateColor: 2, enterpriseLicenseNo: 'L2' },
    ])
    const T = Date.parse('2026-11-20T00:00:00Z')
    await store.insertPositions([
      fix(mine!, T, { receivedAt: T + 3000 }),
      fix(other!, T, { receivedAt: T + 1000 }),
      fix(picked!, T + 1000, { receivedAt: T + 2000 }),
      fix(mine!, T + 1000, { receivedAt: T + 1000 }),
    ])
    const sel = { enterpriseLicences: ['L1'], vehicleIds: [picked!] }
    const all = await store.positionsToForward(sel, null, T, 100)
    t.same(
      all.map((p) => [p.vehicleId, p.receivedAt - T]),
      [
        [mine, 1000],
        [picked, 2000],
        [mine, 3000],
      ],
      'selected vehicles only, in received order',
    )
    t.equal(all[0]!.plate, '鲁A1')
    const rest = await store.positionsToForward(sel, { receivedAt: T + 2000, vehicleId: picked!, deviceTime: T + 1000 }, T, 100)
    t.same(
      rest.map((p) => p.receivedAt - T),
      [3000],
      'after a cursor',
    )

    const p = await store.createPlatform(
      {
        role: 'superior',
        name: 'S',
        accessCode: 1,
        userId: 1,
        passwordHash: null,
        password: 'pw',
        edition: 2011,
        encryption: null,
        allowedAddresses: [],
        enterpriseLicences: ['L1'],
        vehicles: [],
        unknownVehicles: 'refuse',
        host: 'h',
        port: 1,
        enabled: true,
      },
      T,
    )
    await store.setForwardCursor(p.id, { receivedAt: T + 2000, vehicleId: 1, deviceTime: T }, T)
    await store.setForwardCursor(p.id, { receivedAt: T + 1000, vehicleId: 9, deviceTime: T }, T)
    t.same(await store.getForwardCursor(p.id), { receivedAt: T + 2000, vehicleId: 1, deviceTime: T }, 'never moves back')
    t.same((await store.updatePlatform(p.id, { enabled: false, vehicles: [{ plate: '鲁A3', plateColor: 2 }] }, T + 5))?.vehicles, [{ plate: '鲁A3', plateColor: 2 }])
    t.equal(await store.deletePlatform(p.id), true)
    t.equal(await store.getForwardCursor(p.id), null, 'its forwarding position goes with it')
  })
}

for (const backend of ['pg', 'pglite'] as StoreBackend[]) {
  t.test(`${backend}: a superior's outbox — anomalies and waybill changes of its selection, enqueued once, until confirmed`, async (t) => {
    const store = await openTestStore(t, backend)
    const L1 = '370100000011'
    const [mine, other] = await store.upsertVehicles([
      { plate: '鲁B1', plateColor: 2, enterpriseLicenseNo: L1 },
      { plate: '鲁B2', plateColor: 2, enterpriseLicenseNo: 'L2' },
    ])
    const T = Date.now()
    const anomaly = (id: string, vehicleId: number, licence: string): Anomaly => ({
      id,
      type: 'OVERSPEED',
      status: 'open',
      severity: 'warning',
      vehicleId,
      plate: '鲁B',
      plateColor: 2,
      waybillNo: null,
      enterpriseLicenseNo: licence,
      startedAt: T,
      endedAt: null,
      lastSeenAt: T,
      evidence: {},
    })
    await store.upsertAnomalies([anomaly('before', mine!, L1)])
    const p = await store.createPlatform(
      {
        role: 'superior',
        name: 'S',
        accessCode: 1,
        userId: 1,
        passwordHash: null,
        password: 'pw',
        edition: 2011,
        encryption: null,
        allowedAddresses: [],
        enterpriseLicences: ['L1'],
        vehicles: [],
        unknownVehicles: 'refuse',
        host: 'h',
        port: 1,
        enabled: true,
      },
      T,
    )
    await store.setForwardCursor(p.id, { receivedAt: T, vehicleId: 0, deviceTime: 0 }, T)
    const sel = { enterpriseLicences: [L1], vehicleIds: [] }
    t.same(await store.enqueueOutbox(p.id, sel, T), { enqueued: 0 }, 'the first scan only sets the marks')
    await store.upsertAnomalies([anomaly('a1', mine!, L1), anomaly('foreign', other!, 'L2')])
    const parsed = parseWaybill({ ...waybill('WB-1', '鲁B1'), carrierLicenseNo: L1 })
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
    await store.insertWaybill(newWaybill(parsed.value, T, 'test', 'dispatched'))
    t.same(await store.enqueueOutbox(p.id, sel, T + 1), { enqueued: 2 })
    t.same(await store.enqueueOutbox(p.id, sel, T + 2), { enqueued: 0 }, 'a rescan enqueues nothing twice')
    const pending = await store.pendingOutbox(p.id, 10)
    t.same(
      pending.map((i) => [i.kind, i.ref]).sort(),
      [
        ['anomaly', 'a1'],
        ['waybill', 'WB-1'],
      ],
      'what came after the marks, of the selection only',
    )
    await store.confirmOutbox(
      p.id,
      pending.filter((i) => i.kind === 'anomaly'),
      T + 3,
    )
    t.same(
      (await store.pendingOutbox(p.id, 10)).map((i) => i.ref),
      ['WB-1'],
      'confirmed rows are not pending',
    )
    await store.upsertWaybills([{ ...parsed.value, driverPhone: '13900000001' }], { at: T + 4 })
    t.same(await store.enqueueOutbox(p.id, sel, T + 5), { enqueued: 1 }, 'a change is a new version')
    t.equal((await store.pendingOutbox(p.id, 10)).length, 2)
    t.equal(await store.pruneOutbox(p.id, T + 10), 1, 'confirmed rows are pruned by age')
  })
}
