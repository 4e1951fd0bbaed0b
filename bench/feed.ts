/**
 * bench/feed: frame arrival → SSE delivery latency of the live anomaly feed, under load.
 *
 *   node --import tsx bench/feed.ts [--rate 20000] [--terminals 2000] [--seconds 30] [--clients 100]
 *                                   [--probes 8] [--probe-every-ms 250] [--overspeed-every 10]
 *
 * Three kinds of process, as in a deployment where terminals, the service and the supervision
 * system are different machines (here they share 2 cores):
 *   - the service as `jt808 serve` runs it (bench/ingest.ts's gateway child: gateway, ingest,
 *     matcher, API) on PostgreSQL (BENCH_DATABASE_URL / DATABASE_URL / the local test database,
 *     a scratch schema) and the in-process state;
 *   - the load: bench/loadgen.ts, `--terminals` terminals sending `--rate` 0x0200/s in all; every
 *     `--overspeed-every`th drives at 95 km/h, and none has a waybill, so OVERSPEED and
 *     NO_WAYBILL anomalies are opened and updated throughout the run;
 *   - this process: `--clients` SSE clients on /api/v1/anomalies/stream, and `--probes` probe
 *     terminals that raise and clear alarm bit 0 (emergency) in turn, one frame every
 *     `--probe-every-ms` across them. Each such frame opens or closes a TERMINAL_ALARM anomaly, a
 *     point rule with no dwell time, so the time from writing that frame to an SSE client reading
 *     the matching event is the pipeline's own latency: TCP → decode → commit → matcher →
 *     anomaly store → stream → SSE fan-out. Events are matched to probe frames by (plate, device
 *     time); frame and event are timed by the same clock (this process).
 */
import http from 'node:http'
import { startGatewayChild, scratchStore } from './ingest.js'
import { mergedQuantile, startLoadgenChild, type LoadgenReport } from './loadgen.js'
import { TerminalClient } from '../src/terminal/client.js'
import { locationOf } from '../src/terminal/position.js'

