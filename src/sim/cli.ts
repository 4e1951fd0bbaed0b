/** Command-line plumbing shared by `jt808 replay` and `jt808 simulate`. */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError, type CliIO } from '../cli/command.js'
import { DEFAULTS } from '../config/index.js'
import { Progress, type ProgressSnapshot } from './progress.js'

export const DEFAULT_TARGET = `127.0.0.1:${DEFAULTS.tcpPort}`

/** node:util parseArgs with usage errors the CLI prints with the command's usage. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true })
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''))
  }
}

export function parseTarget(text: string | undefined): { host: string; port: number } {
  const t = text ?? DEFAULT_TARGET
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(t)
  const port = m ? Number(m[3]) : NaN
  if (!m || port < 1 || port > 65535) throw new UsageError(`--target must be host:port, got "${t}"`)
  return { host: m[1] ?? m[2], port }
}

export function positiveNumber(name: string, text: string | undefined, fallback: number, { integer = false, min = 0 } = {}): number {
  if (text === undefined) return fallback
  const v = Number(text)
  if (!Number.isFinite(v) || v <= min || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number above ${min}, got "${text}"`)
  }
  return v
}

/**
 * Draws progress on stderr every few hundred ms while `running` is pending, then finishes the
 * line. One interval timer, unref'd so it never holds the process open.
 */
export async function withProgress<T>(io: CliIO, enabled: boolean, label: string, snapshot: () => ProgressSnapshot, running: Promise<T>): Promise<T> {
  const stream = io.stderr as NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  const progress = new Progress({ stream, label, enabled })
  const timer = setInterval(() => progress.update(snapshot()), progress.tty ? 200 : 1000)
  timer.unref()
  try {
    return await running
  } finally {
    clearInterval(timer)
    if (enabled) progress.update(snapshot(), true)
    progress.finish()
  }
}

/** Runs `stop` on the first SIGINT/SIGTERM (the run then ends with its summary); a second one exits. */
export function onInterrupt(stop: () => void): () => void {
  let seen = false
  const handler = () => {
    if (seen) process.exit(130)
    seen = true
    stop()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}
