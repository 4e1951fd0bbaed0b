/**
 * What replay and simulate report: frames sent, answers by result code, ack latency
 * percentiles, frames the platform never answered, connection errors. Latencies go into a
 * log-bucketed histogram (1 % resolution) so memory stays fixed however long the run.
 */

/** Fixed-memory latency histogram: bucket i holds values in [1.01^i, 1.01^(i+1)) microseconds. */
export class LatencyHistogram {
  private static readonly BASE = Math.log(1.01)
  private readonly buckets = new Uint32Array(2400) // up to ~ 1.01^2400 µs, far beyond any timeout
  count = 0
  max = 0

  record(ms: number): void {
    const us = Math.max(1, ms * 1000)
    const i = Math.min(this.buckets.length - 1, Math.floor(Math.log(us) / LatencyHistogram.BASE))
    this.buckets[i]++
    this.count++
    if (ms > this.max) this.max = ms
  }

  /** The q-quantile in ms (upper edge of its bucket, within 1 %), or null when empty. */
  quantile(q: number): number | null {
    return this.quantileOfBuckets(this.buckets, this.count, this.max, q)
  }

  /** A copy of the counts so far, for quantiles over a window (`quantileSince`). */
  snapshot(): { buckets: Uint32Array; count: number } {
    return { buckets: this.buckets.slice(), count: this.count }
  }

  /** The q-quantile in ms of what was recorded after `since` was taken (a steady-state window). */
  quantileSince(since: { buckets: Uint32Array; count: number }, q: number): number | null {
    const window = this.buckets.slice()
    for (let i = 0; i < window.length; i++) window[i] -= since.buckets[i]
    return this.quantileOfBuckets(window, this.count - since.count, this.max, q)
  }

  /** The q-quantile in ms of bucket counts in this scheme (e.g. windows of several histograms added up). */
  quantileOfBuckets(buckets: ArrayLike<number>, count: number, max: number, q: number): number | null {
    if (count <= 0) return null
    const rank = Math.max(1, Math.ceil(q * count))
    let seen = 0
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i]
      if (seen >= rank) return Math.min(max, Math.exp((i + 1) * LatencyHistogram.BASE) / 1000)
    }
    return max
  }
}

export interface RunSummary {
  /** frames written to the gateway (including ones not expecting an answer) */
  framesSent: number
  /** frames for which an answer was expected (0x8001, or 0x8100 for 0x0100) */
  framesExpectingAnswer: number
  /** answers by result code ("0" ok, "1" failure, "2" message error, "3" unsupported, …) */
  acksByResult: Record<string, number>
  /** expected answers that never came (timeout or connection closed first) */
  framesWithoutAnswer: number
  /** ack latency in ms */
  ackLatencyMs: { p50: number | null; p99: number | null; max: number | null }
  connections: number
  connectionErrors: number
  /** input frames that did not decode (replay) or deliberately corrupted frames (simulate) */
  badFrames: number
  durationMs: number
  /** frames sent per second over the run */
  framesPerSecond: number
  /** frames sent, by message id ("0x0200") */
  framesById: Record<string, number>
  /** the first connection errors, as text */
  errors: string[]
}

/** Counters shared by replay and simulate; `summary()` freezes them into a RunSummary. */
export class RunStats {
  framesSent = 0
  framesExpectingAnswer = 0
  framesWithoutAnswer = 0
  connections = 0
  connectionErrors = 0
  badFrames = 0
  readonly acksByResult = new Map<number, number>()
  readonly framesById = new Map<number, number>()
  readonly latency = new LatencyHistogram()
  /** recent connection error messages (bounded) */
  readonly errors: string[] = []
  private readonly startedAt: number

  constructor(private readonly now: () => number) {
    this.startedAt = now()
  }

  /** msgId null: a frame whose header does not parse. */
  sent(msgId: number | null, expectsAnswer: boolean): void {
    this.framesSent++
    if (msgId !== null) this.framesById.set(msgId, (this.framesById.get(msgId) ?? 0) + 1)
    if (expectsAnswer) this.framesExpectingAnswer++
  }

  acked(result: number, latencyMs: number): void {
    this.acksByResult.set(result, (this.acksByResult.get(result) ?? 0) + 1)
    this.latency.record(latencyMs)
  }

  get acks(): number {
    let n = 0
    for (const v of this.acksByResult.values()) n += v
    return n
  }

  connectionError(message: string): void {
    this.connectionErrors++
    if (this.errors.length < 20) this.errors.push(message)
  }

  elapsedMs(): number {
    return this.now() - this.startedAt
  }

  summary(): RunSummary {
    const durationMs = Math.round(this.elapsedMs())
    const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000)
    return {
      framesSent: this.framesSent,
      framesExpectingAnswer: this.framesExpectingAnswer,
      acksByResult: Object.fromEntries([...this.acksByResult].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v])),
      framesWithoutAnswer: this.framesWithoutAnswer,
      ackLatencyMs: { p50: round(this.latency.quantile(0.5)), p99: round(this.latency.quantile(0.99)), max: round(this.latency.count ? this.latency.max : null) },
      connections: this.connections,
      connectionErrors: this.connectionErrors,
      badFrames: this.badFrames,
      durationMs,
      framesPerSecond: durationMs > 0 ? Math.round((this.framesSent * 1000) / durationMs) : 0,
      framesById: Object.fromEntries([...this.framesById].sort((a, b) => a[0] - b[0]).map(([k, v]) => ['0x' + k.toString(16).padStart(4, '0'), v])),
      errors: [...this.errors],
    }
  }
}

const RESULT_NAMES: Record<string, string> = { '0': 'ok', '1': 'failure', '2': 'message error', '3': 'unsupported', '4': 'alarm confirmed' }

/** The human-readable summary block both commands print. */
export function formatSummary(s: RunSummary, title: string, extra: Array<[string, string]> = []): string {
  const acks = Object.entries(s.acksByResult)
    .map(([code, n]) => `${n} ${RESULT_NAMES[code] ?? 'result ' + code}${RESULT_NAMES[code] ? ` (${code})` : ''}`)
    .join(', ')
  const ms = (v: number | null) => (v === null ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`)
  const rows: Array<[string, string]> = [
    ['frames sent', `${s.framesSent} (${s.framesPerSecond}/s over ${(s.durationMs / 1000).toFixed(1)} s)`],
    ['answers', acks || 'none'],
    ['ack latency', `p50 ${ms(s.ackLatencyMs.p50)}, p99 ${ms(s.ackLatencyMs.p99)}, max ${ms(s.ackLatencyMs.max)}`],
    ['without answer', `${s.framesWithoutAnswer} of ${s.framesExpectingAnswer} expecting one`],
    ['connections', `${s.connections} (${s.connectionErrors} errors)`],
    ['bad frames', String(s.badFrames)],
    ...extra,
  ]
  const w = Math.max(...rows.map((r) => r[0].length))
  let out = `${title}\n${rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n')}\n`
  if (s.errors.length) {
    out += `  first connection errors:\n`
    for (const e of s.errors.slice(0, 5)) out += `    ${e}\n`
  }
  return out
}
