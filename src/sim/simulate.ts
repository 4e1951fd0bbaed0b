/**
 * Runs many simulated terminals against a gateway from one process: `startSimulation()` is the
 * library API (the benchmarks' load), `jt808 simulate` its command-line face.
 *
 * One Scheduler timer drives every terminal. Each terminal's frames are a function of
 * (seed, index, options) and simulated time only: wall-clock pacing, acks and reconnects change
 * when a frame is sent, not what it says. `timeScale` > 1 runs simulated time faster than the
 * wall (hours of driving in minutes, for matcher tests).
 */
import type { DriverIdentity, Location, Message } from '../../protocol/index.js'
import { isKnownMsgId } from '../../protocol/index.js'
import { ReplyTimeoutError, TerminalClient, resultOf, type TerminalVersion } from '../terminal/client.js'
import { corruptFrame } from './corrupt.js'
import { realClock, type Clock } from './clock.js'
import { fleetMember, type FleetMember } from './fleet.js'
import { Scheduler } from './scheduler.js'
import { RunStats, type RunSummary } from './stats.js'
import { SimVehicle, type InjectOptions, type Injection, type Uplink } from './vehicle.js'

export interface SimulationOptions {
  target: { host: string; port: number }
  terminals: number
  /** Index of the first terminal (several processes can split a fleet). Default 0. */
  firstIndex?: number
  /** Simulated seconds between one terminal's position reports. Default 30. */
  intervalS?: number
  /** Positions per second across the fleet (sets intervalS to terminals / rate); wins over intervalS. */
  rate?: number
  /** Simulated seconds per wall second. Default 1. */
  timeScale?: number
  /** Wall ms to run; null runs until stop(). */
  durationMs?: number | null
  version?: TerminalVersion
  /** How a terminal gets on: register (0x0100) then authenticate, authenticate with a known code, or neither (a test double). */
  auth?: 'register' | 'authenticate' | 'none'
  /** The auth code of a terminal (auth: "authenticate"). */
  authCode?: (member: FleetMember) => string
  seed?: number
  /** Simulated start (UTC ms). Default: now. */
  startTime?: number
  phonePrefix?: string
  heartbeatS?: number
  inject?: InjectOptions
  /** New connections per wall second while ramping up. Default 1000. */
  connectRate?: number
  replyTimeoutMs?: number
  clock?: Clock
  /** Every frame written, in order, per terminal (determinism tests, capture). */
  onFrame?: (phone: string, frame: Buffer, msgId: number) => void
  /** Send 0x0003 (deregistration: the platform revokes the auth code) before closing at the end. Default false: just disconnect, as a terminal does when it powers off. */
  logout?: boolean
}

export interface SimulationResult extends RunSummary {
  terminals: number
  /** terminals that completed authentication at least once */
  authenticated: number
  /** simulated time every terminal's timeline has covered, ms */
  simulatedMs: number
  /** injected conditions actually sent, by type (a terminal never online sent none of its own) */
  injections: Record<string, number>
  /** registration/authentication refusals by result code ("register:3", "auth:1"); their answers are not in acksByResult */
  refusals: Record<string, number>
  /** every terminal was refused for good, so the run stopped early */
  allRefused: boolean
}

/** 0x8100 results other than 0 (JT/T 808-2013 table 8.4), as the simulator's summary names them. */
export const REGISTER_REFUSALS: Record<number, string> = {
  1: 'vehicle already bound to another terminal',
  2: 'vehicle not in the registry',
  3: 'terminal already registered to another vehicle',
  4: 'terminal not in the registry',
}

export interface Simulation {
  readonly stats: RunStats
  /** frames written so far that expect an answer and have none yet */
  readonly inFlight: number
  /** terminals authenticated right now */
  readonly online: number
  /** simulated time now (UTC ms) */
  readonly simNow: number
  /** The ground truth: every injected condition so far. */
  injections(): Injection[]
  /** Stops sending, waits for outstanding answers (bounded by the reply timeout), closes. */
  stop(): Promise<SimulationResult>
  /** Resolves when the run ends (duration reached, or stop()). */
  readonly done: Promise<SimulationResult>
}

