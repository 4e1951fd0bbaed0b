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
import type { ObjectStore } from '../attachments/object-store.js'
import type { Commander } from './deps.js'
import { startMetricsServer, type MetricsServer } from './metrics-server.js'
import { buildApi, type ApiInstance } from './server.js'
import { apiBase, ensureBootstrapToken, hashToken, newTokenSecret, tokenHint } from './tokens.js'
import type { DataDirLock } from '../store/data-dir-lock.js'

export { buildApi, API_PREFIX, type ApiInstance } from './server.js'
export type { ApiDeps, Commander } from './deps.js'

export interface StartApiOptions {
  config: Config
  store: Store
  state: State
  commander: Commander | null
  registry: Registry
  /** active-safety attachment files */
  objects?: ObjectStore | null
  logger: Logger
  now?: () => number
  /** The embedded data directory's lock: the API's URL and the local admin secret are left there for the CLI. */
  dataDirLock?: DataDirLock | null
}

export interface RunningApi {
  app: ApiInstance
  address: AddressInfo
  /** the admin listener's address (JT808_ADMIN_HTTP_ADDR), null when /metrics is on the API port */
  adminAddress: AddressInfo | null
  close(): Promise<void>
}

export async function startApi(opts: StartApiOptions): Promise<RunningApi> {
  const { config, logger } = opts
  const log = logger.child({ component: 'api' })
  if (config.bootstrapToken) {
    const token = await ensureBootstrapToken(opts.store, config.bootstrapToken, (opts.now ?? Date.now)())
    log.info({ tokenId: token.id }, 'bootstrap supervisor token from JT808_BOOTSTRAP_TOKEN is active')
  }
  const localAdmin = opts.dataDirLock ? newTokenSecret() : null
  const app = await buildApi({
    config: {
      commandTimeoutSeconds: config.commandTimeoutSeconds,
      offlineCommandTtlSeconds: config.offlineCommandTtlSeconds,
      bootstrapToken: config.bootstrapToken,
      metricsToken: config.metricsToken,
      metricsElsewhere: config.adminHttpAddr !== null,
      baseMapUrl: config.baseMapUrl,
      baseMapAttribution: config.baseMapAttribution,
    },
    store: opts.store,
    state: opts.state,
    commander: opts.commander,
    registry: opts.registry,
    logger: log,
    now: opts.now,
    localAdminTokenHash: localAdmin ? hashToken(localAdmin) : null,
    objects: opts.objects,
  })
  await app.listen({ port: config.httpPort, host: config.httpHost })
  const address = app.server.address() as AddressInfo
  const base = apiBase(address)
  if (opts.dataDirLock && localAdmin) {
    // The local CLI (token, import, export-raw) finds this server here and authenticates with the secret.
    const local = `http://${address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '[::1]' : address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`
    opts.dataDirLock.writeAdminSecret(localAdmin)
    opts.dataDirLock.setApiUrl(local)
  }
  log.info({ address: address.address, port: address.port }, `REST API on ${base}/api/v1 (docs: ${base}/docs); ${await tokenHint(opts.store, config.bootstrapToken, base)}`)
  let admin: MetricsServer | null = null
  if (config.adminHttpAddr) {
    try {
      admin = await startMetricsServer({ addr: config.adminHttpAddr, registry: opts.registry, token: config.metricsToken, logger: log })
    } catch (err) {
      opts.dataDirLock?.setApiUrl(null)
      await app.close()
      throw err
    }
    log.info({ address: admin.address.address, port: admin.address.port, token: config.metricsToken !== null }, `metrics on the admin listener http://${config.adminHttpAddr}/metrics`)
  }
  const close = async () => {
    // The CLI must not send requests to an API that is going away: it waits for the lock's release instead.
    opts.dataDirLock?.setApiUrl(null)
    await Promise.all([app.close(), admin?.close()])
  }
  return { app, address, adminAddress: admin?.address ?? null, close }
}
