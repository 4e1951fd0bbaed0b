/**
 * bench/matcher: the matcher engine alone (no I/O) following N vehicles with active waybills,
 * fed a position stream in device-time order: every vehicle reports every 30 s, round after
 * round, with a realistic mix — driving at 40–90 km/h with stops, overspeed bursts, drift
 * points, coverage gaps whose fixes arrive late as blind-area batches, alarm bits, and planned
 * routes on a tenth of the waybills. The clock ticks once per round.
 *
 * Prints positions/s on one core (CPU time of the engine calls only: generating the stream is
 * not counted) and heap per tracked vehicle, and — in the same run — the rate of a bare
 * baseline doing the least any matcher must (a Map lookup per fix and the distance from the
 * vehicle's previous fix), with the ratio. Target (issue 6): ≥ 200,000 positions/s with
 * 100,000 vehicles.
 *
 *   node --expose-gc --import tsx bench/matcher.ts [--vehicles 100000] [--rounds 20] [--warmup 4]
 */
import { performance } from 'node:perf_hooks'
import { newWaybill, transitionWaybill, type CommittedPosition, type WaybillInput } from '../src/domain.js'
import { matcherConfig } from '../src/matcher/config.js'
import { MatcherEngine } from '../src/matcher/engine.js'
import { distanceKm } from '../src/geo.js'

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}

const N = arg('vehicles', 100_000)
const ROUNDS = arg('rounds', 20)
const WARMUP = arg('warmup', 4)
const EVERY = 30_000
const T0 = Date.UTC(2024, 5, 3, 0, 0, 0) // 08:00 Beijing
const gc = (globalThis as { gc?: () => void }).gc

/** xorshift32: the same stream every run */
let seed = 0x9e3779b9
function rnd(): number {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 4294967296
}

// ---- simulated fleet: flat typed arrays, so the generator stays small next to the engine
const lon = new Float64Array(N),
  lat = new Float64Array(N),
  heading = new Float64Array(N),
  cruise = new Float64Array(N)
const modeLeft = new Int32Array(N),
  driving = new Uint8Array(N),
  burst = new Int32Array(N),
  gapLeft = new Int32Array(N),
  alarm = new Uint32Array(N)
const withheld: Array<CommittedPosition[] | null> = new Array(N).fill(null)
for (let i = 0; i < N; i++) {
  lon[i] = 105 + rnd() * 15
  lat[i] = 25 + rnd() * 15
  heading[i] = rnd() * 2 * Math.PI
  cruise[i] = 40 + rnd() * 38
  driving[i] = rnd() < 0.75 ? 1 : 0
  modeLeft[i] = 1 + Math.floor(rnd() * 120)
}

const BASE: WaybillInput = {
  waybillNo: '',
  issueDate: '2024-06-03',
  consignorName: '托运方',
  consignorPhone: '',
  consigneeName: '收货方',
  consigneePhone: '',
  loadingPlace: '济南',
  loadingDate: '20240603',
  destination: '青岛',
  expectedArrivalDate: '20240604',
  carrierName: '承运方',
  carrierLicenseNo: '370100000001',
  carrierPhone: '',
  plate: '',
  plateColor: 2,
  transportCertNo: '370100123456',
  trailerPlate: '',
  trailerTransportCertNo: '',
  driverName: '驾驶员',
  driverQualificationNo: 'D000000000000000001',
  driverPhone: '',
  escortName: '押运员',
  escortQualificationNo: 'E000000000000000001',
  escortPhone: '',
  goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', packingGroup: 'II', specification: '', quantity: 30, unit: 't' }],
}

function plate(i: number): string {
  return `B${String(i).padStart(6, '0')}`
}

function step(i: number, t: number): void {
  if (--modeLeft[i] <= 0) {
    driving[i] ^= 1
    modeLeft[i] = driving[i] ? 60 + Math.floor(rnd() * 180) : 10 + Math.floor(rnd() * 80)
    heading[i] += (rnd() - 0.5) * 0.6
  }
  if (driving[i] && burst[i] === 0 && rnd() < 0.002) burst[i] = 2 + Math.floor(rnd() * 5)
  const speed = !driving[i] ? 0 : burst[i] > 0 ? (burst[i]--, 88 + rnd() * 15) : Math.max(5, cruise[i] + (rnd() - 0.5) * 10)
  const km = (speed * EVERY) / 3_600_000
  lat[i] += (km * Math.cos(heading[i])) / 111.2
  lon[i] += (km * Math.sin(heading[i])) / (111.2 * Math.cos((lat[i] * Math.PI) / 180))
  if (rnd() < 0.0002) alarm[i] ^= 1 << Math.floor(rnd() * 3)
  void t
}

function fix(i: number, t: number, speed: number, blind: boolean, dLat = 0): CommittedPosition {
  return {
    vehicleId: i + 1,
    deviceTime: t,
    receivedAt: blind ? t + 600_000 : t + 1500,
    latitude: lat[i] + dLat,
    longitude: lon[i],
    altitude: 50,
    speed,
    direction: Math.round(((((heading[i] * 180) / Math.PI) % 360) + 360) % 360) % 360,
    alarm: alarm[i],
    status: 3,
    mileage: null,
    extras: {},
    blindArea: blind,
    sourceMsgId: blind ? 0x0704 : 0x0200,
    phone: '',
    plate: plate(i),
    plateColor: 2,
    enterpriseLicenseNo: '370100000001',
  }
}

