import t from 'tap'
import { MemoryState } from '../../src/state/memory.js'
import { compareStreamIds, parseStreamId } from '../../src/state/stream-id.js'
import { stateContract } from './contract.js'

stateContract(t, async (n) => {
  const state = new MemoryState()
  return { nodes: Array.from({ length: n }, () => state), dispose: () => state.close() }
})

t.test('memory: TTLs follow the injected clock', async (t) => {
  let now = 1_000_000
  const s = new MemoryState({ clock: () => now })
  await s.putSession({ phone: 'p', nodeId: 'n', since: now, address: 'a', vehicleId: null, plate: null }, 1000)
  now += 999
  t.ok(await s.getSession('p'))
  now += 1
  t.equal(await s.getSession('p'), null)
  t.equal(await s.acquireLease('l', 'o', 10), true)
  t.equal(await s.acquireLease('l', 'x', 10), false)
  now += 10
  t.equal(await s.acquireLease('l', 'x', 10), true)
  now -= 5000
  const a = await s.append('st', 1)
  const b = await s.append('st', 2)
  t.ok(compareStreamIds(parseStreamId(b), parseStreamId(a)) > 0, `ids keep increasing when the clock steps back (${a} then ${b})`)
  t.same(
    (await s.read('st', a, 10)).map((e) => e.value),
    [2],
  )
  await s.close()
  await t.rejects(s.getSession('p'), { code: 'STATE_CLOSED' })
})
