import t from 'tap'
import { DEFAULTS, loadConfig } from '../../src/config/index.js'
import { openState, redactUrl, StateConfigError, StateUnavailableError } from '../../src/state/index.js'
import { REDIS_URL as url } from '../backends.js'

t.test('no REDIS_URL: the in-process state', async (t) => {
  const s = await openState({ redisUrl: null, workers: 1 })
  t.equal(s.kind, 'memory')
  await s.close()
})

t.test('several workers without Redis are refused with a clear error', async (t) => {
  await t.rejects(openState({ redisUrl: null, workers: 4 }), StateConfigError)
  await t.rejects(openState({ redisUrl: null, workers: 4 }), { message: /workers=4 needs REDIS_URL/ })
})

t.test('REDIS_URL: Redis state, reachable', async (t) => {
  const s = await openState({ redisUrl: url, workers: 4 }, { prefix: 'test:open:' })
  t.equal(s.kind, 'redis')
  await s.ping()
  await s.close()
})

t.test('unreachable Redis fails at start, naming the address without its password', async (t) => {
  const started = Date.now()
  const err = await openState({ redisUrl: 'redis://:s3cret@127.0.0.1:1', workers: 1 }, { connectTimeoutMs: 300 }).catch((e: unknown) => e)
  t.type(err, StateUnavailableError)
  t.match((err as Error).message, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/)
  t.notMatch((err as Error).message, /s3cret/)
  t.ok(Date.now() - started < 3000, 'within its timeout')
  t.equal(redactUrl('not a url'), '(unparseable URL)')
})

t.test('until Redis first answers, its connection errors go into the one start error, not to onError', async (t) => {
  const logged: Error[] = []
  const err = await openState({ redisUrl: 'redis://127.0.0.1:1', workers: 1 }, { connectTimeoutMs: 500, onError: (e) => logged.push(e) }).catch((e: unknown) => e)
  t.type(err, StateUnavailableError)
  t.match((err as Error).message, /ECONNREFUSED/, 'the cause is in the message')
  t.same(logged, [], 'nothing reported separately (each would be a log line with a stack)')
})

t.test('the Redis outage settings (JT808_REDIS_TIMEOUT_MS, JT808_REDIS_BUFFER_*) reach the Redis state; explicit options win', async (t) => {
  const config = loadConfig({ REDIS_URL: url, JT808_REDIS_TIMEOUT_MS: '750', JT808_REDIS_BUFFER_ENTRIES: '5000', JT808_REDIS_BUFFER_POSITIONS: '600' })
  t.same([config.redisCommandTimeoutMs, config.redisBufferedEntries, config.redisBufferedPositions], [750, 5000, 600])
  t.same([DEFAULTS.redisCommandTimeoutMs, DEFAULTS.redisBufferedEntries, DEFAULTS.redisBufferedPositions], [2000, 100_000, 100_000], 'the documented defaults')
  t.throws(() => loadConfig({ JT808_REDIS_TIMEOUT_MS: 'soon' }), { message: /JT808_REDIS_TIMEOUT_MS: expected an integer/ })
  const limits = (s: unknown) => {
    const r = s as { timeoutMs: number; maxEntries: number; maxPositions: number }
    return [r.timeoutMs, r.maxEntries, r.maxPositions]
  }
  const s = await openState(config, { prefix: 'test:open:' })
  t.teardown(() => s.close())
  t.same(limits(s), [750, 5000, 600])
  const explicit = await openState(config, { prefix: 'test:open:', commandTimeoutMs: 300 })
  t.teardown(() => explicit.close())
  t.same(limits(explicit), [300, 5000, 600])
})
