/**
 * Active-safety attachments, composed: the alarms consumer (0x9208 after commit, anomalies), the
 * attachment server, the object store and retention. `jt808 serve` starts it beside the gateway;
 * `jt808 attachments` runs the server alone (instructions then come from the gateways).
 */
import { networkInterfaces } from 'node:os'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { AttachmentVariant } from '../../protocol/index.js'
import type { Config } from '../config/index.js'
import { canonicalPhone } from '../domain.js'
import type { State } from '../state/port.js'
import type { Store } from '../store/port.js'
import { ActiveSafetyAlarms, type Commander } from './alarms.js'
import { createAttachmentMetrics, type AttachmentMetrics } from './metrics.js'
import { openObjectStore, type ObjectStore } from './object-store.js'
import { applyAttachmentRetention, startAttachmentRetention } from './retention.js'
import { AttachmentServer } from './server.js'

export { ActiveSafetyAlarms } from './alarms.js'
export { AttachmentServer } from './server.js'
export type { ObjectStore } from './object-store.js'
export { openObjectStore } from './object-store.js'
export { applyAttachmentRetention, startAttachmentRetention } from './retention.js'

export interface AttachmentsDeps {
  config: Config
  store: Store
  state: State
  registry: Registry
  logger: Logger
  /** the gateway (0x9208 goes out through sendCommand); null: the server alone, no instructions */
  commander: Commander | null
  objects?: ObjectStore
  now?: () => number
  /** run retention hourly (default true) */
  retention?: boolean
}

export interface Attachments {
  /** where the server listens (null before listen(), and when it runs in another process) */
  readonly address: AddressInfo | null
  /** Starts the server on the configured port (a no-op when config.attachmentsServer is "separate" and `force` is not set). */
  listen(force?: boolean): Promise<AddressInfo | null>
  readonly objects: ObjectStore
  readonly server: AttachmentServer
  readonly alarms: ActiveSafetyAlarms
  readonly metrics: AttachmentMetrics
  /** deletes alarms created before `now - attachmentsDays`, their files first */
  applyRetention(now: number): Promise<number>
  close(): Promise<void>
}

/** "PHONE=gdrta,PHONE=jsatl12" → a lookup with the configured default. */
export function variantLookup(config: Pick<Config, 'attachmentsVariant' | 'attachmentsVariantByTerminal'>): (phone: string) => AttachmentVariant {
  const map = new Map<string, AttachmentVariant>()
  for (const part of (config.attachmentsVariantByTerminal ?? '').split(',')) {
    const [phone, variant] = part.split('=').map((s) => s.trim())
    if (!phone) continue
    if (variant !== 'jsatl12' && variant !== 'gdrta') throw new Error(`JT808_ATTACHMENTS_VARIANT_BY_TERMINAL: "${part}" is not PHONE=jsatl12 or PHONE=gdrta`)
    map.set(canonicalPhone(phone), variant)
  }
  return (phone) => map.get(canonicalPhone(phone)) ?? config.attachmentsVariant
}

function advertisedHost(config: Config): string {
  if (config.attachmentsAdvertiseHost) return config.attachmentsAdvertiseHost
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return '127.0.0.1'
}

/** Opens the object store and builds the alarms consumer and the server; the server listens on listen(). */
export async function createAttachments(d: AttachmentsDeps): Promise<Attachments> {
  const { config, store, logger } = d
  const log = logger.child({ component: 'attachments' })
  const metrics = createAttachmentMetrics(d.registry)
  const objects = d.objects ?? (await openObjectStore(config.attachmentsStore, config.dataDir))
  let address: AddressInfo | null = null
  const server = new AttachmentServer({
    store,
    objects,
    metrics,
    logger: log,
    stagingDir: join(config.dataDir, 'attachments', 'staging'),
    lenient: config.lenientChecksum,
    now: d.now,
    limits: {
      maxFileBytes: config.attachmentsMaxFileBytes,
      maxFiles: config.attachmentsMaxFiles,
      connectionBytes: config.attachmentsConnectionBytes,
      globalBytes: config.attachmentsGlobalBytes,
      fileDeadlineMs: config.attachmentsFileDeadlineSeconds * 1000,
      maxPendingFiles: 10_000,
      badFramesBeforeClose: config.badFramesBeforeClose,
      idleTimeoutMs: config.idleTimeoutSeconds * 1000,
    },
    onFileStored: (alarm) => void alarms.fileStored(alarm).catch(() => undefined), // logged by the alarms consumer
  })
  const host = advertisedHost(config)
  const alarms = new ActiveSafetyAlarms({
    store,
    state: d.state,
    commander: d.commander,
    metrics,
    logger: log,
    server: () => ({ host, tcpPort: address?.port ?? config.attachmentsPort }),
    variantOf: variantLookup(config),
    now: d.now,
  })
  const applyRetention = (now: number) => applyAttachmentRetention(store, objects, config.retention, now)
  const upkeep =
    d.retention === false
      ? null
      : startAttachmentRetention(
          () => applyRetention((d.now ?? Date.now)()),
          (err) => log.error({ err }, 'attachment retention failed'),
        )
  return {
    get address() {
      return address
    },
    async listen(force = false) {
      if (address || (!force && config.attachmentsServer !== 'in-process')) return address
      address = await server.listen(config.attachmentsPort, config.attachmentsHost)
      log.info({ port: address.port, store: objects.kind }, 'attachment server listening')
      return address
    },
    objects,
    server,
    alarms,
    metrics,
    applyRetention,
    async close() {
      upkeep?.stop()
      await server.close()
      await alarms.idle()
      await objects.close()
    },
  }
}
