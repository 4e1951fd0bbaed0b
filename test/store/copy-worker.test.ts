/**
 * The gateway's store runs the ingest's direct COPY on a worker thread (PostgreSQL only). The
 * same guarantees must hold through it: rows stored once, a duplicate detected (SQLSTATE 23505
 * comes back from the worker with its code) and taken the staging way, errors typed, and
 * close() ends the thread.
 */
import t from 'tap'
import { fix, openTestStore } from './helpers.js'

t.test('direct COPY through the worker thread: inserts, duplicates, errors, batches in flight', async (t) => {
  const store = await openTestStore(t, 'pg', undefined, { copyInWorker: true })
  const base = Date.now() - 3600_000
  const batch = Array.from({ length: 500 }, (_, i) => fix(1 + (i % 50), base + Math.floor(i / 50) * 1000))
  const first = await store.insertPositions(batch)
  t.same([first.inserted, first.duplicates], [500, 0], 'a fresh batch is stored whole')
  t.equal(await store.countPositions(), 500)

  // half of it again (a terminal's retransmissions) with new rows: the worker's COPY meets the
  // primary key, nothing of it is written, and the staging path stores only the new rows
  const again = [...batch.slice(0, 250).map((p) => ({ ...p, receivedAt: p.receivedAt + 5000 })), ...batch.slice(0, 100).map((p) => ({ ...p, deviceTime: p.deviceTime + 3600_000 / 2 }))]
  const second = await store.insertPositions(again)
  t.same([second.inserted, second.duplicates], [100, 250], 'duplicates found, new rows stored')
  t.same(second.duplicateIndexes.slice(0, 3), [0, 1, 2])
  t.equal(await store.countPositions(), 600)

  // a COPY the server refuses reaches the caller as an error with its SQLSTATE
  const refused = await store.sql.copyFrom('COPY no_such_table (x) FROM STDIN WITH (FORMAT binary)', Buffer.alloc(0)).then(
    () => null,
    (e: Error & { code?: string }) => e,
  )
  t.equal(refused?.code, '42P01', 'undefined table, code kept across the thread')

  // several batches in flight at once (the queue's default is 2)
  const more = await Promise.all([0, 1, 2, 3].map((k) => store.insertPositions(Array.from({ length: 200 }, (_, i) => fix(1000 + k, base + i * 1000)))))
  t.same(more.map((r) => r.inserted), [200, 200, 200, 200])
  t.equal(await store.countPositions(), 1400)
})
