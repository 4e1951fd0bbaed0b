/**
 * Body layouts written out byte by byte from the standard's tables (JT/T 809-2011 §4.5, the 2019
 * differences as documented in each messages/*.ts), independently of the codec's field lists:
 * each body decodes to the values put in, and the typed message encodes to these bytes. Round-trip
 * properties cannot catch two fields swapped on both sides; this can.
 */
import t, { type Test } from 'tap'
import iconv from 'iconv-lite'
import { decodeFrame809, encodeMessage809, type Edition, type OutgoingMessage809 } from '../../../protocol/jt809/index.js'

const u8 = (v: number) => Buffer.from([v])
const u16 = (v: number) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(v)
  return b
}
const u32 = (v: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(v)
  return b
}
const u64 = (v: number) => Buffer.concat([u32(Math.floor(v / 2 ** 32)), u32(v % 2 ** 32)])
const gbk = (s: string) => iconv.encode(s, 'gbk')
const fixed = (s: string, n: number) => {
  const b = Buffer.alloc(n)
  gbk(s).copy(b)
  return b
}
const cat = (...parts: Buffer[]) => Buffer.concat(parts)
/** VEHICLE_NO, VEHICLE_COLOR, DATA_TYPE, DATA_LENGTH, DATA */
const vehicle = (plate: string, colour: number, type: number, data: Buffer) => cat(fixed(plate, 21), u8(colour), u16(type), u32(data.length), data)
const plain = (type: number, data: Buffer) => cat(u16(type), u32(data.length), data)

const V = { plate: '沪A12345', plateColor: 2 }
const T1 = 1_700_000_000
const T2 = 1_700_003_600
/** A 2011 GNSS_DATA: 2023-11-14 22:13:20 Beijing time, 121.5 E, 31.25 N. */
const gnss2011 = cat(u8(0), u8(14), u8(11), u16(2023), u8(22), u8(13), u8(20), u32(121_500_000), u32(31_250_000), u16(60), u16(58), u32(12345), u16(90), u16(8), u32(3), u32(0))
const pos2011 = {
  edition: 2011,
  encrypt: 0,
  time: '2023-11-14T22:13:20+08:00',
  longitude: 121.5,
  latitude: 31.25,
  speed: 60,
  recorderSpeed: 58,
  mileage: 12345,
  direction: 90,
  altitude: 8,
  state: 3,
  alarm: 0,
}

function check(t: Test, name: string, msgId: number, edition: Edition, body: Buffer, typed: Record<string, unknown>): void {
  const head = { msgId, edition, sn: 1, gnssCentreId: 2, time: edition === 2019 ? T1 : undefined }
  const frame = encodeMessage809({ ...head, body: { raw: body.toString('hex') } } as OutgoingMessage809)
  if (!frame.ok) return void t.fail(frame.error.message)
  const d = decodeFrame809(frame.value.subarray(1, frame.value.length - 1))
  if (!d.ok) return void t.fail(`${name}: ${d.error.message}`)
  t.same(d.value.quirks, [], `${name}: clean`)
  t.match(d.value.message.body, typed, `${name}: decodes to the values`)
  const again = encodeMessage809({ ...head, body: typed } as OutgoingMessage809)
  t.equal(again.ok && again.value.toString('hex'), frame.value.toString('hex'), `${name}: encodes to the bytes`)
}

