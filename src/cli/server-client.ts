/**
 * The admin commands (`token`, `import`, `export-raw`, `admin`, `platforms`) work whether or not a server runs:
 *
 *   --server URL [--token T | JT808_TOKEN]      → that server's REST API
 *   embedded data dir locked by a live server   → its API, found in the lock file, with the admin
 *                                                 secret it left there (mode 0600) or --token
 *   otherwise                                   → the store, opened directly
 *
 * The embedded database belongs to one process (src/store/data-dir-lock.ts): a second opener
 * would abort or write to a private copy the server never sees.
 */
import type { Config } from '../config/index.js'
import { readAdminSecret, readLiveHolder } from '../store/data-dir-lock.js'
import { UsageError } from './command.js'

export interface ServerTarget {
  url: string
  token: string
  /** why this server: "--server" or the lock holder's description */
  via: string
}

/** The server to go through, or null to open the store directly. */
export function serverTarget(config: Pick<Config, 'databaseUrl' | 'dataDir'>, flags: { server?: string; token?: string }, env: NodeJS.ProcessEnv): ServerTarget | null {
  const token = flags.token ?? (env.JT808_TOKEN || undefined)
  if (flags.server !== undefined) {
    if (!/^https?:\/\/[^\s/]+/.test(flags.server)) throw new UsageError(`--server must be an http(s) URL, got "${flags.server}"`)
    if (!token) throw new UsageError('--server needs a supervisor token: --token T or JT808_TOKEN')
    return { url: flags.server.replace(/\/+$/, ''), token, via: '--server' }
  }
  if (config.databaseUrl) return null
  const holder = readLiveHolder(config.dataDir)
  if (!holder) return null
  if (!holder.apiUrl)
    throw new Error(
      `the embedded database in ${config.dataDir} is held by process ${holder.pid} on ${holder.host} (${holder.command}), which has no API listening (yet): ` +
        `retry once it has started, or stop it first`,
    )
  const secret = token ?? readAdminSecret(config.dataDir)
  if (!secret)
    throw new Error(
      `the server (process ${holder.pid}, ${holder.apiUrl}) holds ${config.dataDir}, but its admin secret there cannot be read: ` +
        `run this as the user who runs the server, or give --token T (a supervisor token)`,
    )
  return { url: holder.apiUrl, token: secret, via: `the running server (process ${holder.pid})` }
}

/** An error answer of the API: {"error":{"code","message","details"}}. */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message)
    this.name = 'ServerError'
  }
}

/** What the admin commands need of the API: JSON requests (a server over HTTP, or the same routes in-process). */
export interface ApiTransport {
  json<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>
  close(): Promise<void>
}

/** Throws the API's error answer as ServerError. */
export function throwIfError(status: number, text: string, where: string): void {
  if (status < 400) return
  let error: { code?: string; message?: string; details?: unknown } = {}
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error ?? {}
  } catch {
    /* not the API's error shape */
  }
  throw new ServerError(status, error.code ?? `HTTP_${status}`, `${where}: ${status} ${error.message ?? text.slice(0, 200)}`, error.details ?? null)
}

export class ApiClient implements ApiTransport {
  constructor(readonly target: ServerTarget) {}

  /** JSON in, JSON out; a non-2xx answer throws ServerError with the API's message. */
  async json<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await this.send(method, path, body)
    const text = await res.text()
    const parsed = text ? (JSON.parse(text) as T) : (undefined as T)
    return { status: res.status, body: parsed }
  }

  /** The raw response (streamed bodies); a non-2xx answer throws ServerError. */
  async send(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response
    try {
      res = await fetch(this.target.url + path, {
        method,
        headers: { authorization: `Bearer ${this.target.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (e) {
      throw new Error(`cannot reach the server at ${this.target.url} (${this.target.via}): ${(e as Error).cause ?? (e as Error).message}`)
    }
    if (res.ok) return res
    throwIfError(res.status, await res.text(), this.target.url)
    return res
  }

  async close(): Promise<void> {}
}
