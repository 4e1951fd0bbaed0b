/**
 * Property tests (fast-check): escaping, framing under arbitrary chunking, and encode/decode
 * round trips of generated messages for each protocol version.
 */
import fc from 'fast-check'
import t from 'tap'
import { decodeFrame, encodeMessage, escapeAndWrap, unescape, xor, type Message, type OutgoingMessage } from '../../protocol/index.js'
import { deframe, FRAMES, inner } from './helpers.js'

const bytes = (max = 300) => fc.uint8Array({ maxLength: max })

t.test('escape then unescape is the identity, and escaped bytes hold no 0x7e', async (_t) => {
  fc.assert(
    fc.property(bytes(), (raw) => {
      const wrapped = escapeAndWrap(raw)
      const body = wrapped.subarray(1, wrapped.length - 1)
      if (body.includes(0x7e)) return false
      const back = unescape(body)
      return back.ok && Buffer.compare(back.value, Buffer.from(raw)) === 0
    }),
    { numRuns: 2000 },
  )
})

t.test('unescape rejects every malformed escape in strict mode, never throws', async (_t) => {
  fc.assert(
    fc.property(bytes(), fc.integer({ min: 3, max: 255 }), (raw, after) => {
      const bad = Buffer.concat([Buffer.from(raw.map((b) => (b === 0x7e || b === 0x7d ? 0 : b))), Buffer.from([0x7d, after === 0x7e ? 0x7f : after])])
      const r = unescape(bad)
      const lenient = unescape(bad, true)
      return !r.ok && r.error.code === 'BAD_ESCAPE' && lenient.ok && lenient.value.length === bad.length
    }),
  )
})

const valid = FRAMES.filter((f) => 'msgId' in f.expect)
const stream = Buffer.concat(valid.map((f) => Buffer.from(f.hex, 'hex')))

t.test('any split of a valid stream yields the same frames', async (t) => {
  const whole = deframe(stream).frames.map((f) => f.toString('hex'))
  t.equal(whole.length, valid.length)
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 60 }), (cuts) => {
      const { frames, errors } = deframe(stream, cuts)
      return errors.length === 0 && frames.map((f) => f.toString('hex')).join() === whole.join()
    }),
    { numRuns: 300 },
  )
  // The extreme split: one byte per chunk.
  const single = deframe(
    stream,
    Array.from({ length: stream.length }, (_, i) => i),
  )
  t.same(
    single.frames.map((f) => f.toString('hex')),
    whole,
  )
})

// ---- generated messages ------------------------------------------------------------------------