t.test('link management', async (t) => {
  check(t, '1001 2011', 0x1001, 2011, cat(u32(7), fixed('pw', 8), fixed('10.1.2.3', 32), u16(9000)), { userId: 7, password: 'pw', downLinkIp: '10.1.2.3', downLinkPort: 9000 })
  check(t, '1001 2019', 0x1001, 2019, cat(u32(7), fixed('pw', 8), u32(31010001), fixed('10.1.2.3', 32), u16(9000)), {
    userId: 7,
    password: 'pw',
    gnssCentreId: 31010001,
    downLinkIp: '10.1.2.3',
    downLinkPort: 9000,
  })
  check(t, '1002', 0x1002, 2011, cat(u8(0), u32(0xabcdef01)), { result: 0, verifyCode: 0xabcdef01 })
  check(t, '1003', 0x1003, 2011, cat(u32(7), fixed('pw', 8)), { userId: 7, password: 'pw' })
  check(t, '1007', 0x1007, 2011, u8(1), { errorCode: 1 })
  check(t, '9001', 0x9001, 2011, u32(0xabcdef01), { verifyCode: 0xabcdef01 })
  check(t, '9002', 0x9002, 2011, u8(2), { result: 2 })
  check(t, '9007', 0x9007, 2011, u8(1), { reasonCode: 1 })
})

t.test('0x1200 / 0x9200 vehicle exchange', async (t) => {
  check(t, '1201 2011', 0x1200, 2011, vehicle('沪A12345', 2, 0x1201, cat(fixed('31010000001', 11), fixed('M01', 11), fixed('T808', 8), fixed('1234567', 7), fixed('13912345678', 12))), {
    plate: '沪A12345',
    plateColor: 2,
    dataType: 0x1201,
    data: { platformId: '31010000001', producerId: 'M01', model: 'T808', terminalId: '1234567', simCode: '13912345678' },
  })
  check(t, '1202 2011', 0x1200, 2011, vehicle('沪A12345', 2, 0x1202, gnss2011), { ...V, dataType: 0x1202, data: { position: pos2011 } })
  check(t, '1203 2011', 0x1200, 2011, vehicle('沪A12345', 2, 0x1203, cat(u8(2), gnss2011, gnss2011)), { ...V, dataType: 0x1203, data: { positions: [pos2011, pos2011] } })
  check(t, '1209', 0x1200, 2011, vehicle('沪A12345', 2, 0x1209, cat(u64(T1), u64(T2))), { ...V, dataType: 0x1209, data: { startTime: T1, endTime: T2 } })
  check(t, '120D', 0x1200, 2011, vehicle('沪A12345', 2, 0x120d, cat(u32(gbk('危险品运单').length), gbk('危险品运单'))), { ...V, dataType: 0x120d, data: { waybill: '危险品运单' } })
  check(t, '120B 2019', 0x1200, 2019, vehicle('沪A12345', 2, 0x120b, cat(u16(0x920b), u32(77), u32(4), gbk('运单'))), {
    ...V,
    dataType: 0x120b,
    data: { sourceDataType: 0x920b, sourceMsgSn: 77, waybill: '运单' },
  })
  check(t, '9203 2011', 0x9200, 2011, vehicle('沪A12345', 2, 0x9203, cat(u8(1), gnss2011)), { ...V, dataType: 0x9203, data: { positions: [pos2011] } })
  check(t, '9205', 0x9200, 2011, vehicle('沪A12345', 2, 0x9205, u8(1)), { ...V, dataType: 0x9205, data: { reasonCode: 1 } })
  check(t, '9206', 0x9200, 2011, vehicle('沪A12345', 2, 0x9206, u8(3)), { ...V, dataType: 0x9206, data: { reasonCode: 3 } })
  check(t, '9209 2011', 0x9200, 2011, vehicle('沪A12345', 2, 0x9209, u8(0)), { ...V, dataType: 0x9209, data: { result: 0 } })
  check(t, '9209 2019', 0x9200, 2019, vehicle('沪A12345', 2, 0x9209, cat(u16(0x1209), u32(9), u8(1))), { ...V, dataType: 0x9209, data: { sourceDataType: 0x1209, sourceMsgSn: 9, result: 1 } })
  check(t, '920B', 0x9200, 2011, vehicle('沪A12345', 2, 0x920b, Buffer.alloc(0)), { ...V, dataType: 0x920b, data: {} })
  check(t, '9201 2019 (no vehicle)', 0x9200, 2019, plain(0x9201, cat(u16(0x1201), u32(5), u8(0))), { dataType: 0x9201, data: { sourceDataType: 0x1201, sourceMsgSn: 5, result: 0 } })
})

