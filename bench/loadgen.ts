/**
 * bench/loadgen: a lean load generator for the end-to-end benches — many JT/T 808 terminals,
 * one TCP connection each, in a process of its own so its CPU is not the gateway's.
 *
 * Each terminal registers (0x0100 → 0x8100), authenticates (0x0102 → 0x8001), then sends a real
 * 0x0200 every `intervalMs` of wall time: moving position, speed, direction, mileage, signal and
 * satellite items, device time one second further each report (so no two reports of a terminal
 * share a primary key). Frames are a template encoded once by protocol/ and patched per report
 * (serial, time, position, speed, mileage, checksum, escaping) — src/sim models trajectories,
 * drivers and faults and costs ~37 µs per position, which on a shared 2-core machine would
 * measure the simulator rather than the gateway. Every 0x8001 is matched to its report by serial:
 * the ack latency is write → answer, in a fixed-memory histogram.
 *
 * With `batch` B > 1 a terminal sends its reports as 0x0704 type 0 (the normal batch upload of
 * JT/T 808-2013 §8.54: B fixes one second apart per frame) instead of 0x0200 — the traffic of
 * terminals that buffer, and of blind-area catch-up; positions/s counts fixes, not frames.
 *
 * Overspeed: with `overspeedEvery` N > 0, every Nth terminal drives at 95 km/h (anomalies for the
 * feed bench); the rest at 40–79 km/h.
 *
 * Run as a child (`startLoadgenChild`): the parent sends 'mark' (start of the steady window),
 * 'mark' again (its end), then 'report' and receives a LoadgenReport.
 */
