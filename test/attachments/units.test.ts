/**
 * The attachment server's small parts: received ranges and what is missing, the 255-segment cap
 * of 0x9212, content sniffing against the announced type, and HTTP byte ranges.
 */
import fc from 'fast-check'
import t from 'tap'
import { parseRange } from '../../src/api/routes/attachments.js'
import { contentMismatch, sniff } from '../../src/attachments/content-type.js'
import { RangeSet } from '../../src/attachments/ranges.js'
import { capSegments } from '../../src/attachments/server.js'

t.test('RangeSet: missing segments are exactly the bytes never written, however writes overlap', async (_t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 500 }), fc.array(fc.tuple(fc.nat(520), fc.nat(60)), { maxLength: 40 }), (size, writes) => {
      const r = new RangeSet()
      const seen = new Uint8Array(size)
      for (const [at, len] of writes) {
        const end = Math.min(size, at + len)
        if (at >= size || end <= at) continue
        r.add(at, end)
        seen.fill(1, at, end)
      }
      const holes = new Uint8Array(size).fill(1)
      for (const m of r.missing(size)) {
        if (m.length <= 0) return false
        holes.fill(0, m.offset, m.offset + m.length)
      }
      // a byte is reported missing iff it was never written; covered counts the rest
      return holes.every((h, i) => h === seen[i]) && r.covered === seen.reduce((a, b) => a + b, 0)
    }),
    { numRuns: 500 },
  )
})

t.test('0x9212 holds at most 255 segments: the last stretches to the end of the file', async (t) => {
  const missing = Array.from({ length: 300 }, (_, i) => ({ offset: i * 10, length: 5 }))
  const capped = capSegments(missing, 3000)
  t.equal(capped.length, 255)
  t.same(capped[254], { offset: 2540, length: 460 })
  t.same(capSegments(missing.slice(0, 3), 3000), missing.slice(0, 3))
})

t.test('content sniffing', async (t) => {
  t.equal(sniff(Buffer.from('ffd8ffe0', 'hex')).contentType, 'image/jpeg')
  t.equal(sniff(Buffer.from('89504e470d0a1a0a', 'hex')).contentType, 'image/png')
  t.equal(sniff(Buffer.from('0000002066747970', 'hex')).contentType, 'video/mp4')
  t.equal(sniff(Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('AVI ')])).contentType, 'video/x-msvideo')
  t.equal(sniff(Buffer.from('hello')).contentType, 'application/octet-stream')
  t.equal(contentMismatch(0, sniff(Buffer.from('ffd8ff', 'hex'))), null)
  t.match(contentMismatch(0, sniff(Buffer.from('hello'))), /announced as a picture/)
  t.match(contentMismatch(2, sniff(Buffer.from('ffd8ff', 'hex'))), /announced as a video, the bytes are image\/jpeg/)
  t.equal(contentMismatch(4, sniff(Buffer.from('hello'))), null, '"other" files are not judged')
})

t.test('HTTP byte ranges', async (t) => {
  t.equal(parseRange(undefined, 100), null)
  t.same(parseRange('bytes=0-9', 100), { start: 0, end: 9 })
  t.same(parseRange('bytes=90-', 100), { start: 90, end: 99 })
  t.same(parseRange('bytes=-5', 100), { start: 95, end: 99 })
  t.same(parseRange('bytes=-500', 100), { start: 0, end: 99 })
  t.same(parseRange('bytes=50-500', 100), { start: 50, end: 99 })
  t.equal(parseRange('bytes=100-', 100), 'unsatisfiable')
  t.equal(parseRange('bytes=9-3', 100), 'unsatisfiable')
  t.equal(parseRange('bytes=0-1,5-6', 100), null, 'several ranges: the whole file')
  t.equal(parseRange('items=0-1', 100), null)
})