interface Options {
  rate: number
  terminals: number
  seconds: number
  clients: number
  probes: number
  probeEveryMs: number
  overspeedEvery: number
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rate: 20_000, terminals: 2_000, seconds: 30, clients: 100, probes: 8, probeEveryMs: 250, overspeedEvery: 10 }
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Options
    const value = argv[i + 1]
    if (!(key in o) || value === undefined) throw new Error(`unknown or incomplete option ${argv[i]}`)
    o[key] = Number(value)
  }
  return o
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** An SSE client that records, per event, (plate|kind|device time) → receive time. */
function sseClient(url: string, token: string, onEvent: (e: AnomalyEventJson, at: number) => void, onOther: (type: string, event: string) => void): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE answered ${res.statusCode}`))
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        const at = performance.timeOrigin + performance.now()
        buffer += chunk
        // One pass over the chunk (a burst arrives as one write of hundreds of events); only the
        // probes' events are parsed, the others counted by kind from their text.
        let from = 0
        let cut: number
        while ((cut = buffer.indexOf('\n\n', from)) !== -1) {
          const block = buffer.slice(from, cut)
          from = cut + 2
          const d = block.indexOf('\ndata: ')
          if (d === -1) continue
          const data = block.slice(d + 7)
          if (data.includes('"TERMINAL_ALARM"')) onEvent(JSON.parse(data) as AnomalyEventJson, at)
          else onOther(/"type":"([A-Z_]+)"/.exec(data)?.[1] ?? '?', /^event: (\S+)/m.exec(block)?.[1] ?? '?')
        }
        buffer = buffer.slice(from)
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
  const { store, drop } = await scratchStore()
  const schema = (await store.sql.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s
  const service = await startGatewayChild(schema, false)
  const apiBase = `http://127.0.0.1:${service.httpPort}`
  try {
    // probe frames: key → wall time written
    const sent = new Map<string, number>()
    const latencies: number[] = []
    let events = 0
    let unmatched = 0
    const counts: Record<string, number> = {}
    const clients: http.ClientRequest[] = []
    for (let i = 0; i < o.clients; i++)
      clients.push(
        await sseClient(
          `${apiBase}/api/v1/anomalies/stream`,
          service.token,
          (e, at) => {
            events++
            const k = `${e.anomaly.type} ${e.event}`
            counts[k] = (counts[k] ?? 0) + 1
            if (e.anomaly.type !== 'TERMINAL_ALARM') return
            const t = Date.parse(e.event === 'anomaly.closed' ? (e.anomaly.endedAt ?? '') : e.anomaly.startedAt)
            const wrote = sent.get(probeKey(e.anomaly.plate, e.event, t))
            if (wrote === undefined) unmatched++
            else latencies.push(at - wrote)
          },
          (type, event) => {
            events++
            counts[`${type} ${event}`] = (counts[`${type} ${event}`] ?? 0) + 1
          },
        ),
      )

    // probes (registered before the load starts, so registration is not what is measured)
    const probes: { client: TerminalClient; plate: string; raised: boolean; lastSecond: number }[] = []
    for (let i = 0; i < o.probes; i++) {
      const phone = `0177${String(i).padStart(8, '0')}`
      const plate = `测P${String(i).padStart(5, '0')}`
      const client = await TerminalClient.connect('127.0.0.1', service.port, { phone, replyTimeoutMs: 10_000 })
      const reg = await client.register({ province: 33, city: 100, manufacturer: 'BENCH', model: 'PROBE', terminalId: `P${i}`, plateColor: 2, plate })
      if (reg.result !== 0 || !reg.authCode) throw new Error(`probe registration failed: ${reg.result}`)
      if ((await client.authenticate(reg.authCode)) !== 0) throw new Error('probe authentication failed')
      probes.push({ client, plate, raised: false, lastSecond: 0 })
    }

    // load: everyone connects and authenticates first, then reports at the asked rate
    const intervalMs = Math.round((o.terminals * 1000) / o.rate)
    const load = startLoadgenChild({
      host: '127.0.0.1',
      port: service.port,
      first: 0,
      terminals: o.terminals,
      intervalMs,
      seconds: o.seconds + 10,
      overspeedEvery: o.overspeedEvery,
      holdUntilGo: true,
    })
    const rampStart = performance.now()
    while ((await load.online()) < o.terminals && performance.now() - rampStart < 120_000) await new Promise((r) => setTimeout(r, 250))
    load.go()
    await new Promise((r) => setTimeout(r, 3000)) // warm-up: the first anomalies open
    load.mark()
    const cpu0 = await service.cpuSeconds()
    const eventsBefore = events

    let probeFrames = 0
    let next = 0
    const probeTimer = setInterval(() => {
      const p = probes[next++ % probes.length]
      const second = Math.floor(Date.now() / 1000) * 1000
      if (second <= p.lastSecond) return // one fix per device second per vehicle (positions dedupe on it)
      p.lastSecond = second
      p.raised = !p.raised
      probeFrames++
      sent.set(probeKey(p.plate, p.raised ? 'anomaly.opened' : 'anomaly.closed', second), performance.timeOrigin + performance.now())
      void p.client.reportPosition(locationOf({ latitude: 30.25, longitude: 120.16, speed: 40, direction: 0, time: second, alarm: p.raised ? 1 : 0 })).catch(() => undefined)
    }, o.probeEveryMs)

    await new Promise((r) => setTimeout(r, o.seconds * 1000))
    clearInterval(probeTimer)
    load.mark()
    const cpu1 = await service.cpuSeconds()
    const eventsInWindow = events - eventsBefore
    const loadReport = await load.stop()
    await new Promise((r) => setTimeout(r, 2000)) // let the last probe events arrive
    const sorted = latencies.sort((a, b) => a - b)
    const expected = probeFrames * o.clients
    const report = {
      measured: 'probe frame written → SSE event read (full pipeline), service in its own process on PostgreSQL + in-process state',
      seconds: o.seconds,
      terminals: o.terminals,
      askedPositionsPerS: o.rate,
      positionsAckedPerS: Math.round(loadReport.window.count / o.seconds),
      positionAckLatencyMs: { p50: round(quantile(loadReport, 0.5)), p99: round(quantile(loadReport, 0.99)) },
      sseClients: o.clients,
      sseEventsReadPerS: Math.round(eventsInWindow / o.seconds),
      eventsByKind: counts,
      probeFrames,
      probeDeliveries: `${latencies.length} of ${expected}`,
      unmatchedProbeEvents: unmatched,
      latencyMs: { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1]) },
      serviceCpuPercentOfACore: Math.round(((cpu1 - cpu0) / o.seconds) * 100),
    }
    console.log(JSON.stringify(report, null, 2))
    for (const c of clients) c.destroy()
    for (const p of probes) p.client.destroy()
  } finally {
    await service.stop()
    await drop()
  }
}

function quantile(r: LoadgenReport, q: number): number {
  return mergedQuantile([r], q) ?? NaN
}

const round = (n: number) => (Number.isFinite(n) ? Math.round(n * 10) / 10 : null)

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
