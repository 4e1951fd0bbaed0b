/**
 * RedisState through an outage, on a redis-server of the test's own that is killed and started
 * again (empty), or frozen: nothing waits for it. Reads and session writes fail at once with
 * StateUnavailableError, stream appends and last positions are held within their bounds (the
 * oldest dropped and counted), the change is announced once each way, and on recovery the held
 * writes reach Redis in order before anything newer.
 */
import t from 'tap'
import type { CommittedPosition } from '../../src/domain.js'
import { RedisState, StateUnavailableError, type StateHealth } from '../../src/state/index.js'
import { startOwnRedis } from './redis-server.js'
import { REDIS_URL } from '../backends.js'

const pos = (vehicleId: number, deviceTime: number) => ({ vehicleId, deviceTime }) as CommittedPosition
const session = (phone: string) => ({ phone, nodeId: 'n1', since: Date.now(), address: '127.0.0.1:1', vehicleId: null, plate: null })

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('killed and started again: fail fast, hold within bounds, replay in order', async (t) => {
  const redis = await startOwnRedis()
  t.teardown(() => redis.stop())
  const state = new RedisState(redis.url, { prefix: 'o1:', commandTimeoutMs: 500, maxBufferedEntries: 50, maxBufferedPositions: 2, redis: { retryStrategy: () => 100 } })
  t.teardown(() => state.close())
  await state.ping()
  const changes: StateHealth[] = []
  state.onHealthChange((h) => changes.push(h))
  t.not((await state.appendMany('s', [{ n: 0 }]))[0], '', 'a real id while Redis answers')

  await redis.kill()
  await eventually(() => !state.health().available)
  const started = Date.now()
  await t.rejects(state.getSession('13800000001'), StateUnavailableError)
  await t.rejects(state.putSession(session('13800000001'), 60_000), StateUnavailableError)
  await t.rejects(state.read('s', '0', 10), StateUnavailableError)
  await t.rejects(state.read('s', '0', 10, 1000), StateUnavailableError, 'a blocking read too')
  for (let n = 1; n <= 60; n++) t.same(await state.append('s', { n }), '', `entry ${n} held`)
  await state.setLastPositions([pos(1, 3000), pos(2, 2000)])
  await state.setLastPositions([pos(1, 2500)])
  await state.setLastPositions([pos(3, 1000)])
  t.ok(Date.now() - started < 400, `nothing waited for Redis (${Date.now() - started} ms)`)
  t.equal((await state.getLastPosition(2))?.deviceTime, 2000, 'a held position is read back')
  const h = state.health()
  t.equal(h.available, false)
  t.equal(h.buffered, 50 + 2, 'the outbox and the positions at their bounds')
  t.equal(h.dropped, 10 + 1, 'the 10 oldest entries and the oldest vehicle dropped, counted')

  await redis.start()
  await eventually(() => state.health().available)
  t.same(
    changes.map((c) => c.available),
    [false, true],
    'announced once each way',
  )
  const reader = new RedisState(redis.url, { prefix: 'o1:' })
  t.teardown(() => reader.close())
  const entries = await reader.read<{ n: number }>('s', '0', 100)
  t.same(
    entries.map((e) => e.value.n),
    Array.from({ length: 50 }, (_, i) => 11 + i),
    'the held entries, in order (the restarted server lost entry 0)',
  )
  t.equal((await reader.getLastPosition(2))?.deviceTime, 2000)
  t.equal((await reader.getLastPosition(3))?.deviceTime, 1000)
  t.equal(await reader.getLastPosition(1), null, 'vehicle 1 was the oldest held: dropped')
  t.not(await state.append('s', { n: 61 }), '', 'real ids again')
  await state.putSession(session('13800000001'), 60_000)
  t.ok(await reader.getSession('13800000001'), 'session writes work again')
})

t.test('frozen (answers nothing): commands time out, the state degrades, then recovers', async (t) => {
  const redis = await startOwnRedis()
  t.teardown(() => redis.stop())
  const state = new RedisState(redis.url, { prefix: 'o2:', commandTimeoutMs: 300 })
  t.teardown(() => state.close())
  await state.ping()
  redis.freeze()
  const started = Date.now()
  await t.rejects(state.getSession('13800000002'), StateUnavailableError, 'a timed-out read')
  t.ok(Date.now() - started < 1500, `within about the command timeout (${Date.now() - started} ms)`)
  t.equal(state.health().available, false)
  t.same(await state.appendMany('f', [{ n: 1 }, { n: 2 }]), ['', ''], 'held while frozen')
  redis.thaw()
  await eventually(() => state.health().available)
  const entries = await state.read<{ n: number }>('f', '0', 10)
  t.same(
    entries.map((e) => e.value.n),
    [1, 2],
  )
})

t.test('a busy event loop is not an unreachable Redis', async (t) => {
  const state = new RedisState(REDIS_URL, { prefix: `o3:${process.pid}:`, commandTimeoutMs: 200 })
  t.teardown(() => state.close())
  await state.ping()
  // busy for 4 command timeouts, once with the command not yet written (it is sent at the next
  // tick), once with it on the wire and its reply arriving meanwhile: neither is a timeout
  const unsent = state.getSession('13800000003')
  let until = Date.now() + 800
  while (Date.now() < until) {
    // busy
  }
  t.equal(await unsent, null)
  const reply = state.getSession('13800000003')
  await new Promise((r) => process.nextTick(r))
  until = Date.now() + 800
  while (Date.now() < until) {
    // busy
  }
  t.equal(await reply, null)
  t.equal(state.health().available, true)
})
