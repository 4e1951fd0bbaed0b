/**
 * bench/feed: frame arrival → SSE delivery latency of the live anomaly feed, under load.
 *
 *   node --import tsx bench/feed.ts [--rate 20000] [--terminals 2000] [--seconds 30] [--clients 100]
 *                                   [--probes 8] [--probe-every-ms 250] [--mode matcher|feed]
 *
 * One process runs the whole service (startApp: gateway + ingest + matcher when wired + API) on
 * the embedded defaults, or on DATABASE_URL / REDIS_URL when set. The simulator drives `--rate`
 * positions/s (terminals × timeScale, one fix per simulated second each, device times kept in
 * the past so they stay valid), with overspeed bursts injected so anomalies are produced.
 *
 * Latency probes: `--probes` extra terminals raise and clear alarm bit 0 (emergency) in turn,
 * one frame every `--probe-every-ms` across them. Each such frame opens or closes a
 * TERMINAL_ALARM anomaly, a point rule with no dwell time, so the time from writing that frame
 * to an SSE client reading the matching event is the pipeline's own latency: TCP → decode →
 * commit → matcher → anomaly store → stream → SSE fan-out to `--clients` connections.
 * Events are matched to probe frames by (plate, device time).
 *
 * `--mode feed` leaves the matcher out: the probes append AnomalyEvents to the stream directly
 * (as the matcher service would), measuring append → SSE delivery under the same load. The
 * printed figures say which mode produced them. A short smoke run is all this machine allows.
 */
import http from 'node:http'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { createToken } from '../src/api/tokens.js'
import { startApp, type App } from '../src/app.js'
import { loadConfig, type Config } from '../src/config/index.js'
import { ANOMALY_EVENTS_STREAM, type AnomalyEvent } from '../src/domain.js'
import { startSimulation } from '../src/sim/simulate.js'
import { TerminalClient } from '../src/terminal/client.js'
import { locationOf } from '../src/terminal/position.js'

