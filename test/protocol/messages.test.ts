/**
 * Per message: decode (fields read off the published bytes by hand), encode (bytes built by
 * hand from the layout), and the round trip, for each version where the layouts differ.
 */
import t from 'tap'
import { decodeFrame, encodeBody, encodeMessage, isMessage, type KnownMsgId, type Location, type Message, type OutgoingMessage, type ProtocolVersion } from '../../protocol/index.js'
import { fixture, inner } from './helpers.js'

function decodeFixture(name: string): Message {
  const d = decodeFrame(inner(fixture(name).hex))
  if (!d.ok) throw new Error(`${name}: ${d.error.message}`)
  return d.value.message
}

/** Body bytes an outgoing message encodes to. */
function bodyHex(m: OutgoingMessage): string {
  const b = encodeBody(m)
  if (!b.ok) throw new Error(b.error.message)
  return b.value.toString('hex')
}

/** A 2013 frame (without its 0x7e) carrying these body bytes. */
function encodeMessageHex(msgId: KnownMsgId, hex: string): string {
  const frame = encodeMessage({ msgId, version: 2013, phone: '013912344329', serial: 1, body: { raw: hex } })
  if (!frame.ok) throw new Error(frame.error.message)
  return frame.value.toString('hex')
}

/** Decodes a body given as hex under a header of the given version. */
function decodeBodyHex(msgId: KnownMsgId, version: ProtocolVersion, hex: string): Message {
  const frame = encodeMessage({ msgId, version, phone: version === 2019 ? '00000000013912344329' : '013912344329', serial: 1, body: { raw: hex } })
  if (!frame.ok) throw new Error(frame.error.message)
  const d = decodeFrame(frame.value.subarray(1, frame.value.length - 1))
  if (!d.ok) throw new Error(d.error.message)
  return d.value.message
}

const gbk = (s: string) => Buffer.from(s, 'latin1').toString('hex')

t.test('0x0001 / 0x8001 general replies', async (t) => {
  const m = decodeFixture('0001 terminal general reply')
  t.ok(isMessage(m, 0x0001))
  t.match(m.body, { replySerial: 0, replyId: 0x8105, result: 0 })
  t.equal(bodyHex({ msgId: 0x8001, phone: '1', serial: 1, body: { replySerial: 0x0102, replyId: 0x0002, result: 4 } }), '0102000204')
})

t.test('0x0002 / 0x0003 / 0x0004 / 0x8104 / 0x8107 / 0x8201: empty bodies', async (t) => {
  for (const id of [0x0002, 0x0003, 0x0004, 0x8104, 0x8107, 0x8201] as const) {
    t.equal(bodyHex({ msgId: id, phone: '1', serial: 1, body: {} } as OutgoingMessage), '')
    t.same(decodeBodyHex(id, 2013, '').body, {})
  }
})

t.test('0x8004 server time is UTC', async (t) => {
  t.equal(bodyHex({ msgId: 0x8004, version: 2019, phone: '1', serial: 1, body: { time: '2024-10-29T21:39:03+08:00' } }), '241029133903')
  t.same(decodeBodyHex(0x8004, 2019, '241029133903').body, { time: '2024-10-29T13:39:03Z' })
  t.same(decodeBodyHex(0x8004, 2019, '241399000000').body, { time: '241399000000' }, 'not a time: digits kept')
})

t.test('0x8003 count is a BYTE in 2013, a WORD in 2019; 0x0005 always a WORD', async (t) => {
  const body = { originalSerial: 0x1234, packetIds: [2, 5] }
  t.equal(bodyHex({ msgId: 0x8003, version: 2013, phone: '1', serial: 1, body }), '1234' + '02' + '00020005')
  t.equal(bodyHex({ msgId: 0x8003, version: 2019, phone: '1', serial: 1, body }), '1234' + '0002' + '00020005')
  t.equal(bodyHex({ msgId: 0x0005, version: 2019, phone: '1', serial: 1, body }), '1234' + '0002' + '00020005')
  t.same(decodeBodyHex(0x8003, 2013, '12340200020005').body, body)
  t.same(decodeBodyHex(0x8003, 2019, '1234000200020005').body, body)
})

