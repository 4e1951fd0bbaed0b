/** `jt808 simulate`: many terminals driving between Chinese cities, against a gateway. */
import { UsageError, type CliIO, type Command } from '../command.js'
import { onInterrupt, parseOptions, parseTarget, positiveNumber, withProgress, DEFAULT_TARGET } from '../../sim/cli.js'
import { realClock, type Clock } from '../../sim/clock.js'
import { fleetMember, vehicleOf } from '../../sim/fleet.js'
import { parseDuration } from '../../sim/progress.js'
import { REGISTER_REFUSALS, startSimulation, type SimulationResult } from '../../sim/simulate.js'
import { formatSummary } from '../../sim/stats.js'

const USAGE = `usage: jt808 simulate --terminals N [--rate PER_S | --interval S] [--duration D]
                      [--version 2013|2019] [--target host:port] [--register | --auth-code CODE]
                      [--seed S] [--time-scale X] [--start ISO] [inject options] [--json] [--quiet]
       jt808 simulate --terminals N --emit-vehicles [--seed S] [--version 2013|2019]

Simulated hazmat trucks drive plausible routes between Chinese cities at road speeds (≤ 78 km/h
on highways, ≤ 55 in towns), rest after a few hours, park at their destination, insert and
remove driver cards (0x0702), heartbeat when silent, and answer downlink commands (0x0001,
0x0104, 0x0201, 0x0107). What each terminal sends is fixed by --seed.

options:
  --terminals N        how many terminals (required)
  --interval S         seconds between one terminal's position reports (default 30)
  --rate PER_S         positions per second across all terminals (sets --interval to N / PER_S)
  --duration D         how long to run: 90, 90s, 5m, 1h (default: until Ctrl-C)
  --version V          2013 (default) or 2019
  --target host:port   gateway address (default ${DEFAULT_TARGET})
  --register           register each terminal (0x0100) and authenticate with the code issued
                       (the default; the vehicles must be in the registry unless it runs "open")
  --auth-code CODE     authenticate with this code instead of registering
  --seed S             random seed (default 1)
  --time-scale X       simulated seconds per real second (default 1); device times then run
                       ahead: with --duration and X > 1 the run starts in the past and ends now
  --start ISO          simulated start time (default: now, or as above)
  --phone-prefix P     leading digits of every phone (default 0139)
  --first I            index of the first terminal (default 0): several simulators split a fleet
  --connect-rate N     new connections per second while ramping up (default 1000)
  --timeout S          seconds to wait for an answer (default 10)
  --emit-vehicles      print the fleet's registry rows as NDJSON (for "jt808 import vehicles") and exit
  --json               print the summary as JSON
  --quiet              no progress display

inject options (all off by default):
  --overspeed R        overspeed bursts (88–100 km/h for 1–3 min) per driving hour
  --long-drive F       fraction of terminals whose drivers skip rests (4.5–6 h at the wheel)
  --blind-area R       coverage gaps per hour; their positions follow as 0x0704 type 1
  --drift R            drift jumps (one fix 20–60 km off) per driving hour
  --bad-frames F       fraction of positions followed by a corrupted copy (bad checksum)
  --card-swap P        probability per trip that a driver on no waybill takes over

exit status: 0 when every frame expecting an answer got result 0, 1 otherwise, 2 for bad usage.`

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'simulate N terminals driving between Chinese cities against a gateway',
  usage: USAGE,
  run: (argv, io) => runSimulate(argv, io),
}

