/**
 * The gateway's store runs the ingest's direct COPY on a worker thread (PostgreSQL only). The
 * same guarantees must hold through it: rows stored once, a duplicate detected (SQLSTATE 23505
 * comes back from the worker with its code) and taken the staging way, errors typed, and
 * close() ends the thread.
 */
import t from 'tap'
import { DATABASE_URL, fix, openTestStore, testConfig } from './helpers.js'

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
  t.same(
    more.map((r) => r.inserted),
    [200, 200, 200, 200],
  )
  t.equal(await store.countPositions(), 1400)
})

t.test("a DATABASE_URL's own options join the schema's search_path (pool and COPY worker)", async (t) => {
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', '-c work_mem=7777kB')
  const store = await openTestStore(t, 'pg', testConfig({ databaseUrl: url.href }), { copyInWorker: true })
  const { rows } = await store.sql.query<{ path: string; mem: string }>("SELECT current_setting('search_path') AS path, current_setting('work_mem') AS mem")
  t.match(rows[0]!.path, store.schema!, 'pooled connections work in the schema')
  t.equal(rows[0]!.mem, '7777kB', "the URL's options applied too")
  const base = Date.now() - 3600_000
  const stored = await store.insertPositions(Array.from({ length: 20 }, (_, i) => fix(7, base + i * 1000)))
  t.equal(stored.inserted, 20)
  t.equal(await store.countPositions(), 20, 'the worker COPY wrote into the schema, not public')
})

t.test('splitUrlOptions', async (t) => {
  const { splitUrlOptions } = await import('../../src/store/pg-driver.js')
  t.same(splitUrlOptions('postgres://u@h:5432/db?options=-c%20a%3D1&sslmode=disable'), { connectionString: 'postgres://u@h:5432/db?sslmode=disable', options: '-c a=1' })
  t.same(splitUrlOptions('postgres://u@h/db'), { connectionString: 'postgres://u@h/db', options: undefined })
  t.same(splitUrlOptions('host=/tmp dbname=x'), { connectionString: 'host=/tmp dbname=x', options: undefined })
})
