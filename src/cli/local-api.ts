/**
 * The admin commands' way to the API: a running server (src/cli/server-client.ts), or — when none
 * holds the data — the same routes built in this process over the store and state opened here,
 * called with app.inject as the local admin. Either way each admin action is defined once, by its
 * route: validation, scoping and the audit entry are the same from the CLI as from HTTP.
 */
import { Registry } from 'prom-client'
import { buildApi } from '../api/server.js'
import { hashToken, newTokenSecret } from '../api/tokens.js'
import type { Config } from '../config/index.js'
import { openState } from '../state/index.js'
import { openStore } from '../store/index.js'
import { ApiClient, serverTarget, throwIfError, type ApiTransport } from './server-client.js'

export async function adminTransport(config: Config, flags: { server?: string; token?: string }, env: NodeJS.ProcessEnv): Promise<ApiTransport> {
  const target = serverTarget(config, flags, env)
  if (target) return new ApiClient(target)
  return openLocalApi(config)
}

export async function openLocalApi(config: Config): Promise<ApiTransport> {
  const store = await openStore(config)
  const state = await openState(config).catch(async (e: unknown) => {
    await store.close()
    throw e
  })
  const secret = newTokenSecret()
  const app = await buildApi({
    config: { commandTimeoutSeconds: config.commandTimeoutSeconds, offlineCommandTtlSeconds: config.offlineCommandTtlSeconds, bootstrapToken: null },
    store,
    state,
    commander: null,
    registry: new Registry(),
    localAdminTokenHash: hashToken(secret),
  })
  return {
    async json<T>(method: string, path: string, body?: unknown) {
      const res = await app.inject({
        method: method as 'GET',
        url: path,
        headers: { authorization: `Bearer ${secret}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      })
      throwIfError(res.statusCode, res.body, 'local')
      return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : undefined) as T }
    },
    async close() {
      await app.close()
      await state.close()
      await store.close()
    },
  }
}
