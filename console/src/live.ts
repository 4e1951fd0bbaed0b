/**
 * The live anomaly list, shared by every view: opened at sign-in from GET /anomalies (open ones)
 * and kept current by the SSE feed. Counts critical anomalies opened since the list was last
 * looked at (the badge), and beeps for them when sound is on.
 */
import { api, subscribe, type Subscription } from './api.js'

export interface Anomaly {
  id: string
  type: string
  status: 'open' | 'closed'
  severity: 'info' | 'warning' | 'critical'
  plate: string
  plateColor: number
  waybillNo: string | null
  enterpriseLicenseNo: string | null
  startedAt: string
  endedAt: string | null
  lastSeenAt: string
  evidence: Record<string, unknown>
  handling?: string | null
}

const MAX_KEPT = 2000

export class LiveAnomalies {
  readonly byId = new Map<string, Anomaly>()
  unseenCritical = 0
  connected = false
  private listeners = new Set<() => void>()
  private feed: Subscription | null = null

  async start(): Promise<void> {
    const page = await api<{ items: Anomaly[] }>('/anomalies', { query: { status: 'open', limit: 500 } })
    for (const a of page.items.reverse()) this.byId.set(a.id, a)
    this.feed = subscribe(
      '/anomalies/stream',
      (e) => {
        if (!e.event.startsWith('anomaly.')) return
        const { anomaly } = JSON.parse(e.data) as { anomaly: Anomaly }
        const known = this.byId.get(anomaly.id)
        this.byId.delete(anomaly.id) // re-insert: newest last
        this.byId.set(anomaly.id, { ...anomaly, handling: anomaly.handling ?? known?.handling ?? null })
        if (e.event === 'anomaly.opened' && anomaly.severity === 'critical') {
          this.unseenCritical++
          beep()
        }
        while (this.byId.size > MAX_KEPT) this.byId.delete(this.byId.keys().next().value as string)
        this.emit()
      },
      (connected) => {
        this.connected = connected
        this.emit()
      },
    )
    window.__console.feed = { pause: () => this.feed?.pause(), resume: () => this.feed?.resume() }
    this.emit()
  }

  /** Newest first. */
  list(): Anomaly[] {
    return [...this.byId.values()].reverse()
  }

  seen(): void {
    if (this.unseenCritical === 0) return
    this.unseenCritical = 0
    this.emit()
  }

  update(a: Anomaly): void {
    if (this.byId.has(a.id)) this.byId.set(a.id, a)
    this.emit()
  }

  on(f: () => void): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }

  close(): void {
    this.feed?.stop()
    this.listeners.clear()
  }

  private emit() {
    for (const f of this.listeners) f()
  }
}

export const sound = { on: localStorage.getItem('jt808.console.sound') === 'on' }

function beep(): void {
  if (!sound.on) return
  try {
    const ctx = new AudioContext()
    const osc = ctx.createOscillator()
    osc.frequency.value = 880
    osc.connect(ctx.destination)
    osc.start()
    osc.stop(ctx.currentTime + 0.25)
  } catch {
    // no audio device: the badge still counts
  }
}
