/**
 * Progress while a run goes: a redrawn bar on a terminal (frames, rate, ETA), plain lines every
 * few seconds otherwise (logs, CI). Drawing is throttled; the caller just reports counts.
 */
export interface ProgressSnapshot {
  done: number
  /** null when the total is unknown (looping replay, simulate without --duration) */
  total: number | null
  acked: number
  unanswered: number
  errors: number
  /** ms since start */
  elapsedMs: number
  /** ms of the run still to go when known by time (simulate --duration), else estimated from the rate */
  remainingMs?: number | null
}

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  /** ms between redraws on a TTY (default 200) and between plain lines otherwise (default 5000) */
  intervalMs?: number
  label?: string
  /** forced off (e.g. --json, or --quiet) */
  enabled?: boolean
}

export class Progress {
  private lastDraw = -Infinity
  private lastDone = 0
  private lastAt = 0
  private rate = 0
  private drewBar = false
  readonly tty: boolean
  private readonly interval: number

  constructor(private readonly options: ProgressOptions) {
    this.tty = Boolean(options.stream.isTTY)
    this.interval = options.intervalMs ?? (this.tty ? 200 : 5000)
  }

  update(s: ProgressSnapshot, force = false): void {
    if (this.options.enabled === false) return
    if (!force && s.elapsedMs - this.lastDraw < this.interval) return
    const dt = s.elapsedMs - this.lastAt
    if (dt > 0) {
      const instant = ((s.done - this.lastDone) * 1000) / dt
      // Smooth so the ETA does not jump about with every burst.
      this.rate = this.lastAt === 0 ? instant : 0.7 * this.rate + 0.3 * instant
    }
    this.lastDone = s.done
    this.lastAt = s.elapsedMs
    this.lastDraw = s.elapsedMs
    const line = this.tty ? this.bar(s) : this.plain(s)
    if (this.tty) {
      this.options.stream.write(`\r${line}\x1b[K`)
      this.drewBar = true
    } else this.options.stream.write(line + '\n')
  }

  /** Ends the bar's line so the summary starts on a fresh one. */
  finish(): void {
    if (this.tty && this.drewBar) this.options.stream.write('\n')
  }

  private eta(s: ProgressSnapshot): string {
    if (s.remainingMs !== undefined && s.remainingMs !== null) return formatDuration(s.remainingMs)
    if (s.total === null || this.rate <= 0) return '–'
    return formatDuration(((s.total - s.done) / this.rate) * 1000)
  }

  private bar(s: ProgressSnapshot): string {
    const label = this.options.label ? this.options.label + ' ' : ''
    const tail = ` ${s.done}${s.total !== null ? '/' + s.total : ''} frames  ${Math.round(this.rate)}/s  acked ${s.acked}  unanswered ${s.unanswered}  errors ${s.errors}  ETA ${this.eta(s)}`
    const width = Math.max(10, Math.min(40, (this.options.stream.columns ?? 100) - tail.length - label.length - 4))
    const f = s.total ? Math.min(1, s.done / s.total) : s.remainingMs != null && s.elapsedMs + s.remainingMs > 0 ? s.elapsedMs / (s.elapsedMs + s.remainingMs) : 0
    const filled = Math.round(f * width)
    return `${label}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`
  }

  private plain(s: ProgressSnapshot): string {
    const label = this.options.label ? this.options.label + ': ' : ''
    return `${label}${formatDuration(s.elapsedMs)} elapsed, ${s.done}${s.total !== null ? '/' + s.total : ''} frames, ${Math.round(this.rate)}/s, acked ${s.acked}, unanswered ${s.unanswered}, errors ${s.errors}, ETA ${this.eta(s)}`
  }
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–'
  const s = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  return h ? `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`
}

/** "90", "90s", "5m", "1h30m", "250ms" -> ms. */
export function parseDuration(text: string): number | null {
  const t = text.trim()
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g
  let total = 0
  let consumed = 0
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms']
    consumed += m[0].length
  }
  return consumed === t.length && consumed > 0 ? total : null
}
