/**
 * The simulator: frames the codec decodes cleanly, identical per seed; injected conditions are
 * in the frames and are what the matcher engine finds; many terminals against the real gateway
 * after `jt808 import vehicles` of the fleet the simulator prints.
 */
import t from 'tap'
import { decodeFrame, encodeMessage, type Location, type Message, type OutgoingMessage } from '../../protocol/index.js'
import { runImport } from '../../src/cli/commands/import.js'
import { UsageError } from '../../src/cli/command.js'
import { runSimulate } from '../../src/cli/commands/simulate.js'
import { canonicalPhone, type AnomalyEvent, type CommittedPosition } from '../../src/domain.js'
import { MatcherEngine } from '../../src/matcher/engine.js'
import { corruptFrame } from '../../src/sim/corrupt.js'
import { fleetMember } from '../../src/sim/fleet.js'
import { distanceKm } from '../../src/sim/geo.js'
import { startSimulation } from '../../src/sim/simulate.js'
import { SimVehicle, type InjectOptions, type Injection, type Uplink } from '../../src/sim/vehicle.js'
import { openBackends, startGateway } from '../gateway/harness.js'
import { LoopbackGateway } from '../terminal/loopback-gateway.js'
import { captureIO } from './io.js'

const START = Date.parse('2024-03-04T00:00:00Z') // 08:00 Beijing
const HOUR = 3_600_000

interface Sent {
  at: number
  uplink: Uplink
  hex: string
}

/** Drives one terminal's model for `hours` of simulated time and encodes what it sends. */
function drive(index: number, seed: number, hours: number, inject: InjectOptions, version: 2013 | 2019 = 2013, intervalS = 10) {
  const member = fleetMember(index, { seed, version })
  const v = new SimVehicle(member, { intervalS, startTime: START, seed, inject })
  const sent: Sent[] = []
  let serial = 0
  while (v.nextWakeAt < START + hours * HOUR) {
    const at = v.nextWakeAt
    for (const u of v.wake(at)) {
      const msg =
        u.kind === 'position' || u.kind === 'bad-frame'
          ? { msgId: 0x0200, body: u.location }
          : u.kind === 'heartbeat'
            ? { msgId: 0x0002, body: {} }
            : u.kind === 'blind-batch'
              ? { msgId: 0x0704, body: { type: 1, items: u.items } }
              : { msgId: 0x0702, body: u.body }
      const out = encodeMessage({ ...msg, phone: member.phone, serial: serial++, version } as OutgoingMessage)
      if (!out.ok) throw new Error(`${u.kind}: ${out.error.message}`)
      sent.push({ at, uplink: u, hex: (u.kind === 'bad-frame' ? corruptFrame(out.value) : out.value).toString('hex') })
    }
  }
  return { member, vehicle: v, sent, injections: v.injections }
}

const ALL: InjectOptions = { overspeedPerHour: 0.6, longDriveFraction: 0.5, blindAreaPerHour: 0.3, driftPerHour: 0.3, badFrameFraction: 0.01, cardSwapPerTrip: 0.5 }

