/** Capture parsing keeps telling malformed frames apart now that lenient decoding takes a wrong body length. */
import t from 'tap'
import { captureFrame } from '../../src/sim/capture.js'
import { fixture, inner } from '../protocol/helpers.js'

const meta = { source: 'test', t: null, phone: null, connection: null }

t.test('a frame whose header declares another body length: header known, error LENGTH_MISMATCH', async (t) => {
  const f = captureFrame(inner(fixture('0900 passthrough whose header declares 122 body bytes, 107 present').hex), meta)
  t.equal(f.header?.msgId, 0x0900)
  t.equal(f.phone, '413050338598')
  t.same(f.error, { code: 'LENGTH_MISMATCH', message: 'header declares a body of 122 bytes, frame carries 107' })
})

t.test('well-formed and bad-checksum frames as before', async (t) => {
  t.equal(captureFrame(inner(fixture('0002 heartbeat').hex), meta).error, null)
  t.equal(captureFrame(inner(fixture('0002 heartbeat with its checksum byte changed').hex), meta).error?.code, 'BAD_CHECKSUM')
})
