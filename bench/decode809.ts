/**
 * bench/decode809: JT/T 809 frames decoded from the bytes the deframer hands over, by
 * decodeFrame809, against a bare pass over the same bytes in the same run (reverse the escaping
 * into a scratch buffer and run the CRC — the least work any 809 decoder does). Prints ns/frame
 * for both and the ratio. Frames: a 2011 0x1202 (36-byte position), a 2019 0x1202 (808 0x0200
 * body inside) plain and encrypted, and a link test. Then encodeMessage809 of each decoded
 * message (what an upward forwarder pays per position), against the same bare pass.
 *
 *   node --import tsx bench/decode809.ts     (BENCH_MS per round, default 300; BENCH_ROUNDS, default 7)
 *
 * CPU time of this process, rounds of decode and baseline alternating; the ratio is the steadier figure.
 */
import { crc16, decodeFrame809, encodeMessage809, isData, isMessage809, type EncryptionKeys, type OutgoingMessage809 } from '../protocol/jt809/index.js'
import { readLocationAt } from '../protocol/messages/0200-location.js'
import { ROUND_MS, round, sinkValue, warm } from './cpu-rounds.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const KEYS: EncryptionKeys = { m1: 56107078, ia1: 37382110, ic1: 50361430 }

function content(m: OutgoingMessage809, keys?: EncryptionKeys): Buffer {
  const f = encodeMessage809(m, { keys })
  if (!f.ok) throw new Error(f.error.message)
  return f.value.subarray(1, f.value.length - 1) // what the deframer hands over
}

// A 0x0200 basic block + mileage (0x01) and speed-from-tachograph (0x03) items, as terminals send.
const basic = Buffer.from('00000000000c00030209bd1406ee9d24000c0271005724052014310701040001e24003020271', 'hex')
const gnss = readLocationAt(basic, 0, basic.length)
const platforms = [
  { platformId: '31010000001', alarm: 0 },
  { platformId: '', alarm: 0 },
  { platformId: '', alarm: 0 },
]

const MESSAGES: Record<string, { m: OutgoingMessage809; keys?: EncryptionKeys }> = {}
const FRAMES: Record<string, { src: Buffer; keys?: EncryptionKeys }> = {
  '2011 0x1202': {
    src: content({
      msgId: 0x1200,
      sn: 0x1234,
      gnssCentreId: 31010001,
      edition: 2011,
      body: {
        plate: '沪A12345',
        plateColor: 2,
        dataType: 0x1202,
        data: {
          position: {
            edition: 2011,
            encrypt: 0,
            time: '2024-05-20T14:31:07+08:00',
            timeMs: null,
            longitude: 121.473701,
            latitude: 31.230416,
            speed: 62,
            recorderSpeed: 61,
            mileage: 123456,
            direction: 87,
            altitude: 12,
            state: 3,
            alarm: 0,
          },
        },
      },
    }),
  },
  '2019 0x1202': {
    src: content({
      msgId: 0x1200,
      sn: 0x1234,
      gnssCentreId: 31010001,
      edition: 2019,
      time: 1716186667,
      body: { plate: '沪A12345', plateColor: 2, dataType: 0x1202, data: { position: { edition: 2019, encrypt: 0, gnss, platforms } } },
    }),
  },
  '2019 0x1202 encrypted': {
    src: content(
      {
        msgId: 0x1200,
        sn: 0x1234,
        gnssCentreId: 31010001,
        edition: 2019,
        time: 1716186667,
        encryptFlag: 1,
        encryptKey: 0x3b89,
        body: { plate: '沪A12345', plateColor: 2, dataType: 0x1202, data: { position: { edition: 2019, encrypt: 0, gnss, platforms } } },
      },
      KEYS,
    ),
    keys: KEYS,
  },
  '2011 0x1005 link test': { src: content({ msgId: 0x1005, sn: 1, gnssCentreId: 31010001, body: {} }) },
}

const scratch = Buffer.allocUnsafe(4096)
/** The baseline: unescape into a scratch buffer, then CRC over header and body. */
function bare(src: Buffer): number {
  let o = 0
  const n = src.length
  for (let i = 0; i < n; i++) {
    let b = src[i]
    if (b === 0x5a || b === 0x5e) {
      const next = src[i + 1]
      if (next === 0x01) b = b === 0x5a ? 0x5b : 0x5d
      i++
    }
    scratch[o++] = b
  }
  return crc16(scratch, 0, o - 2) === scratch.readUInt16BE(o - 2) ? 1 : 0
}

function decoder(keys?: EncryptionKeys): (src: Buffer) => number {
  const options = { keys }
  return (src) => {
    const d = decodeFrame809(src, options)
    if (!d.ok) throw new Error('bench frame does not decode')
    const m = d.value.message
    if (isMessage809(m, 0x1200) && isData(m.body, 0x1202)) return m.body.data.position.encrypt + 1
    return 1
  }
}

console.log(`bench/decode809 — node ${process.version}, ${ROUNDS} alternating rounds × ${ROUND_MS} ms, CPU time`)
for (const [name, { src, keys }] of Object.entries(FRAMES)) {
  if (bare(src) !== 1) throw new Error(`${name}: baseline CRC mismatch`)
  const decode = decoder(keys)
  const bBatch = warm(bare, src)
  const dBatch = warm(decode, src)
  const b: number[] = []
  const d: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    b.push(round(bare, src, bBatch))
    d.push(round(decode, src, dBatch))
  }
  const ratios = d.map((x, i) => x / b[i]).sort((x, y) => x - y)
  console.log(
    `${name.padEnd(22)} ${String(src.length + 2).padStart(4)} B   decodeFrame809 ${Math.min(...d)
      .toFixed(0)
      .padStart(5)} ns/frame   ` +
      `unescape+CRC ${Math.min(...b)
        .toFixed(0)
        .padStart(4)} ns/frame   ratio ${ratios[ratios.length >> 1].toFixed(2)}× (median of rounds)`,
  )
}
for (const [name, { src, keys }] of Object.entries(FRAMES)) {
  const d = decodeFrame809(src, { keys })
  if (!d.ok) throw new Error(name)
  MESSAGES[name] = { m: d.value.message, keys }
}
for (const [name, { m, keys }] of Object.entries(MESSAGES)) {
  const src = FRAMES[name].src
  const options = { keys }
  const encode = (): number => {
    const r = encodeMessage809(m, options)
    if (!r.ok) throw new Error('bench message does not encode')
    return r.value.length
  }
  const bBatch = warm(bare, src)
  const eBatch = warm(encode, src)
  const b: number[] = []
  const e: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    b.push(round(bare, src, bBatch))
    e.push(round(encode, src, eBatch))
  }
  const ratios = e.map((x, i) => x / b[i]).sort((x, y) => x - y)
  console.log(
    `${name.padEnd(22)} ${String(src.length + 2).padStart(4)} B   encodeMessage809 ${Math.min(...e)
      .toFixed(0)
      .padStart(5)} ns/frame   ` +
      `unescape+CRC ${Math.min(...b)
        .toFixed(0)
        .padStart(4)} ns/frame   ratio ${ratios[ratios.length >> 1].toFixed(2)}× (median of rounds)`,
  )
}
if (sinkValue() === -1) console.log('')
