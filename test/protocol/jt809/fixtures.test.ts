/**
 * JT/T 809 frames from public sources (fixtures/jt809-frames.json, sources in fixtures/README.md):
 * each deframes to one frame, decodes (with its link's keys where encrypted) to the id, edition,
 * sub-business type and quirks listed, and re-encodes to the same bytes. Field values checked
 * below are those the sources themselves state (the maintainer's decode in an issue thread, the
 * test's own assertions) or that identify the frame beyond doubt (a position in China, a JPEG).
 */
import t from 'tap'
import { decodeFrame809, encodeMessage809, isData, isMessage809, type Decoded809 } from '../../../protocol/jt809/index.js'
import { deframe809, fixture809, FIXTURES_809, hexId } from './helpers.js'

function decodeFixture(name: string): Decoded809 {
  const f = fixture809(name)
  const { frames } = deframe809(Buffer.from(f.hex, 'hex'))
  const r = decodeFrame809(frames[0].content, { unescaped: frames[0].unescaped, keys: f.keys })
  if (!r.ok) throw new Error(`${name}: ${r.error.message}`)
  return r.value
}

for (const f of FIXTURES_809) {
  t.test(f.name, async (t) => {
    const bytes = Buffer.from(f.hex, 'hex')
    const { frames, errors, stray } = deframe809(bytes)
    t.same(errors, [], 'no deframing error')
    t.equal(frames.length, 1, 'one frame')
    t.equal(stray, 0, 'no stray bytes')
    const r = decodeFrame809(frames[0].content, { unescaped: frames[0].unescaped, keys: f.keys })
    if (!r.ok) return t.fail(r.error.message)
    const m = r.value.message
    t.equal(r.value.crcOk, true, 'CRC right')
    t.equal(hexId(m.msgId), f.expect.msgId)
    t.equal(m.edition, f.expect.edition)
    if (f.expect.dataType !== undefined) t.equal(hexId((m.body as { dataType: number }).dataType), f.expect.dataType)
    t.same(r.value.quirks, f.expect.quirks, 'quirks')
    t.notOk(m.bodyEncrypted, 'body decrypted when encrypted')
    const back = encodeMessage809(m, { keys: f.keys })
    if (!back.ok) return t.fail(back.error.message)
    t.equal(back.value.toString('hex'), f.hex, 'encode(decode(x)) is x')
  })
}