t.test('0x0100 register: 2011, 2013 and 2019 widths', async (t) => {
  const m2011 = decodeFixture('0100 2011 register, model padded with a space')
  t.equal(m2011.version, 2011, '33-byte body is 2011-shaped')
  t.match(m2011.body, { province: 44, city: 303, manufacturer: '70111', model: 'BSJ-M7B', terminalId: '0000000', plateColor: 1, plate: '粤B88888' })
  const m2013 = decodeFixture('0100 2013 register 2')
  t.equal(m2013.version, 2013)
  t.match(m2013.body, { manufacturer: '70107', model: 'HB-R03GBD', terminalId: '2366104', plateColor: 2, plate: '苏BA6860' })
  const m2019 = decodeFixture('0100 2019 register (bit 14, BCD[10] phone)')
  t.equal(m2019.version, 2019)
  t.equal(m2019.phone, '00000866496077582164')
  t.match(m2019.body, { model: 'MD300', terminalId: '866496077582164', plateColor: 4, plate: '' })

  const body = { province: 31, city: 115, manufacturer: 'cd', model: 'M1', terminalId: '7654321', plateColor: 1, plate: '京A1' }
  const tail = '01' + 'bea9' + '4131'
  t.equal(bodyHex({ msgId: 0x0100, version: 2011, phone: '1', serial: 1, body }), '001f0073' + '6364000000' + '4d31000000000000' + '37363534333231' + tail)
  t.equal(bodyHex({ msgId: 0x0100, version: 2013, phone: '1', serial: 1, body }), '001f0073' + '6364000000' + '4d31' + '00'.repeat(18) + '37363534333231' + tail)
  t.equal(bodyHex({ msgId: 0x0100, version: 2019, phone: '1', serial: 1, body }), '001f0073' + '6364' + '00'.repeat(9) + '4d31' + '00'.repeat(28) + '37363534333231' + '00'.repeat(23) + tail)
  // A 2011 body carrying a 17-character VIN (plate colour 0) is 42 bytes, as long as a 2013 body: still 2011.
  const vin = { ...body, plateColor: 0, plate: 'LSVAU2180N2123456' }
  const vinBody = bodyHex({ msgId: 0x0100, version: 2011, phone: '1', serial: 1, body: vin })
  t.equal(vinBody.length / 2, 42)
  const vinMsg = decodeBodyHex(0x0100, 2013, vinBody)
  t.equal(vinMsg.version, 2011, 'the VIN body is read as 2011')
  t.match(vinMsg.body, { model: 'M1', terminalId: '7654321', plateColor: 0, plate: 'LSVAU2180N2123456' })
  const tooLong = encodeMessage({ msgId: 0x0100, version: 2013, phone: '1', serial: 1, body: { ...body, terminalId: '12345678' } })
  t.equal(!tooLong.ok && tooLong.error.code, 'BAD_FIELD', 'a field wider than its slot is a BAD_FIELD value')
})

t.test('0x8100 register reply', async (t) => {
  t.equal(bodyHex({ msgId: 0x8100, phone: '1', serial: 1, body: { replySerial: 5, result: 0, authCode: 'AB12' } }), '0005' + '00' + '41423132')
  t.equal(bodyHex({ msgId: 0x8100, phone: '1', serial: 1, body: { replySerial: 5, result: 3 } }), '000503')
  t.same(decodeFixture('8100 register reply').body, { replySerial: 0, result: 0, authCode: '12345678901' })
  t.same(decodeBodyHex(0x8100, 2013, '000504').body, { replySerial: 5, result: 4 }, 'no auth code on failure')
})

t.test('0x0102 auth: 2013 code only, 2019 length + code + IMEI + software version', async (t) => {
  t.same(decodeFixture('0102 2013 auth').body, { authCode: 'authentication' })
  t.same(decodeFixture('0102 2019 auth with IMEI and software version').body, { authCode: '17299841738', imei: '123456789012345', softwareVersion: '3.7.15' })
  t.equal(bodyHex({ msgId: 0x0102, version: 2013, phone: '1', serial: 1, body: { authCode: 'abc' } }), '616263')
  t.equal(
    bodyHex({ msgId: 0x0102, version: 2019, phone: '1', serial: 1, body: { authCode: 'abc', imei: '867', softwareVersion: 'V1' } }),
    '03616263' + '383637' + '00'.repeat(12) + '5631' + '00'.repeat(18),
  )
})

