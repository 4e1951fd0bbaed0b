/** Subpacket reassembly and splitting. */
import fc from 'fast-check'
import t from 'tap'
import { decodeBody, encodeBody, encodeSubpackets, headerOf, isMessage, parseFrame, Reassembler, type Frame, type Header } from '../../protocol/index.js'

const PHONE = '013306496439'

function mediaBody(size: number): Buffer {
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff
  const b = encodeBody({
    msgId: 0x0801,
    phone: PHONE,
    serial: 0,
    body: {
      mediaId: 77,
      type: 0,
      format: 0,
      event: 1,
      channel: 1,
      location: { alarm: 0, status: 3, latitude: 31, longitude: 121, altitude: 5, speed: 0, direction: 0, time: '2024-11-21T16:27:25+08:00', extras: {}, unknown: [] } as never,
      data: data.toString('hex'),
    },
  })
  if (!b.ok) throw new Error(b.error.message)
  return b.value
}

function fragments(body: Buffer, serial: number, size = 1023, version: 2013 | 2019 = 2013): Frame[] {
  const s = encodeSubpackets(headerOf({ msgId: 0x0801, phone: version === 2019 ? '0000000' + PHONE.slice(0, 13) : PHONE, serial, version }), body, { packetSize: size })
  if (!s.ok) throw new Error(s.error.message)
  return s.value.frames.map((f) => {
    const p = parseFrame(f.subarray(1, f.length - 1))
    if (!p.ok) throw new Error(p.error.message)
    return p.value
  })
}

t.test('in order: completes into the original body, header of subpacket 1 with packet null', async (t) => {
  const body = mediaBody(3000)
  const parts = fragments(body, 100)
  t.equal(parts.length, 3)
  t.same(
    parts.map((p) => p.header.packet),
    [
      { total: 3, index: 1 },
      { total: 3, index: 2 },
      { total: 3, index: 3 },
    ],
  )
  const r = new Reassembler()
  t.equal(r.push(parts[0].header, parts[0].body, 0).status, 'pending')
  t.equal(r.push(parts[1].header, parts[1].body, 10).status, 'pending')
  const done = r.push(parts[2].header, parts[2].body, 20)
  t.equal(done.status, 'complete')
  if (done.status !== 'complete') return
  t.ok(done.body.equals(body))
  t.equal(done.header.packet, null)
  t.equal(done.header.serial, 100)
  const m = decodeBody(done.header, done.body)
  t.ok(m.ok && isMessage(m.value, 0x0801) && m.value.body.data.length === 6000)
  t.equal(r.bytes, 0, 'nothing held afterwards')
  t.same(r.pending(), [])
})

t.test('any order, duplicates ignored; missing() names what is still needed', async (t) => {
  const body = mediaBody(5000)
  const parts = fragments(body, 65533) // serials wrap past 0xffff
  t.equal(parts.length, 5)
  fc.assert(
    fc.property(fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5, maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), (order, dups) => {
      const r = new Reassembler()
      let done: Buffer | null = null
      const seen = new Set<number>()
      for (const i of [...order.slice(0, 2), ...dups.filter((d) => order.slice(0, 2).includes(d)), ...order.slice(2)]) {
        const res = r.push(parts[i].header, parts[i].body, 0)
        if (res.status === 'duplicate' && !seen.has(i)) return false
        if (res.status === 'pending') {
          seen.add(i)
          const want = [0, 1, 2, 3, 4].filter((x) => !seen.has(x)).map((x) => x + 1)
          if (r.missing(res.set).join() !== want.join()) return false
        }
        if (res.status === 'complete') done = res.body
      }
      return done !== null && (done as Buffer).equals(body)
    }),
  )
})

t.test('fragments with unrelated serials still join their set', async (t) => {
  const body = mediaBody(2500)
  const parts = fragments(body, 10)
  const r = new Reassembler()
  const serials = [500, 7, 30000]
  let last
  for (let i = 0; i < parts.length; i++) last = r.push({ ...parts[i].header, serial: serials[i] }, parts[i].body, i)
  t.equal(last?.status, 'complete')
  if (last?.status === 'complete') {
    t.ok(last.body.equals(body))
    t.equal(last.header.serial, 500, 'the serial of subpacket 1')
  }
})

t.test('two uploads of the same shape at once stay apart by serial', async (t) => {
  const a = mediaBody(2100)
  const b = Buffer.from(mediaBody(2100).map((x) => x ^ 0xff))
  const pa = fragments(a, 100)
  const pb = fragments(b, 200)
  const r = new Reassembler()
  const results = [pa[0], pb[0], pa[1], pb[1], pb[2], pa[2]].map((p) => r.push(p.header, p.body, 0))
  const done = results.filter((x) => x.status === 'complete')
  t.equal(done.length, 2)
  t.ok(done[0].status === 'complete' && done[0].body.equals(b))
  t.ok(done[1].status === 'complete' && done[1].body.equals(a))
})

t.test('last fragment with gaps: lastArrived, and 0x8003-ready missing list (2019 too)', async (t) => {
  const parts = fragments(mediaBody(5000), 40, 1023, 2019)
  const r = new Reassembler()
  r.push(parts[0].header, parts[0].body, 0)
  r.push(parts[2].header, parts[2].body, 0)
  const res = r.push(parts[4].header, parts[4].body, 0)
  t.equal(res.status, 'pending')
  if (res.status !== 'pending') return
  t.ok(res.lastArrived)
  t.equal(res.set.firstSerial, 40)
  t.same(r.missing(res.set), [2, 4])
  t.equal(res.set.phone.length, 20)
})

