/**
 * Fuzz: 10^5+ random and mutated inputs through the deframer, the decoder (strict and lenient)
 * and the reassembler. Nothing may throw, buffers stay within their limits, and every mutated
 * frame that decodes re-encodes to exactly its bytes. Seeded, so a failure replays.
 */
import t from 'tap'
import { decodeFrame, Deframer, encodeMessage, escapeAndWrap, parseFrame, Reassembler, unescape, xor } from '../../protocol/index.js'
import { FRAMES, inner } from './helpers.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20240601)
let state = SEED
/** xorshift32: small, fast, reproducible. */
function rnd(): number {
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return (state >>> 0) / 0x100000000
}
const int = (n: number) => Math.floor(rnd() * n)

const valid = FRAMES.filter((f) => 'msgId' in f.expect).map((f) => {
  const u = unescape(inner(f.hex))
  if (!u.ok) throw new Error(f.name)
  return Buffer.from(u.value)
})

/** A fixture frame with its body mutated, then length field and checksum made right again, so decoding goes deep. */
function mutatedFrame(): Buffer | null {
  const base = valid[int(valid.length)]
  const props = base.readUInt16BE(2)
  const headLen = (props & 0x4000 ? 17 : 12) + (props & 0x2000 ? 4 : 0)
  let body = Buffer.from(base.subarray(headLen, base.length - 1))
  for (let k = 1 + int(4); k > 0; k--) {
    const op = rnd()
    if (op < 0.5 && body.length > 0) body[int(body.length)] = int(256)
    else if (op < 0.7) body = body.subarray(0, int(body.length + 1))
    else if (op < 0.9) {
      const at = int(body.length + 1)
      body = Buffer.concat([body.subarray(0, at), Buffer.from([int(256)]), body.subarray(at)])
    } else {
      const at = int(body.length + 1)
      body = Buffer.concat([body.subarray(0, at), Buffer.from(body.subarray(int(body.length + 1)))])
    }
  }
  if (body.length > 0x3ff) return null
  const head = Buffer.from(base.subarray(0, headLen))
  head.writeUInt16BE((props & ~0x3ff) | body.length, 2)
  const raw = Buffer.concat([head, body, Buffer.alloc(1)])
  raw[raw.length - 1] = xor(raw, 0, raw.length - 1)
  return escapeAndWrap(raw)
}

/** Random bytes, rich in 0x7e / 0x7d, sometimes with a valid frame spliced in and damaged. */
function randomStream(): Buffer {
  const n = int(200)
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) {
    const r = rnd()
    b[i] = r < 0.08 ? 0x7e : r < 0.14 ? 0x7d : r < 0.18 ? int(3) : int(256)
  }
  if (rnd() < 0.3) {
    const f = escapeAndWrap(valid[int(valid.length)])
    const cut = Buffer.from(f.subarray(int(4), f.length - int(4)))
    if (cut.length > 0) cut[int(cut.length)] ^= 1 << int(8)
    return Buffer.concat([b.subarray(0, n >> 1), cut, b.subarray(n >> 1)])
  }
  return b
}

t.test(`fuzz: no throw, bounded buffers, exact round trips (seed ${SEED})`, async (t) => {
  const MAX = 1100
  let inputs = 0
  let decoded = 0
  let exact = 0
  let inexact = 0
  let firstInexact = ''
  let maxBuffered = 0
  let maxHeld = 0
  const reassembler = new Reassembler({ maxSetsPerTerminal: 3, maxBytesPerTerminal: 8192, maxBytes: 65536, timeoutMs: 50 })
  let now = 0
  const onFrame = (frame: Buffer): void => {
    let d = decodeFrame(frame)
    if (!d.ok) d = decodeFrame(frame, { lenient: true })
    if (d.ok) decoded++
    const p = parseFrame(frame, { lenient: true })
    if (p.ok && p.value.header.packet) reassembler.push(p.value.header, p.value.body, (now += 7))
  }
  const deframer = new Deframer({ maxFrameLength: MAX, onFrame, onError: () => {} })

  const started = Date.now()
  for (let i = 0; i < 60_000; i++) {
    const f = mutatedFrame()
    if (!f) continue
    inputs++
    const d = decodeFrame(f.subarray(1, f.length - 1))
    if (d.ok) {
      decoded++
      const e = encodeMessage(d.value.message)
      if (e.ok && e.value.equals(f)) exact++
      else {
        inexact++
        firstInexact ||= f.toString('hex')
      }
    }
    // Also through the deframer, split at a random point.
    const at = int(f.length)
    deframer.push(f.subarray(0, at))
    deframer.push(f.subarray(at))
    maxBuffered = Math.max(maxBuffered, deframer.buffered)
  }
  for (let i = 0; i < 50_000; i++) {
    const s = randomStream()
    inputs++
    deframer.push(s)
    maxBuffered = Math.max(maxBuffered, deframer.buffered)
    maxHeld = Math.max(maxHeld, reassembler.bytes)
    if (i % 1000 === 0) reassembler.expire((now += 100))
  }
  // Fragment-shaped frames to load the reassembler: random totals / indexes / phones.
  for (let i = 0; i < 5_000; i++) {
    const base = valid[int(valid.length)]
    if (base.readUInt16BE(2) & 0x6000) continue
    const head = Buffer.from(base.subarray(0, 12))
    const body = Buffer.alloc(int(1000), int(256))
    head.writeUInt16BE(0x2000 | body.length, 2)
    head[9] = int(4) // a handful of phones
    const packet = Buffer.alloc(4)
    packet.writeUInt16BE(1 + int(40), 0)
    packet.writeUInt16BE(int(42), 2)
    const raw = Buffer.concat([head, packet, body, Buffer.alloc(1)])
    raw[raw.length - 1] = xor(raw, 0, raw.length - 1)
    inputs++
    onFrame(escapeAndWrap(raw).subarray(1, -1))
    maxHeld = Math.max(maxHeld, reassembler.bytes)
  }
  const ms = Date.now() - started
  t.ok(inputs >= 100_000, `${inputs} inputs in ${ms} ms, ${decoded} decoded`)
  t.ok(maxBuffered <= MAX, `deframer held at most ${maxBuffered} bytes`)
  t.ok(exact > 10_000, `${exact} mutated frames decoded and re-encoded exactly`)
  t.equal(inexact, 0, firstInexact ? `inexact round trip: ${firstInexact}` : 'every decoded mutated frame round-trips')
  t.ok(maxHeld <= 65536, `reassembler held at most ${maxHeld} bytes`)
  const perTerminal = new Map<string, number>()
  for (const p of reassembler.pending()) perTerminal.set(p.phone, (perTerminal.get(p.phone) ?? 0) + 1)
  t.ok(Math.max(0, ...perTerminal.values()) <= 3, 'open sets bounded per terminal')
})