t.test('0x1300 / 0x9300 post query (查岗)', async (t) => {
  const q = gbk('请报告值班人员')
  check(t, '9301 2011', 0x9300, 2011, plain(0x9301, cat(u8(1), fixed('91310000', 12), u32(42), u32(q.length), q)), {
    dataType: 0x9301,
    data: { objectType: 1, objectId: '91310000', infoId: 42, content: '请报告值班人员' },
  })
  check(t, '9301 2019', 0x9300, 2019, plain(0x9301, cat(u8(1), fixed('91310000', 20), u8(10), u32(42), u32(q.length), q)), {
    dataType: 0x9301,
    data: { objectType: 1, objectId: '91310000', answerMinutes: 10, infoId: 42, content: '请报告值班人员' },
  })
  const a = gbk('张三在岗')
  check(t, '1301 2011', 0x1300, 2011, plain(0x1301, cat(u8(1), fixed('91310000', 12), u32(42), u32(a.length), a)), {
    dataType: 0x1301,
    data: { objectType: 1, objectId: '91310000', infoId: 42, content: '张三在岗' },
  })
  check(t, '1301 2019', 0x1300, 2019, plain(0x1301, cat(u8(1), fixed('张三', 16), fixed('13800000000', 20), fixed('91310000', 20), u16(0x9301), u32(8), u32(a.length), a)), {
    dataType: 0x1301,
    data: { objectType: 1, responder: '张三', responderTel: '13800000000', objectId: '91310000', sourceDataType: 0x9301, sourceMsgSn: 8, content: '张三在岗' },
  })
  check(t, '9302', 0x9300, 2011, plain(0x9302, cat(u8(0), fixed('ALL', 12), u32(43), u32(2), gbk('注'))), { dataType: 0x9302, data: { objectType: 0, objectId: 'ALL', infoId: 43, content: '注' } })
  check(t, '1302 2011', 0x1300, 2011, plain(0x1302, u32(43)), { dataType: 0x1302, data: { infoId: 43 } })
  check(t, '1302 2019', 0x1300, 2019, plain(0x1302, cat(u16(0x9302), u32(11))), { dataType: 0x1302, data: { sourceDataType: 0x9302, sourceMsgSn: 11 } })
})

