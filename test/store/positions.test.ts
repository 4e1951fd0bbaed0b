/**
 * The position write path on every backend and both transports: batch insert, dedupe on
 * (vehicle, device time) within a batch and across batches, which rows were duplicates, late
 * (blind-area) data landing in partitions created on demand, tracks, downsampling, hourly figures.
 */
import t from 'tap'
import { openStore } from '../../src/store/index.js'
import { DAY, fix, openTestStore, STORE_BACKENDS, testConfig } from './helpers.js'

const T0 = Date.parse('2026-03-10T06:00:00Z')

for (const backend of STORE_BACKENDS) {
  t.test(backend, async (t) => {
    const unnestStore = await openTestStore(t, backend, undefined, { transport: 'unnest', now: () => T0 })
    // The same database through the other transports (opening PGlite is the slow part of this test).
    const copyStore = await openStore(testConfig(), { sql: unnestStore.sql, transport: 'copy', migrate: false })
    const stagingStore = await openStore(testConfig(), { sql: unnestStore.sql, transport: 'copy-staging', migrate: false })
    for (const [transport, store, NOW] of [
      ['unnest', unnestStore, T0],
      ['copy', copyStore, T0 + 100 * DAY],
      ['copy-staging', stagingStore, T0 + 150 * DAY],
    ] as const) {
      t.test(transport, async (t) => {
        const base = await store.countPositions()

        const batch = Array.from({ length: 500 }, (_, i) => fix(1 + (i % 10), NOW - 3600_000 + Math.floor(i / 10) * 30_000, { mileage: 100 + i / 10 }))
        const first = await store.insertPositions(batch)
        t.same(first, { inserted: 500, duplicates: 0, duplicateIndexes: [] }, 'a fresh batch is stored whole')
        t.equal(await store.countPositions(), base + 500)

        // The terminal retransmits 3 rows (arriving later) mixed with 2 new ones, one of them twice in the batch.
        const retransmitted = [batch[7]!, batch[100]!, batch[499]!].map((p) => ({ ...p, receivedAt: p.receivedAt + 60_000, speed: 1 }))
        const fresh = fix(1, NOW - 10_000)
        const second = await store.insertPositions([retransmitted[0]!, fresh, retransmitted[1]!, fix(2, NOW - 5000), { ...fresh }, retransmitted[2]!])
        t.same(second, { inserted: 2, duplicates: 4, duplicateIndexes: [0, 2, 4, 5] }, 'retransmissions and in-batch repeats are duplicates, by position')
        t.equal(await store.countPositions(), base + 502, 'stored once')
        const [kept] = await store.track(batch[7]!.vehicleId, batch[7]!.deviceTime, batch[7]!.deviceTime)
        t.equal(kept?.speed, batch[7]!.speed, 'the first copy is kept, not overwritten by the retransmission')

        // Round trip of every field.
        const odd = fix(42, NOW - 1234, {
          alarm: 0xffffffff,
          status: 0x80000003,
          mileage: null,
          extras: { '0x25': 5, unknown: { id: 0xe3, hex: '0a0b' } },
          blindArea: true,
          sourceMsgId: 0x0704,
          altitude: -120,
          direction: 359,
          speed: 0.1,
          latitude: -33.5,
          longitude: 151.25,
        })
        await store.insertPositions([odd])
        t.same(await store.track(42, NOW - DAY, NOW + DAY), [odd], 'every field survives the round trip')

        // Blind-area data 20 days old: its partition did not exist (plain PostgreSQL) and is made on demand.
        const late = Array.from({ length: 5 }, (_, i) => fix(5, NOW - 20 * DAY + i * 1000, { blindArea: true, sourceMsgId: 0x0704 }))
        t.same((await store.insertPositions(late)).inserted, 5, 'late rows are stored')
        t.equal((await store.track(5, NOW - 21 * DAY, NOW - 19 * DAY)).length, 5)

        // Track: ordered by device time, limit, downsampling to one point per minute.
        const track = await store.track(3, NOW - DAY, NOW + DAY)
        t.equal(track.length, 50)
        t.ok(
          track.every((p, i) => i === 0 || p.deviceTime > track[i - 1]!.deviceTime),
          'ordered by device time',
        )
        t.equal((await store.track(3, NOW - DAY, NOW, { limit: 7 })).length, 7)
        const perMinute = await store.track(3, NOW - DAY, NOW, { everySeconds: 60 })
        t.equal(perMinute.length, 25, 'points every 30 s → one per minute')
        t.ok(new Set(perMinute.map((p) => Math.floor(p.deviceTime / 60_000))).size === perMinute.length, 'one point per bucket')

        // Hourly figures (continuous aggregate on TimescaleDB, a view otherwise), real-time for the current hour.
        const hours = await store.hourlyStats(3, NOW - 2 * 3600_000, NOW + 3600_000)
        const points = hours.reduce((n, h) => n + h.points, 0)
        t.equal(points, 50, 'every point of the vehicle counted')
        const h0 = hours.find((h) => h.bucket === NOW - 3600_000)
        t.ok(h0, 'bucketed on whole hours')
        t.equal(h0?.maxSpeed, 58.3)
        // vehicle 3 has mileage 100.2, 101.2, ... 149.2 in that hour: distance = max - min
        t.ok(Math.abs((h0?.distanceKm ?? 0) - 49) < 1e-9, `distance from the odometer (${h0?.distanceKm})`)
      })
    }
    if (backend === 'timescale') {
      t.test('late rows into a compressed chunk are still deduplicated', async (t) => {
        const NOW = T0 + 300 * DAY
        // The default transport, fresh: its direct COPY meets the duplicate inside a compressed chunk.
        const store = await openStore(testConfig(), { sql: unnestStore.sql, migrate: false })
        const old = Array.from({ length: 20 }, (_, i) => fix(99, NOW - 10 * DAY + i * 60_000))
        await store.insertPositions(old)
        const { rows } = await store.sql.query<{ n: number }>(`SELECT count(compress_chunk(c, if_not_compressed => true))::int AS n FROM show_chunks('positions', older_than => $1::timestamptz) c`, [
          new Date(NOW - 7 * DAY).toISOString(),
        ])
        t.ok(rows[0]!.n >= 1, 'old chunks compressed')
        const res = await store.insertPositions([{ ...old[3]!, receivedAt: NOW }, fix(99, NOW - 10 * DAY + 30_000)])
        t.same(res, { inserted: 1, duplicates: 1, duplicateIndexes: [0] })
        t.equal(await store.countPositions(99), 21)
        t.equal((await store.track(99, NOW - 11 * DAY, NOW)).length, 21, 'compressed rows are read back')
      })
    }
  })
}
