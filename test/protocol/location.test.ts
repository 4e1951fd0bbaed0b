/** 0x0200 location: basic block, typed items, vendor items, malformed items, 2019, active safety. */
import t from 'tap'
import { decodeFrame, encodeMessage, isMessage, type Location, type Message } from '../../protocol/index.js'
import { fixture, inner } from './helpers.js'

function location(name: string): Location {
  const d = decodeFrame(inner(fixture(name).hex))
  if (!d.ok) throw new Error(d.error.message)
  const m: Message = d.value.message
  if (!isMessage(m, 0x0200)) throw new Error('not a 0x0200')
  return m.body
}

function frameWith(bodyHex: string, version: 2013 | 2019 = 2013): Buffer {
  const f = encodeMessage({ msgId: 0x0200, version, phone: version === 2019 ? '00000000013912344329' : '013912344329', serial: 9, body: { raw: bodyHex } })
  if (!f.ok) throw new Error(f.error.message)
  return f.value.subarray(1, f.value.length - 1)
}

// alarm 0, status 0x0c000003 (ACC, fixed, south, west), lat 22.5, lon 114.0, alt 15 m, 60.3 km/h, 270°, 2024-03-01 08:00:00
const BASIC = '00000000' + '0000000f' + '015752a0' + '06cb8080' + '000f' + '025b' + '010e' + '240301080000'

t.test('basic block: degrees signed by status bits 2/3, raw kept, Beijing time as instant and text', async (t) => {
  const d = decodeFrame(frameWith(BASIC))
  t.ok(d.ok)
  if (!d.ok || !isMessage(d.value.message, 0x0200)) return
  const loc = d.value.message.body
  t.match(loc, { status: 15, latitude: -22.5, longitude: -114, latitudeRaw: 22_500_000, longitudeRaw: 114_000_000, altitude: 15, speed: 60.3, direction: 270 })
  t.equal(loc.time, '2024-03-01T08:00:00+08:00')
  t.equal(loc.timeMs, Date.parse('2024-03-01T00:00:00Z'), 'the UTC instant')
  t.same(loc.extras, {})
  t.same(loc.unknown, [])
})

t.test('a time that is not a date keeps its digits and has no instant', async (t) => {
  const d = decodeFrame(frameWith(BASIC.slice(0, -12) + '000000000000'))
  t.ok(d.ok && isMessage(d.value.message, 0x0200) && d.value.message.body.time === '000000000000' && d.value.message.body.timeMs === null)
  const feb31 = decodeFrame(frameWith(BASIC.slice(0, -12) + '240231120000'))
  t.ok(feb31.ok && isMessage(feb31.value.message, 0x0200) && feb31.value.message.body.timeMs === null, '31 February is not a date')
})

t.test('standard items are typed with their units', async (t) => {
  const items =
    '0104' +
    '000003e8' + // mileage 100.0 km
    '0202' +
    '01f4' + // fuel 50.0 L
    '0302' +
    '0258' + // recorder speed 60.0 km/h
    '0402' +
    '0007' + // alarm event id
    '0602' +
    'fff6' + // compartment temperature -10 (2019)
    '1105' +
    '0100000005' + // overspeed in circle area 5
    '1206' +
    '020000000901' + // out of rectangle 9
    '1307' +
    '0000000c003c01' + // route 12, 60 s, too long
    '2504' +
    '00000003' +
    '2a02' +
    '0001' +
    '2b04' +
    '00640032' +
    '3001' +
    '17' +
    '3101' +
    '0c'
  const d = decodeFrame(frameWith(BASIC + items))
  t.ok(d.ok)
  if (!d.ok || !isMessage(d.value.message, 0x0200)) return
  t.same(d.value.message.body.extras, {
    mileage: 100,
    fuel: 50,
    recorderSpeed: 60,
    alarmEventId: 7,
    compartmentTemperature: -10,
    overspeed: { locationType: 1, areaId: 5 },
    areaAlarm: { locationType: 2, areaId: 9, direction: 1 },
    routeTime: { routeId: 12, seconds: 60, result: 1 },
    extendedSignals: 3,
    ioStatus: 1,
    analog: 0x00640032,
    signalStrength: 23,
    satellites: 12,
  })
  const again = encodeMessage(d.value.message)
  t.ok(again.ok && again.value.subarray(1, again.value.length - 1).equals(frameWith(BASIC + items)))
})

t.test('vendor items and odd lengths stay {id, hex}; the position is kept', async (t) => {
  const loc = location('0200 item 0x06 with odd length 1')
  t.same(loc.unknown, [{ id: '0x06', hex: '3e' }], '0x06 with 1 byte is not the standard WORD')
  const vendor = location('0200 vendor items 0xe4-0xe7 0xee')
  t.same(
    vendor.unknown.map((u) => u.id),
    ['0xe4', '0xe5', '0xe6', '0xe7', '0xee'],
  )
  t.match(vendor.extras, { mileage: 0.1, signalStrength: 28, satellites: 9 })
})