t.test('0x8103 / 0x0104 parameters: typed, and kept as hex when not', async (t) => {
  const set = decodeFixture('8103 set server address and TCP port')
  t.same(set.body, {
    params: [
      { id: 0x0013, name: 'serverAddress', text: '188.245.151.94' },
      { id: 0x0018, name: 'serverTcpPort', value: 5015 },
    ],
  })
  const odd = decodeFixture('8103 max speed with a 2-byte value (kept as hex)')
  t.same(odd.body, { params: [{ id: 0x0055, name: 'maxSpeed', hex: '0000' }] })
  const params = [
    { id: 0x0001, value: 30 },
    { id: 0x0031, value: 500 },
    { id: 0x0084, value: 2 },
    { id: 0x0083, text: '京A' },
    { id: 0xf364, hex: 'aabb' },
  ]
  const hex = '05' + '00000001' + '04' + '0000001e' + '00000031' + '02' + '01f4' + '00000084' + '01' + '02' + '00000083' + '03' + 'bea941' + '0000f364' + '02' + 'aabb'
  t.equal(bodyHex({ msgId: 0x8103, phone: '1', serial: 1, body: { params } }), hex)
  const reply = decodeBodyHex(0x0104, 2013, '0007' + hex)
  t.match(reply.body, { replySerial: 7, params: [{ value: 30, name: 'heartbeatInterval' }, { value: 500 }, { value: 2 }, { text: '京A' }, { id: 0xf364, hex: 'aabb' }] })
  t.same(
    decodeBodyHex(0x8103, 2013, '03' + '00000001' + '04' + '0000001e').body,
    { params: [{ id: 1, name: 'heartbeatInterval', value: 30 }], declaredCount: 3 },
    'a miscounted list keeps what it has',
  )
})

t.test('0x8105 terminal control', async (t) => {
  t.same(decodeFixture('8105 terminal control: reset').body, { command: 4 })
  t.equal(bodyHex({ msgId: 0x8105, phone: '1', serial: 1, body: { command: 1, params: 'a;b' } }), '01' + '613b62')
})

t.test('0x0107 attributes: 2013 and 2019 widths', async (t) => {
  t.match(decodeFixture('0107 2013 terminal attributes').body, { terminalType: 0, manufacturer: 'XC', iccid: '89883030000131882455', firmwareVersion: 'C5L_V2.6 2026/06/04 15:31', gnss: 3, comm: 1 })
  t.match(decodeFixture('0107 2019 terminal attributes').body, {
    terminalType: 0xff,
    manufacturer: '88888',
    model: 'CK100C',
    terminalId: '1000493',
    iccid: '89860324947560032900',
    hardwareVersion: 'HW-V2.5',
    firmwareVersion: 'CK100C-JT-V024',
    gnss: 2,
    comm: 0x20,
  })
})

t.test('0x0201 location reply, 0x8202 tracking, 0x8203 alarm confirmation', async (t) => {
  const r = decodeFixture('0201 location query reply')
  t.ok(isMessage(r, 0x0201))
  if (isMessage(r, 0x0201)) {
    t.equal(r.body.replySerial, 0x0001)
    t.match(r.body.location, { latitude: 22.5, longitude: 114, time: '2026-08-24T15:30:00+08:00' })
  }
  t.equal(bodyHex({ msgId: 0x8202, phone: '1', serial: 1, body: { interval: 10, validity: 3600 } }), '000a00000e10')
  t.same(decodeBodyHex(0x8202, 2013, '000a00000e10').body, { interval: 10, validity: 3600 })
  t.equal(bodyHex({ msgId: 0x8203, phone: '1', serial: 1, body: { replySerial: 0x22, alarmType: 1 } }), '002200000001')
  t.same(decodeBodyHex(0x8203, 2013, '002200000001').body, { replySerial: 0x22, alarmType: 1 })
})