import { fork, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import { connect, type Socket } from 'node:net'
import { Deframer, encodeMessage, escapeAndWrap, parseFrame, unescape, xor, decodeBody } from '../protocol/index.js'
import { fleetMember } from '../src/sim/fleet.js'
import { LatencyHistogram } from '../src/sim/stats.js'

export interface LoadgenOptions {
  host: string
  port: number
  /** index of the first terminal (fleetMember numbering, so phones/plates match src/sim) */
  first: number
  terminals: number
  intervalMs: number
  seconds: number
  /** new connections per second while ramping up */
  connectRate?: number
  /** fixes per frame: 1 → 0x0200, more → 0x0704 type 0 with that many items */
  batch?: number
  /** every Nth terminal speeds (0: none) */
  overspeedEvery?: number
  /** device time of the first report (UTC ms); default: now − one report per second of the run */
  startTime?: number
  /** hold reports until go() (connect and authenticate everyone first); default false */
  holdUntilGo?: boolean
}

export interface LoadgenReport {
  terminals: number
  authenticated: number
  /** positions sent (a 0x0704 counts its items) */
  sent: number
  /** positions acknowledged */
  acked: number
  /** acks with a result other than 0 */
  refused: number
  /** reports whose answer had not come when the report was asked for */
  unanswered: number
  connectionErrors: number
  /** latency histogram buckets of the steady window (between the two marks) and its max */
  window: { buckets: number[]; count: number; max: number }
  /** ticks that started more than 50 ms late (the generator itself lagging) */
  lateTicks: number
  /** this process's CPU seconds between the two marks, and the part of them spent in the kernel */
  cpuSeconds: number
  kernelSeconds: number
}

const TICK_MS = 10
/** serials remembered per terminal (acks older than this many reports are not timed) */
const RING = 1024

/** Where the patched fields sit in an unescaped 2013 frame (12-byte header, no packet) and in a location body. */
const HEADER = 12
const SERIAL_AT = 10
const LOC = { lat: 8, lon: 12, speed: 18, direction: 20, time: 22, mileage: 28 + 2 } as const

function bcd(n: number): number {
  return ((Math.floor(n / 10) % 10) << 4) | (n % 10)
}

/** Beijing wall-clock time as the 6 BCD bytes of a location report. */
function writeTime(buf: Buffer, at: number, utcMs: number): void {
  const d = new Date(utcMs + 8 * 3600_000)
  buf[at] = bcd(d.getUTCFullYear() % 100)
  buf[at + 1] = bcd(d.getUTCMonth() + 1)
  buf[at + 2] = bcd(d.getUTCDate())
  buf[at + 3] = bcd(d.getUTCHours())
  buf[at + 4] = bcd(d.getUTCMinutes())
  buf[at + 5] = bcd(d.getUTCSeconds())
}

interface Terminal {
  index: number
  phone: string
  socket: Socket | null
  online: boolean
  serial: number
  sentAt: Float64Array
  template: Buffer
  /** offsets of the location bodies in template */
  locations: number[]
  /** fixes sent so far (the next one's step) */
  reports: number
  lat: number
  lon: number
  speed: number
  mileage: number
}

function must<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

const TEMPLATE_FIX = {
  alarm: 0,
  status: 0x000c0003,
  latitude: 30,
  longitude: 115,
  altitude: 40,
  speed: 60,
  direction: 90,
  time: '2026-01-01T00:00:00+08:00',
  extras: { mileage: 1000, signal: 25, satellites: 12 },
  unknown: [],
  itemOrder: [0x01, 0x30, 0x31],
}

/**
 * The unescaped bytes (header … checksum) of this terminal's report — a 0x0200, or a 0x0704 of
 * `batch` items — and where each location body starts, to be patched per report.
 */
function reportTemplate(phone: string, batch: number): { raw: Buffer; locations: number[] } {
  const body = batch > 1 ? { type: 0, items: Array.from({ length: batch }, () => TEMPLATE_FIX) } : TEMPLATE_FIX
  const frame = must(encodeMessage({ msgId: batch > 1 ? 0x0704 : 0x0200, phone, serial: 0, version: 2013, body } as unknown as Parameters<typeof encodeMessage>[0]))
  const raw = must(unescape(frame.subarray(1, -1)))
  if (batch <= 1) return { raw, locations: [HEADER] }
  const itemLength = raw.readUInt16BE(HEADER + 3)
  return { raw, locations: Array.from({ length: batch }, (_, i) => HEADER + 3 + i * (2 + itemLength) + 2) }
}

export function runLoadgen(opts: LoadgenOptions): { go(): void; mark(): void; online(): number; report(): LoadgenReport; stop(): Promise<void> } {
  const hist = new LatencyHistogram()
  const marks: Array<ReturnType<LatencyHistogram['snapshot']> & { cpu: number; kernel: number }> = []
  const cpu = () => {
    const c = process.cpuUsage()
    return { cpu: (c.user + c.system) / 1e6, kernel: c.system / 1e6 }
  }
  const connectRate = opts.connectRate ?? 1000
  const batch = Math.max(1, opts.batch ?? 1)
  const reportMsgId = batch > 1 ? 0x0704 : 0x0200
  const reportsPerTerminal = (Math.ceil((opts.seconds * 1000) / opts.intervalMs) + 10) * batch
  const startTime = opts.startTime ?? Date.now() - reportsPerTerminal * 1000
  let sent = 0
  let acked = 0
  let refused = 0
  let authenticated = 0
  let connectionErrors = 0
  let lateTicks = 0
  let running = true
  let going = !opts.holdUntilGo
  let goAt = 0

  const terminals: Terminal[] = []
  for (let i = 0; i < opts.terminals; i++) {
    const index = opts.first + i
    const phone = fleetMember(index, { seed: 1, version: 2013 }).phone
    const speeding = opts.overspeedEvery ? index % opts.overspeedEvery === 0 : false
    const template = reportTemplate(phone, batch)
    terminals.push({
      index,
      phone,
      socket: null,
      online: false,
      serial: 0,
      sentAt: new Float64Array(RING),
      template: template.raw,
      locations: template.locations,
      reports: 0,
      lat: 22 + (index % 1700) / 100,
      lon: 100 + (index % 2000) / 100,
      speed: speeding ? 95 : 40 + (index % 40),
      mileage: 1000 + (index % 5000),
    })
  }
  // Self-check: a patched template decodes to what was patched in.
  {
    const t = terminals[0]!
    const parsed = must(parseFrame(patched(t).subarray(1, -1)))
    const body = must(decodeBody(parsed.header, parsed.body)).body as { speed: number; timeMs: number } | { items: Array<{ speed: number; timeMs: number }> }
    const fixes = 'items' in body ? body.items : [body]
    const second = startTime - (startTime % 1000)
    if (fixes.length !== batch || fixes.some((f, i) => Math.abs(f.speed - t.speed) > 0.1 || f.timeMs !== second + i * 1000)) throw new Error('loadgen: template patching is broken')
    t.reports = 0
  }

  function patched(t: Terminal): Buffer {
    const raw = t.template
    raw.writeUInt16BE(t.serial, SERIAL_AT)
    for (const at of t.locations) {
      const step = t.reports++
      // ~17 m per second northeast at 60 km/h: small moves, always inside China.
      raw.writeUInt32BE(Math.round((t.lat + step * 1.5e-4) * 1e6), at + LOC.lat)
      raw.writeUInt32BE(Math.round((t.lon + step * 1.5e-4) * 1e6), at + LOC.lon)
      raw.writeUInt16BE(t.speed * 10, at + LOC.speed)
      raw.writeUInt16BE((t.index * 7) % 360, at + LOC.direction)
      writeTime(raw, at + LOC.time, startTime + step * 1000)
      raw.writeUInt32BE(Math.round((t.mileage + step * (t.speed / 3600)) * 10), at + LOC.mileage)
    }
    raw[raw.length - 1] = xor(raw, 0, raw.length - 1)
    return escapeAndWrap(raw)
  }

  /** Reports written and not yet acknowledged (of terminals online now, or of all). */
  function unansweredReports(onlineOnly: boolean): number {
    let n = 0
    for (const t of terminals) if (!onlineOnly || t.online) for (const at of t.sentAt) if (at > 0) n++
    return n
  }

  function send(t: Terminal, frame: Buffer, serial: number): void {
    t.sentAt[serial % RING] = performance.now()
    t.socket!.write(frame)
  }

  function nextSerial(t: Terminal): number {
    const s = t.serial
    t.serial = (s + 1) & 0xffff
    return s
  }

  /**
   * The answer to nearly every report — an unescaped 2013 0x8001 of 18 bytes with a good
   * checksum, at [at, at + 18) of buf — read in place: the generator shares the CPU with what it
   * measures. Anything else goes through the codec.
   */
  function onAck(t: Terminal, f: Buffer, at: number): boolean {
    if (f[at] !== 0x80 || f[at + 1] !== 0x01) return false
    let x = 0
    for (let i = at; i < at + 18; i++) {
      if (f[i] === 0x7d) return false
      x ^= f[i]!
    }
    if (x !== 0 || ((f[at + 14]! << 8) | f[at + 15]!) !== reportMsgId) return false
    reportAnswered(t, (f[at + 12]! << 8) | f[at + 13]!, f[at + 16]!)
    return true
  }

  function reportAnswered(t: Terminal, replySerial: number, result: number): void {
    acked += batch
    if (result !== 0) refused += batch
    const at = t.sentAt[replySerial % RING]!
    if (at > 0) {
      hist.record(performance.now() - at)
      t.sentAt[replySerial % RING] = 0
    }
  }

  function onFrame(t: Terminal, escaped: Buffer): void {
    if (escaped.length === 18 && onAck(t, escaped, 0)) return
    const parsed = parseFrame(escaped)
    if (!parsed.ok) return
    const { header, body } = parsed.value
    if (header.msgId === 0x8001) {
      const replySerial = body.readUInt16BE(0)
      const replyId = body.readUInt16BE(2)
      const result = body[4]!
      if (replyId === reportMsgId) reportAnswered(t, replySerial, result)
      else if (replyId === 0x0102) {
        if (result === 0 && !t.online) {
          t.online = true
          authenticated++
        }
      }
    } else if (header.msgId === 0x8100) {
      const reply = decodeBody(header, body)
      const authCode = reply.ok ? (reply.value.body as { authCode?: string }).authCode : undefined
      if (authCode === undefined) return
      const serial = nextSerial(t)
      t.socket!.write(must(encodeMessage({ msgId: 0x0102, phone: t.phone, serial, version: 2013, body: { authCode } } as unknown as Parameters<typeof encodeMessage>[0])))
    }
  }

  function open(t: Terminal): void {
    const member = fleetMember(t.index, { seed: 1, version: 2013 })
    const socket = connect({ host: opts.host, port: opts.port, noDelay: true })
    t.socket = socket
    const deframer = new Deframer({ maxFrameLength: 4096, onFrame: (f) => onFrame(t, f), onError: () => undefined })
    socket.on('data', (chunk: Buffer) => {
      // most reads are exactly one unescaped ack: skip the deframer
      if (chunk.length === 20 && chunk[0] === 0x7e && chunk[19] === 0x7e && deframer.buffered === 0 && onAck(t, chunk, 1)) return
      deframer.push(chunk)
    })
    socket.on('error', () => connectionErrors++)
    socket.on('close', () => {
      t.online = false
    })
    socket.on('connect', () => {
      const serial = nextSerial(t)
      const frame = must(
        encodeMessage({
          msgId: 0x0100,
          phone: t.phone,
          serial,
          version: 2013,
          body: { province: member.province, city: member.city, manufacturer: 'BENCH', model: 'LOADGEN', terminalId: member.terminalId, plateColor: member.plateColor, plate: member.plate },
        } as unknown as Parameters<typeof encodeMessage>[0]),
      )
      socket.write(frame)
    })
  }

  // Connect ramp, then every terminal reports once per intervalMs, spread evenly over the
  // interval: slot s is terminal s % n at (floor(s / n) + (s % n) / n) × intervalMs, so a tick
  // visits only the slots that fell due since the last one.
  const t0 = performance.now()
  const n = terminals.length
  let opened = 0
  let slot = 0
  let lastTick = 0
  const timer = setInterval(() => {
    const elapsed = performance.now() - t0
    if (elapsed - lastTick > TICK_MS + 50) lateTicks++
    lastTick = elapsed
    const shouldBeOpen = Math.min(n, Math.ceil((elapsed / 1000) * connectRate))
    while (running && opened < shouldBeOpen) open(terminals[opened++]!)
    if (!running || !going) return
    for (; (Math.floor(slot / n) + (slot % n) / n) * opts.intervalMs <= elapsed - goAt; slot++) {
      const t = terminals[slot % n]!
      if (!t.online) continue // still connecting: it starts with the next slot of its own
      send(t, patched(t), nextSerial(t))
      sent += batch
    }
  }, TICK_MS)

  return {
    go() {
      if (going) return
      going = true
      goAt = performance.now() - t0
    },
    online: () => authenticated,
    mark() {
      marks.push({ ...hist.snapshot(), ...cpu() })
    },
    report() {
      const from = marks[0] ?? { buckets: new Uint32Array(0), count: 0, cpu: 0, kernel: 0 }
      const to = marks[1] ?? { ...hist.snapshot(), ...cpu() }
      const buckets = Array.from(to.buckets, (v, i) => v - (from.buckets[i] ?? 0))
      const unanswered = unansweredReports(false) * batch
      return {
        terminals: terminals.length,
        authenticated,
        sent,
        acked,
        refused,
        unanswered,
        connectionErrors,
        window: { buckets, count: to.count - from.count, max: hist.max },
        lateTicks,
        cpuSeconds: to.cpu - from.cpu,
        kernelSeconds: to.kernel - from.kernel,
      }
    },
    /** Stops sending, waits (up to 15 s) for the answers still due, then disconnects. */
    async stop() {
      running = false
      clearInterval(timer)
      // (a terminal that went offline will never answer: not waited for)
      for (let waited = 0; waited < 15_000 && unansweredReports(true) > 0; waited += 100) await new Promise((r) => setTimeout(r, 100))
      await Promise.all(
        terminals.map(
          (t) =>
            new Promise<void>((resolve) => {
              if (!t.socket || t.socket.destroyed) return resolve()
              t.socket.once('close', () => resolve())
              t.socket.end()
              setTimeout(() => t.socket?.destroy(), 2000).unref()
            }),
        ),
      )
    },
  }
}

/** Quantile (ms) of merged window buckets from several generators (LatencyHistogram's bucket scheme). */
export function mergedQuantile(reports: LoadgenReport[], q: number): number | null {
  const merged = new Uint32Array(reports[0]?.window.buckets.length ?? 0)
  for (const r of reports) r.window.buckets.forEach((v, i) => (merged[i] += v))
  const count = reports.reduce((n, r) => n + r.window.count, 0)
  const max = Math.max(0, ...reports.map((r) => r.window.max))
  return new LatencyHistogram().quantileOfBuckets(merged, count, max, q)
}

export interface LoadgenChild {
  /** start reporting (with holdUntilGo) */
  go(): void
  mark(): void
  /** terminals authenticated so far */
  online(): Promise<number>
  /** Stops sending, waits for the answers due, disconnects, and reports. */
  stop(): Promise<LoadgenReport>
}

/** Forks a generator process for terminals [first, first + terminals). */
export function startLoadgenChild(opts: LoadgenOptions): LoadgenChild {
  const proc: ChildProcess = fork(new URL(import.meta.url).pathname, ['child', JSON.stringify(opts)], {
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_LOADGEN_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  if (process.env.BENCH_LOADGEN_NICE && proc.pid) os.setPriority(proc.pid, Number(process.env.BENCH_LOADGEN_NICE))
  const ask = <T>(what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: unknown) => {
        const msg = m as { reply?: string; value?: T }
        if (msg.reply !== what) return
        proc.off('message', onMessage)
        proc.off('exit', onExit)
        resolve(msg.value as T)
      }
      const onExit = (code: number | null) => reject(new Error(`loadgen child exited with ${code}`))
      proc.on('message', onMessage)
      proc.once('exit', onExit)
      proc.send(what)
    })
  return {
    go: () => proc.send('go'),
    mark: () => proc.send('mark'),
    online: () => ask<number>('online'),
    stop: () => ask<LoadgenReport>('stop'),
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isEntry && process.argv[2] === 'child') {
  const gen = runLoadgen(JSON.parse(process.argv[3]!) as LoadgenOptions)
  process.on('message', (m) => {
    if (m === 'mark') gen.mark()
    else if (m === 'go') gen.go()
    else if (m === 'online') process.send?.({ reply: 'online', value: gen.online() })
    else if (m === 'stop') void gen.stop().then(() => process.send?.({ reply: 'stop', value: gen.report() }, () => process.exit(0)))
  })
}