const version = fc.constantFrom(2013 as const, 2019 as const)
const phoneFor = (v: number) => fc.stringMatching(v === 2019 ? /^[0-9]{20}$/ : /^[0-9]{12}$/)
const serial = fc.integer({ min: 0, max: 0xffff })
const word = fc.integer({ min: 0, max: 0xffff })
const dword = fc.integer({ min: 0, max: 0xffffffff })
const byte = fc.integer({ min: 0, max: 255 })
const ascii = (max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{0,${max}}$`))
const gbkText = (max: number) => fc.array(fc.constantFrom('京', '沪', '粤', '苏', 'A', 'B', '1', '9', '危', '运', '测'), { maxLength: max }).map((a) => a.join(''))
const beijingTime = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-30T00:00:00Z'), noInvalidDate: true }).map((d) => {
  const b = new Date(d.getTime() + 8 * 3600_000).toISOString()
  return `${b.slice(0, 19)}+08:00`
})

const location = fc
  .record({
    alarm: dword,
    status: dword,
    latitudeRaw: fc.integer({ min: 0, max: 90_000_000 }),
    longitudeRaw: fc.integer({ min: 0, max: 180_000_000 }),
    altitude: fc.integer({ min: -32768, max: 32767 }),
    speedTenths: word,
    direction: fc.integer({ min: 0, max: 359 }),
    time: beijingTime,
    mileage: fc.option(
      fc.integer({ min: 0, max: 0xffffffff }).map((v) => v / 10),
      { nil: undefined },
    ),
    fuel: fc.option(
      word.map((v) => v / 10),
      { nil: undefined },
    ),
    signalStrength: fc.option(byte, { nil: undefined }),
    satellites: fc.option(byte, { nil: undefined }),
    ioStatus: fc.option(word, { nil: undefined }),
    unknown: fc.array(fc.record({ id: fc.integer({ min: 0xe1, max: 0xff }), hex: fc.uint8Array({ maxLength: 20 }) }), { maxLength: 3 }),
  })
  .map((x) => {
    const extras: Record<string, number> = {}
    for (const k of ['mileage', 'fuel', 'signalStrength', 'satellites', 'ioStatus'] as const) if (x[k] !== undefined) extras[k] = x[k] as number
    return {
      alarm: x.alarm,
      status: x.status,
      latitudeRaw: x.latitudeRaw,
      longitudeRaw: x.longitudeRaw,
      latitude: ((x.status & 4 ? -1 : 1) * x.latitudeRaw) / 1e6,
      longitude: ((x.status & 8 ? -1 : 1) * x.longitudeRaw) / 1e6,
      altitude: x.altitude,
      speed: x.speedTenths / 10,
      direction: x.direction,
      time: x.time,
      extras,
      unknown: x.unknown.map((u) => ({ id: '0x' + u.id.toString(16), hex: Buffer.from(u.hex).toString('hex') })),
    }
  })

/** Encodes, decodes, re-encodes: same bytes, and the decoded body carries what was given. */
function roundTrip(m: OutgoingMessage): boolean {
  const a = encodeMessage(m)
  if (!a.ok) throw new Error(a.error.message)
  const d = decodeFrame(inner(a.value.toString('hex')))
  if (!d.ok) throw new Error(d.error.message)
  const b = encodeMessage(d.value.message)
  if (!b.ok || b.value.toString('hex') !== a.value.toString('hex')) return false
  return matches(d.value.message.body, m.body)
}

function matches(got: unknown, want: unknown): boolean {
  if (want === undefined) return true
  if (typeof want !== 'object' || want === null) return Object.is(got, want)
  if (typeof got !== 'object' || got === null) return false
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => matches(got[i], w))
  return Object.entries(want).every(([k, v]) => matches((got as Record<string, unknown>)[k], v))
}

t.test('0x0200 / 0x0704 / 0x0201 round trips', async (_t) => {
  fc.assert(
    fc.property(
      version.chain((v) => fc.tuple(fc.constant(v), phoneFor(v), serial, location, fc.array(location, { minLength: 1, maxLength: 4 }))),
      ([v, phone, s, loc, batch]) => {
        return (
          roundTrip({ msgId: 0x0200, version: v, phone, serial: s, body: loc as never }) &&
          roundTrip({ msgId: 0x0704, version: v, phone, serial: s, body: { type: s & 1, items: batch as never } }) &&
          roundTrip({ msgId: 0x0201, version: v, phone, serial: s, body: { replySerial: s, location: loc as never } })
        )
      },
    ),
    { numRuns: 300 },
  )
})

t.test('0x0100 register round trips for 2011, 2013, 2019', async (_t) => {
  const widths = { 2011: [5, 8, 7], 2013: [5, 20, 7], 2019: [11, 30, 30] } as const
  fc.assert(
    fc.property(
      fc.constantFrom(2011 as const, 2013 as const, 2019 as const).chain((v) =>
        fc.record({
          v: fc.constant(v),
          phone: phoneFor(v),
          province: word,
          city: word,
          manufacturer: ascii(widths[v][0]).filter((s) => s.length >= 1),
          model: ascii(widths[v][1]),
          terminalId: ascii(widths[v][2]),
          // JT/T 415 / JT/T 808-2019 colour codes (0 = VIN instead of a plate): what the 2011/2013 tie-break relies on
          plateColor: fc.constantFrom(0, 1, 2, 3, 4, 5, 9, 91, 92, 93, 94),
          plate: gbkText(v === 2011 ? 4 : 8),
        }),
      ),
      (x) => {
        const { v, phone, ...body } = x
        const a = encodeMessage({ msgId: 0x0100, version: v, phone, serial: 1, body })
        if (!a.ok) return false
        const d = decodeFrame(inner(a.value.toString('hex')))
        // 2011 and 2013 share a header: the body must tell them apart.
        return d.ok && d.value.message.version === v && matches(d.value.message.body, body) && encodeMessage(d.value.message).ok
      },
    ),
    { numRuns: 300 },
  )
})

t.test('0x0102, 0x8300, 0x8003, 0x8103, 0x0702 round trips per version', async (_t) => {
  fc.assert(
    fc.property(
      version.chain((v) => fc.tuple(fc.constant(v), phoneFor(v))),
      gbkText(20),
      fc.array(word, { maxLength: 40 }),
      ascii(15),
      ascii(20),
      byte,
      (vp, text, ids, imei, sw, flags) => {
        const [v, phone] = vp
        const h = { version: v, phone, serial: 7 }
        return (
          roundTrip({ ...h, msgId: 0x0102, body: v === 2019 ? { authCode: text, imei, softwareVersion: sw } : { authCode: text } }) &&
          roundTrip({ ...h, msgId: 0x8300, body: v === 2019 ? { flags, type: 1 + (flags & 1), text } : { flags, text } }) &&
          roundTrip({ ...h, msgId: 0x8003, body: { originalSerial: 9, packetIds: ids } }) &&
          roundTrip({
            ...h,
            msgId: 0x8103,
            body: {
              params: [
                { id: 0x0001, value: flags },
                { id: 0x0013, text: imei },
                { id: 0xf364, hex: sw.length ? Buffer.from(sw).toString('hex') : '' },
              ],
            },
          }) &&
          roundTrip({
            ...h,
            msgId: 0x0702,
            body: {
              status: 1,
              time: '2025-10-09T15:07:51+08:00',
              readResult: 0,
              driverName: text,
              qualificationNo: imei,
              issuer: text,
              validUntil: '2030-01-31',
              ...(v === 2019 ? { idNumber: sw } : {}),
            },
          })
        )
      },
    ),
    { numRuns: 300 },
  )
})

t.test('0x8801 / 0x0805 camera command and reply round trips, bytes exactly', async (_t) => {
  fc.assert(
    fc.property(
      version.chain((v) => fc.tuple(fc.constant(v), phoneFor(v))),
      fc.record({ channel: byte, command: word, interval: word, save: byte, resolution: byte, quality: byte, brightness: byte, contrast: byte, saturation: byte, chroma: byte }),
      word,
      byte,
      fc.option(fc.array(dword, { maxLength: 50 }), { nil: undefined }),
      ([v, phone], command, replySerial, result, mediaIds) => {
        const h = { version: v, phone, serial: 3 }
        const reply = mediaIds === undefined ? { replySerial, result } : { replySerial, result, mediaIds }
        for (const m of [
          { ...h, msgId: 0x8801, body: command },
          { ...h, msgId: 0x0805, body: reply },
        ] as OutgoingMessage[]) {
          const a = encodeMessage(m)
          if (!a.ok) return false
          const d = decodeFrame(inner(a.value.toString('hex')))
          if (!d.ok || JSON.stringify(d.value.message.body) !== JSON.stringify(m.body)) return false
          const again = encodeMessage(d.value.message)
          if (!again.ok || Buffer.compare(again.value, a.value) !== 0) return false
        }
        return true
      },
    ),
    { numRuns: 300 },
  )
})

t.test('decoded messages keep their header exactly', async (t) => {
  for (const f of valid) {
    const d = decodeFrame(inner(f.hex))
    if (!d.ok) continue
    const m: Message = d.value.message
    const b = Buffer.from(f.hex, 'hex')
    const un = unescape(b.subarray(1, b.length - 1))
    if (!un.ok) continue
    t.equal(xor(un.value, 0, un.value.length - 1), un.value[un.value.length - 1], `${f.name}: checksum`)
    t.equal(m.phone.length, m.version === 2019 ? 20 : 12, `${f.name}: phone digits`)
  }
})

t.test('encodeGeneralReply writes exactly what encodeMessage writes for 0x8001, in every version', async (t) => {
  const { encodeGeneralReply, encodeMessage, headerOf } = await import('../../protocol/index.js')
  fc.assert(
    fc.property(
      fc.constantFrom(2011, 2013, 2019),
      fc.stringMatching(/^[0-9]{1,12}$/),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 4 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      (version, digits, serial, replySerial, replyId, result, flag, protocolVersion) => {
        const phone = version === 2019 ? digits.padStart(20, '0') : digits.padStart(12, '0')
        // bit 14 mirrors what the terminal sent, right or wrong
        const message = { msgId: 0x8001, phone, serial, version, versionFlag: flag, protocolVersion, body: { replySerial, replyId, result } } as const
        const generic = encodeMessage(message as Parameters<typeof encodeMessage>[0])
        if (!generic.ok) throw new Error(generic.error.message)
        const fast = encodeGeneralReply(headerOf(message), replySerial, replyId, result)
        return fast.equals(generic.value)
      },
    ),
    { numRuns: 500 },
  )
  t.pass('500 random replies (serials and ids that need escaping included) encode identically')
})

t.test('one GeneralReplyWriter reused for many replies writes what encodeMessage writes each time', async (t) => {
  const { GeneralReplyWriter, encodeMessage, headerOf } = await import('../../protocol/index.js')
  fc.assert(
    fc.property(
      fc.constantFrom(2013, 2019),
      fc.stringMatching(/^[0-9]{1,12}$/),
      fc.boolean(),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 4 })), {
        minLength: 1,
        maxLength: 20,
      }),
      (version, digits, flag, replies) => {
        const phone = version === 2019 ? digits.padStart(20, '0') : digits.padStart(12, '0')
        const writer = new GeneralReplyWriter(headerOf({ msgId: 0x8001, phone, serial: 0, version, versionFlag: flag }))
        if (!writer.fits(phone, version, flag, undefined) || writer.fits(phone, version, !flag, undefined)) return false
        return replies.every(([serial, replySerial, replyId, result]) => {
          const generic = encodeMessage({ msgId: 0x8001, phone, serial, version, versionFlag: flag, body: { replySerial, replyId, result } } as Parameters<typeof encodeMessage>[0])
          return generic.ok && writer.reply(serial, replySerial, replyId, result).equals(generic.value)
        })
      },
    ),
    { numRuns: 300 },
  )
  t.throws(() => new GeneralReplyWriter(headerOf({ msgId: 0x8001, phone: '12345678901x', serial: 0 })), RangeError, 'a phone that is not BCD')
  t.throws(() => new GeneralReplyWriter(headerOf({ msgId: 0x8001, phone: '013800138000', serial: 0, packet: { total: 2, index: 1 } })), RangeError, 'no subpackets')
})
