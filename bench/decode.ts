/**
 * bench/decode: a typical 0x0200 (basic block + mileage, fuel, signal, satellites) decoded from
 * its escaped bytes by decodeFrame, against a bare unescape + XOR pass over the same bytes in
 * the same run; likewise a 0x0200 with the four active-safety items. Prints ns/frame for both and the ratio. Targets (issue 2 §5): ≤ 500 ns/frame
 * and ≤ 2.5× the bare pass.
 *
 *   npm run bench:decode            (BENCH_MS=... to change the time per round, default 300)
 *
 * CPU time, rounds of decode and baseline alternating: on a shared machine that is the least
 * disturbed estimate. Numbers still vary from run to run; the ratio is the steadier figure.
 */
import { readFileSync } from 'node:fs'
import { decodeFrame, encodeMessage, isMessage, type OutgoingMessage } from '../protocol/index.js'
import { ROUND_MS, round, sinkValue, warm } from './cpu-rounds.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)

function frame(m: OutgoingMessage): Buffer {
  const f = encodeMessage(m)
  if (!f.ok) throw new Error(f.error.message)
  return f.value.subarray(1, f.value.length - 1) // what the deframer hands over
}

const typical: OutgoingMessage = {
  msgId: 0x0200,
  phone: '013912344329',
  serial: 0x1234,
  body: {
    alarm: 0,
    status: 0x000c0003, // ACC on, fixed, GPS + BeiDou
    latitude: 31.230416,
    longitude: 121.473701,
    altitude: 12,
    speed: 62.5,
    direction: 87,
    time: '2024-05-20T14:31:07+08:00',
    extras: { mileage: 123456.7, fuel: 312.5, signalStrength: 24, satellites: 17 },
    unknown: [],
  } as never,
}
// The same message with bytes that must be escaped (0x7e / 0x7d in the latitude and the serial).
const escaped: OutgoingMessage = { ...typical, serial: 0x7e7d, body: { ...(typical.body as object), latitude: 8.289917 } as never }

/**
 * A 0x0200 carrying the four T/JSATL12 active-safety items (0x64 ADAS, 0x65 DSM, 0x66 TPMS,
 * 0x67 BSD): the library vector of fixtures/frames.json (source named there).
 */
const activeSafetyHex = (JSON.parse(readFileSync(new URL('../fixtures/frames.json', import.meta.url), 'utf8')) as { frames: { name: string; hex: string }[] }).frames.find(
  (f) => f.name === '0200 with T/JSATL12 items 0x64-0x67',
)!.hex

const FRAMES = { typical: frame(typical), 'with escapes': frame(escaped), 'active safety': Buffer.from(activeSafetyHex.slice(2, -2), 'hex') }

/**
 * The baseline: one pass that reverses the escaping into a scratch buffer and XORs as it goes
 * (checksum byte included, so a right checksum leaves 0) — the least work any decoder does.
 */
const scratch = Buffer.allocUnsafe(2048)
function bareUnescapeXor(src: Buffer): number {
  let o = 0
  let x = 0
  const n = src.length
  for (let i = 0; i < n; i++) {
    let b = src[i]
    if (b === 0x7d) b = src[++i] === 0x01 ? 0x7d : 0x7e
    scratch[o++] = b
    x ^= b
  }
  return x === 0 ? 1 : 0
}

function decodeOnce(src: Buffer): number {
  const d = decodeFrame(src)
  if (!d.ok || !isMessage(d.value.message, 0x0200)) throw new Error('bench frame does not decode')
  return d.value.message.body.extras.satellites ?? 0
}

/**
 * Rounds of the two alternate, so each pair runs under about the same load from the rest of
 * the machine: the ratio is the median of the per-pair ratios, the ns the best round of each.
 */
function compare(src: Buffer): { decode: number; bare: number; ratio: number } {
  const bBatch = warm(bareUnescapeXor, src)
  const dBatch = warm(decodeOnce, src)
  const bare: number[] = []
  const decode: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(round(bareUnescapeXor, src, bBatch))
    decode.push(round(decodeOnce, src, dBatch))
  }
  const ratios = decode.map((d, i) => d / bare[i]).sort((a, b) => a - b)
  return { decode: Math.min(...decode), bare: Math.min(...bare), ratio: ratios[ratios.length >> 1] }
}

console.log(`bench/decode — node ${process.version}, ${ROUNDS} alternating rounds × ${ROUND_MS} ms, CPU time`)
for (const [name, src] of Object.entries(FRAMES)) {
  if (bareUnescapeXor(src) !== 1) throw new Error('baseline checksum mismatch')
  const { decode, bare, ratio } = compare(src)
  console.log(
    `${name.padEnd(14)} ${String(src.length + 2).padStart(3)} B frame   decodeFrame ${decode.toFixed(0).padStart(5)} ns/frame   ` +
      `unescape+XOR ${bare.toFixed(0).padStart(4)} ns/frame   ratio ${ratio.toFixed(2)}× (median of rounds)`,
  )
}
console.log(`targets: ≤ 500 ns/frame, ≤ 2.5× the bare pass${sinkValue() === -1 ? '' : ''}`)
