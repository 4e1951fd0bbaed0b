/**
 * The admission gate on its own (src/gateway/gate.ts): FIFO while the line is short-lived, newest
 * first once its oldest caller has waited past lifoAfterMs, callers that have gone skipped without
 * running, and the bound on the line.
 */
import t from 'tap'
import { Gate, GateAbandoned, GateFull } from '../../src/gateway/gate.js'

/** A gate whose single slot is held until `free()`; callers record the order they ran in. */
function held(opts: ConstructorParameters<typeof Gate>[1]) {
  const gate = new Gate(1, opts)
  let free!: () => void
  const holder = gate.run(() => new Promise<void>((r) => (free = r)))
  const order: string[] = []
  const enqueue = (name: string, gone?: () => boolean) =>
    gate.run(async () => {
      order.push(name)
    }, gone)
  return { gate, holder, order, enqueue, free: () => free() }
}

t.test('FIFO while the oldest caller has not waited past the threshold', async (t) => {
  let now = 0
  const g = held({ lifoAfterMs: 1000, now: () => now })
  const runs = ['a', 'b', 'c'].map((n) => g.enqueue(n))
  now = 999
  g.free()
  await Promise.all([g.holder, ...runs])
  t.same(g.order, ['a', 'b', 'c'])
  t.equal(g.gate.servedLifo, 0)
})

t.test('newest first once the oldest has waited past the threshold, FIFO again when the line drains', async (t) => {
  let now = 0
  const g = held({ lifoAfterMs: 1000, now: () => now })
  const runs = ['a', 'b', 'c', 'd'].map((n) => g.enqueue(n))
  now = 1500
  g.free()
  await Promise.all([g.holder, ...runs])
  // d (newest) first; then c, b while a — the oldest — is still over the threshold; a alone is last
  t.same(g.order, ['d', 'c', 'b', 'a'])
  t.equal(g.gate.servedLifo, 3)
  t.equal(g.gate.active, 0)
  t.equal(g.gate.queued, 0)
  // drained: a new line starts FIFO
  const h = held({ lifoAfterMs: 1000, now: () => now })
  const again = ['x', 'y'].map((n) => h.enqueue(n))
  h.free()
  await Promise.all([h.holder, ...again])
  t.same(h.order, ['x', 'y'])
})

t.test('a caller gone at its turn is skipped without running, and its turn passes on', async (t) => {
  const g = held({})
  let bGone = false
  const a = g.enqueue('a')
  const b = g.enqueue('b', () => bGone)
  const c = g.enqueue('c')
  bGone = true
  g.free()
  await t.rejects(b, GateAbandoned)
  await Promise.all([g.holder, a, c])
  t.same(g.order, ['a', 'c'])
  t.equal(g.gate.abandoned, 1)
  t.equal(g.gate.active, 0, 'the slot was handed on, not leaked')
  // gone before even queueing: refused at once, the line untouched
  await t.rejects(
    g.gate.run(
      async () => undefined,
      () => true,
    ),
    GateAbandoned,
  )
  t.equal(g.gate.abandoned, 2)
})

t.test('past maxQueued a caller is refused at once; the others run', async (t) => {
  const g = held({ maxQueued: 2 })
  const a = g.enqueue('a')
  const b = g.enqueue('b')
  await t.rejects(g.enqueue('c'), GateFull)
  g.free()
  await Promise.all([g.holder, a, b])
  t.same(g.order, ['a', 'b'])
})

t.test('a failing caller still releases its slot', async (t) => {
  const gate = new Gate(1)
  await t.rejects(
    gate.run(async () => Promise.reject(new Error('boom'))),
    /boom/,
  )
  t.equal(await gate.run(async () => 42), 42)
  t.equal(gate.active, 0)
})
