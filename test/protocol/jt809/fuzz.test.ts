/**
 * Fuzz: random and mutated inputs through Deframer809 and decodeFrame809 (strict, lenient, with and
 * without keys). Nothing may throw, the deframer stays within its limit, and every mutated frame
 * that decodes re-encodes to exactly its bytes. Mutated frames get their MSG_LENGTH and CRC made
 * right again so decoding reaches the bodies. Seeded, so a failure replays (FUZZ_SEED).
 */
import t from 'tap'
import { crc16, decodeFrame809, Deframer809, encodeMessage809, escapeAndWrap809, unescape809, type EncryptionKeys } from '../../../protocol/jt809/index.js'
import { deframe809, FIXTURES_809 } from './helpers.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261205)
let state = SEED
function rnd(): number {
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return (state >>> 0) / 0x100000000
}
const int = (n: number) => Math.floor(rnd() * n)

/** Fixture frames, unescaped and (where encrypted) with their keys; the big photo frames left out for speed. */
const BASES = FIXTURES_809.filter((f) => f.hex.length < 4000).map((f) => {
  const { frames } = deframe809(Buffer.from(f.hex, 'hex'))
  const content = frames[0].unescaped ? frames[0].content : unescape809(frames[0].content).bytes
  return { content: Buffer.from(content), keys: f.keys }
})
const KNOWN_IDS = [0x1001, 0x1002, 0x1003, 0x1005, 0x1007, 0x9001, 0x9002, 0x1200, 0x9200, 0x1300, 0x9300, 0x1400, 0x9400, 0x1500, 0x9500, 0x1600, 0x9600]
const SUB_TYPES = [
  0x1201, 0x1202, 0x1203, 0x1209, 0x120b, 0x120d, 0x9202, 0x9203, 0x9205, 0x9209, 0x1301, 0x9301, 0x1401, 0x1402, 0x1403, 0x1412, 0x9401, 0x9402, 0x9403, 0x1502, 0x9502, 0x1503, 0x9503, 0x1601,
]

function mutated(): { frame: Buffer; keys?: EncryptionKeys } {
  const base = BASES[int(BASES.length)]
  const hl = base.content.length >= 32 && base.content.readUInt32BE(22) === 0 ? 30 : 22
  const head = Buffer.from(base.content.subarray(0, hl))
  let body = Buffer.from(base.content.subarray(hl, base.content.length - 2))
  if (rnd() < 0.3) head.writeUInt16BE(KNOWN_IDS[int(KNOWN_IDS.length)], 8)
  if (rnd() < 0.2) head[17] = rnd() < 0.5 ? 0 : 1
  for (let k = 1 + int(4); k > 0; k--) {
    const op = rnd()
    if (op < 0.4 && body.length > 0) body[int(body.length)] = int(256)
    else if (op < 0.5 && body.length > 30) body.writeUInt16BE(SUB_TYPES[int(SUB_TYPES.length)], rnd() < 0.5 ? 22 : 0)
    else if (op < 0.7) body = body.subarray(0, int(body.length + 1))
    else if (op < 0.9) {
      const at = int(body.length + 1)
      body = Buffer.concat([body.subarray(0, at), Buffer.from([int(256), int(256)]), body.subarray(at)])
    } else body = Buffer.concat([body, Buffer.alloc(int(40), int(256))])
  }
  const raw = Buffer.concat([head, body, Buffer.alloc(2)])
  raw.writeUInt32BE(raw.length + 2, 0)
  raw.writeUInt16BE(crc16(raw, 0, raw.length - 2), raw.length - 2)
  return { frame: escapeAndWrap809(raw, rnd() > 0.1), keys: rnd() < 0.8 ? base.keys : undefined }
}

t.test('mutated frames: no throw, and whatever decodes re-encodes exactly', async (t) => {
  let decoded = 0
  let failed = 0
  const N = Number(process.env.FUZZ_N ?? 20000)
  for (let i = 0; i < N; i++) {
    const { frame, keys } = mutated()
    const content = frame.subarray(1, frame.length - 1)
    for (const options of [{ keys }, { keys, lenient: true }, {}, { edition: 2019 as const }]) {
      const r = decodeFrame809(content, options)
      if (!r.ok) {
        failed++
        continue
      }
      decoded++
      const back = encodeMessage809(r.value.message, { keys: options.keys })
      if (!back.ok || !back.value.equals(frame)) {
        t.fail(`frame ${frame.toString('hex')} (seed ${SEED}, #${i}) re-encodes to ${back.ok ? back.value.toString('hex') : back.error.message}`)
        return
      }
    }
  }
  t.ok(decoded > N, `${decoded} decodes re-encoded exactly (${failed} error values)`)
})

t.test('random bytes: no throw, the deframer stays within its limit', async (t) => {
  const max = 512
  let frames = 0
  let errors = 0
  const d = new Deframer809({
    maxFrameLength: max,
    onFrame: (c, info) => {
      frames++
      decodeFrame809(c, { unescaped: info.unescaped, lenient: true })
      decodeFrame809(c)
    },
    onError: () => errors++,
  })
  let worst = 0
  for (let i = 0; i < 20000; i++) {
    const chunk = Buffer.allocUnsafe(1 + int(300))
    for (let k = 0; k < chunk.length; k++) {
      // Flags and escape bytes often, so frames of every shape appear.
      const r = rnd()
      chunk[k] = r < 0.03 ? 0x5b : r < 0.06 ? 0x5d : r < 0.08 ? 0x5a : r < 0.1 ? 0x5e : int(256)
    }
    d.push(chunk)
    worst = Math.max(worst, d.buffered)
  }
  t.ok(worst <= max, `held at most ${worst} bytes`)
  t.ok(frames > 1000 && errors > 0, `${frames} frames, ${errors} errors`)
})
