/**
 * Gateway test harness: real TCP on 127.0.0.1 (port 0), the real store (in-memory PGlite, or
 * PostgreSQL in a schema of its own) and the real state (in-process, or Redis under a unique
 * prefix). Each scenario runs on both backends (test/backends.ts).
 */
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { startApp, type App } from '../../src/app.js'
import { DEFAULTS, type Config } from '../../src/config/index.js'
import type { State } from '../../src/state/port.js'
import type { Store } from '../../src/store/port.js'
import { TerminalClient, type TerminalClientOptions } from '../../src/terminal/client.js'
import { locationOf, type Fix } from '../../src/terminal/position.js'
import type { Location } from '../../protocol/index.js'
import type { Backends } from '../backends.js'

export { BACKENDS, DATABASE_URL, openBackends, REDIS_URL, type Backend, type Backends } from '../backends.js'

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...structuredClone(DEFAULTS),
    tcpPort: 0,
    tcpHost: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    attachmentsPort: 0,
    attachmentsHost: '127.0.0.1',
    attachmentsAdvertiseHost: '127.0.0.1',
    dataDir: join(tmpdir(), `jt808-test-${process.pid}`),
    nodeId: `test-${randomUUID().slice(0, 8)}`,
    archiveRawFrames: false,
    ingestBatchMs: 5,
    commandTimeoutSeconds: 5,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  }
}

export interface TestGateway {
  app: App
  port: number
  registry: Registry
  close(): Promise<void>
}

export async function startGateway(backends: Backends, config: Partial<Config> = {}, opts: { store?: Store; state?: State } = {}): Promise<TestGateway> {
  const cfg = testConfig(config)
  const registry = new Registry()
  const app = await startApp(cfg, {
    store: opts.store ?? backends.store,
    state: opts.state ?? backends.newState(),
    registry,
    upkeep: false,
    logger: pino({ level: cfg.logLevel }),
  })
  return { app, port: app.tcp.port, registry, close: () => app.close() }
}

let plateSeq = 0
let phoneSeq = 0

/** A fresh phone (11 digits, like a mobile number), unique within the test process. */
export function newPhone(): string {
  phoneSeq++
  return `139${String(process.pid % 10000).padStart(4, '0')}${String(phoneSeq).padStart(4, '0')}`
}

export function newPlate(): string {
  plateSeq++
  return `京A${String(process.pid % 100).padStart(2, '0')}${String(plateSeq).padStart(3, '0')}`
}

/** A vehicle in the registry with its declared terminal phone. */
export async function provision(store: Store, opts: { phone?: string; plate?: string; plateColor?: number; terminalId?: string | null } = {}) {
  const phone = opts.phone ?? newPhone()
  const plate = opts.plate ?? newPlate()
  const plateColor = opts.plateColor ?? 2
  const [vehicleId] = await store.upsertVehicles([{ plate, plateColor, terminalPhone: phone, terminalId: opts.terminalId ?? null, enterpriseLicenseNo: '370100000001' }])
  return { phone, plate, plateColor, vehicleId }
}

export function registerFields(plate: string, plateColor = 2, version: 2013 | 2019 = 2013) {
  return { province: 37, city: 100, manufacturer: 'SIM01', model: version === 2019 ? 'JT808-2019-SIM' : 'JT808-SIM', terminalId: 'T000001', plateColor, plate }
}

export async function connect(port: number, phone: string, options: Partial<TerminalClientOptions> = {}): Promise<TerminalClient> {
  return TerminalClient.connect('127.0.0.1', port, { phone, replyTimeoutMs: 5000, ...options })
}

/** Connects, registers and authenticates; returns the client and its auth code. */
export async function online(port: number, v: { phone: string; plate: string; plateColor: number }, version: 2013 | 2019 = 2013, options: Partial<TerminalClientOptions> = {}) {
  const client = await connect(port, v.phone, { version, ...options })
  const reg = await client.register(registerFields(v.plate, v.plateColor, version))
  if (reg.result !== 0 || !reg.authCode) throw new Error(`registration failed with result ${reg.result}`)
  const auth = await client.authenticate(reg.authCode)
  if (auth !== 0) throw new Error(`authentication failed with result ${auth}`)
  return { client, authCode: reg.authCode }
}

/** A location at `time` (ms), whole seconds. */
export function fixAt(time: number, extra: Partial<Fix> = {}): Location {
  return locationOf({ latitude: 36.65, longitude: 117.12, speed: 42.5, direction: 90, time, ...extra })
}

/** Polls until `check` returns a truthy value or the time runs out. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5000, stepMs = 20): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<T>
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, stepMs))
  }
}

export function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  return registry
    .getSingleMetric(name)!
    .get()
    .then((m) => {
      let sum = 0
      for (const v of m.values) if (Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l)) sum += v.value
      return sum
    })
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
