/**
 * Every published frame in fixtures/frames.json, through the deframer and the decoder:
 * what it decodes to (strict and lenient), and that re-encoding reproduces its exact bytes.
 */
import t from 'tap'
import { decodeFrame, encodeMessage } from '../../protocol/index.js'
import { deframe, FRAMES, hexId, STREAMS, type Expectation } from './helpers.js'

function outcome(piece: Buffer): Expectation {
  const s = decodeFrame(piece)
  if (s.ok) return { msgId: hexId(s.value.message.msgId), version: s.value.message.version }
  const l = decodeFrame(piece, { lenient: true })
  return {
    error: s.error.code,
    lenient: l.ok
      ? {
          msgId: hexId(l.value.message.msgId),
          version: l.value.message.version,
          checksumOk: l.value.checksumOk,
          ...(l.value.message.declaredBodyLength !== undefined ? { declaredBodyLength: l.value.message.declaredBodyLength } : {}),
        }
      : { error: l.error.code },
  }
}

t.test('fixture set covers what the issue asks for', async (t) => {
  const captures = FRAMES.filter((f) => f.kind === 'capture')
  t.ok(captures.length >= 40, `${captures.length} real captures`)
  t.ok(
    FRAMES.some((f) => /7d0[12]7e$/.test(f.hex)),
    'a frame whose checksum byte is escaped',
  )
  t.ok(
    FRAMES.some((f) => f.kind === 'capture' && 'version' in f.expect && f.expect.version === 2019),
    '2019 captures',
  )
  t.ok(
    FRAMES.some((f) => 'error' in f.expect && f.expect.error === 'BAD_CHECKSUM'),
    'bad checksums',
  )
  const lengthOff = FRAMES.filter((f) => f.kind === 'capture' && 'error' in f.expect && f.expect.error === 'LENGTH_MISMATCH')
  t.ok(lengthOff.length >= 2, 'real frames whose header declares another body length than they carry')
  t.ok(
    lengthOff.every((f) => 'lenient' in f.expect && 'declaredBodyLength' in f.expect.lenient),
    'lenient mode decodes them, flagged',
  )
  t.ok(
    FRAMES.every((f) => f.source.startsWith('https://')),
    'every frame names its source',
  )
})

for (const f of FRAMES) {
  t.test(`${f.name} [${f.kind}]`, async (t) => {
    const bytes = Buffer.from(f.hex, 'hex')
    const { frames, errors } = deframe(bytes)
    t.same(errors, [], 'deframes without error')
    if ('pieces' in f.expect) {
      t.same(frames.map(outcome), f.expect.pieces)
      return
    }
    t.equal(frames.length, 1, 'one frame')
    t.same(outcome(frames[0]), f.expect)
    const d = decodeFrame(frames[0])
    if (!d.ok) return
    const again = encodeMessage(d.value.message)
    t.ok(again.ok, 're-encodes')
    if (again.ok) t.equal(again.value.toString('hex'), f.hex, 'encode(decode(bytes)) === bytes')
    // And again through JSON, as the CLI and the message stores pass messages around.
    const viaJson = encodeMessage(JSON.parse(JSON.stringify(d.value.message)))
    t.ok(viaJson.ok && viaJson.value.toString('hex') === f.hex, 'survives a JSON round trip')
  })
}

for (const s of STREAMS) {
  t.test(`stream: ${s.name}`, async (t) => {
    const { frames, errors } = deframe(Buffer.from(s.hex, 'hex'))
    t.same(errors, [])
    const got = frames.map((p) => {
      const d = decodeFrame(p)
      return d.ok ? hexId(d.value.message.msgId) : d.error.code
    })
    t.same(got, s.expect)
  })
}