t.test('every frame decodes cleanly, the same for the same seed, different for another', async (t) => {
  for (const version of [2013, 2019] as const) {
    const kinds = new Map<string, number>()
    for (let i = 0; i < 3; i++) {
      const a = drive(i, 42, 8, ALL, version)
      const b = drive(i, 42, 8, ALL, version)
      const c = drive(i, 43, 2, ALL, version)
      t.same(
        a.sent.map((s) => s.hex),
        b.sent.map((s) => s.hex),
        `${version} terminal ${i}: same seed, same bytes`,
      )
      t.same(a.injections, b.injections)
      t.not(
        a.sent
          .slice(0, c.sent.length)
          .map((s) => s.hex)
          .join(),
        c.sent.map((s) => s.hex).join(),
        'another seed, other frames',
      )
      let clean = true
      for (const s of a.sent) {
        kinds.set(s.uplink.kind, (kinds.get(s.uplink.kind) ?? 0) + 1)
        const d = decodeFrame(Buffer.from(s.hex, 'hex').subarray(1, -1))
        if (s.uplink.kind === 'bad-frame') {
          if (d.ok || d.error.code !== 'BAD_CHECKSUM') clean = false
          continue
        }
        if (!d.ok || d.value.message.version !== version) {
          clean = false
          t.fail(`${s.uplink.kind} does not decode: ${d.ok ? 'version ' + d.value.message.version : d.error.message}`)
          continue
        }
        const m = d.value.message
        if (s.uplink.kind === 'position') {
          const body = m.body as Location
          if (body.latitude !== Math.round(s.uplink.location.latitude * 1e6) / 1e6 || body.speed !== s.uplink.location.speed || body.timeMs !== s.uplink.location.timeMs) clean = false
          if (m.trailing) clean = false
        }
      }
      t.ok(clean, `${version} terminal ${i}: ${a.sent.length} frames decode to what was sent; corrupted copies fail with BAD_CHECKSUM`)
    }
    for (const k of ['position', 'blind-batch', 'driver-card', 'bad-frame']) t.ok((kinds.get(k) ?? 0) > 0, `${version}: some ${k} frames`)
  }
})

/** The fixes a terminal reported, in order, with how they travelled. */
function fixesOf(sent: Sent[]) {
  const out: Array<{ l: Location; blind: boolean; sentAt: number }> = []
  for (const s of sent) {
    if (s.uplink.kind === 'position') out.push({ l: s.uplink.location, blind: false, sentAt: s.at })
    if (s.uplink.kind === 'blind-batch') for (const l of s.uplink.items) out.push({ l, blind: true, sentAt: s.at })
  }
  return out
}

t.test('trajectories are plausible and the injected conditions are in the frames', async (t) => {
  let overspeeds = 0
  let gaps = 0
  let drifts = 0
  let swaps = 0
  let longDrives = 0
  for (let i = 0; i < 6; i++) {
    const run = drive(i, 7, 14, ALL)
    const fixes = fixesOf(run.sent).sort((a, b) => (a.l.timeMs as number) - (b.l.timeMs as number))
    const driftTimes = new Set(run.injections.filter((x) => x.type === 'drift').map((x) => Math.floor(x.from / 1000) * 1000))
    const within = (x: Injection, tm: number) => tm >= x.from - 1000 && tm <= x.to + 1000
    let prev: Location | null = null
    let implausible = 0
    let overWithoutInjection = 0
    for (const { l } of fixes) {
      if (l.latitude < 18 || l.latitude > 54 || l.longitude < 73 || l.longitude > 135.1) implausible++
      const injectedOver = run.injections.some((x) => x.type === 'overspeed' && within(x, l.timeMs as number))
      if (l.speed > 80 && !injectedOver) overWithoutInjection++
      if (l.speed > 105) implausible++
      if (prev && !driftTimes.has(l.timeMs as number) && !driftTimes.has(prev.timeMs as number)) {
        const hours = ((l.timeMs as number) - (prev.timeMs as number)) / HOUR
        if (hours > 0 && distanceKm(prev, l) / hours > 130) implausible++
      }
      prev = l
    }
    t.equal(implausible, 0, `terminal ${i}: inside China, road speeds, no jumps but the injected drifts`)
    t.equal(overWithoutInjection, 0, `terminal ${i}: over 80 km/h only in injected bursts`)
    for (const x of run.injections) {
      const inside = fixes.filter((f) => within(x, f.l.timeMs as number))
      if (x.type === 'overspeed') {
        overspeeds++
        const fast = inside.filter((f) => f.l.speed > 80)
        t.ok(fast.length >= 2 && (fast[fast.length - 1].l.timeMs as number) - (fast[0].l.timeMs as number) >= 30_000, `overspeed at ${new Date(x.from).toISOString()}: > 80 km/h for ≥ 30 s`)
      } else if (x.type === 'blind-area') {
        if (x.to > START + 13.5 * HOUR) continue // still open when the drive stops: nothing uploaded yet
        gaps++
        const held = fixes.filter((f) => (f.l.timeMs as number) >= x.from && (f.l.timeMs as number) < x.to)
        t.ok(held.length > 0 && held.every((f) => f.blind && f.sentAt >= x.to), 'positions in a gap arrive afterwards, in 0x0704 type 1')
      } else if (x.type === 'drift') {
        drifts++
        const at = fixes.findIndex((f) => f.l.timeMs === Math.floor(x.from / 1000) * 1000)
        t.ok(at > 0 && distanceKm(fixes[at - 1].l, fixes[at].l) >= 15, 'a drift fix is far from the one before')
      } else if (x.type === 'driver-swap') {
        swaps++
        const card = run.sent.find((s) => s.uplink.kind === 'driver-card' && s.uplink.body.status === 1 && s.uplink.body.qualificationNo === run.member.stranger.qualificationNo)
        t.ok(card, 'the swap inserts the card of a driver on no waybill')
      } else if (x.type === 'long-drive') {
        longDrives++
        t.ok(x.to - x.from >= 4 * HOUR, 'long drive lasts over 4 h')
        // no stop of 20 min or more inside it
        let stoppedSince: number | null = null
        let longestStop = 0
        for (const f of inside) {
          const tm = f.l.timeMs as number
          if (f.l.speed === 0) stoppedSince ??= tm
          else stoppedSince = null
          if (stoppedSince !== null) longestStop = Math.max(longestStop, tm - stoppedSince)
        }
        t.ok(longestStop < 20 * 60_000, 'without a 20-minute rest')
      }
    }
  }
  t.ok(
    overspeeds > 0 && gaps > 0 && drifts > 0 && swaps > 0 && longDrives > 0,
    `every kind injected (${overspeeds} overspeed, ${gaps} gaps, ${drifts} drifts, ${swaps} swaps, ${longDrives} long drives)`,
  )
})

