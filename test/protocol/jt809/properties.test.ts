/**
 * Property tests (fast-check) for the JT/T 809 codec: escaping, deframing under arbitrary chunking,
 * and encode → decode → encode round trips of generated messages of every decoded id and
 * sub-business type, in both editions, plain and encrypted. A round trip passes when the second
 * encode gives the first encode's bytes and the decoded body carries every value given.
 */
import fc from 'fast-check'
import t from 'tap'
import { readLocationAt } from '../../../protocol/messages/0200-location.js'
import { crc16, decodeFrame809, encodeMessage809, escapeAndWrap809, unescape809, type Edition, type EncryptionKeys, type OutgoingMessage809, type Position } from '../../../protocol/jt809/index.js'
import { deframe809 } from './helpers.js'

const byte = fc.integer({ min: 0, max: 0xff })
const word = fc.integer({ min: 0, max: 0xffff })
const dword = fc.integer({ min: 0, max: 0xffffffff })
const seconds = fc.integer({ min: 946_684_800, max: 4_102_444_799 })
/** GBK text (no trailing padding characters, which a fixed-width field cannot tell from padding). */
const text = (maxChars: number) => fc.array(fc.constantFrom('京', '沪', '粤', '危', '运', '测', '查', '岗', 'A', 'B', 'z', '1', '9', '-'), { maxLength: maxChars }).map((a) => a.join(''))
const fixed = (bytes: number) => text(Math.floor(bytes / 2))
const plate = fixed(21).filter((s) => s.length > 0)
const hex = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b).toString('hex'))
const keys: fc.Arbitrary<EncryptionKeys> = fc.record({ m1: dword, ia1: dword, ic1: dword })

const bcd2 = (lo: number, hi: number) => fc.integer({ min: lo, max: hi }).map((n) => parseInt(String(n).padStart(2, '0'), 16))

/** A 2011 GNSS_DATA block: valid date and time fields, degrees from 1e-6 units. */
const position2011 = fc
  .record({
    encrypt: fc.constantFrom(0, 1),
    y: fc.integer({ min: 2000, max: 2099 }),
    mo: fc.integer({ min: 1, max: 12 }),
    d: fc.integer({ min: 1, max: 28 }),
    h: fc.integer({ min: 0, max: 23 }),
    mi: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    lon: fc.integer({ min: 0, max: 180_000_000 }),
    lat: fc.integer({ min: 0, max: 90_000_000 }),
    speed: word,
    recorderSpeed: word,
    mileage: dword,
    direction: fc.integer({ min: 0, max: 359 }),
    altitude: word,
    state: dword,
    alarm: dword,
  })
  .map(
    (p): Position => ({
      edition: 2011,
      encrypt: p.encrypt,
      time: `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}+08:00`,
      timeMs: Date.UTC(p.y, p.mo - 1, p.d, p.h - 8, p.mi, p.s),
      longitude: p.lon / 1e6,
      latitude: p.lat / 1e6,
      speed: p.speed,
      recorderSpeed: p.recorderSpeed,
      mileage: p.mileage,
      direction: p.direction,
      altitude: p.altitude,
      state: p.state,
      alarm: p.alarm,
    }),
  )

/** A 2019 position: an 808 0x0200 basic block (read by the 808 codec) and three platform alarms. */
const position2019 = fc
  .record({
    encrypt: fc.constantFrom(0, 1),
    block: fc.tuple(dword, dword, dword, dword, word, word, fc.integer({ min: 0, max: 359 }), bcd2(0, 99), bcd2(1, 12), bcd2(1, 28), bcd2(0, 23), bcd2(0, 59), bcd2(0, 59)),
    platforms: fc.array(fc.record({ platformId: fixed(11), alarm: dword }), { minLength: 3, maxLength: 3 }),
  })
  .map((p): Position => {
    const b = Buffer.alloc(28)
    const [alarm, status, lat, lon, alt, speed, dir, ...time] = p.block
    b.writeUInt32BE(alarm, 0)
    b.writeUInt32BE(status, 4)
    b.writeUInt32BE(lat, 8)
    b.writeUInt32BE(lon, 12)
    b.writeUInt16BE(alt, 16)
    b.writeUInt16BE(speed, 18)
    b.writeUInt16BE(dir, 20)
    b.set(time, 22)
    return { edition: 2019, encrypt: p.encrypt, gnss: readLocationAt(b, 0, 28), platforms: p.platforms }
  })

