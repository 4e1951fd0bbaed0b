/**
 * The gateway's batching writer (alarm transitions, raw-frame archive): batches of at most
 * maxBatch, one write at a time, a bounded buffer whose refusals are counted, and the two
 * failure policies — retry (the batch goes back in front, as much as fits) or drop (counted).
 */
import t from 'tap'
import { BatchWriter } from '../../src/gateway/batch-writer.js'

function writer(opts: { retryFailed: boolean; maxBuffered?: number; maxBatch?: number; fail?: (batch: number[]) => boolean }) {
  const writes: number[][] = []
  const failures: number[][] = []
  let dropped = 0
  const w = new BatchWriter<number>({
    write: async (batch) => {
      if (opts.fail?.(batch)) throw new Error('store down')
      writes.push([...batch])
    },
    flushRows: 1_000_000,
    flushMs: 60_000,
    maxBuffered: opts.maxBuffered ?? 100,
    maxBatch: opts.maxBatch,
    retryFailed: opts.retryFailed,
    dropped: (n) => (dropped += n),
    failed: (_err, batch) => failures.push([...batch]),
  })
  return { w, writes, failures, dropped: () => dropped }
}

t.test('flush writes at most maxBatch rows, in order', async (t) => {
  const { w, writes } = writer({ retryFailed: true, maxBatch: 2 })
  t.teardown(() => w.close())
  for (let i = 1; i <= 5; i++) w.add(i)
  await w.flush()
  await w.flush()
  await w.flush()
  t.same(writes, [[1, 2], [3, 4], [5]])
})

t.test('rows beyond maxBuffered are refused and counted', async (t) => {
  const { w, writes, dropped } = writer({ retryFailed: false, maxBuffered: 3 })
  for (let i = 1; i <= 5; i++) w.add(i)
  t.equal(dropped(), 2)
  await w.close()
  t.same(writes, [[1, 2, 3]])
})

t.test('retry: a failed batch goes back in front of later rows; what no longer fits is counted', async (t) => {
  let down = true
  const { w, writes, failures, dropped } = writer({ retryFailed: true, maxBuffered: 4, fail: () => down })
  t.teardown(() => w.close())
  w.add(1)
  w.add(2)
  w.add(3)
  const first = w.flush()
  w.add(4) // arrives while the failing write is in flight
  w.add(5)
  await first
  t.same(failures, [[1, 2, 3]])
  t.equal(dropped(), 1, 'two rows buffered meanwhile leave room for two of the three')
  down = false
  await w.flush()
  t.same(writes, [[1, 2, 4, 5]])
})

t.test('drop: a failed batch is counted and not written again', async (t) => {
  let down = true
  const { w, writes, dropped } = writer({ retryFailed: false, fail: () => down })
  w.add(1)
  w.add(2)
  await w.flush()
  t.equal(dropped(), 2)
  down = false
  w.add(3)
  await w.close()
  t.same(writes, [[3]])
})

t.test('a full batch starts a write without waiting for the timer', async (t) => {
  const writes: number[][] = []
  const w = new BatchWriter<number>({
    write: async (batch) => void writes.push([...batch]),
    flushRows: 3,
    flushMs: 60_000,
    maxBuffered: 100,
    retryFailed: true,
    dropped: () => undefined,
    failed: () => undefined,
  })
  t.teardown(() => w.close())
  w.add(1)
  w.add(2)
  t.same(writes, [])
  w.add(3)
  t.same(writes, [[1, 2, 3]], 'written on the third add, before any flush() call')
})