t.test('the matcher finds what was injected, and nothing of it where nothing was', async (t) => {
  const events: AnomalyEvent[] = []
  const engine = new MatcherEngine({ emit: (e) => events.push(e), clock: () => START })
  const runs = [0, 1, 2, 3, 4, 5].map((i) => drive(i, 11, 14, i < 4 ? { overspeedPerHour: 0.6, longDriveFraction: 1, driftPerHour: 0.3, blindAreaPerHour: 0.3 } : {}))
  // Arrival order: every terminal's frames by send time.
  const arrivals: Array<{ at: number; p: CommittedPosition; batchEnd: boolean }> = []
  runs.forEach((run, vi) => {
    let batch: CommittedPosition[] = []
    for (const s of run.sent) {
      const items = s.uplink.kind === 'position' ? [s.uplink.location] : s.uplink.kind === 'blind-batch' ? s.uplink.items : []
      batch = items.map((l) => ({
        vehicleId: vi + 1,
        phone: run.member.phone,
        plate: run.member.plate,
        plateColor: 2,
        enterpriseLicenseNo: run.member.enterpriseLicenseNo,
        deviceTime: l.timeMs as number,
        receivedAt: s.at,
        latitude: l.latitude,
        longitude: l.longitude,
        altitude: l.altitude,
        speed: l.speed,
        direction: l.direction,
        alarm: l.alarm,
        status: l.status,
        mileage: l.extras.mileage ?? null,
        extras: {},
        blindArea: s.uplink.kind === 'blind-batch',
        sourceMsgId: s.uplink.kind === 'position' ? 0x0200 : 0x0704,
      }))
      batch.forEach((p, k) => arrivals.push({ at: s.at, p, batchEnd: k === batch.length - 1 }))
    }
  })
  arrivals.sort((a, b) => a.at - b.at)
  for (const a of arrivals) {
    engine.position(a.p)
    if (a.batchEnd) engine.flushLate()
  }
  engine.tick(START + 14 * HOUR)
  const opened = events.filter((e) => e.event === 'anomaly.opened').map((e) => e.anomaly)
  const latest = new Map<string, AnomalyEvent['anomaly']>()
  for (const e of events) latest.set(e.anomaly.id, e.anomaly)
  const ofType = (vehicleId: number, type: string) => [...latest.values()].filter((a) => a.vehicleId === vehicleId && a.type === type)
  runs.forEach((run, vi) => {
    const id = vi + 1
    const overspeed = ofType(id, 'OVERSPEED')
    const injected = run.injections.filter((x) => x.type === 'overspeed')
    for (const x of injected) {
      t.ok(
        overspeed.some((a) => a.startedAt <= x.to && (a.endedAt ?? Infinity) >= x.from),
        `vehicle ${id}: injected overspeed at ${new Date(x.from).toISOString()} found`,
      )
    }
    t.equal(overspeed.length <= injected.length, true, `vehicle ${id}: no OVERSPEED beyond the ${injected.length} injected`)
    const fatigue = ofType(id, 'FATIGUE_DRIVING')
    const long = run.injections.filter((x) => x.type === 'long-drive')
    for (const x of long)
      t.ok(
        fatigue.some((a) => a.startedAt <= x.to && (a.endedAt ?? Infinity) >= x.from),
        `vehicle ${id}: long drive from ${new Date(x.from).toISOString()} found as FATIGUE_DRIVING`,
      )
    if (long.length === 0) t.equal(fatigue.length, 0, `vehicle ${id}: rested drivers are not fatigued`)
    if (vi >= 4) t.same(ofType(id, 'OVERSPEED').concat(ofType(id, 'POSITION_DRIFT')), [], `vehicle ${id}: nothing injected, no overspeed or drift`)
  })
  const drifts = runs.reduce((n, r) => n + r.injections.filter((x) => x.type === 'drift').length, 0)
  t.ok(drifts > 0)
  t.equal(engine.stats().drift, drifts, 'every injected drift fix is judged drift, and no other')
  t.ok(opened.length > 0)
})