const positionOf = (e: Edition) => (e === 2019 ? position2019 : position2011)

const source = { sourceDataType: word, sourceMsgSn: dword }
/** Sub-business data per type and edition: [envelope id, dataType, data]. */
function subBodies(e: Edition): fc.Arbitrary<[number, number, Record<string, unknown>]> {
  const is19 = e === 2019
  type Any = fc.Arbitrary<object>
  const pick = (id: number, type: number, a: Any) => a.map((d): [number, number, Record<string, unknown>] => [id, type, d as Record<string, unknown>])
  const warn: Any = is19
    ? fc.record({
        sourcePlatformId: fixed(11),
        warnType: word,
        warnTime: seconds,
        startTime: seconds,
        endTime: seconds,
        plate,
        plateColor: byte,
        destinationPlatformId: fixed(11),
        drvLineId: dword,
        content: text(40),
      })
    : fc.record({ warnSrc: byte, warnType: word, warnTime: seconds, infoId: dword, content: text(40) })
  const notice: Any = is19 ? warn : fc.record({ warnSrc: byte, warnType: word, warnTime: seconds, content: text(40) })
  const src: Record<string, fc.Arbitrary<number>> = is19 ? source : {}
  return fc.oneof(
    pick(
      0x1200,
      0x1201,
      (is19
        ? fc.record({ platformId: fixed(11), producerId: fixed(11), model: fixed(30), imei: fixed(15), terminalId: fixed(30), simCode: fixed(13) })
        : fc.record({ platformId: fixed(11), producerId: fixed(11), model: fixed(8), terminalId: fixed(7), simCode: fixed(12) })) as Any,
    ),
    pick(0x1200, 0x1202, fc.record({ position: positionOf(e) })),
    pick(0x1200, 0x1203, fc.record({ positions: fc.array(positionOf(e), { maxLength: 5 }) })),
    pick(0x1200, 0x1205, fc.record(src)),
    pick(0x1200, 0x1207, fc.record({ startTime: seconds, endTime: seconds })),
    pick(0x1200, 0x1209, fc.record({ startTime: seconds, endTime: seconds })),
    pick(0x1200, 0x120c, fc.record({ driverName: fixed(16), driverId: fixed(20), licence: fixed(40), orgName: fixed(200), ...(is19 ? { validUntil: seconds } : {}) })),
    pick(0x1200, 0x120b, fc.record({ ...src, waybill: text(300) })),
    pick(0x1200, 0x120d, fc.record({ waybill: text(300) })),
    pick(0x9200, 0x9202, fc.record({ position: positionOf(e) })),
    pick(0x9200, 0x9203, fc.record({ positions: fc.array(positionOf(e), { maxLength: 5 }) })),
    pick(0x9200, 0x9204, fc.record({ carInfo: text(60) })),
    pick(0x9200, 0x9205, fc.record({ reasonCode: byte })),
    pick(0x9200, 0x9206, fc.record({ reasonCode: byte })),
    pick(0x9200, 0x9209, fc.record({ ...src, result: byte })),
    pick(0x9200, 0x920b, fc.constant({})),
    pick(
      0x1300,
      0x1301,
      (is19
        ? fc.record({ objectType: byte, responder: fixed(16), responderTel: fixed(20), objectId: fixed(20), ...source, content: text(50) })
        : fc.record({ objectType: byte, objectId: fixed(12), infoId: dword, content: text(50) })) as Any,
    ),
    pick(
      0x9300,
      0x9301,
      (is19
        ? fc.record({ objectType: byte, objectId: fixed(20), answerMinutes: byte, infoId: dword, content: text(50) })
        : fc.record({ objectType: byte, objectId: fixed(12), infoId: dword, content: text(50) })) as Any,
    ),
    pick(0x9300, 0x9302, fc.record({ objectType: byte, objectId: fixed(12), infoId: dword, content: text(50) })),
    pick(0x1400, 0x1401, fc.record({ supervisionId: dword, ...src, result: byte })),
    pick(0x1400, 0x1402, warn),
    pick(0x1400, 0x1412, fc.record({ sourceDataType: word, sourceMsgSn: dword, result: byte })),
    pick(
      0x9400,
      0x9401,
      fc.record({
        warnSrc: byte,
        warnType: word,
        warnTime: seconds,
        supervisionId: dword,
        supervisionEndTime: seconds,
        supervisionLevel: byte,
        supervisor: fixed(16),
        supervisorTel: fixed(20),
        supervisorEmail: fixed(32),
      }),
    ),
    pick(0x9400, 0x9402, notice),
    pick(0x9400, 0x9403, notice),
    pick(0x9500, 0x9502, fc.record({ lensId: byte, sizeType: byte })),
    pick(0x1500, 0x1502, fc.record({ ...src, photoRspFlag: byte, position: positionOf(e), lensId: byte, sizeType: byte, type: byte, photo: hex(300) })),
    pick(0x9500, 0x9503, fc.record({ msgSequence: dword, priority: byte, content: text(60) })),
    pick(0x1500, 0x1503, is19 ? fc.record({ ...source, result: byte }) : fc.record({ msgId: dword, result: byte })),
    pick(0x1600, 0x1601, fc.record({ ...src, carInfo: text(80) })),
    pick(0x9600, 0x9601, fc.constant({})),
  )
}

