/** The public API (/api/v1) with the signed-in token. The console uses nothing else. */
const TOKEN_KEY = 'jt808.console.token'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface Me {
  tokenId: string
  role: 'supervisor' | 'enterprise' | 'inspector'
  enterpriseLicenseNo: string | null
}

export const token = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (t: string) => localStorage.setItem(TOKEN_KEY, t),
  clear: () => localStorage.removeItem(TOKEN_KEY),
}

/** Unauthorised answers sign the console out (token revoked or wrong). */
export let onUnauthorized: () => void = () => undefined
export function setOnUnauthorized(f: () => void): void {
  onUnauthorized = f
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; query?: Record<string, string | number | boolean | string[] | undefined | null> } = {}): Promise<T> {
  const url = new URL(`/api/v1${path}`, location.origin)
  for (const [k, v] of Object.entries(init.query ?? {})) {
    if (v === undefined || v === null || v === '') continue
    if (!Array.isArray(v)) url.searchParams.set(k, String(v))
    else for (const x of v) url.searchParams.append(k, x)
  }
  const headers: Record<string, string> = { authorization: `Bearer ${token.get() ?? ''}` }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) })
  const text = await res.text()
  const json = text ? JSON.parse(text) : null
  if (!res.ok) {
    if (res.status === 401) onUnauthorized()
    throw new ApiError(res.status, json?.error?.code ?? 'ERROR', json?.error?.message ?? res.statusText)
  }
  return json as T
}

/**
 * A file behind the API (an attachment) as an object URL: <img>/<video> cannot send the token, so
 * the bytes come through fetch. The caller revokes the URL when the view goes.
 */
export async function apiBlobUrl(path: string): Promise<string> {
  const res = await fetch(new URL(path.startsWith('/api/v1') ? path : `/api/v1${path}`, location.origin), { headers: { authorization: `Bearer ${token.get() ?? ''}` } })
  if (!res.ok) {
    if (res.status === 401) onUnauthorized()
    throw new ApiError(res.status, 'ERROR', res.statusText)
  }
  return URL.createObjectURL(await res.blob())
}

export interface SseEvent {
  id: string | null
  event: string
  data: string
}

/**
 * Server-Sent Events over fetch (EventSource cannot send an Authorization header). Reconnects
 * after a drop with Last-Event-ID, so events missed meanwhile are replayed by the server.
 */
export interface Subscription {
  stop(): void
  /** Drops the connection and holds off reconnecting until resume() (tests: a network outage). */
  pause(): void
  resume(): void
}

export function subscribe(path: string, onEvent: (e: SseEvent) => void, onStatus: (connected: boolean) => void): Subscription {
  let lastId: string | null = null
  let stopped = false
  let controller: AbortController | null = null
  let retryMs = 2000
  let held: Promise<void> | null = null
  let release: () => void = () => undefined
  const run = async () => {
    while (!stopped) {
      if (held) await held
      controller = new AbortController()
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${token.get() ?? ''}`, accept: 'text/event-stream' }
        if (lastId) headers['last-event-id'] = lastId
        const res = await fetch(`/api/v1${path}`, { headers, signal: controller.signal })
        if (res.status === 401) {
          onUnauthorized()
          return
        }
        if (!res.ok || !res.body) throw new Error(`stream: ${res.status}`)
        onStatus(true)
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        let buf = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buf += value
          let cut: number
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut)
            buf = buf.slice(cut + 2)
            const e: SseEvent = { id: null, event: 'message', data: '' }
            const data: string[] = []
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue
              const i = line.indexOf(':')
              const field = i < 0 ? line : line.slice(0, i)
              const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
              if (field === 'id') e.id = val
              else if (field === 'event') e.event = val
              else if (field === 'data') data.push(val)
              else if (field === 'retry' && Number(val) > 0) retryMs = Number(val)
            }
            if (e.id) lastId = e.id
            if (data.length) {
              e.data = data.join('\n')
              onEvent(e)
            }
          }
        }
      } catch {
        // dropped or refused: retry below
      }
      onStatus(false)
      if (!stopped) await new Promise((r) => setTimeout(r, retryMs))
    }
  }
  void run()
  return {
    stop() {
      stopped = true
      release()
      controller?.abort()
    },
    pause() {
      held ??= new Promise<void>((r) => (release = r))
      controller?.abort()
    },
    resume() {
      held = null
      release()
    },
  }
}
