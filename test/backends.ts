/**
 * What the tests above the store run on, both deployments: 'embedded' (in-memory PGlite and the
 * in-process state, the defaults) and 'servers' (PostgreSQL in a schema of its own, Redis under a
 * prefix of its own). The store's own tests run on its engines instead (STORE_BACKENDS in
 * test/store/helpers.ts).
 */
import { randomUUID } from 'node:crypto'
import { DEFAULTS } from '../src/config/index.js'
import { MemoryState } from '../src/state/memory.js'
import type { State } from '../src/state/port.js'
import { RedisState } from '../src/state/redis.js'
import { openStore, type OpenedStore } from '../src/store/index.js'
import { openEmbeddedStore } from './embedded-db.js'

export const DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379'

export type Backend = 'embedded' | 'servers'
export const BACKENDS: readonly Backend[] = ['embedded', 'servers']

export interface Backends {
  backend: Backend
  store: OpenedStore
  /** the test's state (opened on first use) */
  readonly state: State
  /** another State on the same data, as another process has it; embedded: the one in-process state */
  newState(): State
  /** clears and closes the states, drops the schema, closes the store; twice is harmless */
  close(): Promise<void>
}

export async function openBackends(backend: Backend): Promise<Backends> {
  const config = { ...structuredClone(DEFAULTS), nodeId: 'test' }
  if (backend === 'embedded') {
    const store = await openEmbeddedStore({ ...config, databaseUrl: null })
    // One in-process state shared by everything in the test: that is what "one process" means.
    const state = new MemoryState()
    let closed = false
    return {
      backend,
      store,
      state,
      newState: () => state,
      close: async () => {
        if (closed) return
        closed = true
        await state.close()
        await store.close()
      },
    }
  }
  const tag = randomUUID().replace(/-/g, '').slice(0, 16)
  const schema = `test_${tag}`
  const store = await openStore({ ...config, databaseUrl: DATABASE_URL }, { schema, poolSize: 4 })
  const prefix = `test:${tag}:`
  const states: RedisState[] = []
  const newState = () => {
    const s = new RedisState(REDIS_URL, { prefix })
    states.push(s)
    return s
  }
  let closed = false
  return {
    backend,
    store,
    get state() {
      return states[0] ?? newState()
    },
    newState,
    close: async () => {
      if (closed) return
      closed = true
      if (states.length) await states[0].clear().catch(() => undefined)
      await Promise.all(states.map((s) => s.close().catch(() => undefined)))
      await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
      await store.close()
    },
  }
}