const VEHICLE_LESS = (id: number, e: Edition, type: number) => id === 0x1300 || id === 0x9300 || (e === 2019 && (id === 0x1400 || id === 0x9400 || type === 0x9201))

function linkBodies(e: Edition): fc.Arbitrary<[number, Record<string, unknown>]> {
  const pick = (id: number, a: fc.Arbitrary<Record<string, unknown>>) => a.map((b): [number, Record<string, unknown>] => [id, b])
  return fc.oneof(
    pick(0x1001, fc.record({ userId: dword, password: fixed(8), ...(e === 2019 ? { gnssCentreId: dword } : {}), downLinkIp: fixed(32), downLinkPort: word })),
    pick(0x1002, fc.record({ result: byte, verifyCode: dword })),
    pick(0x1003, fc.record({ userId: dword, password: fixed(8) })),
    ...[0x1004, 0x1005, 0x1006, 0x9004, 0x9005, 0x9006].map((id) => pick(id, fc.constant({}))),
    pick(0x1007, fc.record({ errorCode: byte })),
    pick(0x1008, fc.record({ reasonCode: byte })),
    pick(0x9001, fc.record({ verifyCode: dword })),
    pick(0x9002, fc.record({ result: byte })),
    pick(0x9003, fc.record({ verifyCode: dword })),
    pick(0x9007, fc.record({ reasonCode: byte })),
    pick(0x9008, fc.record({ reasonCode: byte })),
  )
}

const header = (e: Edition) =>
  fc.record({ sn: dword, gnssCentreId: dword, encryptKey: dword, time: seconds, versionFlag: fc.constantFrom(e === 2019 ? '2.0.0' : '1.0.0', e === 2019 ? '2.1.0' : '1.2.15') })

const message = fc.constantFrom<Edition>(2011, 2019).chain((e) =>
  fc
    .tuple(
      fc.constant(e),
      header(e),
      fc.oneof(
        linkBodies(e).map(([msgId, body]) => ({ msgId, body })),
        fc.tuple(subBodies(e), plate, byte).map(([[msgId, dataType, data], p, colour]) => ({
          msgId,
          body: VEHICLE_LESS(msgId, e, dataType) ? { dataType, data } : { plate: p, plateColor: colour, dataType, data },
        })),
      ),
      fc.option(keys, { nil: undefined }),
    )
    .map(([edition, h, m, k]) => ({ message: { ...h, ...m, edition, time: edition === 2019 ? h.time : undefined, encryptFlag: k ? 1 : 0 } as OutgoingMessage809, keys: k })),
)

function matches(got: unknown, want: unknown): boolean {
  if (want === undefined) return true
  if (typeof want !== 'object' || want === null) return Object.is(got, want)
  if (typeof got !== 'object' || got === null) return false
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => matches(got[i], w))
  return Object.entries(want).every(([k, v]) => matches((got as Record<string, unknown>)[k], v))
}

