/**
 * Replays captured frames against a gateway with their original timing scaled by `speed`
 * (`jt808 replay`; the benchmark reuses it). The bytes go out as captured, except:
 *   - `rewritePhone`: each terminal's phone becomes PREFIX + a sequence number (header only; the
 *     checksum is recomputed), and `copies` > 1 replays the capture as that many terminals;
 *   - a 0x0102 after a replayed 0x0100 carries the code the gateway just issued, and when the
 *     capture has no 0x0102 after its 0x0100 the replay sends one (the terminal's side of 0x8100).
 * Every frame that expects an answer (0x8001, or 0x8100 for 0x0100) is tracked until the answer
 * or the timeout. Bad frames in the capture are sent as they are, reported, and expect nothing.
 */
import { decodeBody, encodeFrameWithBody, encodeMessage, parseFrame, type Header, type Message, type OutgoingMessage } from '../../protocol/index.js'
import { ReplyTimeoutError, TerminalClient, resultOf, type TerminalVersion } from '../terminal/client.js'
import type { CaptureFrame, CaptureProblem } from './capture.js'
import { realClock, sleep, type Clock } from './clock.js'
import { RunStats, type RunSummary } from './stats.js'

export interface ReplayOptions {
  target: { host: string; port: number }
  frames: CaptureFrame[]
  /** Problems met while reading the capture (reported in the summary). */
  problems?: CaptureProblem[]
  /** Time scale: 2 replays twice as fast; Infinity ("max") as fast as answers allow. Default 1. */
  speed?: number
  /** Times through the capture; Infinity loops until stop(). Default 1. */
  loops?: number
  copies?: number
  rewritePhone?: string | null
  connections?: 'per-terminal' | 'single'
  /** Frames awaiting an answer per connection before the replay waits. Default 64. */
  window?: number
  replyTimeoutMs?: number
  clock?: Clock
  /** Skip capture frames that are bad instead of sending them. Default false. */
  skipBad?: boolean
  /** Called for every frame written: what and when (clock ms since start). */
  onSend?: (frame: ReplayedFrame) => void
}

export interface ReplayedFrame {
  source: string
  phone: string
  msgId: number | null
  serial: number | null
  bytes: Buffer
  /** clock ms since the replay started */
  at: number
  synthesized: boolean
}

export interface ReplaySummary extends RunSummary {
  /** frames that could not be written (no connection) */
  framesNotSent: number
  /** 0x0102 frames the replay wrote itself after a 0x8100 */
  synthesized: number
  /** capture lines/frames that were bad, first ones listed */
  problems: CaptureProblem[]
  loops: number
  copies: number
  /** true when every frame expecting an answer was written and answered with result 0 */
  allAcknowledged: boolean
}

/** Terminal-originated ids that answer the platform (they get no answer back). */
const TERMINAL_REPLIES = new Set([0x0001, 0x0104, 0x0107, 0x0201, 0x0302, 0x0500, 0x0608, 0x0700, 0x0802, 0x0805])

/** Whether the platform answers this frame: 0x8001 (or 0x8100 for 0x0100); 0x0801 fragments end with 0x8800 instead. */
export function expectsAnswer(h: Header): boolean {
  if (h.msgId >= 0x8000 || TERMINAL_REPLIES.has(h.msgId)) return false
  if (h.msgId === 0x0801) return false
  return true
}

interface Conn {
  key: string
  client: TerminalClient | null
  connecting: Promise<TerminalClient | null> | null
  inFlight: number
  waiters: Array<() => void>
  /** capture connection id last seen for this terminal (a change means the device reconnected) */
  tag: string | null
  /** the auth code the gateway issued to this terminal in this replay */
  freshCode: string | null
  nextConnectAt: number
  /** set while the replay itself closes the connection, or after a 0x0003 (the gateway then closes): not an error */
  closing: boolean
}

export interface Replay {
  readonly stats: RunStats
  readonly total: number | null
  readonly done: Promise<ReplaySummary>
  stop(): void
}

