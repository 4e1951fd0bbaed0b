/** `jt808 replay`: sends captured frames to a gateway with their timing, and reports what it answered. */
import { UsageError, type CliIO, type Command } from '../command.js'
import { readCaptures } from '../../sim/capture.js'
import { onInterrupt, parseOptions, parseTarget, positiveNumber, withProgress, DEFAULT_TARGET } from '../../sim/cli.js'
import { realClock, type Clock } from '../../sim/clock.js'
import { startReplay, type ReplaySummary } from '../../sim/replay.js'
import { formatSummary } from '../../sim/stats.js'

const USAGE = `usage: jt808 replay FILE… [--target host:port] [--speed N|max] [--loop | --loops N]
                    [--rewrite-phone PREFIX [--copies N]] [--connections per-terminal|single]
                    [--timeout S] [--window N] [--skip-bad] [--json] [--quiet]

Replays captured frames against a gateway with their original timing scaled by --speed, and
says what the gateway answered. FILE is "-" for standard input. Formats, told apart per line:
  hex      one or more frames per line (7e…7e, whitespace ignored); sent back to back
  NDJSON   {"t": "2024-05-01T10:00:00.123Z", "phone": "…", "connection": "ip:port", "hex": "7e…7e"}
           as written by "jt808 export-raw"; a change of "connection" for a terminal reconnects
Blank lines and lines starting with # are skipped; lines that do not parse and frames that do
not decode are reported (bad frames are still sent, as captured, unless --skip-bad).

options:
  --target host:port       gateway address (default ${DEFAULT_TARGET})
  --speed N|max            time scale: 1 = real time (default), 10 = ten times faster,
                           max = no waiting (at most --window unanswered frames per connection)
  --loop                   replay again and again until interrupted (Ctrl-C prints the summary)
  --loops N                replay N times
  --rewrite-phone PREFIX   give each terminal the phone PREFIX + a sequence number
  --copies N               replay the capture as N terminals at once (needs --rewrite-phone)
  --connections MODE       per-terminal (default): one TCP connection per terminal;
                           single: every frame over one connection
  --timeout S              seconds to wait for an answer (default 10)
  --window N               unanswered frames per connection before waiting (default 64)
  --skip-bad               do not send frames that do not decode
  --json                   print the summary as JSON
  --quiet                  no progress display

The gateway's 0x8100 to a replayed 0x0100 is followed by the terminal's 0x0102 with the code it
just issued: the capture's own 0x0102 carries the new code, and one is sent when the capture has
none. Progress (frames, rate, ETA) goes to stderr: a bar on a terminal, a line every 5 s
otherwise. The summary (stdout) gives frames sent, answers by result code, ack latency p50/p99,
frames without an answer and connection errors.

exit status: 0 when every frame expecting an answer (0x8001, or 0x8100 for 0x0100) got one
with result 0; 1 otherwise; 2 for bad usage.`

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay captured frames (hex or NDJSON) against a gateway and report its answers',
  usage: USAGE,
  run: (argv, io) => runReplay(argv, io),
}

/** The command with an injectable clock (tests pace it with a fake one). */
export async function runReplay(argv: string[], io: CliIO, clock: Clock = realClock): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    {
      target: { type: 'string' },
      speed: { type: 'string' },
      loop: { type: 'boolean' },
      loops: { type: 'string' },
      'rewrite-phone': { type: 'string' },
      copies: { type: 'string' },
      connections: { type: 'string' },
      timeout: { type: 'string' },
      window: { type: 'string' },
      'skip-bad': { type: 'boolean' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    true,
  )
  if (positionals.length === 0) throw new UsageError('which capture file(s)? ("-" reads standard input)')
  const target = parseTarget(values.target)
  const speed = values.speed === 'max' ? Infinity : positiveNumber('speed', values.speed, 1)
  if (values.loop && values.loops !== undefined) throw new UsageError('--loop and --loops together: choose one')
  const loops = values.loop ? Infinity : positiveNumber('loops', values.loops, 1, { integer: true })
  const copies = positiveNumber('copies', values.copies, 1, { integer: true })
  const rewritePhone = values['rewrite-phone'] ?? null
  if (rewritePhone !== null && !/^\d{1,19}$/.test(rewritePhone)) throw new UsageError(`--rewrite-phone must be digits, got "${rewritePhone}"`)
  if (copies > 1 && rewritePhone === null) throw new UsageError('--copies needs --rewrite-phone (copies must be different terminals)')
  const connections = values.connections ?? 'per-terminal'
  if (connections !== 'per-terminal' && connections !== 'single') throw new UsageError(`--connections must be per-terminal or single, got "${connections}"`)
  const replyTimeoutMs = positiveNumber('timeout', values.timeout, 10) * 1000
  const window = positiveNumber('window', values.window, 64, { integer: true })

  let capture
  try {
    capture = await readCaptures(positionals, io.stdin)
  } catch (e) {
    io.stderr.write(`jt808 replay: cannot read capture: ${(e as Error).message}\n`)
    return 1
  }
  if (capture.frames.length === 0) {
    io.stderr.write(
      `jt808 replay: no frames in ${positionals.join(', ')}${capture.problems.length ? ` (${capture.problems.length} lines did not parse, first: ${capture.problems[0].source}: ${capture.problems[0].message})` : ''}\n`,
    )
    return 1
  }

  const replay = startReplay({
    target,
    frames: capture.frames,
    problems: capture.problems,
    speed,
    loops,
    copies,
    rewritePhone,
    connections,
    window,
    replyTimeoutMs,
    skipBad: values['skip-bad'] ?? false,
    clock,
  })
  const stderrTty = Boolean((io.stderr as { isTTY?: boolean }).isTTY)
  const showProgress = !values.quiet && (!values.json || stderrTty)
  const release = onInterrupt(() => replay.stop())
  let summary: ReplaySummary
  try {
    summary = await withProgress(
      io,
      showProgress,
      'replay',
      () => {
        const s = replay.stats
        return { done: s.framesSent, total: replay.total, acked: s.acks, unanswered: s.framesWithoutAnswer, errors: s.connectionErrors, elapsedMs: s.elapsedMs() }
      },
      replay.done,
    )
  } finally {
    release()
  }
  if (values.json) io.stdout.write(JSON.stringify(summary) + '\n')
  else io.stdout.write(formatReplaySummary(summary, target))
  return summary.allAcknowledged ? 0 : 1
}

export function formatReplaySummary(s: ReplaySummary, target: { host: string; port: number }): string {
  const extra: Array<[string, string]> = []
  if (s.framesNotSent) extra.push(['not sent', `${s.framesNotSent} (no connection)`])
  if (s.synthesized) extra.push(['0x0102 added', `${s.synthesized} (after 0x8100, missing from the capture)`])
  if (s.copies > 1 || s.loops !== 1) extra.push(['copies × loops', `${s.copies} × ${Number.isFinite(s.loops) ? s.loops : 'until interrupted'}`])
  let out = formatSummary(s, `replay against ${target.host}:${target.port}: ${s.allAcknowledged ? 'every frame acknowledged' : 'NOT every frame acknowledged'}`, extra)
  if (s.problems.length) {
    out += `  problems in the capture (${s.problems.length}${s.problems.length >= 50 ? '+' : ''}):\n`
    for (const p of s.problems.slice(0, 10)) out += `    ${p.source}: ${p.message}\n`
    if (s.problems.length > 10) out += `    … (--json lists up to 50)\n`
  }
  return out
}
