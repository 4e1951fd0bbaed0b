/**
 * bench/console: the operator console's fleet map with N vehicles (default 10,000), each
 * reporting a new position every BENCH_REPORT_S seconds (default 10, spread over the interval:
 * a tenth of the fleet moves each second; 1: all of them every second), in Debian's Chromium
 * (headless, software GL: a pessimistic stand-in for an operator's desktop GPU). The page polls
 * GET /fleet every second, in two runs: `full` refetches the whole fleet each time (?delta=0, the
 * console before deltas), `delta` asks only for the changes (?since=<cursor>) and hands the map a
 * diff. Reports per run: frame time (requestAnimationFrame intervals: p50 / p95 / p99 / max), long
 * frames (> 50 ms), bytes the page received from /fleet per poll, JS heap after the run; and the
 * /fleet answer time and size, whole and as a one-second delta.
 *
 *   node --import tsx bench/console.ts      (BENCH_VEHICLES=10000 BENCH_SECONDS=30 BENCH_REPORT_S=10 BENCH_MODES=full,delta)
 */
import { Registry } from 'prom-client'
import { buildApi } from '../src/api/server.js'
import { createToken } from '../src/api/tokens.js'
import { loadConfig } from '../src/config/index.js'
import type { CommittedPosition } from '../src/domain.js'
import { MemoryState } from '../src/state/memory.js'
import { openStore } from '../src/store/index.js'
import { launch, missingBrowser, signIn } from '../test/console/browser.js'

const N = Number(process.env.BENCH_VEHICLES ?? 10_000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const REPORT_S = Math.max(1, Number(process.env.BENCH_REPORT_S ?? 10))
const MODES = (process.env.BENCH_MODES ?? 'full,delta').split(',') as ('full' | 'delta')[]

const why = missingBrowser()
if (why) {
  console.error(why)
  process.exit(2)
}

const store = await openStore({ ...loadConfig({}), databaseUrl: null }, { embedded: 'memory' })
const state = new MemoryState()
const app = await buildApi({ config: { commandTimeoutSeconds: 5, offlineCommandTtlSeconds: 60, bootstrapToken: null }, store, state, commander: null, registry: new Registry() })
await app.listen({ port: 0, host: '127.0.0.1' })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
const { secret } = await createToken(store, { role: 'supervisor', enterpriseLicenseNo: null })

// N vehicles of 20 enterprises spread over eastern China, each with a heading
const ids = await store.upsertVehicles(
  Array.from({ length: N }, (_, i) => ({
    plate: `测${String(i).padStart(6, '0')}`,
    plateColor: 2,
    terminalPhone: `1390${String(i).padStart(7, '0')}`,
    terminalId: null,
    enterpriseLicenseNo: `3701000000${String(i % 20).padStart(2, '0')}`,
    enterpriseName: null,
  })),
)
const rnd = (k: number) => (((Math.sin(k * 12.9898) * 43758.5453) % 1) + 1) % 1
const tracks = ids.map((id, i) => ({ id, lon: 105 + rnd(i) * 17, lat: 22 + rnd(i + 0.5) * 18, dLon: (rnd(i + 0.25) - 0.5) * 0.004, dLat: (rnd(i + 0.75) - 0.5) * 0.004 }))
let second = 0
async function tick() {
  const now = Date.now()
  // the vehicles whose report falls in this second of the interval
  const due = tracks.filter((_, i) => i % REPORT_S === second % REPORT_S)
  second++
  const batch: CommittedPosition[] = due.map((v) => {
    v.lon += v.dLon
    v.lat += v.dLat
    return {
      vehicleId: v.id,
      deviceTime: now,
      receivedAt: now,
      latitude: v.lat,
      longitude: v.lon,
      altitude: 0,
      speed: 60,
      direction: 90,
      alarm: 0,
      status: 3,
      mileage: 0,
      extras: {},
      blindArea: false,
      sourceMsgId: 0x0200,
      phone: '',
      plate: '',
      plateColor: 2,
      enterpriseLicenseNo: null,
    }
  })
  await state.setLastPositions(batch)
}
for (let i = 0; i < REPORT_S; i++) await tick()
const mover = setInterval(() => void tick(), 1000)

// /fleet on its own: the whole fleet, and the changes of one second
const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1)
const fleetOnce = async (query = '') => {
  const t0 = performance.now()
  const res = await fetch(`${base}/api/v1/fleet${query}`, { headers: { authorization: `Bearer ${secret}`, 'accept-encoding': 'identity' } })
  const body = await res.arrayBuffer()
  return { ms: performance.now() - t0, bytes: body.byteLength, cursor: (JSON.parse(Buffer.from(body).toString()) as { cursor: string }).cursor }
}
const whole: { ms: number; bytes: number }[] = []
const deltas: { ms: number; bytes: number }[] = []
for (let i = 0; i < 5; i++) {
  const w = await fleetOnce()
  whole.push(w)
  await new Promise((r) => setTimeout(r, 1000))
  deltas.push(await fleetOnce(`?since=${encodeURIComponent(w.cursor)}`))
}