export function startReplay(options: ReplayOptions): Replay {
  const clock = options.clock ?? realClock
  const speed = options.speed ?? 1
  const loops = options.loops ?? 1
  const copies = Math.max(1, options.copies ?? 1)
  const window = options.window ?? 64
  const replyTimeoutMs = options.replyTimeoutMs ?? 10_000
  const single = options.connections === 'single'
  const stats = new RunStats(() => clock.now())
  const started = clock.now()
  const conns = new Map<string, Conn>()
  const problems = [...(options.problems ?? [])]
  let framesNotSent = 0
  let synthesized = 0
  let stopped = false
  let outstanding = 0
  let idle: (() => void) | null = null
  const frames = options.frames
  stats.badFrames = problems.length

  // Phone rewriting: each distinct original phone gets a sequence number, per copy.
  const phoneIndex = new Map<string, number>()
  for (const f of frames) if (f.phone !== null && !phoneIndex.has(f.phone)) phoneIndex.set(f.phone, phoneIndex.size)
  const newPhone = (phone: string, copy: number, digits: number): string => {
    const prefix = options.rewritePhone as string
    const n = String(copy * phoneIndex.size + (phoneIndex.get(phone) ?? 0))
    if (prefix.length + n.length > digits) throw new Error(`--rewrite-phone ${prefix}: ${copies} copies of ${phoneIndex.size} terminals do not fit ${digits} digits`)
    return prefix + n.padStart(digits - prefix.length, '0')
  }

  // For each 0x0100, does the capture authenticate afterwards (before the next 0x0100)?
  const authFollows = new Set<CaptureFrame>()
  {
    const lastRegister = new Map<string, number>()
    frames.forEach((f, i) => {
      if (!f.header || f.error) return
      if (f.header.msgId === 0x0100) lastRegister.set(f.header.phone, i)
      else if (f.header.msgId === 0x0102) {
        const r = lastRegister.get(f.header.phone)
        if (r !== undefined) authFollows.add(frames[r])
        lastRegister.delete(f.header.phone)
      }
    })
  }

  const settle = (c: Conn) => {
    c.inFlight--
    outstanding--
    const w = c.waiters.shift()
    if (w) w()
    if (outstanding === 0 && idle) idle()
  }

  const getClient = async (key: string, phone: string, version: TerminalVersion): Promise<{ conn: Conn; client: TerminalClient | null }> => {
    let conn = conns.get(key)
    if (!conn) {
      conn = { key, client: null, connecting: null, inFlight: 0, waiters: [], tag: null, freshCode: null, nextConnectAt: 0, closing: false }
      conns.set(key, conn)
    }
    if (conn.client && !conn.client.isClosed) return { conn, client: conn.client }
    if (conn.client?.isClosed) conn.client = null
    if (!conn.connecting) {
      if (clock.now() < conn.nextConnectAt) return { conn, client: null }
      const c = conn
      c.connecting = TerminalClient.connect(options.target.host, options.target.port, {
        phone,
        version,
        replyTimeoutMs,
        onClose: () => {
          if (!c.closing) stats.connectionError(`${key}: connection closed by the gateway`)
          c.closing = false
        },
        onError: () => {},
      }).then(
        (client) => {
          stats.connections++
          c.client = client
          c.connecting = null
          return client
        },
        (e: Error) => {
          stats.connectionError(`${key}: ${e.message}`)
          c.connecting = null
          c.nextConnectAt = clock.now() + 1000
          return null
        },
      )
    }
    return { conn, client: await conn.connecting }
  }

  /** Frame bytes for this copy: phone rewritten and 0x0102 given the fresh code, when asked. */
  const bytesFor = (f: CaptureFrame, copy: number, conn: Conn | null): { bytes: Buffer; phone: string } => {
    const h = f.header
    if (!h || f.error) return { bytes: f.bytes, phone: f.phone ?? 'unknown' }
    const digits = h.version === 2019 ? 20 : 12
    const phone = options.rewritePhone ? newPhone(h.phone, copy, digits) : h.phone
    const freshCode = h.msgId === 0x0102 ? conn?.freshCode : null
    // A renumbered terminal is another vehicle too: its 0x0100 plate gets the same number, or
    // the gateway would refuse it as "vehicle already registered" to the original terminal.
    const plateSuffix = h.msgId === 0x0100 && options.rewritePhone ? '-' + phone.slice(options.rewritePhone.length).replace(/^0+(?=.)/, '') : null
    if (phone === h.phone && !freshCode && !plateSuffix) return { bytes: f.bytes, phone }
    const parsed = parseFrame(f.bytes.subarray(1, -1))
    if (!parsed.ok) return { bytes: f.bytes, phone: h.phone }
    const header = { ...parsed.value.header, phone }
    const body = parsed.value.body
    if (freshCode || plateSuffix) {
      const m = decodeBody(header, body)
      if (m.ok) {
        const old = m.value.body as { plate?: string }
        const b = freshCode ? { ...old, authCode: freshCode } : { ...old, plate: (old.plate ?? '') + plateSuffix }
        const e = encodeMessage({ ...m.value, phone, body: b } as OutgoingMessage)
        if (e.ok) return { bytes: e.value, phone }
      }
    }
    const e = encodeFrameWithBody(header, body)
    return { bytes: e.ok ? e.value : f.bytes, phone }
  }

  const send = async (f: CaptureFrame, copy: number): Promise<void> => {
    const h = f.header
    const bad = f.error !== null || h === null
    if (bad) {
      if (copy === 0) {
        stats.badFrames++
        if (problems.length < 1000) problems.push({ source: f.source, message: `${f.error?.code}: ${f.error?.message}` })
      }
      if (options.skipBad) return
    }
    const version: TerminalVersion = h?.version === 2019 ? 2019 : 2013
    const origPhone = h?.phone ?? f.phone ?? 'unknown'
    const phone0 = options.rewritePhone && h ? newPhone(h.phone, copy, version === 2019 ? 20 : 12) : origPhone
    const key = single ? 'single' : phone0
    const { conn, client: c0 } = await getClient(key, phone0, version)
    let client = c0
    // The device reconnected in the capture: do the same.
    if (!single && f.connection !== null && conn.tag !== null && conn.tag !== f.connection && client) {
      while (conn.inFlight > 0) await new Promise<void>((r) => conn.waiters.push(r))
      conn.closing = true
      await client.close()
      conn.client = null
      client = (await getClient(key, phone0, version)).client
    }
    if (f.connection !== null) conn.tag = f.connection
    const msgId = h?.msgId ?? null
    if (!client) {
      framesNotSent++
      return
    }
    const { bytes, phone } = bytesFor(f, copy, conn)
    if (h?.msgId === 0x0003) conn.closing = true
    const expect = !bad && h !== null && expectsAnswer(h)
    stats.sent(msgId, expect)
    options.onSend?.({ source: f.source, phone, msgId, serial: h?.serial ?? null, bytes, at: clock.now() - started, synthesized: false })
    if (!expect || !h) {
      client.sendRaw(bytes)
      await drain(client)
      return
    }
    while (conn.inFlight >= window) await new Promise<void>((r) => conn.waiters.push(r))
    conn.inFlight++
    outstanding++
    const sentAt = clock.now()
    const answer = client.sendFrame(bytes, h.msgId, h.serial, replyTimeoutMs)
    const handled = answer.then(
      (m) => {
        stats.acked(resultOf(m), clock.now() - sentAt)
        return m
      },
      (e: Error) => {
        stats.framesWithoutAnswer++
        if (!(e instanceof ReplyTimeoutError)) stats.connectionError(`${key}: ${e.message}`)
        return null
      },
    )
    handled.finally(() => settle(conn))
    // Registration and authentication change what later frames mean: wait for them.
    if (h.msgId === 0x0100) {
      const m = await handled
      if (m && m.msgId === 0x8100 && resultOf(m) === 0) {
        conn.freshCode = (m.body as { authCode?: string }).authCode ?? ''
        if (!authFollows.has(f)) await authenticate(conn, client, phone, version)
      }
    } else if (h.msgId === 0x0102) await handled
    await drain(client)
  }

  /** The terminal's side of 0x8100 when the capture has none: 0x0102 with the code just issued. */
  const authenticate = async (conn: Conn, client: TerminalClient, phone: string, version: TerminalVersion) => {
    const code = conn.freshCode ?? ''
    const body = version === 2019 ? { authCode: code, imei: phone.slice(-15).padStart(15, '0'), softwareVersion: 'replay' } : { authCode: code }
    const serial = client.nextSerial()
    const out = encodeMessage({ msgId: 0x0102, phone, serial, version, body })
    if (!out.ok) return
    synthesized++
    stats.sent(0x0102, true)
    options.onSend?.({ source: 'replay', phone, msgId: 0x0102, serial, bytes: out.value, at: clock.now() - started, synthesized: true })
    const sentAt = clock.now()
    conn.inFlight++
    outstanding++
    try {
      const m = await client.sendFrame(out.value, 0x0102, serial, replyTimeoutMs)
      stats.acked(resultOf(m), clock.now() - sentAt)
    } catch {
      stats.framesWithoutAnswer++
    } finally {
      settle(conn)
    }
  }

  const drain = async (client: TerminalClient) => {
    if (client.socket.writableNeedDrain) await client.drained()
  }

  const run = async (): Promise<ReplaySummary> => {
    const timed = frames.filter((f) => f.t !== null)
    const t0 = timed.length ? (timed[0].t as number) : 0
    const span = timed.length ? (timed[timed.length - 1].t as number) - t0 : 0
    for (let loop = 0; loop < loops && !stopped; loop++) {
      // Loops follow each other with the capture's own span plus one second between them.
      const loopOffset = loop * (span + 1000)
      for (const f of frames) {
        if (stopped) break
        if (Number.isFinite(speed) && f.t !== null) {
          const due = started + (f.t - t0 + loopOffset) / speed
          const wait = due - clock.now()
          if (wait > 0) await sleep(clock, wait)
        }
        for (let copy = 0; copy < copies && !stopped; copy++) await send(f, copy)
      }
    }
    if (outstanding > 0) await new Promise<void>((r) => (idle = r))
    await Promise.all(
      [...conns.values()].map((c) => {
        c.closing = true
        return c.client?.close()
      }),
    )
    const summary = stats.summary()
    const acksOk = stats.acksByResult.get(0) ?? 0
    return {
      ...summary,
      framesNotSent,
      synthesized,
      problems: problems.slice(0, 50),
      loops,
      copies,
      allAcknowledged: summary.framesWithoutAnswer === 0 && framesNotSent === 0 && acksOk === summary.framesExpectingAnswer,
    }
  }

  const total = Number.isFinite(loops) ? frames.length * copies * loops : null
  const done = run()
  return {
    stats,
    total,
    done,
    stop: () => {
      stopped = true
    },
  }
}

export type { Message }
