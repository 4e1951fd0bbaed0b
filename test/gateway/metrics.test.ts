/**
 * The msg_id label set of the gateway metrics follows the handler and codec tables: every id the
 * gateway handles is counted under its own label (a separate list of handled ids once left 0x0700
 * out, so its frames counted as "other"), and only ids in neither table become "other".
 */
import t from 'tap'
import { Registry } from 'prom-client'
import { CODECS } from '../../protocol/index.js'
import { HANDLERS } from '../../src/gateway/handlers/index.js'
import { createGatewayMetrics, msgIdLabel } from '../../src/gateway/metrics.js'

const hex = (id: number) => '0x' + id.toString(16).padStart(4, '0')

async function framesByLabel(count: (received: (id: number) => void) => void): Promise<Map<string, number>> {
  const metrics = createGatewayMetrics(new Registry())
  count((id) => metrics.frameReceived(id))
  const { values } = await metrics.frames.get()
  return new Map(values.map((v) => [String(v.labels.msg_id), v.value]))
}

t.test('every handled id is counted under its own label', async (t) => {
  const handled = [...HANDLERS.keys()]
  t.ok(handled.includes(0x0700), 'the table handles 0x0700')
  const byLabel = await framesByLabel((received) => handled.forEach(received))
  for (const id of handled) t.equal(byLabel.get(hex(id)), 1, `${hex(id)} under its own label`)
  t.equal(byLabel.get('other'), undefined, 'no handled id counts as "other"')
})

t.test('a 0x0700 frame is not "other"', async (t) => {
  const byLabel = await framesByLabel((received) => {
    received(0x0700)
    received(0x0700)
  })
  t.same([...byLabel], [['0x0700', 2]])
})

t.test('ids of the codec table keep their label; ids in neither table count as "other"', async (t) => {
  for (const id of Object.keys(CODECS).map(Number)) t.equal(msgIdLabel(id), hex(id))
  const unknown = [0x0f0f, 0x7777, 0xffff].filter((id) => !HANDLERS.has(id) && !(id in CODECS))
  t.equal(unknown.length, 3)
  const byLabel = await framesByLabel((received) => {
    unknown.forEach(received)
    received(0x0200)
  })
  t.same(Object.fromEntries(byLabel), { other: 3, '0x0200': 1 })
})