t.test('many terminals against a loopback gateway: positions are the same for the same seed', async (t) => {
  const gw = await LoopbackGateway.start()
  t.teardown(() => gw.stop())
  const runOnce = async (seed: number) => {
    gw.received.length = 0
    const sim = startSimulation({
      target: { host: '127.0.0.1', port: gw.port },
      terminals: 30,
      intervalS: 30,
      timeScale: 600,
      durationMs: 1500,
      seed,
      startTime: START,
      auth: 'register',
      inject: { blindAreaPerHour: 2, overspeedPerHour: 1 },
    })
    const r = await sim.done
    const fixes = new Map<string, string[]>()
    for (const { message } of gw.received) {
      const items = message.msgId === 0x0200 ? [message.body as Location] : message.msgId === 0x0704 ? (message.body as { items: Location[] }).items : []
      for (const l of items) {
        const list = fixes.get(message.phone) ?? []
        list.push(`${l.timeMs} ${l.latitude} ${l.longitude} ${l.speed} ${l.alarm}`)
        fixes.set(message.phone, list)
      }
    }
    return { r, fixes, simulatedMs: r.simulatedMs }
  }
  const a = await runOnce(5)
  const b = await runOnce(5)
  t.equal(a.r.authenticated, 30)
  t.equal(a.r.framesWithoutAnswer, 0)
  t.same(a.r.acksByResult, { '0': a.r.framesExpectingAnswer })
  t.ok((a.r.framesById['0x0200'] ?? 0) > 30 * 5, 'positions at the scaled rate')
  // Compare over the simulated time both runs covered, per terminal: the run stops on wall time, so
  // on a loaded machine a terminal's last fix before the end may be in one run and not the other.
  const horizon = START + Math.min(a.simulatedMs, b.simulatedMs)
  const lastTime = (l: string[] | undefined) => Math.max(-Infinity, ...(l ?? []).map((x) => Number(x.split(' ')[0])))
  let compared = 0
  for (const [phone, list] of a.fixes) {
    const other = b.fixes.get(phone)
    t.ok(other?.length, `${phone}: reported in both runs`)
    const until = Math.min(horizon - 1, lastTime(list), lastTime(other))
    const cut = (l: string[]) => l.filter((x) => Number(x.split(' ')[0]) <= until).sort()
    t.same(cut(list), cut(other ?? []), `${phone}: same fixes`)
    compared += cut(list).length
  }
  t.ok(compared > 30 * 5)
})