t.test('0x0701 waybill: content kept as bytes', async (t) => {
  t.same(decodeFixture('0701 waybill report').body, { hex: Buffer.from('MD,SET CONFIG OK!').toString('hex') })
  t.equal(bodyHex({ msgId: 0x0701, phone: '1', serial: 1, body: { hex: 'aabb' } }), '00000002aabb')
  t.same(decodeBodyHex(0x0701, 2013, '00000009aabb').body, { hex: 'aabb', declaredLength: 9 }, 'a wrong length field loses nothing')
})

t.test('0x0702 driver identity: 2013 and 2019 (ID number), card removed', async (t) => {
  t.same(decodeFixture('0702 2013 driver card inserted').body, {
    status: 1,
    time: '2025-10-09T15:07:51+08:00',
    readResult: 0,
    driverName: '',
    qualificationNo: '0029b885',
    issuer: '',
    validUntil: '00000000',
  })
  const body = { status: 1, time: '2024-03-01T08:00:00+08:00', readResult: 0, driverName: '张三', qualificationNo: 'Q1', issuer: 'JT', validUntil: '2030-12-31' }
  const common = '01' + '240301080000' + '00' + '04' + 'd5c5c8fd' + '5131' + '00'.repeat(18) + '02' + '4a54' + '20301231'
  t.equal(bodyHex({ msgId: 0x0702, version: 2013, phone: '1', serial: 1, body }), common)
  t.equal(bodyHex({ msgId: 0x0702, version: 2019, phone: '1', serial: 1, body: { ...body, idNumber: '110101' } }), common + '313130313031' + '00'.repeat(14))
  t.same(decodeBodyHex(0x0702, 2019, common + '313130313031' + '00'.repeat(14)).body, { ...body, idNumber: '110101' })
  t.same(decodeBodyHex(0x0702, 2013, '02240301180000').body, { status: 2, time: '2024-03-01T18:00:00+08:00' }, 'card removed: status and time only')
  t.same(decodeBodyHex(0x0702, 2013, '0124030108000003').body, { status: 1, time: '2024-03-01T08:00:00+08:00', readResult: 3 }, 'read failure: no driver fields')
})

t.test('0x0704 batch: normal and blind-area, 2013 and 2019', async (t) => {
  const blind = decodeFixture('0704 type 1 blind-area batch')
  t.ok(isMessage(blind, 0x0704))
  if (isMessage(blind, 0x0704)) {
    t.equal(blind.body.type, 1)
    t.equal(blind.body.items.length, 4)
    t.match(blind.body.items[0], { time: '2018-05-14T20:28:47+08:00' })
  }
  const m2019 = decodeFixture('0704 2019 batch')
  t.ok(isMessage(m2019, 0x0704) && m2019.body.items[0].extras.satellites === 14 && m2019.version === 2019)
  t.equal(bodyHex({ msgId: 0x0704, phone: '1', serial: 1, body: { type: 1, items: [] } }), '000001')
})

t.test('0x8300 text: 2019 adds a type byte', async (t) => {
  t.same(decodeFixture('8300 2013 text, GBK').body, { flags: 0xff, text: '测试123@456#abc+结束' })
  t.equal(bodyHex({ msgId: 0x8300, version: 2013, phone: '1', serial: 1, body: { flags: 8, text: '停车' } }), '08' + 'cda3b3b5')
  t.equal(bodyHex({ msgId: 0x8300, version: 2019, phone: '1', serial: 1, body: { flags: 8, type: 2, text: '停车' } }), '0802' + 'cda3b3b5')
  t.same(decodeBodyHex(0x8300, 2019, '0802cda3b3b5').body, { flags: 8, type: 2, text: '停车' })
})

