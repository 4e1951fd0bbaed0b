/**
 * bench/replay: the operator tools as load generators.
 *
 *   node --import tsx bench/replay.ts replay [--frames N] [--terminals K] [--target host:port]
 *     Frames/s one replay (--speed max) pushes and gets acknowledged against a gateway, and the
 *     same capture against a bare ack server (decode + 0x8001, nothing else) in the same run:
 *     the ratio says how much of the ceiling the gateway leaves. Without --target the gateway is
 *     started in a child process (registration "open", embedded PGlite unless DATABASE_URL is set).
 *
 *   node --import tsx bench/replay.ts simulate [--terminals K] [--seconds S] [--interval S]
 *     The simulator's own CPU per 1,000 terminals (against the bare ack server in a child
 *     process, so only the simulator's process is measured), and in the same run the CPU of the
 *     same terminals' model + encoding without sockets: what the network side adds.
 *
 * The gateway and the ack server run in child processes so each side's CPU is its own.
 * Figures go to stdout; record them in bench/RESULTS.md.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Deframer, decodeFrame, encodeMessage, type OutgoingMessage } from '../protocol/index.js'
import { captureFrame, type CaptureFrame } from '../src/sim/capture.js'
import { fleetMember } from '../src/sim/fleet.js'
import { startReplay } from '../src/sim/replay.js'
import { startSimulation } from '../src/sim/simulate.js'
import { SimVehicle } from '../src/sim/vehicle.js'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    frames: { type: 'string' },
    terminals: { type: 'string' },
    seconds: { type: 'string' },
    interval: { type: 'string' },
    target: { type: 'string' },
    child: { type: 'string' },
  },
})
const mode = positionals[0] ?? 'replay'
const START = Date.now() - 6 * 3600_000

// ---------------------------------------------------------------- child servers

/** Child: a minimal ack server (the ceiling), printing its port. */
async function serveAcker(): Promise<void> {
  let serial = 0
  const server = createServer((socket) => {
    socket.on('error', () => {})
    const deframer = new Deframer({
      onFrame: (escaped) => {
        const d = decodeFrame(escaped)
        if (!d.ok) return
        const m = d.value.message
        if (m.msgId >= 0x8000 || m.msgId === 0x0001) return
        const base = { phone: m.phone, serial: serial++ & 0xffff, version: m.version === 2019 ? 2019 : 2013 } as const
        const out =
          m.msgId === 0x0100
            ? encodeMessage({ ...base, msgId: 0x8100, body: { replySerial: m.serial, result: 0, authCode: 'BENCH' } } as OutgoingMessage)
            : encodeMessage({ ...base, msgId: 0x8001, body: { replySerial: m.serial, replyId: m.msgId, result: 0 } })
        if (out.ok) socket.write(out.value)
      },
      onError: () => {},
    })
    socket.on('data', (c: Buffer) => deframer.push(c))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  process.send?.({ port: (server.address() as AddressInfo).port })
}

/** Child: the real gateway (what `jt808 serve` runs), printing its port. */
async function serveGateway(): Promise<void> {
  const { DEFAULTS } = await import('../src/config/index.js')
  const { startApp } = await import('../src/app.js')
  const config = {
    ...structuredClone(DEFAULTS),
    tcpPort: 0,
    tcpHost: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    attachmentsPort: 0,
    databaseUrl: process.env.DATABASE_URL ?? null,
    dataDir: join(tmpdir(), `jt808-bench-${process.pid}`),
    registrationMode: 'open' as const,
    archiveRawFrames: false,
    logLevel: 'warn',
    nodeId: 'bench',
  }
  const app = await startApp(config, { upkeep: false, storeOptions: { embedded: 'memory' } })
  process.send?.({ port: app.tcp.port })
  process.on('message', (m) => {
    if (m === 'stop') void app.close().then(() => process.exit(0))
  })
}

function child(role: 'acker' | 'gateway'): Promise<{ proc: ChildProcess; port: number }> {
  const proc = fork(new URL(import.meta.url).pathname, ['--child', role], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    proc.once('message', (m) => resolve({ proc, port: (m as { port: number }).port }))
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)))
  })
}

function stopChild(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    proc.once('exit', () => resolve())
    proc.send('stop')
    setTimeout(() => proc.kill(), 5000).unref()
  })
}

// ---------------------------------------------------------------- replay

/** A capture of K simulated terminals: register, authenticate, then positions, in time order. */
function buildCapture(frames: number, terminals: number): CaptureFrame[] {
  const out: CaptureFrame[] = []
  const per = Math.max(1, Math.floor(frames / terminals) - 2)
  for (let i = 0; i < terminals; i++) {
    const m = fleetMember(i, { seed: 9, version: 2013, phonePrefix: '0188' })
    const v = new SimVehicle(m, { intervalS: 30, startTime: START, seed: 9 })
    let serial = 0
    const add = (t: number, msg: Omit<OutgoingMessage, 'phone' | 'serial'>) => {
      const e = encodeMessage({ ...msg, phone: m.phone, serial: serial++ } as OutgoingMessage)
      if (e.ok) out.push(captureFrame(e.value.subarray(1, -1), { source: `bench:${i}`, t, phone: m.phone, connection: `bench-${i}` }))
    }
    add(START, { msgId: 0x0100, body: { province: m.province, city: m.city, manufacturer: 'SIM01', model: 'HZ-808', terminalId: m.terminalId, plateColor: 2, plate: m.plate } } as OutgoingMessage)
    add(START, { msgId: 0x0102, body: { authCode: 'stale' } } as OutgoingMessage)
    let n = 0
    while (n < per) {
      const at = v.nextWakeAt
      for (const u of v.wake(at)) if (u.kind === 'position' && n < per) add(at, { msgId: 0x0200, body: u.location }), n++
    }
  }
  return out.sort((a, b) => (a.t as number) - (b.t as number))
}