t.test('jt808 simulate against the real gateway after importing the fleet it prints', async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends)
  t.teardown(() => gw.close())
  const vehicles = captureIO()
  t.equal(await runSimulate(['--terminals', '25', '--seed', '3', '--emit-vehicles'], vehicles.io), 0)
  const imp = captureIO(vehicles.stdout())
  t.equal(await runImport(['vehicles', '-', '--format', 'ndjson'], imp.io, { openStore: async () => backends.store }), 0, imp.stderr())
  t.match(imp.stdout(), /25 vehicles imported/)

  const { io, stdout, stderr } = captureIO()
  const code = await runSimulate(['--terminals', '25', '--seed', '3', '--interval', '0.5', '--duration', '2s', '--target', `127.0.0.1:${gw.port}`, '--register', '--json', '--overspeed', '1'], io)
  const r = JSON.parse(stdout())
  t.equal(code, 0, stderr())
  t.equal(r.authenticated, 25, 'every terminal registered (registry mode) and authenticated')
  t.same(r.refusals, {})
  t.equal(r.framesWithoutAnswer, 0)
  t.equal(r.acksByResult['0'], r.framesExpectingAnswer)
  t.equal(r.framesById['0x0100'], 25)
  const m = fleetMember(0, { seed: 3, version: 2013 })
  const vehicle = await backends.store.findVehicleByTerminal(canonicalPhone(m.phone))
  t.ok(vehicle && (await backends.store.countPositions(vehicle.id)) > 0, 'positions stored')

  // 2019 terminals, another part of the fleet.
  const more = captureIO()
  t.equal(await runSimulate(['--terminals', '10', '--first', '100', '--seed', '3', '--version', '2019', '--emit-vehicles'], more.io), 0)
  t.equal(await runImport(['vehicles', '-', '--format', 'ndjson'], captureIO(more.stdout()).io, { openStore: async () => backends.store }), 0)
  const run2019 = captureIO()
  t.equal(
    await runSimulate(['--terminals', '10', '--first', '100', '--seed', '3', '--version', '2019', '--interval', '0.5', '--duration', '1s', '--target', `127.0.0.1:${gw.port}`, '--json'], run2019.io),
    0,
    run2019.stderr(),
  )
  const r2 = JSON.parse(run2019.stdout())
  t.equal(r2.authenticated, 10, '2019 terminals registered and authenticated')
  t.equal(r2.acksByResult['0'], r2.framesExpectingAnswer)
  const m2019 = fleetMember(100, { seed: 3, version: 2019 })
  t.equal(m2019.phone.length, 20)
  const terminal = await backends.store.getTerminal(canonicalPhone(m2019.phone))
  t.equal(terminal?.protocolVersion, 2019)
  t.equal(terminal?.imei, m2019.phone.slice(-15), '2019 IMEI recorded from 0x0102')
})

t.test('simulate usage', async (t) => {
  for (const argv of [
    [],
    ['--terminals', '0'],
    ['--terminals', '5', '--rate', '1', '--interval', '2'],
    ['--terminals', '5', '--version', '2011'],
    ['--terminals', '5', '--duration', 'soon'],
    ['--terminals', '5', '--bad-frames', '2'],
  ]) {
    const { io } = captureIO()
    const e = await runSimulate(argv, io).then(
      () => null,
      (err: unknown) => err,
    )
    t.ok(e instanceof UsageError, `${argv.join(' ') || '(none)'}: ${(e as Error)?.message}`)
  }
})

export type { Message }