t.test('0x1400 / 0x9400 alarms and 督办', async (t) => {
  const c = gbk('超速')
  check(t, '1402 2011', 0x1400, 2011, vehicle('沪A12345', 2, 0x1402, cat(u8(1), u16(1), u64(T1), u32(99), u32(c.length), c)), {
    ...V,
    dataType: 0x1402,
    data: { warnSrc: 1, warnType: 1, warnTime: T1, infoId: 99, content: '超速' },
  })
  check(t, '1401 2011', 0x1400, 2011, vehicle('沪A12345', 2, 0x1401, cat(u32(55), u8(1))), { ...V, dataType: 0x1401, data: { supervisionId: 55, result: 1 } })
  check(t, '1403 2011', 0x1400, 2011, vehicle('沪A12345', 2, 0x1403, cat(u32(99), u8(2))), { ...V, dataType: 0x1403, data: { infoId: 99, result: 2 } })
  check(t, '1412 2019', 0x1400, 2019, plain(0x1412, cat(u16(0x1402), u32(77), u8(1))), { dataType: 0x1412, data: { sourceDataType: 0x1402, sourceMsgSn: 77, result: 1 } })
  check(
    t,
    '1403 2019 (a forecast, the 0x1402 layout)',
    0x1400,
    2019,
    plain(0x1403, cat(fixed('P1', 11), u16(2), u64(T1), u64(T1), u64(T2), fixed('沪A12345', 21), u8(2), fixed('', 11), u32(0), u32(c.length), c)),
    {
      dataType: 0x1403,
      data: { sourcePlatformId: 'P1', warnType: 2, warnTime: T1, startTime: T1, endTime: T2, plate: '沪A12345', plateColor: 2, destinationPlatformId: '', drvLineId: 0, content: '超速' },
    },
  )
  check(t, '9401 2011', 0x9400, 2011, vehicle('沪A12345', 2, 0x9401, cat(u8(2), u16(1), u64(T1), u32(55), u64(T2), u8(0), fixed('李四', 16), fixed('021-1234', 20), fixed('a@b.cn', 32))), {
    ...V,
    dataType: 0x9401,
    data: { warnSrc: 2, warnType: 1, warnTime: T1, supervisionId: 55, supervisionEndTime: T2, supervisionLevel: 0, supervisor: '李四', supervisorTel: '021-1234', supervisorEmail: 'a@b.cn' },
  })
  check(t, '9402 2011', 0x9400, 2011, vehicle('沪A12345', 2, 0x9402, cat(u8(3), u16(2), u64(T1), u32(c.length), c)), {
    ...V,
    dataType: 0x9402,
    data: { warnSrc: 3, warnType: 2, warnTime: T1, content: '超速' },
  })
  check(t, '9403 2019', 0x9400, 2019, plain(0x9403, cat(fixed('P1', 11), u16(2), u64(T1), u64(T1), u64(T2), fixed('沪A12345', 21), u8(2), fixed('P2', 11), u32(0), u32(c.length), c)), {
    dataType: 0x9403,
    data: { sourcePlatformId: 'P1', warnType: 2, warnTime: T1, startTime: T1, endTime: T2, plate: '沪A12345', plateColor: 2, destinationPlatformId: 'P2', drvLineId: 0, content: '超速' },
  })
})

t.test('0x1500 / 0x9500 control, 0x1600 / 0x9600 static information', async (t) => {
  check(t, '9502', 0x9500, 2011, vehicle('沪A12345', 2, 0x9502, cat(u8(1), u8(2))), { ...V, dataType: 0x9502, data: { lensId: 1, sizeType: 2 } })
  const txt = gbk('请靠边停车')
  check(t, '9503', 0x9500, 2011, vehicle('沪A12345', 2, 0x9503, cat(u32(321), u8(0), u32(txt.length), txt)), { ...V, dataType: 0x9503, data: { msgSequence: 321, priority: 0, content: '请靠边停车' } })
  check(t, '1503 2011', 0x1500, 2011, vehicle('沪A12345', 2, 0x1503, cat(u32(321), u8(0))), { ...V, dataType: 0x1503, data: { msgId: 321, result: 0 } })
  check(t, '1503 2019', 0x1500, 2019, vehicle('沪A12345', 2, 0x1503, cat(u16(0x9503), u32(12), u8(1))), { ...V, dataType: 0x1503, data: { sourceDataType: 0x9503, sourceMsgSn: 12, result: 1 } })
  const jpeg = Buffer.from('ffd8ffe000104a464946ffd9', 'hex')
  check(t, '1502 2011', 0x1500, 2011, vehicle('沪A12345', 2, 0x1502, cat(u8(1), gnss2011, u8(1), u32(jpeg.length), u8(2), u8(1), jpeg)), {
    ...V,
    dataType: 0x1502,
    data: { photoRspFlag: 1, position: pos2011, lensId: 1, sizeType: 2, type: 1, photo: jpeg.toString('hex') },
  })
  check(t, '1601 2011', 0x1600, 2011, vehicle('沪A12345', 2, 0x1601, gbk('VIN:=LSV123;VEHICLE_TYPE:=危')), { ...V, dataType: 0x1601, data: { carInfo: 'VIN:=LSV123;VEHICLE_TYPE:=危' } })
  check(t, '9601', 0x9600, 2011, vehicle('沪A12345', 2, 0x9601, Buffer.alloc(0)), { ...V, dataType: 0x9601, data: {} })
})
