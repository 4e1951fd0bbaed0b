/**
 * bench/platform: one lower platform pushing 0x1202 over one JT/T 809 main link into the upper
 * role — committed positions/s and send-to-commit delay.
 *
 *   node --import tsx bench/platform.ts [--rate R] [--seconds S] [--vehicles V] [--edition 2011|2019]
 *
 * The gateway (startApp: ingest, matcher, API) runs in this process on PostgreSQL when
 * DATABASE_URL is set (a scratch schema), else on in-memory PGlite; the lower platform is a raw
 * 809 client paced at R positions/s. "Rows in the database over time" are sampled every 100 ms:
 * the k-th row counted is matched with the k-th position sent (one link, sent in order), which
 * gives the send-to-commit delay. Figures go to stdout; record them in bench/RESULTS.md.
 */
import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { encodeMessage809 } from '../protocol/jt809/index.js'
import { startApp } from '../src/app.js'
import { DEFAULTS, type Config } from '../src/config/index.js'
import { newPlatform } from '../src/platform/admin.js'
import { beijingIso } from '../src/platform/positions.js'
import { openStore } from '../src/store/index.js'

const { values } = parseArgs({ options: { rate: { type: 'string' }, seconds: { type: 'string' }, vehicles: { type: 'string' }, edition: { type: 'string' } } })
const rate = Number(values.rate ?? 5000)
const seconds = Number(values.seconds ?? 10)
const vehicles = Number(values.vehicles ?? 500)
const edition = values.edition === '2019' ? 2019 : 2011

const schema = `bench_platform_${randomUUID().replace(/-/g, '').slice(0, 10)}`
const config: Config = { ...structuredClone(DEFAULTS), nodeId: 'bench', tcpPort: 0, httpPort: 0, tcpHost: '127.0.0.1', httpHost: '127.0.0.1', platformPort: 0, platformHost: '127.0.0.1', archiveRawFrames: false, logLevel: 'warn', databaseUrl: process.env.DATABASE_URL ?? null }
const store = await openStore(config, config.databaseUrl ? { schema, copyInWorker: true } : { embedded: 'memory' })
await store.createPlatform(newPlatform({ role: 'lower', name: 'bench', accessCode: 9001, userId: 1, password: 'bench', edition, enterpriseLicences: ['L'] }), Date.now())
const plates = Array.from({ length: vehicles }, (_, i) => `鲁B${String(i).padStart(5, '0')}`)
await store.upsertVehicles(plates.map((plate) => ({ plate, plateColor: 2, enterpriseLicenseNo: 'L' })))
const app = await startApp(config, { store, registry: new Registry(), upkeep: false, logger: pino({ level: 'warn' }) })

const socket = connect({ host: '127.0.0.1', port: app.platforms.address()!.port })
await new Promise<void>((r) => socket.once('connect', () => r()))
let sn = 0
const frame = (msgId: number, body: unknown) => {
  const r = encodeMessage809({ msgId, body, sn: sn++, gnssCentreId: 9001, edition, ...(edition === 2019 ? { time: Math.floor(Date.now() / 1000) } : {}) } as Parameters<typeof encodeMessage809>[0])
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}
socket.write(frame(0x1001, { userId: 1, password: 'bench', ...(edition === 2019 ? { gnssCentreId: 9001 } : {}), downLinkIp: '', downLinkPort: 0 }))
await new Promise((r) => setTimeout(r, 300))

const base = Date.now() - 3600_000
const sentAt: number[] = []
const position = (k: number) => {
  const t = base + Math.floor(k / vehicles) * 1000
  const time = beijingIso(t)
  const p =
    edition === 2011
      ? { edition, encrypt: 0, time, timeMs: t, longitude: 117.12, latitude: 36.65, speed: 60, recorderSpeed: 60, mileage: 1000, direction: 90, altitude: 30, state: 3, alarm: 0 }
      : { edition, encrypt: 0, gnss: { alarm: 0, status: 3, latitude: 36.65, longitude: 117.12, altitude: 30, speed: 60, direction: 90, time, timeMs: t, extras: {}, unknown: [], itemOrder: [] }, platforms: [0, 1, 2].map(() => ({ platformId: '', alarm: 0 })) }
  return frame(0x1200, { plate: plates[k % vehicles], plateColor: 2, dataType: 0x1202, data: { position: p } })
}

const total = rate * seconds
const t0 = performance.now()
let k = 0
const commits: Array<[number, number]> = []
// one count at a time (a count(*) on a growing table must not pile up on the pool)
let sampling = true
const sampler = (async () => {
  while (sampling) {
    const n = await store.countPositions().catch(() => null)
    if (n !== null) commits.push([performance.now(), n])
    await new Promise((r) => setTimeout(r, 100))
  }
})()
while (k < total) {
  const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate))
  const chunk: Buffer[] = []
  for (; k < due; k++) {
    chunk.push(position(k))
    sentAt.push(performance.now())
  }
  if (chunk.length && !socket.write(Buffer.concat(chunk))) await new Promise((r) => socket.once('drain', r))
  await new Promise((r) => setTimeout(r, 5))
}
const sendEnd = performance.now()
const deadline = performance.now() + 60_000
while ((await store.countPositions()) < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100))
sampling = false
await sampler
const lastN = await store.countPositions()
commits.push([performance.now(), lastN])
const delays: number[] = []
let j = 0
for (const [at, n] of commits) for (; j < n && j < sentAt.length; j++) delays.push(at - sentAt[j]!)
delays.sort((a, b) => a - b)
const pct = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? NaN
const lastAt = commits.find(([, n]) => n >= lastN)![0]
console.log(`bench/platform ${new Date().toISOString()} ${config.databaseUrl ? 'PostgreSQL' : 'PGlite (memory)'}, 809 ${edition}, one link, ${vehicles} vehicles`)
console.log(`  asked ${rate}/s for ${seconds} s: sent ${total} in ${((sendEnd - t0) / 1000).toFixed(1)} s, committed ${lastN} (${Math.round(lastN / ((lastAt - t0) / 1000))} positions/s to the last commit)`)
console.log(`  send-to-commit delay p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms, max ${pct(1).toFixed(0)} ms (100 ms sampling)`)
socket.destroy()
await app.close()
if (config.databaseUrl) await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
await store.close()