interface Options {
  rate: number
  terminals: number
  seconds: number
  clients: number
  probes: number
  probeEveryMs: number
  mode: 'matcher' | 'feed'
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rate: 20_000, terminals: 2_000, seconds: 30, clients: 100, probes: 8, probeEveryMs: 250, mode: 'matcher' }
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Options
    const value = argv[i + 1]
    if (!(key in o) || value === undefined) throw new Error(`unknown or incomplete option ${argv[i]}`)
    ;(o as unknown as Record<string, unknown>)[key] = key === 'mode' ? value : Number(value)
  }
  if (o.mode !== 'matcher' && o.mode !== 'feed') throw new Error('--mode is matcher or feed')
  return o
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** An SSE client that records, per event, (plate|kind|device time) → receive time. */
function sseClient(url: string, token: string, onEvent: (e: AnomalyEventJson, at: number) => void): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE answered ${res.statusCode}`))
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        const at = performance.timeOrigin + performance.now()
        buffer += chunk
        let cut: number
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          const data = block.split('\n').find((l) => l.startsWith('data: '))
          if (data) onEvent(JSON.parse(data.slice(6)) as AnomalyEventJson, at)
        }
      })
      resolve(req)
    })
    req.on('error', reject)
  })
}

interface AnomalyEventJson {
  event: string
  anomaly: { plate: string; type: string; startedAt: string; endedAt: string | null }
}

const probeKey = (plate: string, kind: string, deviceTime: number) => `${plate}|${kind}|${Math.floor(deviceTime / 1000)}`

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2))
  const timeScale = Math.max(1, Math.round(o.rate / o.terminals))
  const config: Config = {
    ...loadConfig(process.env),
    tcpPort: 0,
    tcpHost: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    registrationMode: 'open',
    archiveRawFrames: false,
    logLevel: 'warn',
    dataDir: process.env.JT808_DATA_DIR ?? `/tmp/jt808-bench-feed-${process.pid}`,
  }
  const registry = new Registry()
  const app: App = await startApp(config, { registry, logger: pino({ level: 'warn' }), upkeep: false })
  const apiBase = `http://127.0.0.1:${app.http.port}`
  const { secret } = await createToken(app.store, { role: 'supervisor' })

  // probe frames: key → wall time written
  const sent = new Map<string, number>()
  const latencies: number[] = []
  let events = 0
  let unmatched = 0
  const clients: http.ClientRequest[] = []
  for (let i = 0; i < o.clients; i++)
    clients.push(
      await sseClient(`${apiBase}/api/v1/anomalies/stream`, secret, (e, at) => {
        events++
        if (e.anomaly.type !== 'TERMINAL_ALARM') return
        const t = Date.parse(e.event === 'anomaly.closed' ? (e.anomaly.endedAt ?? '') : e.anomaly.startedAt)
        const wrote = sent.get(probeKey(e.anomaly.plate, e.event, t))
        if (wrote === undefined) unmatched++
        else latencies.push(at - wrote)
      }),
    )

  // probes (registered before the load starts, so registration is not what is measured)
  const probes: { client: TerminalClient; plate: string; raised: boolean; lastSecond: number }[] = []
  for (let i = 0; i < o.probes; i++) {
    const phone = `0177${String(i).padStart(8, '0')}`
    const plate = `测P${String(i).padStart(5, '0')}`
    const client = await TerminalClient.connect('127.0.0.1', app.tcp.port, { phone, replyTimeoutMs: 10_000 })
    const reg = await client.register({ province: 33, city: 100, manufacturer: 'BENCH', model: 'PROBE', terminalId: `P${i}`, plateColor: 2, plate })
    if (reg.result !== 0 || !reg.authCode) throw new Error(`probe registration failed: ${reg.result}`)
    if ((await client.authenticate(reg.authCode)) !== 0) throw new Error('probe authentication failed')
    probes.push({ client, plate, raised: false, lastSecond: 0 })
  }
  const vehicles = new Map<string, number>()
  for (const p of probes) vehicles.set(p.plate, (await app.store.findVehicle(p.plate, 2))?.id ?? 0)

  // load: device time starts in the past by the simulated span, so every fix stays ≤ now
  const simSpanMs = o.seconds * 1000 * timeScale
  const sim = startSimulation({
    target: { host: '127.0.0.1', port: app.tcp.port },
    terminals: o.terminals,
    intervalS: 1,
    timeScale,
    durationMs: o.seconds * 1000,
    auth: 'register',
    startTime: Date.now() - simSpanMs - 60_000,
    // anomalies under way while the probes run: overspeed bursts and drift jumps
    inject: { overspeedPerHour: 2, driftPerHour: 1 },
    logout: false,
  })

  let probeFrames = 0
  let next = 0
  const probeTimer = setInterval(() => {
    const p = probes[next++ % probes.length]
    const now = Date.now()
    const second = Math.floor(now / 1000) * 1000
    if (second <= p.lastSecond) return // one fix per device second per vehicle (positions dedupe on it)
    p.lastSecond = second
    p.raised = !p.raised
    const kind = p.raised ? 'anomaly.opened' : 'anomaly.closed'
    probeFrames++
    if (o.mode === 'matcher') {
      sent.set(probeKey(p.plate, kind, second), performance.timeOrigin + performance.now())
      void p.client.reportPosition(locationOf({ latitude: 30.25, longitude: 120.16, speed: 40, direction: 0, time: second, alarm: p.raised ? 1 : 0 })).catch(() => undefined)
    } else {
      const event: AnomalyEvent = {
        event: kind,
        at: now,
        anomaly: {
          id: `probe-${p.plate}`,
          type: 'TERMINAL_ALARM',
          status: p.raised ? 'open' : 'closed',
          severity: 'critical',
          vehicleId: vehicles.get(p.plate) ?? 0,
          plate: p.plate,
          plateColor: 2,
          waybillNo: null,
          enterpriseLicenseNo: null,
          startedAt: second,
          endedAt: p.raised ? null : second,
          lastSeenAt: second,
          evidence: { bits: [0] },
        },
      }
      sent.set(probeKey(p.plate, kind, second), performance.timeOrigin + performance.now())
      void app.state.append(ANOMALY_EVENTS_STREAM, event)
    }
  }, o.probeEveryMs)

  const result = await sim.done
  clearInterval(probeTimer)
  await new Promise((r) => setTimeout(r, 2000)) // let the last events arrive
  const sorted = latencies.sort((a, b) => a - b)
  const positionsPerS = result.framesSent / o.seconds
  const expected = probeFrames * o.clients
  const report = {
    mode: o.mode === 'matcher' ? 'frame written → SSE event read (full pipeline)' : 'stream append → SSE event read (matcher left out)',
    backends: `${config.databaseUrl ? 'PostgreSQL' : 'PGlite'} + ${config.redisUrl ? 'Redis' : 'in-process state'}`,
    seconds: o.seconds,
    terminals: o.terminals,
    timeScale,
    framesSentPerS: Math.round(positionsPerS),
    targetRate: o.rate,
    sseClients: o.clients,
    eventsRead: events,
    probeFrames,
    probeDeliveries: `${latencies.length} of ${expected}`,
    unmatchedProbeEvents: unmatched,
    latencyMs: { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1]) },
    droppedSseClients: (await registry.getSingleMetric('jt808_sse_dropped_total')?.get())?.values.reduce((n, v) => n + v.value, 0) ?? 0,
  }
  console.log(JSON.stringify(report, null, 2))
  if (o.mode === 'matcher' && latencies.length === 0) console.log('no TERMINAL_ALARM event reached the feed: is the matcher service wired into startApp? (try --mode feed)')
  for (const c of clients) c.destroy()
  for (const p of probes) p.client.destroy()
  await app.close()
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 10) / 10 : null)

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})

