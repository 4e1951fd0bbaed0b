/** Deframer, escaping, checksum, header parsing and version detection. */
import t from 'tap'
import { decodeFrame, Deframer, encodeFrameWithBody, encodeMessage, headerOf, messageToJson, parseFrame, unescape, xor, type CodecError } from '../../protocol/index.js'
import { deframe, fixture, FRAMES, inner } from './helpers.js'

const heartbeat = Buffer.from(fixture('0002 heartbeat').hex, 'hex')

t.test('deframer: bytes before the first 0x7e are skipped; 7e7e separates frames', async (t) => {
  const { frames, errors } = deframe(Buffer.concat([Buffer.from('hello, world\r\n'), heartbeat, heartbeat]))
  t.equal(frames.length, 2)
  t.same(errors, [])
  t.ok(frames.every((f) => f.equals(inner(fixture('0002 heartbeat').hex))))
})

t.test('deframer: a frame longer than the maximum is FRAME_TOO_LONG and the next frame still arrives', async (t) => {
  const long = Buffer.concat([Buffer.from([0x7e]), Buffer.alloc(200, 0x11), Buffer.from([0x7e])])
  const complete = deframe(Buffer.concat([long, heartbeat]), [], 100)
  t.same(
    complete.errors.map((e) => e.code),
    ['FRAME_TOO_LONG'],
  )
  t.equal(complete.frames.length, 1)
  // The same, arriving in small chunks: the partial frame is dropped as soon as it passes the limit.
  const stream = Buffer.concat([long, heartbeat])
  const chunked = deframe(
    stream,
    Array.from({ length: stream.length / 7 }, (_, i) => i * 7),
    100,
  )
  t.same(
    chunked.errors.map((e) => e.code),
    ['FRAME_TOO_LONG'],
  )
  t.equal(chunked.frames.length, 1)
  t.ok(chunked.frames[0].equals(inner(fixture('0002 heartbeat').hex)))
})

t.test('deframer: memory stays bounded under endless input without delimiters', async (t) => {
  const errors: CodecError[] = []
  const d = new Deframer({ maxFrameLength: 1000, onFrame: () => t.fail('no frame expected'), onError: (e) => errors.push(e) })
  d.push(Buffer.from([0x7e]))
  let max = 0
  for (let i = 0; i < 2000; i++) {
    d.push(Buffer.alloc(97, 0x55))
    max = Math.max(max, d.buffered)
  }
  t.ok(max <= 1000, `held at most ${max} bytes`)
  t.ok(errors.length > 0 && errors.every((e) => e.code === 'FRAME_TOO_LONG'))
  d.reset()
  t.equal(d.buffered, 0)
})

t.test('escaping: checksum byte escaped, 0x7d handled everywhere', async (t) => {
  const f = fixture('0002 heartbeat, checksum 0x7d escaped as 7d 01')
  const p = parseFrame(inner(f.hex))
  t.ok(p.ok && p.value.checksumOk)
  // A body full of 0x7e and 0x7d round-trips.
  const h = headerOf({ msgId: 0x0900, phone: '013912344329', serial: 0x7e7d })
  const body = Buffer.from('7e7d7e017d027e', 'hex')
  const enc = encodeFrameWithBody(h, body)
  t.ok(enc.ok)
  if (!enc.ok) return
  t.equal(enc.value.subarray(1, -1).indexOf(0x7e), -1, 'no raw 0x7e inside')
  const back = parseFrame(enc.value.subarray(1, -1))
  t.ok(back.ok && back.value.body.equals(body) && back.value.header.serial === 0x7e7d)
})

t.test('strict and lenient: a header body length that disagrees with the body', async (t) => {
  const f = inner(fixture('0900 passthrough whose header declares 122 body bytes, 107 present').hex)
  const strict = decodeFrame(f)
  t.equal(!strict.ok && strict.error.code, 'LENGTH_MISMATCH', 'strict: a typed error')
  t.match(!strict.ok && strict.error.message, /declares a body of 122 bytes, frame carries 107/)
  t.equal(parseFrame(f).ok, false)
  const lenient = decodeFrame(f, { lenient: true })
  t.ok(lenient.ok, 'lenient: decoded')
  if (!lenient.ok) return
  const m = lenient.value.message
  t.equal(m.msgId, 0x0900)
  t.equal(m.declaredBodyLength, 122, 'flagged with what the header declared')
  t.equal(lenient.value.checksumOk, true)
  t.equal((m.body as { type: number }).type, 0x53, 'the body is the 107 bytes present')
  const frame = parseFrame(f, { lenient: true })
  t.ok(frame.ok && frame.value.body.length === 107 && frame.value.header.declaredBodyLength === 122)
  t.match(messageToJson(m, true), { msgId: '0x0900', declaredBodyLength: 122 })
  // re-encoded, the frame carries its true length
  const again = encodeMessage(m)
  t.ok(again.ok)
  const back = again.ok ? decodeFrame(again.value.subarray(1, -1)) : null
  t.ok(back?.ok && back.value.message.declaredBodyLength === undefined, 'the re-encoded frame is well-formed')
  // a well-formed frame carries no flag
  const good = decodeFrame(inner(fixture('0002 heartbeat, checksum 0x7d escaped as 7d 01').hex), { lenient: true })
  t.ok(good.ok && !('declaredBodyLength' in good.value.message))
  // both the checksum and the length wrong: refused even in lenient mode
  const both = decodeFrame(inner(fixture('0200 as published, length field and checksum wrong').hex), { lenient: true })
  t.equal(!both.ok && both.error.code, 'LENGTH_MISMATCH')
  // a 2019 header (bit 14) whose length is off keeps the 2019 layout
  const h = headerOf({ msgId: 0x0002, phone: '01391234432900000000', serial: 9, version: 2019 })
  const enc = encodeFrameWithBody(h, Buffer.alloc(0))
  t.ok(enc.ok)
  if (!enc.ok) return
  const bytes = Buffer.from(enc.value.subarray(1, -1))
  bytes[3] = 0x03 // declare 3 body bytes (5 would fit the 2013 layout); fix the checksum so only the length is wrong
  bytes[bytes.length - 1] = bytes.subarray(0, -1).reduce((x, b) => x ^ b, 0)
  const l2019 = decodeFrame(bytes, { lenient: true })
  t.ok(l2019.ok && l2019.value.message.version === 2019 && l2019.value.message.phone === '01391234432900000000' && l2019.value.message.declaredBodyLength === 3)
})