t.test('escape then unescape is the identity, and escaped bytes hold no flag', async (_t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
      const w = escapeAndWrap809(raw)
      const content = w.subarray(1, w.length - 1)
      if (content.includes(0x5b) || content.includes(0x5d)) return false
      const back = unescape809(content)
      return !back.stray && Buffer.compare(back.bytes, Buffer.from(raw)) === 0
    }),
    { numRuns: 2000 },
  )
})

t.test('every generated message round-trips byte for byte, plain and encrypted, 2011 and 2019', async (t) => {
  let n = 0
  fc.assert(
    fc.property(message, ({ message: m, keys: k }) => {
      const a = encodeMessage809(m, { keys: k })
      if (!a.ok) throw new Error(`${m.msgId.toString(16)}: ${a.error.message}`)
      const d = decodeFrame809(a.value.subarray(1, a.value.length - 1), { keys: k })
      if (!d.ok) throw new Error(`${m.msgId.toString(16)}: ${d.error.message}`)
      if (d.value.quirks.length > 0) throw new Error(`quirks ${d.value.quirks} on a clean frame`)
      const b = encodeMessage809(d.value.message, { keys: k })
      n++
      return b.ok && b.value.equals(a.value) && matches(d.value.message, m)
    }),
    { numRuns: 1500 },
  )
  t.equal(n, 1500)
})

t.test('any split of a stream of generated frames yields the same frames', async (_t) => {
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 30 }), (ms, cutSeeds) => {
      const frames = ms.map(({ message: m, keys: k }) => {
        const r = encodeMessage809(m, { keys: k })
        if (!r.ok) throw new Error(r.error.message)
        return r.value
      })
      const stream = Buffer.concat(frames)
      const { frames: out, errors } = deframe809(
        stream,
        cutSeeds.map((c) => c % stream.length),
      )
      return errors.length === 0 && out.length === frames.length && out.every((f, i) => Buffer.concat([Buffer.from([0x5b]), f.content, Buffer.from([0x5d])]).equals(frames[i]))
    }),
    { numRuns: 300 },
  )
})

/**
 * A frame of a sender that does not escape holding a raw 0x5d 0x5b, cut by the network right
 * after the 0x5d, cannot be told from a frame followed by the next one until more bytes come
 * (the deframer then reads the first 0x5d as the end when a whole frame follows): such frames
 * are left out of the next property; the deframer test covers the whole-chunk case.
 */
const unescapedFrame = message
  .map(({ message: m, keys: k }) => {
    const r = encodeMessage809({ ...m, unescaped: true }, { keys: k })
    if (!r.ok) throw new Error(r.error.message)
    return { frame: r.value, keys: k }
  })
  .filter(({ frame }) => {
    for (let i = 1; i < frame.length - 2; i++) if (frame[i] === 0x5d && frame[i + 1] === 0x5b) return false
    return true
  })

t.test('a sender that does not escape: any split of its stream yields its frames, decoded', async (_t) => {
  fc.assert(
    fc.property(fc.array(unescapedFrame, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cutSeeds) => {
      const stream = Buffer.concat(frames.map((f) => f.frame))
      const { frames: out, errors } = deframe809(
        stream,
        cutSeeds.map((c) => c % stream.length),
      )
      if (errors.length > 0 || out.length !== frames.length) return false
      return out.every((f, i) => {
        const d = decodeFrame809(f.content, { unescaped: f.unescaped, keys: frames[i].keys })
        if (!d.ok) return false
        const back = encodeMessage809(d.value.message, { keys: frames[i].keys })
        return back.ok && back.value.equals(frames[i].frame)
      })
    }),
    { numRuns: 300 },
  )
})

t.test('CRC over the unescaped frame: a flipped bit anywhere in header or body is caught', async (_t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (bytes, at, bit) => {
      const b = Buffer.from(bytes)
      const before = crc16(b)
      b[at % b.length] ^= 1 << bit
      return crc16(b) !== before
    }),
    { numRuns: 1000 },
  )
})

function pad(n: number): string {
  return String(n).padStart(2, '0')
}