t.test('an item running past the body stops item parsing with a flag, nothing lost', async (t) => {
  const body = BASIC + '0104000003e8' + '3001' + '17' + 'e108' + '0011'
  const d = decodeFrame(frameWith(body))
  t.ok(d.ok)
  if (!d.ok || !isMessage(d.value.message, 0x0200)) return
  const loc = d.value.message.body
  t.match(loc, { latitude: -22.5, extras: { mileage: 100, signalStrength: 23 } })
  t.match(loc.itemsError, /0xe1 declares 8 bytes, 2 remain/)
  t.equal(loc.itemsTail, 'e1080011')
  const again = encodeMessage(d.value.message)
  t.ok(again.ok && again.value.subarray(1, again.value.length - 1).equals(frameWith(body)), 'the tail re-encodes as sent')
  const oneByte = decodeFrame(frameWith(BASIC + '30'))
  t.ok(oneByte.ok && isMessage(oneByte.value.message, 0x0200) && /truncated/.test(oneByte.value.message.body.itemsError ?? ''))
})

t.test('a repeated item id: the first is typed, the repeat kept raw, order preserved', async (t) => {
  const body = BASIC + '3001' + '05' + '3001' + '07'
  const d = decodeFrame(frameWith(body))
  t.ok(d.ok && isMessage(d.value.message, 0x0200))
  if (!d.ok || !isMessage(d.value.message, 0x0200)) return
  t.equal(d.value.message.body.extras.signalStrength, 5)
  t.same(d.value.message.body.unknown, [{ id: '0x30', hex: '07' }])
  const again = encodeMessage(d.value.message)
  t.ok(again.ok && again.value.subarray(1, again.value.length - 1).equals(frameWith(body)))
})

t.test('a body shorter than the basic block is TRUNCATED', async (t) => {
  const d = decodeFrame(frameWith(BASIC.slice(0, 40)))
  t.equal(!d.ok && d.error.code, 'TRUNCATED')
})

t.test('active safety items (T/JSATL12): ADAS, DSM, TPMS, BSD typed; alarm flag read', async (t) => {
  const loc = location('0200 with T/JSATL12 items 0x64-0x67')
  t.match(loc.extras.adas, {
    alarmId: 0x40,
    flagStatus: 1,
    alarmType: 1,
    alarmLevel: 2,
    frontSpeed: 10,
    frontDistance: 10,
    deviationType: 2,
    roadSignType: 1,
    roadSignData: 10,
    speed: 30,
    altitude: 100,
    latitude: 0.111111,
    longitude: 0.222222,
    time: '2020-07-07T19:23:59+08:00',
    vehicleStatus: 1,
    alarmFlag: { terminalId: 'adas', time: '2020-08-27T11:11:11+08:00', serial: 1, attachmentCount: 1, reserved: 1 },
  })
  t.match(loc.extras.dsm, { alarmId: 0x41, alarmType: 2, fatigueLevel: 10, reserved: '0000000a', speed: 30 })
  t.match(loc.extras.tpms, { alarmId: 0x42, flagStatus: 3, events: [] })
  t.match(loc.extras.bsd, { alarmId: 0x43, alarmType: 4, alarmFlag: { terminalId: 'bsd', serial: 4 } })
  t.same(loc.unknown, [])

  // A TPMS item with two tyre events, built by hand from the layout.
  const tail = '1e' + '0064' + '0157d7c0' + '06cb8080' + '240301080000' + '0401' + '31323334353637' + '240301080000' + '000100'
  const tpms = '00000009' + '01' + tail + '02' + '01' + '0001' + '00fa' + '0028' + '0050' + '02' + '0010' + '0100' + '0029' + '0051'
  const d = decodeFrame(frameWith(BASIC + '66' + (tpms.length / 2).toString(16) + tpms))
  t.ok(d.ok)
  if (!d.ok || !isMessage(d.value.message, 0x0200)) return
  t.match(d.value.message.body.extras.tpms, {
    alarmId: 9,
    speed: 30,
    latitude: 22.53408,
    alarmFlag: { terminalId: '1234567', time: '2024-03-01T08:00:00+08:00', serial: 0, attachmentCount: 1, reserved: 0 },
    events: [
      { position: 1, alarmType: 1, pressure: 250, temperature: 40, battery: 80 },
      { position: 2, alarmType: 16, pressure: 256, temperature: 41, battery: 81 },
    ],
  })
  const again = encodeMessage(d.value.message)
  t.ok(again.ok && again.value.subarray(1, again.value.length - 1).equals(frameWith(BASIC + '66' + (tpms.length / 2).toString(16) + tpms)))
})

t.test("other provinces' active safety layouts (other lengths) stay hex", async (t) => {
  const loc = location('0200 JT/T 1078 video items 0x14 0x15 0x17 vendor 0xeb 0xef')
  t.ok(loc.extras.adas === undefined && loc.extras.dsm === undefined)
  const gd = BASIC + '6431' + '00'.repeat(0x31) // Guangdong ADAS is longer than 47 bytes
  const d = decodeFrame(frameWith(gd))
  t.ok(d.ok && isMessage(d.value.message, 0x0200) && d.value.message.body.unknown[0].id === '0x64' && d.value.message.body.extras.adas === undefined)
})

t.test('2019 location with items and an ADAS item', async (t) => {
  const loc = location('0200 2019 with standard items and 0x64 ADAS')
  t.match(loc, { alarm: 123, status: 222, speed: 7.8, extras: { mileage: 11.1, fuel: 22.2, recorderSpeed: 66.6, alarmEventId: 333, satellites: 55, adas: { alarmFlag: { terminalId: '1234567' } } } })
})