t.test('strict and lenient: bad checksum and stray 0x7d', async (t) => {
  const bad = inner(fixture('0002 heartbeat with its checksum byte changed').hex)
  const strict = decodeFrame(bad)
  t.equal(!strict.ok && strict.error.code, 'BAD_CHECKSUM')
  t.match(!strict.ok && strict.error.message, /checksum 0xcb does not match 0xca/)
  const lenient = decodeFrame(bad, { lenient: true })
  t.ok(lenient.ok && lenient.value.checksumOk === false)
  const stray = inner(fixture('0200 with unescaped 0x7d (device never escapes 0x7d)').hex)
  t.equal(unescape(stray).ok, false)
  const l = decodeFrame(stray, { lenient: true })
  t.ok(l.ok && l.value.checksumOk, 'taken literally, the checksum adds up')
  t.equal(unescape(Buffer.from('00017d', 'hex')).ok, false, '0x7d as the last byte')
})

t.test('header: 2013, 2019, subpackets, encryption, lengths', async (t) => {
  const short = parseFrame(Buffer.from('000200', 'hex'))
  t.equal(!short.ok && short.error.code, 'TRUNCATED')
  // Declared length disagrees with the bytes present (a published frame).
  const lm = decodeFrame(inner(fixture('0200 as published, length field and checksum wrong').hex), { lenient: true })
  t.equal(!lm.ok && lm.error.code, 'LENGTH_MISMATCH')
  t.match(!lm.ok && lm.error.message, /declares a body of 50 bytes, frame carries 40/)

  const sub = encodeFrameWithBody(headerOf({ msgId: 0x0801, phone: '013912344329', serial: 3, packet: { total: 5, index: 2 }, encryption: 1 }), Buffer.from('abcd', 'hex'))
  t.ok(sub.ok)
  if (!sub.ok) return
  const p = parseFrame(sub.value.subarray(1, -1))
  t.ok(p.ok)
  if (p.ok) t.match(p.value.header, { msgId: 0x0801, version: 2013, packet: { total: 5, index: 2 }, encryption: 1, serial: 3 })
  const d = decodeFrame(sub.value.subarray(1, -1))
  t.ok(d.ok && 'raw' in d.value.message.body, 'a fragment decodes as raw bytes')
})

t.test('version detection is by layout, robust to a wrong bit 14 either way', async (t) => {
  const body = Buffer.from('0001000000', 'hex')
  // A 2013 frame with bit 14 set.
  const h2013 = headerOf({ msgId: 0x0001, phone: '013912344329', serial: 1, versionFlag: true })
  const a = encodeFrameWithBody(h2013, body)
  t.ok(a.ok)
  if (a.ok) {
    const d = decodeFrame(a.value.subarray(1, -1))
    t.ok(d.ok && d.value.message.version === 2013 && d.value.message.versionFlag === true)
    const again = d.ok ? encodeMessage(d.value.message) : null
    t.ok(again?.ok && again.value.equals(a.value), 'bit 14 re-encoded as sent')
  }
  // A 2019 frame with bit 14 clear.
  const h2019 = headerOf({ msgId: 0x0001, phone: '00000000013912344329', serial: 1, version: 2019, versionFlag: false })
  const b = encodeFrameWithBody(h2019, body)
  t.ok(b.ok)
  if (b.ok) {
    const d = decodeFrame(b.value.subarray(1, -1))
    t.ok(d.ok && d.value.message.version === 2019 && d.value.message.phone === '00000000013912344329' && d.value.message.versionFlag === false)
  }
})

t.test('checksum is the XOR of header and body', async (t) => {
  const raw = unescape(inner(fixture('0200 basic + mileage only').hex))
  t.ok(raw.ok)
  if (raw.ok) t.equal(xor(raw.value, 0, raw.value.length - 1), raw.value[raw.value.length - 1])
})

t.test('a decoded message keeps no view into the bytes it came from (decodeFrame reuses a scratch buffer)', async (t) => {
  // Every fixture that decodes, escaped or not; then all of them again in reverse order.
  const frames = FRAMES.filter((f) => 'msgId' in f.expect).map((f) => inner(f.hex))
  const first = frames.map((f) => decodeFrame(f))
  const snapshots = first.map((d) => JSON.stringify(d.ok ? d.value.message : null))
  for (const f of [...frames].reverse()) decodeFrame(f)
  t.same(
    first.map((d) => JSON.stringify(d.ok ? d.value.message : null)),
    snapshots,
  )
  t.ok(
    frames.some((f) => f.includes(0x7d)),
    'some of them hold escapes',
  )
})