t.test('field values of captured frames', async (t) => {
  // SmallChi/JT809#10: the maintainer's decode of this frame (keys 20240604) is user 102, password 123456.
  const login = decodeFixture('2019 1001 login, encrypted (body ends in an escaped 0x5d)').message
  if (!isMessage809(login, 0x1001)) return t.fail('not a 0x1001')
  t.match(login.body, { userId: 102, password: '123456', gnssCentreId: 102 })
  t.equal(login.encryptFlag, 1)

  // SmallChi/JTTools#10: the published decode (platform 12432, overspeed, 黑T30013 yellow, 超速报警).
  const alarm = decodeFixture('2019 1402 alarm report, INFO_LENGTH and DATA_LENGTH counted in UTF-8').message
  if (!isMessage809(alarm, 0x1400) || !isData(alarm.body, 0x1402)) return t.fail('not a 0x1402')
  t.match(alarm.body.data, { sourcePlatformId: '12432', warnType: 1, plate: '黑T30013', plateColor: 2, content: '超速报警' })
  t.equal(alarm.body.data.warnTime, 0x68fb344f)

  // 查岗 in clear text: the question is readable GBK.
  const query = decodeFixture('2019 9301 post query (查岗)').message
  if (!isMessage809(query, 0x9300) || !isData(query.body, 0x9301)) return t.fail('not a 0x9301')
  t.match(query.body.data, { objectType: 2, objectId: '测B01844', answerMinutes: 10, infoId: 25, content: '平台查岗请求是否是人类' })
  // The encrypted copy of the same query decrypts to the same body.
  const encrypted = decodeFixture('2019 9301 post query, encrypted, unescaped sender').message
  t.same(encrypted.body, query.body)

  // An encrypted 2019 position: the embedded 0x0200 body is a fix in Jiangsu on the capture's day.
  const pos = decodeFixture('2019 1202 real-time position with 808 0x0200 body, encrypted').message
  if (!isMessage809(pos, 0x1200) || !isData(pos.body, 0x1202)) return t.fail('not a 0x1202')
  const p = pos.body.data.position
  if (p.edition !== 2019 || 'raw' in p.gnss) return t.fail('no 2019 position')
  t.equal(pos.body.plate, '测B01844')
  t.equal(p.gnss.latitude, 32.353134)
  t.equal(p.gnss.longitude, 121.357231)
  t.equal(p.gnss.time, '2025-08-22T11:35:45+08:00')
  t.equal(p.platforms.length, 3)

  // A photo reply carries a whole JPEG (FF D8 FF E0 … FF D9).
  const photo = decodeFixture('2019 1502 photo reply with JPEG (23 KB), raw 0x5a/0x5b/0x5d inside').message
  if (!isMessage809(photo, 0x1500) || !isData(photo.body, 0x1502)) return t.fail('not a 0x1502')
  t.match(photo.body.data.photo, /^ffd8ffe0/)
  t.match(photo.body.data.photo, /ffd9$/, 'the image ends with the JPEG end marker: PHOTO_LEN cut it right')

  // SmallChi's own 2011 assertions for its 0x1001 vector.
  const plain = decodeFixture('2011 1001 login').message
  t.match(plain.body, { userId: 20180920, password: '20180920', downLinkIp: '127.0.0.1', downLinkPort: 809 })
  const enc = decodeFixture('2011 1001 login, encrypted').message
  t.match(enc, { encryptFlag: 1, encryptKey: 256178, body: { userId: 20180920, password: '20180920', downLinkIp: '127.0.0.1', downLinkPort: 809 } })

  // 督办 (2011), SmallChi's demo values.
  const urge = decodeFixture('2011 9401 supervision request (督办)').message
  if (!isMessage809(urge, 0x9400) || !isData(urge.body, 0x9401)) return t.fail('not a 0x9401')
  t.match(urge.body, { plate: '粤A12345', plateColor: 2 })
  t.match(urge.body.data, { warnSrc: 1, warnType: 2, supervisor: 'smallchi', supervisorTel: '12345678901', supervisorEmail: '123456@qq.com' })
})

t.test('waybill frames (0x120D, 0x120B, 0x920B)', async (t) => {
  // SmallChi/JT809's 0x120D test vector as DATA: its own assertion is EWAYBILL_INFO "asd123456asd"
  const vector = decodeFixture('2011 120D waybill report, SmallChi sub-body vector (built frame)').message
  if (!isMessage809(vector, 0x1200) || !isData(vector.body, 0x120d)) return t.fail('not a 0x120D')
  t.match(vector.body, { plate: '鲁A20001', plateColor: 2, data: { waybill: 'asd123456asd' } })
  const json = decodeFixture('2011 120D waybill report, JSON text with GBK (built)').message
  if (!isMessage809(json, 0x1200) || !isData(json.body, 0x120d)) return t.fail('not a 0x120D')
  t.match(JSON.parse(json.body.data.waybill), { waybillNo: 'YD-809-0001', goods: [{ name: '汽油' }] }, 'GBK text read back')
  const answer = decodeFixture('2019 120B waybill answer with source message, plain text (built)').message
  if (!isMessage809(answer, 0x1200) || !isData(answer.body, 0x120b)) return t.fail('not a 0x120B')
  t.match(answer.body.data, { sourceDataType: 0x920b, sourceMsgSn: 5, waybill: '运单 YD-809-0009：汽油 20 吨' }, '2019: the request it answers, then the text')
  const encrypted = decodeFixture('2019 120D waybill report, encrypted (built)').message
  if (!isMessage809(encrypted, 0x1200) || !isData(encrypted.body, 0x120d)) return t.fail('not a 0x120D')
  t.equal(encrypted.body.data.waybill, 'waybillNo:=YD-809-0002;plate:=鲁A20001', 'decrypted with the link keys')
  const request = decodeFixture('2011 920B waybill request (built)').message
  if (!isMessage809(request, 0x9200) || !isData(request.body, 0x920b)) return t.fail('not a 0x920B')
  t.same([request.body.plate, request.body.data], ['鲁A20001', {}])
})