/** One round of reports (device time t), in the order a gateway would commit them. */
function round(t: number, out: CommittedPosition[]): void {
  out.length = 0
  for (let i = 0; i < N; i++) {
    step(i, t)
    const speed = driving[i] ? (burst[i] > 0 ? 95 : cruise[i]) : 0
    if (gapLeft[i] > 0) {
      withheld[i]!.push(fix(i, t, speed, true))
      if (--gapLeft[i] === 0) {
        // coverage is back: the live fix, then the blind-area batch
        out.push(fix(i, t + 1000, speed, false))
        for (const p of withheld[i]!) out.push(p)
        withheld[i] = null
      }
      continue
    }
    if (rnd() < 0.0002) {
      gapLeft[i] = 12
      withheld[i] = []
      continue
    }
    out.push(fix(i, t, speed, false, rnd() < 0.0005 ? 0.3 : 0))
  }
}

function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`
}

// ---- the engine, with a waybill per vehicle (a tenth with a planned route along its heading)
gc?.()
const heapBefore = process.memoryUsage().heapUsed
let events = 0
const byType = new Map<string, number>()
const engine = new MatcherEngine({
  config: matcherConfig(),
  emit: (e) => {
    events++
    if (e.event === 'anomaly.opened') byType.set(e.anomaly.type, (byType.get(e.anomaly.type) ?? 0) + 1)
  },
  clock: () => 0,
  since: T0,
})
for (let i = 0; i < N; i++) {
  const input: WaybillInput = { ...BASE, waybillNo: `W${i}`, plate: plate(i) }
  if (i % 10 === 0) {
    const far = [lon[i] + Math.sin(heading[i]) * 3, lat[i] + Math.cos(heading[i]) * 3] as [number, number]
    input.plannedRoute = { type: 'LineString', coordinates: [[lon[i], lat[i]], far] }
    input.corridorKm = 5
  }
  engine.waybill(transitionWaybill(newWaybill(input, T0 - 3_600_000), 'dispatched', T0 - 3_600_000), { id: i + 1, plate: plate(i), plateColor: 2, enterpriseLicenseNo: null })
}

const buf: CommittedPosition[] = []
let t = T0
let positions = 0,
  engineMs = 0
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  round(t, buf)
  const c0 = cpuMs()
  for (let k = 0; k < buf.length; k++) engine.position(buf[k])
  engine.flushLate()
  engine.tick(t + EVERY - 1)
  const c1 = cpuMs()
  if (r >= WARMUP) {
    positions += buf.length
    engineMs += c1 - c0
  }
  t += EVERY
}
buf.length = 0
gc?.()
const heapAfter = process.memoryUsage().heapUsed
const stats = engine.stats()

// ---- baseline: a Map lookup and a distance per fix, same stream shape
const prev = new Map<number, { lat: number; lon: number }>()
let baseMs = 0,
  basePositions = 0,
  sink = 0
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  round(t, buf)
  const c0 = cpuMs()
  for (let k = 0; k < buf.length; k++) {
    const p = buf[k]
    let s = prev.get(p.vehicleId)
    if (!s) prev.set(p.vehicleId, (s = { lat: p.latitude, lon: p.longitude }))
    sink += distanceKm(s.lat, s.lon, p.latitude, p.longitude)
    s.lat = p.latitude
    s.lon = p.longitude
  }
  const c1 = cpuMs()
  if (r >= WARMUP) {
    basePositions += buf.length
    baseMs += c1 - c0
  }
  t += EVERY
}

const rate = positions / (engineMs / 1000)
const baseRate = basePositions / (baseMs / 1000)
console.log(`bench/matcher: ${N.toLocaleString('en')} vehicles with active waybills, ${ROUNDS} rounds of 30 s (+${WARMUP} warm-up), ${positions.toLocaleString('en')} positions timed`)
console.log(`  engine    ${Math.round(rate).toLocaleString('en')} positions/s on one core (${engineMs.toFixed(0)} ms CPU)  target ≥ 200,000`)
console.log(`  baseline  ${Math.round(baseRate).toLocaleString('en')} positions/s (Map lookup + distance)  ratio engine/baseline ${(rate / baseRate).toFixed(3)}`)
console.log(
  `  memory    ${mb(heapAfter - heapBefore)} heap for the engine → ${Math.round((heapAfter - heapBefore) / N)} B per tracked vehicle${gc ? '' : ' (run with --expose-gc for a settled figure)'}`,
)
console.log(`  opened    ${[...byType].map(([k, v]) => `${k} ${v}`).join(', ')}`)
console.log(`  stream    late ${stats.late}, drift ${stats.drift}, invalid ${stats.invalid}; ${events} anomaly events, ${stats.openAnomalies} open at the end (${sink > 0 ? 'ok' : ''})`)
