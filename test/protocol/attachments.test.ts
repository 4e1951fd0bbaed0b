/**
 * Active-safety attachment messages: 0x9208, 0x1210, 0x1211, 0x1212, 0x9212 and the raw data
 * stream frame, in both alarm id layouts (T/JSATL12 16 bytes, T/GDRTA 40 bytes); published
 * vectors (fixtures/attachments.json), generated round trips, and the two-framing splitter
 * under arbitrary chunking.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import t from 'tap'
import {
  AttachmentSplitter,
  decodeFrame,
  decodeStreamFrame,
  encodeBody,
  encodeMessage,
  encodeStreamFrame,
  STREAM_HEADER_LENGTH,
  type AlarmFlag,
  type AttachmentVariant,
  type CodecError,
  type KnownMsgId,
  type Message,
  type OutgoingMessage,
  type ProtocolVersion,
} from '../../protocol/index.js'

interface BodyVector {
  name: string
  source: string
  msgId?: string
  version?: number
  hex: string
  expect: Record<string, unknown>
}
const VECTORS = (JSON.parse(readFileSync(new URL('../../fixtures/attachments.json', import.meta.url), 'utf8')) as { bodies: BodyVector[] }).bodies

function vector(name: string): BodyVector {
  const v = VECTORS.find((x) => x.name === name)
  if (!v) throw new Error(`no vector "${name}"`)
  return v
}

function decodeBodyHex(msgId: KnownMsgId, version: ProtocolVersion, hex: string): Message {
  const frame = encodeMessage({ msgId, version, phone: version === 2019 ? '00000000013912344329' : '013912344329', serial: 1, body: { raw: hex } })
  if (!frame.ok) throw new Error(frame.error.message)
  const d = decodeFrame(frame.value.subarray(1, frame.value.length - 1))
  if (!d.ok) throw new Error(`${d.error.code}: ${d.error.message}`)
  return d.value.message
}

function reencode(m: Message): string {
  const b = encodeBody(m)
  if (!b.ok) throw new Error(b.error.message)
  return b.value.toString('hex')
}

t.test('published body vectors decode to their fields and re-encode to their bytes', async (t) => {
  for (const v of VECTORS) {
    if (!v.msgId) continue
    const m = decodeBodyHex(Number(v.msgId) as KnownMsgId, (v.version ?? 2013) as ProtocolVersion, v.hex)
    t.match(m.body, v.expect, v.name)
    t.equal(m.trailing, undefined, `${v.name}: nothing left over`)
    t.equal(reencode(m), v.hex.toLowerCase(), `${v.name}: same bytes`)
  }
  const s = vector('stream frame alarm.xlsx')
  const d = decodeStreamFrame(Buffer.from(s.hex, 'hex'))
  t.ok(d.ok)
  if (d.ok) {
    t.match(d.value, { name: 'alarm.xlsx', offset: 1 })
    t.equal(d.value.data.toString('hex'), '0102030405')
    const e = encodeStreamFrame(d.value)
    t.equal(e.ok && e.value.toString('hex'), s.hex.toLowerCase(), 'the left-aligned name padding is kept')
  }
})

t.test('0x9208 tells the layout from its length; a body fitting neither is a typed error', async (t) => {
  const flag: AlarmFlag = { terminalId: 'GD0123456789', time: '2024-05-06T07:08:09+08:00', serial: 4, attachmentCount: 3, reserved: 0x0102 }
  const body = { variant: 'gdrta' as const, serverHost: 'files.example.cn', tcpPort: 7612, udpPort: 0, alarmFlag: flag, alarmNumber: 'a'.repeat(32) }
  const hex = encodeBody({ msgId: 0x9208, phone: '1', serial: 1, body } as OutgoingMessage)
  t.ok(hex.ok)
  if (!hex.ok) return
  t.equal(hex.value.length, 1 + 16 + 4 + 40 + 32 + 16)
  t.match(decodeBodyHex(0x9208, 2013, hex.value.toString('hex')).body, body)
  const bad = encodeMessage({ msgId: 0x9208, phone: '1', serial: 1, body: { raw: hex.value.subarray(0, hex.value.length - 3).toString('hex') } })
  if (!bad.ok) throw new Error()
  const d = decodeFrame(bad.value.subarray(1, bad.value.length - 1))
  t.equal(!d.ok && d.error.code, 'BAD_FIELD')
})

t.test('0x9212 with more than 255 segments is refused as a value', async (t) => {
  const missing = Array.from({ length: 256 }, (_, i) => ({ offset: i * 10, length: 5 }))
  const r = encodeBody({ msgId: 0x9212, phone: '1', serial: 1, body: { name: 'a.jpg', fileType: 0, result: 1, missing } })
  t.equal(!r.ok && r.error.code, 'BAD_FIELD')
})

// ---- generated round trips ---------------------------------------------------------------------

const variant = fc.constantFrom<AttachmentVariant>('jsatl12', 'gdrta')
const byte = fc.integer({ min: 0, max: 255 })
const dword = fc.integer({ min: 0, max: 0xffffffff })
const word = fc.integer({ min: 0, max: 0xffff })
const ascii = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9_.]{${min},${max}}$`))
const time = fc
  .date({ min: new Date('2001-01-01T00:00:00Z'), max: new Date('2098-12-30T00:00:00Z'), noInvalidDate: true })
  .map((d) => `${new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`)
const flagOf = (v: AttachmentVariant) => fc.record({ terminalId: ascii(1, v === 'gdrta' ? 30 : 7), time, serial: byte, attachmentCount: byte, reserved: v === 'gdrta' ? word : byte })
const files = fc.array(fc.record({ name: ascii(1, 60), size: dword }), { maxLength: 6 })

function roundTrip(m: OutgoingMessage): boolean {
  const a = encodeMessage(m)
  if (!a.ok) throw new Error(a.error.message)
  const d = decodeFrame(a.value.subarray(1, a.value.length - 1))
  if (!d.ok) throw new Error(d.error.message)
  const b = encodeMessage(d.value.message)
  if (!b.ok || !b.value.equals(a.value)) return false
  return matches(d.value.message.body, m.body)
}

function matches(got: unknown, want: unknown): boolean {
  if (want === undefined) return true
  if (typeof want !== 'object' || want === null) return Object.is(got, want)
  if (typeof got !== 'object' || got === null) return false
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => matches(got[i], w))
  return Object.entries(want).every(([k, v]) => matches((got as Record<string, unknown>)[k], v))
}

t.test('0x9208 / 0x1210 round trip in both layouts and both header versions', async (t) => {
  fc.assert(
    fc.property(
      variant.chain((v) => fc.tuple(fc.constant(v), flagOf(v), ascii(1, v === 'gdrta' ? 30 : 7), ascii(1, 32), ascii(1, 40), word, word, byte, files, fc.constantFrom<ProtocolVersion>(2013, 2019))),
      ([v, alarmFlag, terminalId, alarmNumber, serverHost, tcpPort, udpPort, infoType, fileList, version]) => {
        const phone = version === 2019 ? '00000000013912344329' : '013912344329'
        return (
          roundTrip({ msgId: 0x9208, version, phone, serial: 1, body: { variant: v, serverHost, tcpPort, udpPort, alarmFlag, alarmNumber } }) &&
          roundTrip({ msgId: 0x1210, version, phone, serial: 2, body: { variant: v, terminalId, alarmFlag, alarmNumber, infoType: infoType & 1, files: fileList } })
        )
      },
    ),
    { numRuns: 300 },
  )
})

t.test('0x1211 / 0x1212 / 0x9212 and the stream frame round trip', async (t) => {
  fc.assert(
    fc.property(ascii(1, 50), byte, dword, fc.array(fc.record({ offset: dword, length: dword }), { maxLength: 20 }), fc.uint8Array({ maxLength: 300 }), (name, fileType, size, missing, data) => {
      const streamed = encodeStreamFrame({ name, offset: size, data: Buffer.from(data) })
      if (!streamed.ok) return false
      const back = decodeStreamFrame(streamed.value)
      return (
        roundTrip({ msgId: 0x1211, phone: '1', serial: 1, body: { name, fileType, size } }) &&
        roundTrip({ msgId: 0x1212, phone: '1', serial: 1, body: { name, fileType, size } }) &&
        roundTrip({ msgId: 0x9212, phone: '1', serial: 1, body: { name, fileType, result: missing.length ? 1 : 0, missing } }) &&
        back.ok &&
        back.value.name === name &&
        back.value.offset === size &&
        back.value.data.equals(Buffer.from(data))
      )
    }),
    { numRuns: 300 },
  )
})

t.test('stream frame errors are values', async (t) => {
  t.equal((decodeStreamFrame(Buffer.from('3031', 'hex')) as { error: CodecError }).error.code, 'TRUNCATED')
  const ok = encodeStreamFrame({ name: 'a', offset: 0, data: Buffer.from('abc') })
  if (!ok.ok) throw new Error()
  t.equal((decodeStreamFrame(Buffer.concat([ok.value, Buffer.from([1])])) as { error: CodecError }).error.code, 'LENGTH_MISMATCH')
  t.equal((decodeStreamFrame(ok.value.subarray(0, ok.value.length - 1)) as { error: CodecError }).error.code, 'TRUNCATED')
  const wrong = Buffer.from(ok.value)
  wrong[0] = 0x31
  t.equal((decodeStreamFrame(wrong) as { error: CodecError }).error.code, 'BAD_FIELD')
  t.equal((encodeStreamFrame({ name: 'x'.repeat(51), offset: 0, data: Buffer.alloc(0) }) as { error: CodecError }).error.code, 'BAD_FIELD')
})

t.test('0x0200 active-safety items with the Guangdong 40-byte alarm id round trip', async (t) => {
  fc.assert(
    fc.property(flagOf('gdrta'), fc.constantFrom('adas', 'dsm', 'bsd', 'tpms'), (alarmFlag, kind) => {
      const common = { alarmId: 9, flagStatus: 1, speed: 50, altitude: 20, latitude: 31.2, longitude: 121.4, time: '2024-05-06T07:08:09+08:00', vehicleStatus: 1, alarmFlag, alarmIdVariant: 'gdrta' }
      const item =
        kind === 'adas'
          ? { ...common, alarmType: 1, alarmLevel: 2, frontSpeed: 60, frontDistance: 12, deviationType: 0, roadSignType: 0, roadSignData: 0 }
          : kind === 'dsm'
            ? { ...common, alarmType: 2, alarmLevel: 1, fatigueLevel: 3, reserved: '00000000' }
            : kind === 'bsd'
              ? { ...common, alarmType: 1 }
              : { ...common, events: [{ position: 1, alarmType: 2, pressure: 300, temperature: 40, battery: 90 }] }
      const location = { alarm: 0, status: 3, latitude: 31.2, longitude: 121.4, altitude: 20, speed: 50, direction: 90, time: '2024-05-06T07:08:10+08:00', extras: { [kind]: item }, unknown: [] }
      const m = { msgId: 0x0200, phone: '013912344329', serial: 1, body: location } as unknown as OutgoingMessage
      const a = encodeMessage(m)
      if (!a.ok) return false
      const d = decodeFrame(a.value.subarray(1, a.value.length - 1))
      if (!d.ok) return false
      const got = (d.value.message.body as { extras: Record<string, { alarmIdVariant?: string; alarmFlag: AlarmFlag }> }).extras[kind]
      const b = encodeMessage(d.value.message)
      return got?.alarmIdVariant === 'gdrta' && matches(got.alarmFlag, alarmFlag) && b.ok && b.value.equals(a.value)
    }),
    { numRuns: 200 },
  )
})

// ---- splitter ----------------------------------------------------------------------------------

interface Seen {
  frames: string[]
  data: Map<string, Buffer>
  errors: string[]
  maxBuffered: number
}

function split(stream: Buffer, cuts: number[], opts: { maxChunkLength?: number } = {}): Seen {
  const seen: Seen = { frames: [], data: new Map(), errors: [], maxBuffered: 0 }
  const s = new AttachmentSplitter({
    ...opts,
    onFrame: (f) => seen.frames.push(f.toString('hex')),
    onData: (name, offset, piece) => {
      const cur = seen.data.get(name) ?? Buffer.alloc(0)
      const next = Buffer.alloc(Math.max(cur.length, offset + piece.length))
      cur.copy(next)
      piece.copy(next, offset)
      seen.data.set(name, next)
    },
    onError: (e) => seen.errors.push(e.code),
  })
  let at = 0
  for (const c of [...new Set(cuts)].sort((a, b) => a - b).concat(stream.length)) {
    s.push(stream.subarray(at, c))
    seen.maxBuffered = Math.max(seen.maxBuffered, s.buffered)
    at = c
  }
  return seen
}

function frameOf(msgId: number, body: OutgoingMessage['body']): Buffer {
  const f = encodeMessage({ msgId, phone: '013912344329', serial: 7, body } as OutgoingMessage)
  if (!f.ok) throw new Error(f.error.message)
  return f.value
}

t.test('the splitter separates 0x7e frames and stream frames however the bytes are cut', async (t) => {
  const file = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 7) & 0xff).concat([0x7e, 0x7d, 0x30, 0x31, 0x63, 0x64]))
  const chunks = [0, 250, 500].map((o) => encodeStreamFrame({ name: 'x_1.jpg', offset: o, data: file.subarray(o, Math.min(file.length, o + 250)) }))
  const info = frameOf(0x1211, { name: 'x_1.jpg', fileType: 0, size: file.length })
  const done = frameOf(0x1212, { name: 'x_1.jpg', fileType: 0, size: file.length })
  const stream = Buffer.concat([info, ...chunks.map((c) => (c.ok ? c.value : Buffer.alloc(0))), done])
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (cuts) => {
      const seen = split(stream, cuts)
      return (
        seen.errors.length === 0 &&
        seen.frames.length === 2 &&
        seen.frames[0] === info.subarray(1, info.length - 1).toString('hex') &&
        seen.frames[1] === done.subarray(1, done.length - 1).toString('hex') &&
        (seen.data.get('x_1.jpg')?.equals(file) ?? false) &&
        seen.maxBuffered < 4096
      )
    }),
    { numRuns: 300 },
  )
})

t.test('garbage is skipped and reported; an oversized stream frame is refused and skipped', async (t) => {
  const info = frameOf(0x1211, { name: 'a.jpg', fileType: 0, size: 3 })
  const big = encodeStreamFrame({ name: 'a.jpg', offset: 0, data: Buffer.alloc(100, 0x7e) })
  const small = encodeStreamFrame({ name: 'a.jpg', offset: 0, data: Buffer.from('abc') })
  if (!big.ok || !small.ok) throw new Error()
  const seen = split(Buffer.concat([Buffer.from('zz30'), info, big.value, small.value, info]), [3, 40], { maxChunkLength: 64 })
  t.same(seen.errors, ['BAD_FIELD', 'FRAME_TOO_LONG'])
  t.equal(seen.frames.length, 2, 'the 0x7e bytes inside the skipped data are not taken for frames')
  t.equal(seen.data.get('a.jpg')?.toString(), 'abc')
})

t.test('a stream header cut anywhere is held, never more than its own bytes', async (t) => {
  const f = encodeStreamFrame({ name: 'b.mp4', offset: 9, data: Buffer.from('xyz') })
  if (!f.ok) throw new Error()
  for (let cut = 1; cut < STREAM_HEADER_LENGTH; cut++) {
    const seen = split(f.value, [cut])
    t.equal(seen.data.get('b.mp4')?.subarray(9).toString(), 'xyz', `cut at ${cut}`)
    t.ok(seen.maxBuffered <= STREAM_HEADER_LENGTH)
  }
})
