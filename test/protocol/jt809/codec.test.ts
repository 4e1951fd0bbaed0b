/**
 * JT/T 809 codec behaviour: CRC, escaping, the body cipher, the two header editions and how the
 * edition is told, error values, each tolerated quirk (counted, and re-encoded exactly), and the
 * streaming deframer (chunking, garbage, torn and overlong frames, senders that do not escape).
 */
import t from 'tap'
import {
  crc16,
  crypt,
  decodeFrame809,
  Deframer809,
  encodeMessage809,
  escapeAndWrap809,
  isData,
  isMessage809,
  unescape809,
  type Decoded809,
  type OutgoingMessage809,
} from '../../../protocol/jt809/index.js'
import { deframe809 } from './helpers.js'

const inner = (frame: Buffer): Buffer => frame.subarray(1, frame.length - 1)

function encode(m: OutgoingMessage809, keys?: { m1: number; ia1: number; ic1: number }): Buffer {
  const r = encodeMessage809(m, { keys })
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

function decode(frame: Buffer, options: Parameters<typeof decodeFrame809>[1] = {}): Decoded809 {
  const r = decodeFrame809(inner(frame), options)
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`)
  return r.value
}

const linkTest: OutgoingMessage809 = { msgId: 0x1005, sn: 1, gnssCentreId: 0x01020304, body: {} }

t.test('CRC-16/CCITT-FALSE', async (t) => {
  t.equal(crc16(Buffer.from('123456789')), 0x29b1, 'the catalogue check value')
  t.equal(crc16(Buffer.alloc(0)), 0xffff)
})

t.test('escaping: every flag and escape byte, and back', async (t) => {
  const raw = Buffer.from([0x01, 0x5b, 0x5a, 0x5d, 0x5e, 0x02])
  const wrapped = escapeAndWrap809(raw)
  t.equal(wrapped.toString('hex'), '5b' + '01' + '5a01' + '5a02' + '5e01' + '5e02' + '02' + '5d')
  const back = unescape809(wrapped.subarray(1, wrapped.length - 1))
  t.same([...back.bytes], [...raw])
  t.equal(back.stray, false)
  t.equal(unescape809(Buffer.from([0x5a, 0x07])).stray, true, 'a 0x5a that starts no escape is flagged')
  t.equal(escapeAndWrap809(raw, false).toString('hex'), '5b' + raw.toString('hex') + '5d', 'unescaped form on request')
})

t.test('the body cipher is its own inverse and depends on every constant', async (t) => {
  const body = Buffer.from('JT/T 809 body bytes', 'ascii')
  const keys = { m1: 30000000, ia1: 20000000, ic1: 20000000 }
  const c = crypt(body, 256178, keys)
  t.not(c.toString('hex'), body.toString('hex'))
  t.equal(crypt(c, 256178, keys).toString('hex'), body.toString('hex'))
  for (const other of [
    { ...keys, m1: 30000001 },
    { ...keys, ia1: 20000001 },
    { ...keys, ic1: 20000001 },
  ]) {
    t.not(crypt(body, 256178, other).toString('hex'), c.toString('hex'))
  }
  t.equal(crypt(body, 0, keys).toString('hex'), crypt(body, 1, keys).toString('hex'), 'key 0 is taken as 1')
})

t.test('the cached key stream equals the formula computed in 64-bit arithmetic, at every length', async (t) => {
  const keys = { m1: 56107078, ia1: 37382110, ic1: 50361430 }
  const reference = (b: Buffer, k: number): Buffer => {
    const out = Buffer.from(b)
    let key = BigInt(k || 1)
    for (let i = 0; i < out.length; i++) {
      key = (BigInt(keys.ia1) * (key % BigInt(keys.m1)) + BigInt(keys.ic1)) & 0xffffffffn
      out[i] ^= Number((key >> 20n) & 0xffn)
    }
    return out
  }
  // Short then long for one key (the stream grows), other keys between, beyond the cache limit.
  for (const [n, k] of [
    [10, 0x3b89],
    [3000, 0x3b89],
    [5, 7],
    [70_000, 0x3b89],
    [1, 0],
    [2000, 0xffffffff],
    [12, 0x3b89],
  ] as const) {
    const b = Buffer.alloc(n, 0x5a)
    t.ok(crypt(b, k, keys).equals(reference(b, k)), `${n} bytes, key ${k}`)
  }
})

t.test('2011 and 2019 headers', async (t) => {
  const f2011 = encode(linkTest)
  t.equal(f2011.length, 26, 'flag + 22 + CRC + flag')
  t.equal(f2011.readUInt32BE(1), 26, 'MSG_LENGTH counts the flags')
  const d = decode(f2011)
  t.match(d.message, { msgId: 0x1005, sn: 1, gnssCentreId: 0x01020304, versionFlag: '1.0.0', encryptFlag: 0, edition: 2011 })
  t.equal(d.message.time, undefined)
  const f2019 = encode({ ...linkTest, edition: 2019, time: 1_700_000_000, versionFlag: '2.0.0' })
  t.equal(f2019.length, 34)
  const d19 = decode(f2019)
  t.match(d19.message, { edition: 2019, time: 1_700_000_000 })
  t.same(d19.quirks, [])
})

t.test('the edition comes from the header shape, whatever the version flag says', async (t) => {
  // A 2019 header with a 1.0.0 flag and a 2011 one with 2.0.0: each read by its shape.
  const d19 = decode(encode({ ...linkTest, edition: 2019, time: 1_700_000_000, versionFlag: '1.0.0' }))
  t.equal(d19.message.edition, 2019)
  t.same(d19.quirks, [])
  const login: OutgoingMessage809 = { msgId: 0x1001, body: { userId: 7, password: 'secret', downLinkIp: '10.0.0.1', downLinkPort: 8090 }, versionFlag: '2.0.0' }
  const d11 = decode(encode(login))
  t.equal(d11.message.edition, 2011)
  t.same(d11.quirks, [])
  // A link configured for 2011 that receives a 2019 header (and the reverse): read by the shape, counted.
  const on2011 = decode(encode({ ...linkTest, edition: 2019, time: 1_700_000_000 }), { edition: 2011 })
  t.equal(on2011.message.edition, 2019)
  t.same(on2011.quirks, ['editionFlag'])
  const on2019 = decode(encode(login), { edition: 2019 })
  t.equal(on2019.message.edition, 2011)
  t.same(on2019.quirks, ['editionFlag'])
  // A TIME in milliseconds is not taken for a 2019 shape (it would read like a 2011 login's
  // small USERID and password), but the link's edition reads it.
  const ms = encode({ ...linkTest, msgId: 0x9001, edition: 2019, time: 1_700_000_000_123, versionFlag: '2.0.0', body: { verifyCode: 1 } })
  t.match(decode(ms, { edition: 2019 }).message, { edition: 2019, time: 1_700_000_000_123 })
  const login2011 = encode({ msgId: 0x1001, body: { userId: 500, password: '12345678', downLinkIp: '10.0.0.1', downLinkPort: 8090 } })
  t.match(decode(login2011).message, { edition: 2011, body: { userId: 500, password: '12345678' } })
  // A 2011 login whose USERID 0 and password "ABCDEFGH" read like a 2019 TIME (2004): the 2019
  // reading does not fit the body, the 2011 one does.
  const lookalike = encode({ msgId: 0x1001, body: { userId: 0, password: 'ABCDEFGH', downLinkIp: '10.0.0.1', downLinkPort: 8090 } })
  const dl = decode(lookalike)
  t.match(dl.message, { edition: 2011, body: { userId: 0, password: 'ABCDEFGH', downLinkIp: '10.0.0.1', downLinkPort: 8090 } })
  t.same(dl.quirks, [])
  t.equal(encode(dl.message).toString('hex'), lookalike.toString('hex'))
  // The link's edition decides only when the shape cannot: a 2019 header whose TIME is 0.
  const zeroTime = encode({ ...linkTest, edition: 2019, time: 0, versionFlag: '2.0.0' })
  t.equal(decode(zeroTime, { edition: 2019 }).message.edition, 2019)
  t.equal(decodeFrame809(inner(zeroTime)).ok, true, 'read as 2011 with an 8-byte body it does not expect…')
  const as2011 = decodeFrame809(inner(zeroTime))
  if (as2011.ok) t.same(as2011.value.quirks, ['strayBytes'], '…which shows as stray bytes')
})

t.test('errors are values', async (t) => {
  const f = encode(linkTest)
  const bad = Buffer.from(f)
  bad[bad.length - 2] ^= 1
  const crc = decodeFrame809(inner(bad))
  t.equal(!crc.ok && crc.error.code, 'BAD_CHECKSUM')
  const lenient = decodeFrame809(inner(bad), { lenient: true })
  t.ok(lenient.ok && lenient.value.crcOk === false && lenient.value.quirks.includes('badCrc'))
  const short = decodeFrame809(inner(f).subarray(0, 10))
  t.equal(!short.ok && short.error.code, 'TRUNCATED')
  const longer = Buffer.from(f)
  longer.writeUInt32BE(40, 1)
  const mismatch = decodeFrame809(inner(longer))
  t.equal(!mismatch.ok && mismatch.error.code, 'LENGTH_MISMATCH')
  // A known body too short for its layout.
  const login = encode({ msgId: 0x1001, body: { userId: 7, password: 'secret', downLinkIp: '10.0.0.1', downLinkPort: 8090 } })
  const cut = encode({ msgId: 0x1001, body: { raw: login.subarray(23, 40).toString('hex') } })
  const r = decodeFrame809(inner(cut))
  t.equal(!r.ok && r.error.code, 'TRUNCATED')
  t.match(!r.ok && r.error.message, /0x1001/)
  // Encoding an encrypted message without keys.
  const noKeys = encodeMessage809({ ...linkTest, msgId: 0x9001, encryptFlag: 1, body: { verifyCode: 5 } })
  t.equal(!noKeys.ok && noKeys.error.code, 'BAD_FIELD')
  // A body that does not fit its field.
  const tooLong = encodeMessage809({ msgId: 0x1003, body: { userId: 1, password: '123456789' } })
  t.equal(!tooLong.ok && tooLong.error.code, 'BAD_FIELD')
})

t.test('encrypted bodies: decrypted with keys, kept as ciphertext without', async (t) => {
  const keys = { m1: 56107078, ia1: 37382110, ic1: 50361430 }
  const m: OutgoingMessage809 = { msgId: 0x9001, encryptFlag: 1, encryptKey: 0x3b89, body: { verifyCode: 0xdeadbeef } }
  const f = encode(m, keys)
  t.not(f.subarray(23, 27).toString('hex'), 'deadbeef', 'the body is not in clear')
  const d = decode(f, { keys })
  t.match(d.message, { msgId: 0x9001, body: { verifyCode: 0xdeadbeef } })
  const raw = decode(f)
  t.equal(raw.message.bodyEncrypted, true)
  t.ok('raw' in raw.message.body)
  t.equal(encode(raw.message).toString('hex'), f.toString('hex'), 'ciphertext re-sent as is, no keys needed')
  t.equal(encode(d.message, keys).toString('hex'), f.toString('hex'))
})

t.test('quirks are counted and re-encoded exactly', async (t) => {
  const text: OutgoingMessage809 = {
    msgId: 0x9500,
    body: { plate: '京A12345', plateColor: 2, dataType: 0x9503, data: { msgSequence: 9, priority: 1, content: '注意安全' } },
  }
  const clean = encode(text)
  t.same(decode(clean).quirks, [])

  // INFO_LENGTH (and DATA_LENGTH) counted in UTF-8: 12 bytes for 4 characters sent as 8 GBK bytes.
  const utf8 = encode({ ...text, body: { ...text.body, dataLength: 9 + 12, data: { msgSequence: 9, priority: 1, content: '注意安全', declared: { content: 12 } } } } as OutgoingMessage809)
  const d = decode(utf8)
  t.same(d.quirks, ['dataLength', 'textLength'])
  if (!isMessage809(d.message, 0x9500) || !isData(d.message.body, 0x9503)) return t.fail('not a 0x9503')
  t.equal(d.message.body.data.content, '注意安全')
  t.equal(encode(d.message).toString('hex'), utf8.toString('hex'))

  // Bytes after the CRC inside the frame (outside MSG_LENGTH).
  const stray = Buffer.concat([clean.subarray(0, clean.length - 1), Buffer.from([0x00, 0x0d, 0x0a, 0x5d])])
  const ds = decode(stray)
  t.same(ds.quirks, ['strayBytes'])
  t.equal(ds.message.stray, '000d0a')
  t.equal(encode(ds.message).toString('hex'), stray.toString('hex'))

  // Body bytes after the layout.
  const trailing = encode({ ...linkTest, msgId: 0x9001, body: { raw: 'aabbccdd0102' } })
  const dt = decode(trailing)
  t.same(dt.quirks, ['strayBytes'])
  t.match(dt.message, { body: { verifyCode: 0xaabbccdd }, trailing: '0102' })
  t.equal(encode(dt.message).toString('hex'), trailing.toString('hex'))

  // A sender that does not escape: a 0x5a/0x5e in the bytes, taken literally.
  const verify = encode({ ...linkTest, msgId: 0x9001, body: { verifyCode: 0x5a5e0000 } })
  t.match(verify.toString('hex'), /5a025e02/)
  const literal = Buffer.concat([Buffer.from([0x5b]), unescape809(inner(verify)).bytes, Buffer.from([0x5d])])
  const du = decode(literal)
  t.same(du.quirks, ['unescaped'])
  t.equal(du.message.unescaped, true)
  t.match(du.message.body, { verifyCode: 0x5a5e0000 })
  t.equal(encode(du.message).toString('hex'), literal.toString('hex'))
})

t.test('unknown ids and sub-business types are raw and round-trip', async (t) => {
  const f = encode({ msgId: 0x1700, body: { raw: '0102030405' } })
  t.same(decode(f).message.body, { raw: '0102030405' })
  const sub = encode({ msgId: 0x1200, body: { plate: '沪B0001', plateColor: 1, dataType: 0x12ff, data: { raw: 'cafe' } } })
  const d = decode(sub)
  t.match(d.message.body, { plate: '沪B0001', dataType: 0x12ff, data: { raw: 'cafe' } })
  t.equal(encode(d.message).toString('hex'), sub.toString('hex'))
})

t.test('0x1400/0x9400: the vehicle prefix is read when present, in either edition', async (t) => {
  const urge = {
    warnSrc: 1,
    warnType: 2,
    warnTime: 1_700_000_000,
    supervisionId: 77,
    supervisionEndTime: 1_700_003_600,
    supervisionLevel: 0,
    supervisor: 'duty',
    supervisorTel: '110',
    supervisorEmail: 'a@b.cn',
  }
  // 2019 without the prefix (as SmallChi/JT809 and the captured 2019 alarms), 2019 with it (as
  // zboyco/jtt809 writes 0x9401), 2011 with it (the standard).
  for (const [edition, withPlate] of [
    [2019, false],
    [2019, true],
    [2011, true],
  ] as const) {
    const body = withPlate ? { plate: '苏E12345', plateColor: 2, dataType: 0x9401, data: urge } : { dataType: 0x9401, data: urge }
    const f = encode({ msgId: 0x9400, edition, time: 1_700_000_000, body } as OutgoingMessage809)
    const d = decode(f)
    if (!isMessage809(d.message, 0x9400) || !isData(d.message.body, 0x9401)) return t.fail('not a 0x9401')
    t.equal(d.message.body.plate, withPlate ? '苏E12345' : undefined, `${edition} ${withPlate ? 'with' : 'without'} the prefix`)
    t.match(d.message.body.data, urge)
    t.equal(encode(d.message).toString('hex'), f.toString('hex'))
  }
})

t.test('deframer: chunks, garbage, torn and overlong frames', async (t) => {
  const a = encode(linkTest)
  const b = encode({ msgId: 0x9001, body: { verifyCode: 0x5b5d5a5e } })
  const stream = Buffer.concat([Buffer.from('noise'), a, Buffer.from([0x00, 0x00]), b])
  const whole = deframe809(stream)
  t.same(whole.errors, [])
  t.equal(whole.frames.length, 2)
  t.equal(whole.stray, 7, 'garbage outside frames is counted')
  const single = deframe809(
    stream,
    Array.from({ length: stream.length }, (_, i) => i),
  )
  t.same(
    single.frames.map((f) => f.content.toString('hex')),
    whole.frames.map((f) => f.content.toString('hex')),
    'one byte per chunk',
  )

  // A frame cut short by the next head flag costs only itself.
  const torn = deframe809(Buffer.concat([a.subarray(0, 10), b]))
  t.equal(torn.errors.length, 1)
  t.equal(torn.errors[0].code, 'TRUNCATED')
  t.equal(torn.frames.length, 1)
  t.equal(torn.frames[0].content.toString('hex'), inner(b).toString('hex'))

  // Overlong: no end flag within the limit; resynchronises on the next frame.
  const long = deframe809(Buffer.concat([Buffer.from([0x5b]), Buffer.alloc(200, 1), a]), [50, 120], 100)
  t.equal(long.errors[0].code, 'FRAME_TOO_LONG')
  t.equal(long.frames.length, 1)
  t.equal(long.frames[0].content.toString('hex'), inner(a).toString('hex'))
  const d = new Deframer809({ maxFrameLength: 100, onFrame: () => {}, onError: () => {} })
  d.push(Buffer.concat([Buffer.from([0x5b]), Buffer.alloc(90, 1)]))
  t.equal(d.buffered, 91)
  d.push(Buffer.alloc(50, 1))
  t.ok(d.buffered <= 100, 'never holds more than the limit')
})

t.test('deframer: a sender that does not escape a 0x5d is read by MSG_LENGTH', async (t) => {
  const f = encode({ msgId: 0x9001, body: { verifyCode: 0x115d2233 } })
  const literal = Buffer.concat([Buffer.from([0x5b]), unescape809(inner(f)).bytes, Buffer.from([0x5d])])
  t.equal(literal.indexOf(0x5d), 24, 'a raw 0x5d inside the frame')
  const next = encode(linkTest)
  for (const cuts of [[], [20], [26], [literal.length], [literal.length + 3]]) {
    const { frames, errors } = deframe809(Buffer.concat([literal, next]), cuts)
    t.same(errors, [], `cuts ${cuts}`)
    t.equal(frames.length, 2)
    t.equal(frames[0].unescaped, true)
    const r = decodeFrame809(frames[0].content, { unescaped: true })
    t.ok(r.ok && r.value.quirks.includes('unescaped') && isMessage809(r.value.message, 0x9001) && r.value.message.body.verifyCode === 0x115d2233)
  }
})