t.test('0x0800 / 0x0801 / 0x8800 media', async (t) => {
  t.same(decodeFixture('0800 media event').body, { mediaId: 123, type: 0, format: 0, event: 7, channel: 1 })
  const data = decodeFixture('0801 media data')
  t.ok(isMessage(data, 0x0801))
  if (isMessage(data, 0x0801)) {
    t.match(data.body, { mediaId: 123, type: 1, format: 2, event: 1, channel: 2, data: '0d7b0d7b7b' })
    t.match(data.body.location, { alarm: 1024, status: 2048, time: '2020-07-07T19:23:59+08:00' })
  }
  t.same(decodeFixture('8800 media reply').body, { mediaId: 2, packetIds: [] })
  t.same(decodeFixture('8800 media reply with ids').body, { mediaId: 0xc15f, packetIds: [1, 2, 3, 4, 5, 6, 7, 8, 9] })
  t.equal(bodyHex({ msgId: 0x8800, phone: '1', serial: 1, body: { mediaId: 2 } }), '00000002', 'everything arrived: media id only')
})

t.test('0x8801 take a photo now / 0x0805 its reply', async (t) => {
  const cmd = { channel: 1, command: 1, interval: 0, save: 0, resolution: 2, quality: 5, brightness: 128, contrast: 64, saturation: 64, chroma: 128 }
  // channel 01, command 0001, interval 0000, save 00, resolution 02, quality 05, brightness 80, contrast 40, saturation 40, chroma 80
  for (const version of [2013, 2019] as const) {
    t.equal(bodyHex({ msgId: 0x8801, version, phone: '1', serial: 1, body: cmd }), '010001000000020580404080', `${version}: 12 bytes`)
    t.same(decodeBodyHex(0x8801, version, '010001000000020580404080').body, cmd)
  }
  t.same(
    decodeBodyHex(0x8801, 2013, '02ffff003c0108010000007f').body,
    { channel: 2, command: 0xffff, interval: 60, save: 1, resolution: 8, quality: 1, brightness: 0, contrast: 0, saturation: 0, chroma: 0x7f },
    'video for 60 s, saved',
  )
  const bad = encodeBody({ msgId: 0x8801, phone: '1', serial: 1, body: { ...cmd, quality: 256 } })
  t.notOk(bad.ok, 'a field out of its BYTE is refused, not truncated')

  t.same(decodeBodyHex(0x0805, 2013, '0022' + '00' + '0002' + '0000007b' + '0000007c').body, { replySerial: 0x22, result: 0, mediaIds: [123, 124] })
  t.same(decodeBodyHex(0x0805, 2019, '0022' + '02').body, { replySerial: 0x22, result: 2 }, 'channel not supported, the body ends after the result')
  t.same(decodeBodyHex(0x0805, 2013, '0022' + '01' + '0000').body, { replySerial: 0x22, result: 1, mediaIds: [] })
  t.equal(bodyHex({ msgId: 0x0805, phone: '1', serial: 1, body: { replySerial: 7, result: 0, mediaIds: [1] } }), '0007' + '00' + '0001' + '00000001')
  t.equal(bodyHex({ msgId: 0x0805, phone: '1', serial: 1, body: { replySerial: 7, result: 2 } }), '000702')
  const short = decodeFrame(inner(encodeMessageHex(0x0805, '0022' + '00' + '0002' + '0000007b')))
  t.notOk(short.ok, 'a count larger than the ids sent is a codec error, not a short list')
})

t.test('0x0900 / 0x8900 pass-through', async (t) => {
  t.match(decodeFixture('0900 pass-through').body, { type: 0x40, hex: /^0018/ })
  t.equal(bodyHex({ msgId: 0x8900, phone: '1', serial: 1, body: { type: 0xf0, hex: '776865726523' } }), 'f0776865726523')
})

t.test('0x1210 / 0x1211 / 0x1212 attachments (T/JSATL12)', async (t) => {
  t.same(decodeFixture('1210 T/JSATL12 alarm attachments').body, {
    variant: 'jsatl12',
    terminalId: '123cd',
    alarmFlag: { terminalId: '123cd', time: '2024-11-11T00:00:00+08:00', serial: 1, attachmentCount: 2, reserved: 1 },
    alarmNumber: 'aaa',
    infoType: 0,
    files: [
      { name: '123_aaa.jpg', size: 1234 },
      { name: 'cd_aaa.mp4', size: 123456 },
    ],
  })
  t.same(decodeFixture('1211 2019 file info').body, { name: 'www.jtt808.cn', fileType: 1, size: 1024 })
  t.same(decodeFixture('1212 file upload complete').body, { name: 'www.jtt808.cn', fileType: 1, size: 1024 })
  t.equal(bodyHex({ msgId: 0x1212, phone: '1', serial: 1, body: { name: 'a.jpg', fileType: 0, size: 5 } }), '05' + gbk('a.jpg') + '00' + '00000005')
})

