/**
 * `jt808 export-raw`: the raw-frame archive of one terminal as NDJSON, the format `jt808 replay`
 * reads: {"t": ISO receive time, "phone", "connection", "hex"} per line, in receive order.
 */
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { CONFIG_FLAGS, loadConfig, type Config } from '../../config/index.js'
import { parseOptions } from '../../sim/cli.js'
import type { Store } from '../../store/port.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { ApiClient, serverTarget } from '../server-client.js'

const USAGE = `usage: jt808 export-raw --terminal PHONE --from TIME --to TIME [--out FILE]
                        [--database-url URL | --data-dir DIR | --server URL --token T]

Writes every archived frame of the terminal received in [--from, --to] as NDJSON:
  {"t":"2025-03-01T02:00:00.123Z","phone":"013800000001","connection":"10.0.0.7:50123","hex":"7e0200…7e"}
one line per frame, in receive order — the input "jt808 replay" takes. Frames are archived when
JT808_ARCHIVE_RAW is on (the default) and kept JT808_RETENTION_RAW_DAYS days (default 30).

  --terminal PHONE  the terminal's phone number as in its header (BCD digits)
  --from, --to      ISO 8601 times (2025-03-01T10:00:00+08:00, 2025-03-01T02:00Z) or epoch ms
  --out FILE        write to FILE instead of standard output

While a server runs on the embedded data directory the frames come through its API
(GET /terminals/{phone}/frames); --server URL with a supervisor --token T (or JT808_TOKEN)
reads them from that server.

exit status: 0 done (also when no frame matched; the count goes to stderr), 1 database error, 2 bad usage.`

export interface ExportRawDeps {
  openStore?: (config: Config) => Promise<Store>
}

/** Where frames come from: the store, or a running server's API. */
type FrameSource = Pick<Store, 'exportFrames' | 'close'>

/** The API serves at most this span per request (31 days); longer ranges are read window by window. */
const REMOTE_WINDOW_MS = 31 * 86_400_000

function remoteFrames(api: ApiClient): FrameSource {
  return {
    async *exportFrames(phone, from, to) {
      // The API's range excludes nothing at its ends; windows are [start, start + span - 1 ms].
      for (let start = from; start <= to; start += REMOTE_WINDOW_MS) {
        const end = Math.min(to, start + REMOTE_WINDOW_MS - 1)
        if (end === start) continue
        const res = await api.send('GET', `/api/v1/terminals/${phone}/frames?from=${new Date(start).toISOString()}&to=${new Date(end).toISOString()}`)
        if (!res.body) continue
        // Line by line as it arrives: a month of frames need not fit in memory.
        for await (const line of createInterface({ input: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), crlfDelay: Infinity })) {
          if (!line) continue
          const f = JSON.parse(line) as { t: string; phone: string; connection: string; hex: string }
          yield { phone: f.phone, receivedAt: Date.parse(f.t), connection: f.connection, frame: Buffer.from(f.hex, 'hex') }
        }
      }
    },
    close: async () => undefined,
  }
}

export const exportRawCommand: Command = {
  name: 'export-raw',
  summary: 'export the archived raw frames of a terminal as NDJSON (replay input)',
  usage: USAGE,
  run: (argv, io) => runExportRaw(argv, io),
}

export function parseTime(name: string, text: string | undefined): number {
  if (text === undefined) throw new UsageError(`--${name} is required`)
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isFinite(ms)) throw new UsageError(`--${name} must be an ISO 8601 time or epoch milliseconds, got "${text}"`)
  return ms
}

export async function runExportRaw(argv: string[], io: CliIO, deps: ExportRawDeps = {}): Promise<number> {
  const configOptions = Object.fromEntries(CONFIG_FLAGS.map((f) => [f.flag.slice(2), { type: 'string' as const }]))
  const { values, positionals } = parseOptions(
    argv,
    { ...configOptions, terminal: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' }, server: { type: 'string' }, token: { type: 'string' } },
    true,
  )
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
  const phone = values.terminal as string | undefined
  if (!phone || !/^\d{1,20}$/.test(phone)) throw new UsageError(phone ? `--terminal must be up to 20 digits, got "${phone}"` : '--terminal is required')
  const from = parseTime('from', values.from as string | undefined)
  const to = parseTime('to', values.to as string | undefined)
  if (to < from) throw new UsageError('--to is before --from')
  const configFlags = Object.fromEntries(Object.entries(values).filter(([k, v]) => k in configOptions && v !== undefined)) as Record<string, string>
  const config = loadConfig(io.env, configFlags)

  const open = deps.openStore ?? (async (c: Config) => (await import('../../store/index.js')).openStore(c))
  const target = deps.openStore ? null : serverTarget(config, { server: values.server as string | undefined, token: values.token as string | undefined }, io.env)
  const store: FrameSource = target ? remoteFrames(new ApiClient(target)) : await open(config)
  const outPath = values.out as string | undefined
  const out: NodeJS.WritableStream = outPath ? createWriteStream(outPath) : io.stdout
  let count = 0
  try {
    for await (const f of store.exportFrames(phone, from, to)) {
      const line = JSON.stringify({ t: new Date(f.receivedAt).toISOString(), phone: f.phone, connection: f.connection, hex: f.frame.toString('hex') }) + '\n'
      if (!out.write(line)) await once(out, 'drain')
      count++
    }
  } catch (e) {
    io.stderr.write(`jt808 export-raw: ${(e as Error).message}\n`)
    return 1
  } finally {
    if (outPath) {
      out.end()
      await once(out, 'finish').catch(() => undefined)
    }
    await store.close()
  }
  io.stderr.write(`${count} frame${count === 1 ? '' : 's'} exported\n`)
  return 0
}
