/**
 * Starts the REST API in the gateway process: builds it from the process's store, state,
 * gateway (the commander) and metrics registry, makes the bootstrap token exist when
 * JT808_BOOTSTRAP_TOKEN is set, and listens on config.httpHost:httpPort.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Config } from '../config/index.js'
import type { State } from '../state/port.js'
import type { Store } from '../store/port.js'
import type { Commander, PlatformLinks } from './deps.js'
import { buildApi, type ApiInstance } from './server.js'
import { ensureBootstrapToken } from './tokens.js'

export { buildApi, API_PREFIX, type ApiInstance } from './server.js'
export type { ApiDeps, Commander } from './deps.js'

export interface StartApiOptions {
  config: Config
  store: Store
  state: State
  commander: Commander | null
  registry: Registry
  logger: Logger
  now?: () => number
  platforms?: PlatformLinks | null
}

export interface RunningApi {
  app: ApiInstance
  address: AddressInfo
  close(): Promise<void>
}

export async function startApi(opts: StartApiOptions): Promise<RunningApi> {
  const { config, logger } = opts
  const log = logger.child({ component: 'api' })
  let hint: string
  if (config.bootstrapToken) {
    const token = await ensureBootstrapToken(opts.store, config.bootstrapToken, (opts.now ?? Date.now)())
    log.info({ tokenId: token.id }, 'bootstrap supervisor token from JT808_BOOTSTRAP_TOKEN is active')
    hint = 'curl -H "Authorization: Bearer $JT808_BOOTSTRAP_TOKEN" {base}/api/v1/vehicles'
  } else if ((await opts.store.listTokens()).every((t) => t.revokedAt !== null)) {
    hint = 'no API token exists yet: set JT808_BOOTSTRAP_TOKEN=<secret of 16+ characters> or run "jt808 token create --role supervisor"'
  } else hint = 'API tokens: "jt808 token list" / "jt808 token create --role …"'
  const app = await buildApi({
    config: { commandTimeoutSeconds: config.commandTimeoutSeconds, offlineCommandTtlSeconds: config.offlineCommandTtlSeconds, bootstrapToken: config.bootstrapToken },
    store: opts.store,
    state: opts.state,
    commander: opts.commander,
    registry: opts.registry,
    logger: log,
    now: opts.now,
    platforms: opts.platforms ?? null,
  })
  await app.listen({ port: config.httpPort, host: config.httpHost })
  const address = app.server.address() as AddressInfo
  const base = `http://${address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : address.address}:${address.port}`
  log.info({ address: address.address, port: address.port }, `REST API on ${base}/api/v1 (docs: ${base}/docs); ${hint.replace('{base}', base)}`)
  return { app, address, close: () => app.close() }
}
