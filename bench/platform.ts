/**
 * bench/platform: JT/T 809 throughput, issue 13 §8.
 *
 *   node --import tsx bench/platform.ts [--rate R] [--seconds S] [--vehicles V] [--edition 2011|2019] [--no-808]
 *     Upper role: one lower platform pushing 0x1202 over one main link — committed positions/s
 *     and send-to-commit delay; then, in the same run, on the same store and gateway, the 808
 *     path at the same rate (V terminals from bench/loadgen.ts in a child process, 0x0200 acked
 *     after commit): its committed positions/s and ack delay, printed as the 809/808 ratio.
 *
 *   node --import tsx bench/platform.ts forward [--rate 50000] [--seconds S] [--outage N] [--vehicles V] [--backlog-rate B]
 *     Lower role: rows committed through the ingest queue at R/s (submitted in this process, as
 *     the gateway does, without sockets), forwarded to a simulated superior (src/sim/superior.ts,
 *     in this process) as 0x1202: forwarded/s live; then the superior goes away for N s while
 *     the rows keep committing — backlog size and age reached; then it returns — drain rate of
 *     the 0x1203 backlog (at most B/s, JT808_PLATFORM_BACKLOG_RATE) and a check that every
 *     committed row reached it.
 *
 * The gateway (startApp: ingest, matcher, API) runs in this process on PostgreSQL when
 * DATABASE_URL is set (a scratch schema), else on in-memory PGlite. Upper role: "rows in the
 * database over time" are sampled every 100 ms: the k-th row counted is matched with the k-th
 * position sent (one link, sent in order), which gives the send-to-commit delay. Figures go to
 * stdout with the load average; record them in bench/RESULTS.md.
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
import { loadavg } from 'node:os'
import type { CommittedPosition } from '../src/domain.js'
import { FakeSuperior } from '../src/sim/superior.js'
import { mergedQuantile, startLoadgenChild } from './loadgen.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: 'string' },
    seconds: { type: 'string' },
    vehicles: { type: 'string' },
    edition: { type: 'string' },
    'no-808': { type: 'boolean' },
    outage: { type: 'string' },
    'backlog-rate': { type: 'string' },
  },
})
const mode = positionals[0] === 'forward' ? 'forward' : 'upper'
const rate = Number(values.rate ?? (mode === 'forward' ? 50_000 : 5000))
const seconds = Number(values.seconds ?? 10)
const vehicles = Number(values.vehicles ?? (mode === 'forward' ? 5000 : 500))
const edition = values.edition === '2019' ? 2019 : 2011
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
if (mode === 'forward') {
  await forward()
  process.exit(0)
}

const schema = `bench_platform_${randomUUID().replace(/-/g, '').slice(0, 10)}`
const config: Config = {
  ...structuredClone(DEFAULTS),
  nodeId: 'bench',
  tcpPort: 0,
  httpPort: 0,
  tcpHost: '127.0.0.1',
  httpHost: '127.0.0.1',
  platformPort: 0,
  platformHost: '127.0.0.1',
  attachmentsPort: 0,
  attachmentsHost: '127.0.0.1',
  archiveRawFrames: false,
  logLevel: 'warn',
  databaseUrl: process.env.DATABASE_URL ?? null,
  registrationMode: 'open',
}
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
      : {
          edition,
          encrypt: 0,
          gnss: { alarm: 0, status: 3, latitude: 36.65, longitude: 117.12, altitude: 30, speed: 60, direction: 90, time, timeMs: t, extras: {}, unknown: [], itemOrder: [] },
          platforms: [0, 1, 2].map(() => ({ platformId: '', alarm: 0 })),
        }
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
const rate809 = lastN / ((lastAt - t0) / 1000)
console.log(`bench/platform ${new Date().toISOString()} ${config.databaseUrl ? 'PostgreSQL' : 'PGlite (memory)'}, 809 ${edition}, one link, ${vehicles} vehicles, load average ${load()}`)
console.log(`  809  asked ${rate}/s for ${seconds} s: sent ${total} in ${((sendEnd - t0) / 1000).toFixed(1)} s, committed ${lastN} (${Math.round(rate809)} positions/s to the last commit)`)
console.log(`       send-to-commit delay p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms, max ${pct(1).toFixed(0)} ms (100 ms sampling)`)
socket.destroy()

if (!values['no-808']) {
  // The 808 path in the same process, store and gateway: as many terminals as vehicles, the same rate in total.
  const intervalMs = Math.max(10, Math.round((vehicles * 1000) / rate))
  const before = await store.countPositions()
  const gen = startLoadgenChild({ host: '127.0.0.1', port: app.tcp.port, first: 0, terminals: vehicles, intervalMs, seconds: seconds + 30, holdUntilGo: true, connectRate: 2000 })
  const online = performance.now() + 60_000
  while ((await gen.online()) < vehicles && performance.now() < online) await new Promise((r) => setTimeout(r, 200))
  const c0 = await store.countPositions()
  const w0 = performance.now()
  gen.go()
  gen.mark()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  gen.mark()
  const c1 = await store.countPositions()
  const w1 = performance.now()
  const rep808 = await gen.stop()
  const rate808 = (c1 - c0) / ((w1 - w0) / 1000)
  const q = (x: number) => mergedQuantile([rep808], x)?.toFixed(0) ?? '–'
  console.log(
    `  808  ${rep808.authenticated} terminals × one 0x0200 every ${intervalMs} ms (${Math.round((vehicles * 1000) / intervalMs)}/s asked), ${seconds} s window: ${Math.round(rate808)} positions/s committed, ack (after commit) p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; sent ${rep808.sent}, acked ${rep808.acked}, rows ${(await store.countPositions()) - before}`,
  )
  console.log(`  ratio 809 / 808 committed positions/s: ${(rate809 / rate808).toFixed(2)}  (load average ${load()})`)
}
await app.close()
if (config.databaseUrl) await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
await store.close()

/** Lower role: forwarding upward at `rate`, an outage of the superior, the backlog drained. */
async function forward(): Promise<void> {
  const outage = Number(values.outage ?? 10)
  const backlogRate = Number(values['backlog-rate'] ?? 100_000)
  const schema = `bench_forward_${randomUUID().replace(/-/g, '').slice(0, 10)}`
  const config: Config = {
    ...structuredClone(DEFAULTS),
    nodeId: 'bench',
    tcpPort: 0,
    httpPort: 0,
    tcpHost: '127.0.0.1',
    httpHost: '127.0.0.1',
    attachmentsPort: 0,
    attachmentsHost: '127.0.0.1',
    archiveRawFrames: false,
    logLevel: 'warn',
    databaseUrl: process.env.DATABASE_URL ?? null,
    platformIdleSeconds: 6,
    platformBacklogRate: backlogRate,
  }
  const store = await openStore(config, config.databaseUrl ? { schema, copyInWorker: true } : { embedded: 'memory' })
  const superior = new FakeSuperior(edition)
  const port = await superior.start()
  await store.createPlatform(
    newPlatform({ role: 'superior', name: 'bench superior', accessCode: 9002, userId: 1, password: 'bench', edition, host: '127.0.0.1', port, enterpriseLicences: ['L'] }),
    Date.now(),
  )
  const plates = Array.from({ length: vehicles }, (_, i) => `鲁C${String(i).padStart(5, '0')}`)
  const ids = await store.upsertVehicles(plates.map((plate) => ({ plate, plateColor: 2, enterpriseLicenseNo: 'L' })))
  const app = await startApp(config, { store, registry: new Registry(), upkeep: false, logger: pino({ level: 'warn' }) })
  const link = () => app.platforms.states().superior[0]!
  const until = async (cond: () => boolean, ms: number) => {
    const end = performance.now() + ms
    while (!cond() && performance.now() < end) await new Promise((r) => setTimeout(r, 20))
    return cond()
  }
  await until(() => link().state === 'live', 20_000)

  const base = Date.now() - 86_400_000
  let k = 0
  let committed = 0
  let refused = 0
  let inFlight = 0
  const row = (i: number): CommittedPosition => {
    const v = i % vehicles
    const now = Date.now()
    return {
      vehicleId: ids[v]!,
      deviceTime: base + Math.floor(i / vehicles) * 1000,
      receivedAt: now,
      latitude: 36.65,
      longitude: 117.12,
      altitude: 30,
      speed: 60,
      direction: 90,
      alarm: 0,
      status: 3,
      mileage: 1000,
      extras: {},
      blindArea: false,
      sourceMsgId: 0x0200,
      phone: '',
      plate: plates[v]!,
      plateColor: 2,
      enterpriseLicenseNo: 'L',
      alarmTransition: null,
    }
  }
  // the queue's back-pressure, as the gateway obeys it (it stops reading sockets): rows not offered meanwhile are skipped
  let pressure = false
  app.ingest.on('pressure', () => (pressure = true))
  app.ingest.on('drain', () => (pressure = false))
  /** Submits at `rate` for `ms` (10 rows per submit, as connections would), back-pressured by the queue. */
  const drive = async (ms: number) => {
    const t0 = performance.now()
    const k0 = k
    while (performance.now() - t0 < ms) {
      const due = k0 + Math.floor(((performance.now() - t0) / 1000) * rate)
      if (pressure || inFlight >= rate) k = Math.max(k, due)
      else {
        for (; k < due; k += 10) {
          const rows: CommittedPosition[] = []
          for (let j = k; j < Math.min(due, k + 10); j++) rows.push(row(j))
          inFlight += rows.length
          app.ingest.submit(rows, (err) => {
            inFlight -= rows.length
            if (err) refused += rows.length
            else committed += rows.length
          })
        }
        k = Math.max(k, due)
      }
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  const sample = (label: string) => {
    const s = link()
    return {
      label,
      at: performance.now(),
      committed,
      forwarded: superior.byMsg[0x1202] + superior.byMsg[0x1203],
      unique: superior.unique,
      backlog: s.backlogRows,
      oldest: s.backlogOldestAt,
      state: s.state,
    }
  }
  console.log(
    `bench/platform forward ${new Date().toISOString()} ${config.databaseUrl ? 'PostgreSQL' : 'PGlite (memory)'}, 809 ${edition}, ${vehicles} vehicles, asked ${rate}/s, outage ${outage} s, backlog rate ${backlogRate}/s, load average ${load()}`,
  )

  // warm-up (not measured): the matcher's first sight of each vehicle loads its state, the pool fills
  await drive(5000)
  await until(() => inFlight === 0, 30_000)
  await until(() => superior.unique >= committed, 30_000)
  // live
  const a = sample('live start')
  await drive(seconds * 1000)
  await until(() => inFlight === 0, 30_000)
  await until(() => superior.unique >= committed, 10_000)
  const b = sample('live end')
  const secs = (b.at - a.at) / 1000
  console.log(
    `  live     ${seconds} s: committed ${b.committed - a.committed} (${Math.round((b.committed - a.committed) / secs)}/s), forwarded ${b.forwarded - a.forwarded} as 0x1202 (${Math.round((b.forwarded - a.forwarded) / secs)}/s, until all arrived), refused ${refused}`,
  )

  // outage
  await superior.stop()
  const o0 = sample('outage start')
  await drive(outage * 1000)
  const o1 = sample('outage end')
  console.log(
    `  outage   ${outage} s: committed ${o1.committed - o0.committed} (${Math.round((o1.committed - o0.committed) / outage)}/s), backlog ${o1.backlog} rows, oldest ${o1.oldest ? ((Date.now() - o1.oldest) / 1000).toFixed(1) : '–'} s old, link ${o1.state}`,
  )

  // back: the backlog drains while rows keep committing at the same rate
  await superior.start(port)
  const r0 = sample('back')
  const target = committed
  const drainSeconds = Math.max(seconds, 5)
  await drive(drainSeconds * 1000)
  await until(() => inFlight === 0, 30_000)
  const caughtUp = await until(() => superior.unique >= committed, 120_000)
  const r1 = sample('drained')
  const d = (r1.at - r0.at) / 1000
  console.log(
    `  back     ${d.toFixed(1)} s until every committed row had arrived (${caughtUp ? 'yes' : 'NO'}): 0x1203 ${superior.byMsg[0x1203]} positions, ${Math.round((r1.forwarded - r0.forwarded) / d)} forwarded/s over the drain (backlog of ${target - o0.committed} + ${r1.committed - target} committed meanwhile)`,
  )
  const missing = ids.length ? committed - superior.unique : 0
  console.log(
    `  result   committed ${committed}, distinct at the superior ${superior.unique} (missing ${missing}), duplicates ${superior.duplicates()}, refused by the queue ${refused}; load average ${load()}`,
  )
  await app.close()
  await superior.stop()
  if (config.databaseUrl) await store.sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
  await store.close()
}
