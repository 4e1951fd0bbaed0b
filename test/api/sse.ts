/** A small Server-Sent Events client for tests (node:http), and anomaly event fixtures. */
import http from 'node:http'
import type { Anomaly, AnomalyEvent, AnomalyEventKind } from '../../src/domain.js'

export interface SseEvent {
  id: string | null
  event: string | null
  data: string
}

export interface SseClient {
  status: number
  events: SseEvent[]
  comments: string[]
  /** resolves when at least n events have arrived (rejects after timeoutMs) */
  waitFor(n: number, timeoutMs?: number): Promise<SseEvent[]>
  closed: Promise<void>
  close(): void
}

export function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = []
      const comments: string[] = []
      let buffer = ''
      const waiters: Array<() => void> = []
      let closedResolve: () => void
      const closed = new Promise<void>((r) => (closedResolve = r))
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let at: number
        while ((at = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, at)
          buffer = buffer.slice(at + 2)
          const e: SseEvent = { id: null, event: null, data: '' }
          let isEvent = false
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) {
              comments.push(line.slice(1).trim())
              continue
            }
            if (line.startsWith('id: ')) e.id = line.slice(4)
            else if (line.startsWith('event: ')) e.event = line.slice(7)
            else if (line.startsWith('data: ')) e.data += line.slice(6)
            else continue
            isEvent = true
          }
          if (isEvent && (e.event !== null || e.data)) events.push(e)
        }
        for (const w of waiters.splice(0)) w()
      })
      const done = () => {
        closedResolve()
        for (const w of waiters.splice(0)) w()
      }
      res.on('end', done)
      res.on('close', done)
      res.on('error', done)
      resolve({
        status: res.statusCode ?? 0,
        events,
        comments,
        closed,
        close: () => req.destroy(),
        async waitFor(n, timeoutMs = 5000) {
          const end = Date.now() + timeoutMs
          while (events.length < n) {
            const left = end - Date.now()
            if (left <= 0) throw new Error(`timed out waiting for ${n} events (have ${events.length})`)
            await new Promise<void>((r) => {
              const timer = setTimeout(r, left)
              waiters.push(() => {
                clearTimeout(timer)
                r()
              })
            })
            if (res.destroyed && events.length < n) throw new Error(`stream closed with ${events.length} of ${n} events`)
          }
          return events.slice(0, n)
        },
      })
    })
    req.on('error', reject)
  })
}

let seq = 0
export function anomalyEvent(kind: AnomalyEventKind, licence: string, extra: Partial<Anomaly> = {}): AnomalyEvent {
  const t = Date.parse('2025-03-01T02:00:00Z') + seq * 1000
  seq++
  return {
    event: kind,
    at: t + 500,
    anomaly: {
      id: `an-${seq}`,
      type: 'OVERSPEED',
      status: kind === 'anomaly.closed' ? 'closed' : 'open',
      severity: 'warning',
      vehicleId: 1,
      plate: '浙A10001',
      plateColor: 2,
      waybillNo: null,
      enterpriseLicenseNo: licence,
      startedAt: t,
      endedAt: kind === 'anomaly.closed' ? t + 1000 : null,
      lastSeenAt: t,
      evidence: { maxSpeed: 92.5, limit: 80 },
      ...extra,
    },
  }
}
