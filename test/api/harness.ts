/**
 * Builds the API over real backends for tests (test/backends.ts): the embedded defaults
 * (in-memory PGlite + MemoryState) and the servers (PostgreSQL in a fresh schema + Redis under a
 * fresh prefix).
 * Every fixture creates one token per role, two enterprises apart.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import type { Test } from 'tap'
import { buildApi, type ApiInstance } from '../../src/api/server.js'
import type { Commander, FeedOptions } from '../../src/api/deps.js'
import { createToken } from '../../src/api/tokens.js'
import { FileSystemObjectStore } from '../../src/attachments/object-store.js'
import { openBackends, type Backend, type Backends } from '../backends.js'

export { BACKENDS, DATABASE_URL, openBackends, REDIS_URL, type Backend, type Backends } from '../backends.js'

export const LICENCE_A = '330100000001'
export const LICENCE_B = '330100000002'

export interface Fixture extends Backends {
  app: ApiInstance
  registry: Registry
  /** where the API finds attachment files (a temporary directory) */
  objects: FileSystemObjectStore
  tokens: { supervisor: string; inspector: string; entA: string; entB: string }
  auth(token: string): { authorization: string }
  /** starts listening on 127.0.0.1:0 and returns the base URL */
  listen(): Promise<string>
}

export async function apiFixture(
  t: Test,
  backend: Backend,
  opts: { commander?: Commander | null; feed?: Partial<FeedOptions>; now?: () => number; bootstrapToken?: string | null } = {},
): Promise<Fixture> {
  const backends = await openBackends(backend)
  const registry = new Registry()
  // active-safety attachment files (GET /attachments/{id})
  const objectsDir = mkdtempSync(join(tmpdir(), 'jt808-api-objects-'))
  const objects = new FileSystemObjectStore(objectsDir)
  const app = await buildApi({
    objects,
    config: { commandTimeoutSeconds: 5, offlineCommandTtlSeconds: 3600, bootstrapToken: opts.bootstrapToken ?? null },
    store: backends.store,
    state: backends.state,
    commander: opts.commander ?? null,
    registry,
    now: opts.now,
    feed: opts.feed,
  })
  const make = async (role: string, enterpriseLicenseNo: string | null = null) => (await createToken(backends.store, { role, enterpriseLicenseNo })).secret
  const tokens = {
    supervisor: await make('supervisor'),
    inspector: await make('inspector'),
    entA: await make('enterprise', LICENCE_A),
    entB: await make('enterprise', LICENCE_B),
  }
  t.teardown(async () => {
    await app.close()
    await backends.close()
    rmSync(objectsDir, { recursive: true, force: true })
  })
  return {
    ...backends,
    objects,
    app,
    registry,
    tokens,
    auth: (token) => ({ authorization: `Bearer ${token}` }),
    async listen() {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as AddressInfo
      return `http://127.0.0.1:${port}`
    },
  }
}

/** A registry record for tests. */
export function vehicleInput(plate: string, licence: string, extra: Record<string, unknown> = {}) {
  return {
    plate,
    plateColor: 2,
    terminalPhone: null,
    enterpriseLicenseNo: licence,
    enterpriseName: licence === LICENCE_A ? '杭州甲危货运输有限公司' : '宁波乙危货运输有限公司',
    transportCertNo: '330100123456',
    transportCertValidUntil: '2030-12-31',
    businessScope: ['2.1', '3'],
    ...extra,
  }
}

/** A valid 29-field waybill of the given carrier (plate 浙A30001 for A, 浙B30001 for B). */
export function waybill(no: string, licence: string, extra: Record<string, unknown> = {}) {
  return {
    waybillNo: no,
    issueDate: '2025-03-09',
    consignorName: '浙江某化工有限公司',
    consignorPhone: '0571-88880000',
    consigneeName: '宁波某加油站',
    consigneePhone: '0574-66660000',
    loadingPlace: '杭州市萧山区化工园区',
    loadingDate: '20250310',
    destination: '宁波市北仑区',
    expectedArrivalDate: '20250311',
    carrierName: '杭州甲危货运输有限公司',
    carrierLicenseNo: licence,
    carrierPhone: '0571-80000000',
    plate: licence === LICENCE_A ? '浙A30001' : '浙B30001',
    plateColor: 2,
    transportCertNo: '330100123456',
    trailerPlate: '',
    trailerTransportCertNo: '',
    driverName: '张三',
    driverQualificationNo: '330102198001011234',
    driverPhone: '13800000001',
    escortName: '李四',
    escortQualificationNo: '330102198502021234',
    escortPhone: '13800000002',
    goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', packingGroup: 'II', specification: '罐装', quantity: 25.5, unit: 't' }],
    ...extra,
  }
}