async function replayOnce(port: number, frames: CaptureFrame[]) {
  const cpu0 = process.cpuUsage()
  const r = await startReplay({ target: { host: '127.0.0.1', port }, frames, speed: Infinity, window: 256, replyTimeoutMs: 30_000 }).done
  const cpu = process.cpuUsage(cpu0)
  const ackedPerS = Math.round(((r.acksByResult['0'] ?? 0) * 1000) / r.durationMs)
  return { ...r, ackedPerS, cpuMs: Math.round((cpu.user + cpu.system) / 1000) }
}

async function benchReplay(): Promise<void> {
  const frames = Number(values.frames ?? 20_000)
  const terminals = Number(values.terminals ?? 100)
  const capture = buildCapture(frames, terminals)
  console.log(`capture: ${capture.length} frames from ${terminals} terminals (0x0100, 0x0102, positions)`)
  const acker = await child('acker')
  const base = await replayOnce(acker.port, capture)
  acker.proc.kill()
  let target = values.target
  let gateway: ChildProcess | null = null
  if (!target) {
    const g = await child('gateway')
    gateway = g.proc
    target = `127.0.0.1:${g.port}`
  }
  const port = Number(target.split(':').pop())
  const gw = await replayOnce(port, capture)
  if (gateway) await stopChild(gateway)
  const line = (name: string, r: typeof base) =>
    `${name.padEnd(26)} ${String(r.ackedPerS).padStart(8)} acked frames/s  p50 ${r.ackLatencyMs.p50} ms  p99 ${r.ackLatencyMs.p99} ms  unanswered ${r.framesWithoutAnswer}  results ${JSON.stringify(r.acksByResult)}  replay CPU ${r.cpuMs} ms`
  console.log(line('bare ack server (ceiling)', base))
  console.log(line(`gateway ${target}`, gw))
  console.log(`ratio gateway / ceiling: ${(gw.ackedPerS / base.ackedPerS).toFixed(2)}`)
}

// ---------------------------------------------------------------- simulate

async function benchSimulate(): Promise<void> {
  const terminals = Number(values.terminals ?? 1000)
  const seconds = Number(values.seconds ?? 5)
  const intervalS = Number(values.interval ?? 30)
  // Baseline: the same terminals' model + encoding over the same simulated span, no sockets.
  const fleet = Array.from({ length: terminals }, (_, i) => {
    const m = fleetMember(i, { seed: 1, version: 2013 })
    return { m, v: new SimVehicle(m, { intervalS, startTime: START, seed: 1 }), serial: 0 }
  })
  const cpuModel0 = process.cpuUsage()
  let encoded = 0
  for (const f of fleet) {
    while (f.v.nextWakeAt < START + seconds * 1000) {
      for (const u of f.v.wake(f.v.nextWakeAt)) if (u.kind === 'position' && encodeMessage({ msgId: 0x0200, phone: f.m.phone, serial: f.serial++, body: u.location }).ok) encoded++
    }
  }
  const cpuModel = process.cpuUsage(cpuModel0)
  const acker = await child('acker')
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const sim = startSimulation({ target: { host: '127.0.0.1', port: acker.port }, terminals, intervalS, durationMs: null, seed: 1, startTime: START, auth: 'register', connectRate: 5000 })
  while (sim.online < terminals && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20))
  const rampMs = performance.now() - t0
  const cpuRamp = process.cpuUsage(cpu0)
  const cpu1 = process.cpuUsage()
  const framesAtRamp = sim.stats.framesSent
  await new Promise((r) => setTimeout(r, seconds * 1000))
  const cpu = process.cpuUsage(cpu1)
  const steadyFrames = sim.stats.framesSent - framesAtRamp
  const r = await sim.stop()
  acker.proc.kill()
  const ms = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000
  const per1000 = (ms(cpu) / seconds) * (1000 / terminals)
  console.log(`simulate: ${terminals} terminals, one position per ${intervalS} s each, against a bare ack server`)
  console.log(`  ramp-up (connect, register, authenticate): ${Math.round(rampMs)} ms, CPU ${Math.round(ms(cpuRamp))} ms`)
  console.log(
    `  steady ${seconds} s: ${steadyFrames} frames (${Math.round(steadyFrames / seconds)}/s); whole run acked ${r.acksByResult['0'] ?? 0} of ${r.framesExpectingAnswer}, unanswered ${r.framesWithoutAnswer}, connection errors ${r.connectionErrors}, p50 ${r.ackLatencyMs.p50} ms, p99 ${r.ackLatencyMs.p99} ms`,
  )
  console.log(`  simulator CPU, steady: ${Math.round(ms(cpu))} ms = ${per1000.toFixed(1)} ms per second per 1,000 terminals (${(per1000 / 10).toFixed(2)} % of a core)`)
  console.log(
    `  baseline, model + encoding alone (same terminals, same span, ${encoded} positions): ${Math.round(ms(cpuModel))} ms; the network side costs ×${(ms(cpu) / Math.max(1, ms(cpuModel))).toFixed(1)}`,
  )
  console.log(`  RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB`)
}

const childRole = process.argv.indexOf('--child')
if (childRole >= 0) {
  const role = process.argv[childRole + 1]
  if (role === 'acker') await serveAcker()
  else await serveGateway()
} else if (mode === 'replay') await benchReplay()
else if (mode === 'simulate') await benchSimulate()
else {
  console.error('usage: node --import tsx bench/replay.ts replay|simulate [options]')
  process.exitCode = 2
}