interface SimTerminal {
  member: FleetMember
  vehicle: SimVehicle
  client: TerminalClient | null
  connecting: boolean
  online: boolean
  everOnline: boolean
  authCode: string | null
  backoffMs: number
  /** Driver-card events that could not be sent (offline): sent after the next authentication. */
  heldCards: DriverIdentity[]
  /** stopped after a definitive refusal (e.g. no such vehicle) */
  refused: boolean
  /** simulated time up to which this terminal's timeline has run */
  ranUntil: number
  /** simulated time up to which every fix has been sent (fixes held back while offline are not) */
  doneUntil: number
}

export function startSimulation(options: SimulationOptions): Simulation {
  const clock = options.clock ?? realClock
  const seed = options.seed ?? 1
  const version = options.version ?? 2013
  const intervalS = options.rate !== undefined && options.rate > 0 ? options.terminals / options.rate : (options.intervalS ?? 30)
  const timeScale = options.timeScale ?? 1
  const auth = options.auth ?? 'register'
  const replyTimeoutMs = options.replyTimeoutMs ?? 10_000
  const connectRate = options.connectRate ?? 1000
  const stats = new RunStats(() => clock.now())
  const scheduler = new Scheduler(clock)
  const wallStart = clock.now()
  const simStart = options.startTime ?? Date.now()
  const wallOf = (sim: number) => wallStart + (sim - simStart) / timeScale
  const refusals = new Map<number, number>()
  let inFlight = 0
  let online = 0
  let running = true
  let allRefused = false
  let settleWaiter: (() => void) | null = null

  const terminals: SimTerminal[] = []
  const first = options.firstIndex ?? 0
  for (let i = 0; i < options.terminals; i++) {
    const member = fleetMember(first + i, { seed, version, phonePrefix: options.phonePrefix })
    const vehicle = new SimVehicle(member, { intervalS, heartbeatS: options.heartbeatS, startTime: simStart, seed, inject: options.inject })
    terminals.push({
      member,
      vehicle,
      client: null,
      connecting: false,
      online: false,
      everOnline: false,
      authCode: null,
      backoffMs: 1000,
      heldCards: [],
      refused: false,
      ranUntil: simStart,
      doneUntil: simStart,
    })
  }

  const track = (promise: Promise<Message>, sentAt: number, onAnswer?: (m: Message) => void) => {
    inFlight++
    promise
      .then(
        (m) => {
          stats.acked(resultOf(m), clock.now() - sentAt)
          onAnswer?.(m)
        },
        (e: Error) => {
          stats.framesWithoutAnswer++
          if (!(e instanceof ReplyTimeoutError)) stats.connectionError(e.message)
        },
      )
      .finally(() => {
        inFlight--
        if (inFlight === 0 && settleWaiter) settleWaiter()
      })
  }

  /** Encodes and writes one message; the answer is counted in stats. */
  const send = (st: SimTerminal, msgId: number, body: unknown): Promise<Message> | null => {
    const c = st.client
    if (!c || c.isClosed) return null
    let encoded: { frame: Buffer; serial: number }
    try {
      encoded = c.encode(msgId, body)
    } catch (e) {
      stats.connectionError(`${st.member.phone}: ${(e as Error).message}`)
      return null
    }
    options.onFrame?.(st.member.phone, encoded.frame, msgId)
    stats.sent(msgId, true)
    const sentAt = clock.now()
    const p = c.sendFrame(encoded.frame, msgId, encoded.serial, replyTimeoutMs)
    track(p, sentAt)
    return p
  }

  const deliver = (st: SimTerminal, uplinks: Uplink[]) => {
    for (const u of uplinks) {
      if (!st.online) {
        // Offline: a real terminal keeps its positions for a blind-area upload, and its card events.
        if (u.kind === 'position') st.vehicle.holdBack(u.location)
        else if (u.kind === 'blind-batch') for (const l of u.items) st.vehicle.holdBack(l)
        else if (u.kind === 'driver-card') st.heldCards.push(u.body)
        continue
      }
      switch (u.kind) {
        case 'position':
          if (!send(st, 0x0200, u.location)) st.vehicle.holdBack(u.location)
          break
        case 'heartbeat':
          send(st, 0x0002, {})
          break
        case 'blind-batch':
          if (isKnownMsgId(0x0704)) send(st, 0x0704, { type: 1, items: u.items })
          break
        case 'driver-card':
          if (isKnownMsgId(0x0702)) send(st, 0x0702, u.body)
          break
        case 'bad-frame':
          sendBad(st, u.location)
          break
      }
    }
  }

  const sendBad = (st: SimTerminal, location: Location) => {
    const c = st.client
    if (!c) return
    const { frame } = c.encode(0x0200, location)
    const bad = corruptFrame(frame)
    options.onFrame?.(st.member.phone, bad, 0x0200)
    stats.sent(0x0200, false)
    stats.badFrames++
    c.sendRaw(bad)
  }

  const wake = (st: SimTerminal) => {
    if (!running) return
    const at = st.vehicle.nextWakeAt
    deliver(st, st.vehicle.wake(at))
    st.ranUntil = at
    if (st.online) st.doneUntil = at
    scheduler.at(wallOf(st.vehicle.nextWakeAt), () => wake(st))
  }

  const goOnline = (st: SimTerminal) => {
    st.online = true
    st.everOnline = true
    st.backoffMs = 1000
    online++
    const cards = st.heldCards.splice(0)
    for (const body of cards) if (isKnownMsgId(0x0702)) send(st, 0x0702, body)
    deliver(st, st.vehicle.takeBlindBatches())
    st.doneUntil = st.ranUntil
  }

  const handshake = async (st: SimTerminal) => {
    const c = st.client as TerminalClient
    if (auth === 'none') return goOnline(st)
    if (auth === 'register' && st.authCode === null) {
      const fields = {
        province: st.member.province,
        city: st.member.city,
        manufacturer: 'SIM01',
        model: 'HZ-808',
        terminalId: st.member.terminalId,
        plateColor: st.member.plateColor,
        plate: st.member.plate,
      }
      const sentAt = clock.now()
      stats.sent(0x0100, true)
      inFlight++
      try {
        const encoded = c.encode(0x0100, fields)
        options.onFrame?.(st.member.phone, encoded.frame, 0x0100)
        const reply = await c.sendFrame(encoded.frame, 0x0100, encoded.serial, replyTimeoutMs)
        const result = resultOf(reply)
        if (result !== 0) {
          // A refusal is an answer, but not an acknowledgement: counted in refusals, not acksByResult
          // (whose codes are 0x8001's, where 3 means "unsupported").
          stats.latency.record(clock.now() - sentAt)
          refusals.set(result, (refusals.get(result) ?? 0) + 1)
          // Without a code we cannot authenticate; nothing more to do for this terminal.
          st.refused = true
          c.destroy()
          if (terminals.every((x) => x.refused)) {
            allRefused = true
            void stop()
          }
          return
        }
        stats.acked(result, clock.now() - sentAt)
        st.authCode = (reply.body as { authCode?: string }).authCode ?? ''
      } catch (e) {
        if (e instanceof ReplyTimeoutError) stats.framesWithoutAnswer++
        throw e
      } finally {
        inFlight--
        if (inFlight === 0 && settleWaiter) settleWaiter()
      }
    }
    const code = st.authCode ?? options.authCode?.(st.member) ?? ''
    const p = send(st, 0x0102, version === 2019 ? { authCode: code, imei: st.member.phone.slice(-15), softwareVersion: 'sim-1.0' } : { authCode: code })
    if (!p) return
    const result = resultOf(await p)
    if (result === 0) goOnline(st)
    else {
      refusals.set(100 + result, (refusals.get(100 + result) ?? 0) + 1)
      st.authCode = null // register again next time (the platform may have forgotten us)
      c.destroy()
    }
  }

  const connect = (st: SimTerminal) => {
    if (!running || st.connecting || st.refused) return
    st.connecting = true
    TerminalClient.connect(options.target.host, options.target.port, {
      phone: st.member.phone,
      version,
      replyTimeoutMs,
      currentPosition: () => st.vehicle.lastLocation,
      onClose: () => {
        if (st.online) online--
        st.online = false
        st.client = null
        if (running && !st.refused) {
          stats.connectionError(`${st.member.phone}: connection closed`)
          scheduler.at(clock.now() + st.backoffMs, () => connect(st))
          st.backoffMs = Math.min(30_000, st.backoffMs * 2)
        }
      },
      onError: () => {},
    }).then(
      (client) => {
        st.connecting = false
        stats.connections++
        if (!running) {
          client.destroy()
          return
        }
        st.client = client
        handshake(st).catch((e: Error) => {
          stats.connectionError(`${st.member.phone}: ${e.message}`)
          client.destroy()
        })
      },
      (e: Error) => {
        st.connecting = false
        stats.connectionError(`${st.member.phone}: ${e.message}`)
        if (running) {
          scheduler.at(clock.now() + st.backoffMs, () => connect(st))
          st.backoffMs = Math.min(30_000, st.backoffMs * 2)
        }
      },
    )
  }

  // Ramp up at connectRate; each terminal's simulated timeline starts at once regardless.
  terminals.forEach((st, i) => {
    scheduler.at(wallStart + (i * 1000) / connectRate, () => connect(st))
    scheduler.at(wallOf(st.vehicle.nextWakeAt), () => wake(st))
  })

  let resolveDone!: (r: SimulationResult) => void
  const done = new Promise<SimulationResult>((resolve) => (resolveDone = resolve))
  let stopping: Promise<SimulationResult> | null = null
  let durationTimer: unknown = null

  const stop = (): Promise<SimulationResult> => {
    if (stopping) return stopping
    stopping = (async () => {
      running = false
      scheduler.stop()
      if (durationTimer !== null) clock.clearTimer(durationTimer)
      // Outstanding answers: wait for them, bounded by the reply timeout (which settles each one).
      if (inFlight > 0) await new Promise<void>((resolve) => (settleWaiter = resolve))
      if (options.logout === true) {
        for (const st of terminals) if (st.online && st.client) st.client.post(0x0003, {})
      }
      await Promise.all(terminals.map((st) => st.client?.close()))
      // Only what was sent: an injection counts once its terminal's sent fixes reached its start.
      const injections: Record<string, number> = {}
      for (const st of terminals) {
        if (!st.everOnline) continue
        for (const i of st.vehicle.injections) if (i.from <= st.doneUntil) injections[i.type] = (injections[i.type] ?? 0) + 1
      }
      const result: SimulationResult = {
        ...stats.summary(),
        terminals: terminals.length,
        authenticated: terminals.filter((t) => t.everOnline).length,
        // What every terminal's timeline has covered (wakes may lag the wall clock under load).
        simulatedMs: Math.round(terminals.reduce((m, t) => Math.min(m, t.doneUntil), Infinity) - simStart),
        injections,
        refusals: Object.fromEntries([...refusals].map(([k, v]) => [k >= 100 ? `auth:${k - 100}` : `register:${k}`, v])),
        allRefused,
      }
      resolveDone(result)
      return result
    })()
    return stopping
  }

  if (options.durationMs != null) durationTimer = clock.setTimer(() => void stop(), options.durationMs)

  return {
    stats,
    get inFlight() {
      return inFlight
    },
    get online() {
      return online
    },
    get simNow() {
      return simStart + (clock.now() - wallStart) * timeScale
    },
    injections: () => terminals.flatMap((t) => t.vehicle.injections),
    stop,
    done,
  }
}