const browser = await launch()
const runs: Record<string, unknown> = {}
for (const mode of MODES) runs[mode] = await measure(mode)

async function measure(mode: 'full' | 'delta') {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  let received = 0
  let answers = 0
  page.on('requestfinished', (req) => {
    if (!req.url().includes('/api/v1/fleet')) return
    void req.sizes().then(
      (s) => {
        received += s.responseBodySize + s.responseHeadersSize
        answers++
      },
      () => undefined,
    )
  })
  await signIn(page, base, secret, `/?poll=1000${mode === 'full' ? '&delta=0' : ''}`)
  await page.waitForFunction((n) => ((globalThis as unknown as { __console: { fleet?: { features: unknown[] } } }).__console.fleet?.features.length ?? 0) === n, N, { timeout: 60_000 })
  // a typical operator's view: a province, some clusters and single vehicles
  await page.evaluate(() => (globalThis as unknown as { __console: { map: { jumpTo(o: object): void } } }).__console.map.jumpTo({ center: [117, 32], zoom: 6 }))
  const pollsBefore = await page.evaluate(() => (globalThis as unknown as { __console: { fleetPolls: number } }).__console.fleetPolls)
  // what the page receives while measured (not the first, whole answer)
  received = 0
  answers = 0
  // as a string: tsx's helpers (__name) do not exist in the page
  const frames = (await page.evaluate(`new Promise((resolve) => {
    const out = []
    let last = performance.now()
    const end = last + ${SECONDS * 1000}
    const step = (t) => {
      out.push(t - last)
      last = t
      if (t < end) requestAnimationFrame(step)
      else resolve(out)
    }
    requestAnimationFrame(step)
  })`)) as number[]
  const polls = (await page.evaluate(() => (globalThis as unknown as { __console: { fleetPolls: number } }).__console.fleetPolls)) - pollsBefore
  const receivedInRun = received
  const answersInRun = answers
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('HeapProfiler.collectGarbage')
  await cdp.send('Performance.enable')
  const metrics = new Map((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]))

  const sorted = [...frames].sort((a, b) => a - b)
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
  const mb = (b: number | undefined) => ((b ?? 0) / 1048576).toFixed(1)
  await page.context().close()
  return {
    frames: frames.length,
    fps: +(frames.length / SECONDS).toFixed(1),
    frameMs: { p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), p99: +q(0.99).toFixed(1), max: +sorted[sorted.length - 1].toFixed(1) },
    longFrames: frames.filter((f) => f > 50).length,
    mapUpdates: polls,
    fleetKBPerPoll: answersInRun ? Math.round(receivedInRun / answersInRun / 1024) : null,
    jsHeapUsedMB: mb(metrics.get('JSHeapUsedSize')),
    jsHeapTotalMB: mb(metrics.get('JSHeapTotalSize')),
  }
}

console.log(
  JSON.stringify(
    {
      vehicles: N,
      reportEverySeconds: REPORT_S,
      seconds: SECONDS,
      runs,
      fleetAnswer: {
        whole: { medianMs: median(whole.map((x) => x.ms)), bytes: whole[0].bytes },
        oneSecondDelta: { medianMs: median(deltas.map((x) => x.ms)), bytes: median(deltas.map((x) => x.bytes)) },
      },
    },
    null,
    2,
  ),
)
clearInterval(mover)
await browser.close()
await app.close()
await store.close()
await state.close()