t.test('unknown ids decode raw and round-trip; encrypted bodies stay raw', async (t) => {
  const m = decodeFixture('vendor message 0x6006')
  t.same(Object.keys(m.body), ['raw'])
  const enc = encodeMessage({ msgId: 0x0200, phone: '013912344329', serial: 1, encryption: 1, body: { raw: '00112233' } })
  t.ok(enc.ok)
  if (enc.ok) {
    const d = decodeFrame(enc.value.subarray(1, enc.value.length - 1))
    t.ok(d.ok && d.value.message.encryption === 1 && 'raw' in d.value.message.body && !isMessage(d.value.message, 0x0200))
  }
  const noCodec = encodeMessage({ msgId: 0x9999, phone: '1', serial: 1, body: {} as never })
  t.equal(!noCodec.ok && noCodec.error.code, 'BAD_FIELD')
})

t.test('a short body is a TRUNCATED value, never an exception', async (t) => {
  for (const [id, hex] of [
    [0x0200, '0000'],
    [0x8100, '00'],
    [0x0704, '00'],
    [0x1210, '3132'],
    [0x0107, '0001'],
    [0x8103, '0100000001'],
  ] as const) {
    const frame = encodeMessage({ msgId: id, phone: '013912344329', serial: 1, body: { raw: hex } })
    if (!frame.ok) throw new Error()
    const d = decodeFrame(frame.value.subarray(1, frame.value.length - 1))
    t.equal(!d.ok && d.error.code, 'TRUNCATED', `0x${id.toString(16)}`)
  }
})

t.test('0x0704: a bad item costs only itself; an overrunning length keeps the rest as tail; exact round trip', async (t) => {
  const good = (speed: number): Location => ({
    alarm: 0,
    status: 3,
    latitude: 36.65,
    longitude: 117.12,
    latitudeRaw: 36650000,
    longitudeRaw: 117120000,
    altitude: 40,
    speed,
    direction: 90,
    time: '2024-06-03T10:00:00+08:00',
    timeMs: null,
    extras: { mileage: 12.5 },
    unknown: [],
    itemOrder: [],
  })
  const itemBytes = (loc: Location) => Buffer.from(bodyHex({ msgId: 0x0200, phone: '1', serial: 1, body: loc }), 'hex')
  const a = itemBytes(good(40)),
    b = itemBytes(good(50))
  const short = Buffer.from('0102030405', 'hex')
  const word = (n: number) => Buffer.from([n >> 8, n & 0xff])
  // count 4, type 1: good, short (5 bytes), good, then an item declaring 200 bytes with 3 present
  const raw = Buffer.concat([word(4), Buffer.from([1]), word(a.length), a, word(short.length), short, word(b.length), b, word(200), Buffer.from('aabbcc', 'hex')])
  const frame = encodeMessage({ msgId: 0x0704, phone: '013912344329', serial: 9, body: { raw: raw.toString('hex') } })
  if (!frame.ok) throw new Error('frame')
  const d = decodeFrame(frame.value.subarray(1, frame.value.length - 1))
  t.ok(d.ok, 'the batch decodes')
  if (!d.ok || !isMessage(d.value.message, 0x0704)) return
  const batch = d.value.message.body
  t.same(
    batch.items.map((i) => i.speed),
    [40, 50],
    'both good positions kept',
  )
  t.same(
    batch.badItems?.map((x) => [x.index, x.hex]),
    [[1, '0102030405']],
    'the short item kept as bytes, in place',
  )
  t.equal(batch.tail, '00c8aabbcc', 'the overrunning item kept as tail')
  t.ok(batch.itemsError)
  const again = encodeMessage(d.value.message)
  t.ok(again.ok && again.value.equals(frame.value), 'encode(decode(bytes)) reproduces the bytes')
})