export async function runSimulate(argv: string[], io: CliIO, clock: Clock = realClock): Promise<number> {
  const { values } = parseOptions(
    argv,
    {
      terminals: { type: 'string' },
      rate: { type: 'string' },
      interval: { type: 'string' },
      duration: { type: 'string' },
      version: { type: 'string' },
      target: { type: 'string' },
      register: { type: 'boolean' },
      'auth-code': { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string' },
      start: { type: 'string' },
      'phone-prefix': { type: 'string' },
      first: { type: 'string' },
      'connect-rate': { type: 'string' },
      timeout: { type: 'string' },
      'emit-vehicles': { type: 'boolean' },
      overspeed: { type: 'string' },
      'long-drive': { type: 'string' },
      'blind-area': { type: 'string' },
      drift: { type: 'string' },
      'bad-frames': { type: 'string' },
      'card-swap': { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    false,
  )
  if (values.terminals === undefined) throw new UsageError('--terminals N is required')
  const terminals = positiveNumber('terminals', values.terminals, 1, { integer: true })
  const version = values.version === undefined ? 2013 : Number(values.version)
  if (version !== 2013 && version !== 2019) throw new UsageError(`--version must be 2013 or 2019, got "${values.version}"`)
  const seed = values.seed === undefined ? 1 : Number(values.seed)
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got "${values.seed}"`)
  const phonePrefix = values['phone-prefix'] ?? '0139'
  if (!/^\d{0,11}$/.test(phonePrefix)) throw new UsageError(`--phone-prefix must be up to 11 digits, got "${phonePrefix}"`)
  const firstIndex = values.first === undefined ? 0 : Number(values.first)
  if (!Number.isInteger(firstIndex) || firstIndex < 0) throw new UsageError(`--first must be a whole number ≥ 0, got "${values.first}"`)
  try {
    fleetMember(firstIndex + terminals - 1, { seed, version, phonePrefix })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }

  if (values['emit-vehicles']) {
    for (let i = firstIndex; i < firstIndex + terminals; i++) {
      // a large fleet into a slow reader: wait for it rather than buffer every row
      if (!io.stdout.write(JSON.stringify(vehicleOf(fleetMember(i, { seed, version, phonePrefix }))) + '\n') && !(await drained(io.stdout))) break
    }
    return 0
  }

  if (values.rate !== undefined && values.interval !== undefined) throw new UsageError('--rate and --interval together: choose one')
  const intervalS = values.rate !== undefined ? terminals / positiveNumber('rate', values.rate, 1) : positiveNumber('interval', values.interval, 30)
  let durationMs: number | null = null
  if (values.duration !== undefined) {
    durationMs = parseDuration(values.duration)
    if (durationMs === null || durationMs <= 0) throw new UsageError(`--duration must look like 90, 90s, 5m or 1h, got "${values.duration}"`)
  }
  const timeScale = positiveNumber('time-scale', values['time-scale'], 1)
  let startTime = Date.now()
  if (values.start !== undefined) {
    startTime = Date.parse(values.start)
    if (Number.isNaN(startTime)) throw new UsageError(`--start is not a time: "${values.start}"`)
  } else if (timeScale > 1 && durationMs !== null) startTime = Date.now() - durationMs * timeScale
  if (values.register && values['auth-code'] !== undefined) throw new UsageError('--register and --auth-code together: choose one')
  const fraction = (name: string, v: string | undefined) => {
    if (v === undefined) return 0
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} must be between 0 and 1, got "${v}"`)
    return n
  }
  const rate = (name: string, v: string | undefined) => {
    if (v === undefined) return 0
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a rate ≥ 0 per hour, got "${v}"`)
    return n
  }
  const target = parseTarget(values.target)
  const authCode = values['auth-code']
  const sim = startSimulation({
    target,
    terminals,
    firstIndex,
    intervalS,
    timeScale,
    durationMs,
    version,
    seed,
    startTime,
    phonePrefix,
    auth: authCode !== undefined ? 'authenticate' : 'register',
    authCode: authCode !== undefined ? () => authCode : undefined,
    connectRate: positiveNumber('connect-rate', values['connect-rate'], 1000),
    replyTimeoutMs: positiveNumber('timeout', values.timeout, 10) * 1000,
    inject: {
      overspeedPerHour: rate('overspeed', values.overspeed),
      longDriveFraction: fraction('long-drive', values['long-drive']),
      blindAreaPerHour: rate('blind-area', values['blind-area']),
      driftPerHour: rate('drift', values.drift),
      badFrameFraction: fraction('bad-frames', values['bad-frames']),
      cardSwapPerTrip: fraction('card-swap', values['card-swap']),
    },
    clock,
  })
  const stderrTty = Boolean((io.stderr as { isTTY?: boolean }).isTTY)
  const showProgress = !values.quiet && (!values.json || stderrTty)
  const release = onInterrupt(() => void sim.stop())
  const started = clock.now()
  let result: SimulationResult
  try {
    result = await withProgress(
      io,
      showProgress,
      `simulate ${terminals}`,
      () => {
        const s = sim.stats
        const elapsedMs = clock.now() - started
        return {
          done: s.framesSent,
          total: null,
          acked: s.acks,
          unanswered: s.framesWithoutAnswer,
          errors: s.connectionErrors,
          elapsedMs,
          remainingMs: durationMs === null ? null : Math.max(0, durationMs - elapsedMs),
        }
      },
      sim.done,
    )
  } finally {
    release()
  }
  const ok = result.framesWithoutAnswer === 0 && (result.acksByResult['0'] ?? 0) === result.framesExpectingAnswer
  if (values.json) io.stdout.write(JSON.stringify({ ...result, allAcknowledged: ok }) + '\n')
  else {
    // the same fleet options, so the printed command imports exactly these terminals
    const fleetArgs = [
      `--terminals ${terminals}`,
      firstIndex ? `--first ${firstIndex}` : '',
      `--seed ${seed}`,
      version !== 2013 ? `--version ${version}` : '',
      phonePrefix !== '0139' ? `--phone-prefix ${phonePrefix}` : '',
    ]
    io.stdout.write(formatSimulationSummary(result, target, intervalS, ok, fleetArgs.filter(Boolean).join(' ')))
  }
  return ok ? 0 : 1
}

export function formatSimulationSummary(r: SimulationResult, target: { host: string; port: number }, intervalS: number, ok: boolean, fleetArgs = ''): string {
  const inj = Object.entries(r.injections)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')
  const ref = Object.entries(r.refusals)
    .map(([k, v]) => `${v} ${refusalName(k)}`)
    .join(', ')
  const advice: Array<[string, string]> = []
  if (r.allRefused) advice.push(['stopped', 'every terminal was refused: nothing left to simulate'])
  if (r.refusals['register:2'] || r.refusals['register:4']) {
    advice.push(['registry mode', `import the fleet first: jt808 simulate ${fleetArgs} --emit-vehicles | jt808 import vehicles -`])
  }
  if (r.refusals['register:1'] || r.refusals['register:3']) {
    advice.push([
      'already bound',
      'these phones or plates belong to other registrations (an earlier run with another --seed, --version or --phone-prefix?): run with those options, or another --phone-prefix',
    ])
  }
  return formatSummary(r, `simulate ${r.terminals} terminals against ${target.host}:${target.port}: ${ok ? 'every frame acknowledged' : 'NOT every frame acknowledged'}`, [
    ['online', `${r.authenticated} of ${r.terminals} authenticated`],
    ['report interval', `${Math.round(intervalS * 100) / 100} s simulated (${(r.simulatedMs / 3_600_000).toFixed(2)} h simulated in all)`],
    ...(inj ? ([['injected', inj]] as Array<[string, string]>) : []),
    ...(ref ? ([['refused', ref]] as Array<[string, string]>) : []),
    ...advice,
  ])
}

/** "register:3" → "terminal already registered to another vehicle (0x8100 result 3)". */
function refusalName(key: string): string {
  const [kind, code] = key.split(':')
  if (kind === 'register') return `${REGISTER_REFUSALS[Number(code)] ?? 'registration refused'} (0x8100 result ${code})`
  return `authentication refused (0x8001 result ${code})`
}

/** Resolves true when the stream drains, false when it fails or closes first (the reader is gone). */
function drained(stream: NodeJS.WritableStream): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (writable: boolean) => () => {
      stream.off('drain', onDrain)
      stream.off('error', onGone)
      stream.off('close', onGone)
      resolve(writable)
    }
    const onDrain = settle(true)
    const onGone = settle(false)
    stream.on('drain', onDrain)
    stream.on('error', onGone)
    stream.on('close', onGone)
  })
}