t.test('timeout: idle sets are dropped with their missing indexes', async (t) => {
  const parts = fragments(mediaBody(3000), 1)
  const r = new Reassembler({ timeoutMs: 1000 })
  r.push(parts[0].header, parts[0].body, 0)
  t.same(r.expire(999), [])
  const dropped = r.expire(1001)
  t.equal(dropped.length, 1)
  t.match(dropped[0], { reason: 'timeout', missing: [2, 3], received: 1 })
  t.equal(r.bytes, 0)
  // A late fragment after the timeout starts over rather than completing a stale set.
  r.push(parts[1].header, parts[1].body, 5000)
  t.equal(r.pending().length, 1)
  const late = r.push(parts[2].header, parts[2].body, 7000) // more than the timeout after the previous one
  t.equal(late.status, 'pending')
  t.match(late.dropped?.[0], { reason: 'timeout', missing: [1, 3] })
})

t.test('bounds: sets and bytes per terminal, bytes overall', async (t) => {
  const r = new Reassembler({ maxSetsPerTerminal: 2, maxBytesPerTerminal: 3000, maxBytes: 5000 })
  const sets = [fragments(mediaBody(3000), 1), fragments(mediaBody(3000), 100), fragments(mediaBody(3000), 200)]
  r.push(sets[0][0].header, sets[0][0].body, 1)
  r.push(sets[1][0].header, sets[1][0].body, 2)
  const third = r.push(sets[2][0].header, sets[2][0].body, 3)
  t.equal(third.status, 'pending')
  t.match(third.dropped, [{ reason: 'evicted', firstSerial: 1 }], 'the least recently updated set goes')
  t.equal(r.pending(PHONE).length, 2)
  // Bytes: 2 × 1023 held; a third 1023-byte fragment of an open set passes 3000 → evicts the other set.
  const more = r.push(sets[2][1].header, sets[2][1].body, 4)
  t.equal(more.status, 'pending')
  t.ok(r.bytes <= 3000, `held ${r.bytes} bytes`)
  // A single fragment bigger than the per-terminal limit is refused outright.
  const tiny = new Reassembler({ maxBytesPerTerminal: 100 })
  const refused = tiny.push(sets[0][0].header, sets[0][0].body, 0)
  t.equal(refused.status, 'rejected')
  t.equal(refused.status === 'rejected' && refused.error.code, 'FRAME_TOO_LONG')
  t.equal(tiny.bytes, 0)
  // The overall limit holds across terminals.
  const global = new Reassembler({ maxBytes: 2100 })
  const other = (p: Frame, phone: string): Header => ({ ...p.header, phone })
  global.push(other(sets[0][0], '000000000001'), sets[0][0].body, 0)
  global.push(other(sets[0][0], '000000000002'), sets[0][0].body, 0)
  const over = global.push(other(sets[0][0], '000000000003'), sets[0][0].body, 0)
  t.equal(over.status, 'rejected')
  t.ok(global.bytes <= 2100)
})

t.test('bad fragments are rejected without side effects', async (t) => {
  const r = new Reassembler()
  const p = fragments(mediaBody(2000), 1)[0]
  for (const packet of [
    { total: 2, index: 0 },
    { total: 2, index: 3 },
    { total: 0, index: 0 },
  ]) {
    const res = r.push({ ...p.header, packet }, p.body, 0)
    t.equal(res.status === 'rejected' && res.error.code, 'BAD_FIELD')
  }
  t.equal(r.push({ ...p.header, packet: null }, p.body, 0).status, 'rejected')
  t.equal(r.bytes, 0)
})

t.test('the fragment body is copied (the caller may reuse its buffer)', async (t) => {
  const parts = fragments(mediaBody(1500), 1)
  const r = new Reassembler()
  const scratch = Buffer.from(parts[0].body)
  r.push(parts[0].header, scratch, 0)
  scratch.fill(0)
  const done = r.push(parts[1].header, parts[1].body, 0)
  t.ok(done.status === 'complete' && done.body.subarray(0, 4).readUInt32BE(0) === 77)
})

t.test('encodeSubpackets: splits, consecutive serials, single frame when it fits', async (t) => {
  const h = headerOf({ msgId: 0x8900, phone: PHONE, serial: 0xfffe })
  const s = encodeSubpackets(h, Buffer.alloc(2047, 1))
  t.ok(s.ok)
  if (s.ok) {
    t.same(s.value.serials, [0xfffe, 0xffff, 0])
    t.equal(s.value.frames.length, 3)
  }
  const one = encodeSubpackets(h, Buffer.alloc(10))
  t.ok(one.ok && one.value.frames.length === 1 && parseFrame(one.value.frames[0].subarray(1, -1)).ok)
  const forced = encodeSubpackets(h, Buffer.alloc(10), { always: true })
  t.ok(forced.ok && forced.value.frames.length === 1)
  if (forced.ok) {
    const p = parseFrame(forced.value.frames[0].subarray(1, -1))
    t.same(p.ok && p.value.header.packet, { total: 1, index: 1 })
  }
  t.notOk(encodeSubpackets(h, Buffer.alloc(10), { packetSize: 2000 }).ok)
})

t.test('a flood of empty fragments is bounded like full ones', async (t) => {
  const r = new Reassembler({ maxSetsPerTerminal: 4, maxBytesPerTerminal: 64 * 1024 })
  const base = fragments(mediaBody(1500), 1)[0].header
  let refused = 0
  for (let index = 1; index <= 5000; index++) {
    const res = r.push({ ...base, serial: index, packet: { total: 60000, index } }, Buffer.alloc(0), 0)
    if (res.status === 'rejected') refused++
  }
  t.ok(r.bytes <= 64 * 1024, `held ${r.bytes} bytes for empty fragments, within the per-terminal bound`)
  t.ok(refused > 0, `${refused} fragments refused once the bound was reached`)
})
