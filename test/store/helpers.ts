/**
 * Store backends for tests: the real PostgreSQL (a fresh schema per call, dropped at teardown),
 * embedded in-memory PGlite, and the PGlite-TimescaleDB build (in memory).
 */
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import { DEFAULTS, type Config } from '../../src/config/index.js'
import type { PositionRecord } from '../../src/domain.js'
import { openStore, type OpenedStore, type OpenStoreOptions } from '../../src/store/index.js'
import { DATABASE_URL } from '../backends.js'
import { openEmbeddedStore } from '../embedded-db.js'

/** The store's engines: PostgreSQL (TEST_DATABASE_URL), in-memory PGlite, and PGlite's TimescaleDB build. */
export type StoreBackend = 'pg' | 'pglite' | 'timescale'
export const STORE_BACKENDS: readonly StoreBackend[] = ['pg', 'pglite', 'timescale']

export { DATABASE_URL }

export function testConfig(over: Partial<Config> = {}): Config {
  return { ...structuredClone(DEFAULTS), nodeId: 'test', ...over }
}

/** Opens a store on `backend`; closes it (and drops the pg schema) when `t` ends. */
export async function openTestStore(t: Test, backend: StoreBackend, config: Config = testConfig(), opts: OpenStoreOptions = {}): Promise<OpenedStore & { schema?: string }> {
  if (backend === 'pg') {
    const schema = `store_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
    const store = await openStore({ ...config, databaseUrl: config.databaseUrl ?? DATABASE_URL }, { schema, poolSize: 4, ...opts })
    t.teardown(async () => {
      await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
      await store.close()
    })
    return Object.assign(store, { schema })
  }
  const store = await openEmbeddedStore(config, { ...opts, embedded: backend === 'timescale' ? 'timescale-memory' : 'memory' })
  t.teardown(() => store.close())
  return store
}

export const DAY = 86_400_000

export function fix(vehicleId: number, deviceTime: number, extra: Partial<PositionRecord> = {}): PositionRecord {
  return {
    vehicleId,
    deviceTime,
    receivedAt: deviceTime + 2000,
    latitude: 30.25 + (deviceTime % 1e7) / 1e9,
    longitude: 120.16,
    altitude: 12,
    speed: 58.3,
    direction: 271,
    alarm: 0,
    status: 0b11,
    mileage: 1200.5,
    extras: { '0x30': 23, '0x31': 11 },
    blindArea: false,
    sourceMsgId: 0x0200,
    ...extra,
  }
}
