/**
 * Opens the live state the configuration asks for: Redis when REDIS_URL is set, else the
 * in-process MemoryState. Several worker processes cannot share an in-process state, so that
 * combination is refused here as well as in config validation.
 */
import type { Config } from '../config/index.js'
import { MemoryState, type MemoryStateOptions } from './memory.js'
import { StateUnavailableError, type State } from './port.js'
import { RedisState, type RedisStateOptions } from './redis.js'

export type { State, StateHealth } from './port.js'
export { StateUnavailableError } from './port.js'
export { MemoryState } from './memory.js'
export { RedisState } from './redis.js'
export { PartitionedConsumer, PartitionedStream, partitionOf, partitionStream } from './partitioned.js'

export class StateConfigError extends Error {
  override readonly name = 'StateConfigError'
  readonly code = 'STATE_CONFIG'
}

export interface OpenStateOptions extends RedisStateOptions, MemoryStateOptions {
  /** How long to wait for Redis to answer a first PING. Default 5000 ms. */
  connectTimeoutMs?: number
}

/** The Redis outage settings; absent ones keep RedisState's defaults, and opts win over them (tests). */
type OutageSettings = Partial<Pick<Config, 'redisCommandTimeoutMs' | 'redisBufferedEntries' | 'redisBufferedPositions'>>

export async function openState(config: Pick<Config, 'redisUrl' | 'workers'> & OutageSettings, opts: OpenStateOptions = {}): Promise<State> {
  if (!config.redisUrl) {
    if (config.workers > 1) {
      throw new StateConfigError(`workers=${config.workers} needs REDIS_URL: the in-process state cannot be shared between processes (set REDIS_URL or run one worker)`)
    }
    return new MemoryState(opts)
  }
  // Until Redis first answers, its connection errors are the reason openState fails: they go into
  // that one error, not to onError (a log line with a stack per reconnect attempt before it).
  let answered = false
  let lastError: Error | null = null
  const state = new RedisState(config.redisUrl, {
    commandTimeoutMs: config.redisCommandTimeoutMs,
    maxBufferedEntries: config.redisBufferedEntries,
    maxBufferedPositions: config.redisBufferedPositions,
    ...opts,
    onError: (err) => {
      if (answered) opts.onError?.(err)
      else lastError = err
    },
  })
  const timeoutMs = opts.connectTimeoutMs ?? 5000
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      state.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
    answered = true
  } catch (err) {
    await state.close().catch(() => {})
    const cause = lastError as Error | null
    const why = cause && cause.message !== (err as Error).message ? `${cause.message} (${(err as Error).message})` : (err as Error).message
    throw new StateUnavailableError(`cannot reach Redis at ${redactUrl(config.redisUrl)}: ${why}`)
  } finally {
    clearTimeout(timer)
  }
  return state
}

/** The URL without its password, fit for an error message or a log line. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable URL)'
  }
}
