/**
 * The ingest queue against the real PostgreSQL and embedded PGlite: group commit by rows and by
 * time, acknowledgement only after commit (a real lock-induced failure on PostgreSQL, injected
 * failures on PGlite), retransmissions stored once and still acknowledged, rejected rows counted
 * with their reasons, data errors isolated, backpressure, overload and close.
 */
import pg from 'pg'
import { Registry } from 'prom-client'
import t, { type Test } from 'tap'
import type { CommittedPosition, PositionRecord } from '../../src/domain.js'
import { IngestClosedError, IngestOverloadError, IngestQueue, type IngestQueueOptions, type SubmitResult } from '../../src/ingest/index.js'
import type { InsertPositionsResult, PositionStore } from '../../src/store/port.js'
import { DATABASE_URL, DAY, fix, openTestStore, type StoreBackend } from '../store/helpers.js'

const NOW = Date.now()

function committed(p: PositionRecord): CommittedPosition {
  return { ...p, phone: `0133${String(p.vehicleId).padStart(8, '0')}`, plate: `浙A${p.vehicleId}`, plateColor: 2, enterpriseLicenseNo: null }
}

function rows(vehicleId: number, n: number, start = NOW - 3600_000): CommittedPosition[] {
  return Array.from({ length: n }, (_, i) => committed(fix(vehicleId, start + i * 1000, { receivedAt: NOW })))
}

interface Outcome {
  err: Error | null
  result?: SubmitResult
  at: number
}

/** submit() as a promise of its single callback. */
function submit(q: IngestQueue, positions: CommittedPosition[]): { settled: Promise<Outcome>; called: () => number } {
  let calls = 0
  const settled = new Promise<Outcome>((resolve) =>
    q.submit(positions, (err, result) => {
      calls++
      resolve({ err, result, at: performance.now() })
    }),
  )
  return { settled, called: () => calls }
}

function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name)
  if (!m) return Promise.resolve(0)
  return Promise.resolve(m.get()).then((v) => v.values.filter((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l)).reduce((s, x) => s + x.value, 0))
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A store whose insertPositions can be intercepted (failures, gates, call log) around the real one. */
function interceptable(real: PositionStore) {
  const calls: number[] = []
  let hook: ((batch: PositionRecord[], real: () => Promise<InsertPositionsResult>) => Promise<InsertPositionsResult>) | null = null
  return {
    calls,
    set(h: typeof hook) {
      hook = h
    },
    store: {
      insertPositions(batch: PositionRecord[]) {
        calls.push(batch.length)
        const go = () => real.insertPositions(batch)
        return hook ? hook(batch, go) : go()
      },
    } satisfies Pick<PositionStore, 'insertPositions'>,
  }
}

function connectionLost(): Error {
  return Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' })
}

for (const backend of ['pg', 'pglite'] as StoreBackend[]) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend, undefined, { statementTimeoutMs: 300 })
    let vehicleSeq = 0
    const nextVehicle = () => ++vehicleSeq

    function queue(t: Test, opts: Partial<IngestQueueOptions> = {}, over?: Pick<PositionStore, 'insertPositions'>) {
      const registry = new Registry()
      const q = new IngestQueue(over ?? store, { batchRows: 100, batchMs: 10, highWater: 10_000, retentionMs: 180 * DAY, retryInitialMs: 20, retryMaxMs: 100, registry, ...opts })
      t.teardown(() => q.close(2000))
      return { q, registry }
    }

    t.test('group commit: a batch flushes at batchRows', async (t) => {
      const spy = interceptable(store)
      const { q } = queue(t, { batchRows: 100, batchMs: 60_000 }, spy.store)
      const v = nextVehicle()
      const subs = Array.from({ length: 25 }, (_, i) => submit(q, rows(v, 10, NOW - 3600_000 + i * 10_000)))
      await Promise.all(subs.slice(0, 20).map((s) => s.settled))
      t.same(spy.calls, [100, 100], 'two full batches written without waiting for batchMs')
      t.equal(subs[24]!.called(), 0, 'the remainder waits for more rows or the timer')
      await q.flush()
      t.same(spy.calls, [100, 100, 50])
      const results = await Promise.all(subs.map((s) => s.settled))
      t.ok(
        results.every((r) => r.err === null && r.result?.inserted === 10),
        'every submission acknowledged with its own counts',
      )
      t.equal(await store.countPositions(v), 250)
    })

    t.test('group commit: a batch flushes after batchMs', async (t) => {
      const spy = interceptable(store)
      const { q } = queue(t, { batchRows: 10_000, batchMs: 40 }, spy.store)
      const v = nextVehicle()
      const t0 = performance.now()
      const subs = [submit(q, rows(v, 3)), submit(q, rows(v, 3, NOW - 1800_000)), submit(q, [])]
      const results = await Promise.all(subs.map((s) => s.settled))
      t.ok(results[0]!.at - t0 >= 35, `waited for batchMs (${Math.round(results[0]!.at - t0)} ms)`)
      t.same(spy.calls, [6], 'one batch for all three submissions')
      t.same(results[2]!.result, { inserted: 0, duplicates: 0, duplicateIndexes: [], rejected: 0, rejectReasons: {} }, 'an empty submission is settled with its batch')
    })

    t.test('retransmission: stored once, acknowledged, published once', async (t) => {
      const { q } = queue(t)
      const published: CommittedPosition[] = []
      q.deliverTo([{ name: 'spy', take: (r) => void published.push(...r) }])
      const v = nextVehicle()
      const batch = rows(v, 5)
      const first = await submit(q, batch).settled
      t.same(first.result?.inserted, 5)
      const again = await submit(
        q,
        [batch[1]!, ...rows(v, 1, NOW - 60_000), batch[3]!].map((p) => ({ ...p, receivedAt: p.receivedAt + 30_000 })),
      ).settled
      t.equal(again.err, null, 'the retransmission is acknowledged')
      t.same(again.result && { inserted: again.result.inserted, duplicates: again.result.duplicates, idx: again.result.duplicateIndexes }, { inserted: 1, duplicates: 2, idx: [0, 2] })
      t.equal(await store.countPositions(v), 6, 'stored once')
      t.equal(published.length, 6, 'the matcher sees each position once')
    })

    t.test('a batch of duplicates still reaches a consumer that asks for what it contained (at-least-once to the matcher)', async (t) => {
      // The process that first committed these rows died before publishing them: the re-send is all
      // duplicates, and only a `contained` consumer (the matcher's publisher) gets them.
      const { q } = queue(t)
      const inserted: CommittedPosition[][] = []
      const contained: CommittedPosition[][] = []
      q.deliverTo([
        { name: 'new-rows', take: (r) => void inserted.push(r) },
        { name: 'contained', contained: true, take: (r) => void contained.push(r) },
      ])
      const v = nextVehicle()
      const batch = rows(v, 4)
      await submit(q, batch).settled
      t.same(contained[0], inserted[0], 'no duplicates: the same rows')
      const resend = batch.map((p) => ({ ...p, receivedAt: p.receivedAt + 30_000 }))
      const again = await submit(q, resend).settled
      t.equal(again.result?.duplicates, 4)
      t.equal(inserted.length, 1, 'nothing newly stored: a new-rows consumer is not called')
      t.equal(contained.length, 2, 'the all-duplicate batch still reaches the contained consumer')
      t.same(contained[1], resend, 'what the batch contained, in order')
      // mixed: new rows and duplicates keep their submission order
      const mixed = [...rows(v, 1, NOW - 7200_000), resend[0]!, ...rows(v, 1, NOW - 60_000)]
      await submit(q, mixed).settled
      t.same(
        inserted[1]!.map((p) => p.deviceTime),
        [mixed[0]!.deviceTime, mixed[2]!.deviceTime],
      )
      t.same(
        contained[2]!.map((p) => p.deviceTime),
        mixed.map((p) => p.deviceTime),
      )
    })

    t.test('ack only after commit: a failing database acknowledges nothing; the retransmission is stored once', async (t) => {
      const spy = interceptable(store)
      const { q, registry } = queue(t, { batchMs: 5 }, spy.store)
      const published: CommittedPosition[] = []
      q.deliverTo([{ name: 'spy', take: (r) => void published.push(...r) }])
      const v = nextVehicle()
      const original = rows(v, 8)

      let release: () => Promise<void>
      if (backend === 'pg') {
        // A real failure: another session holds an exclusive lock, the store's statement timeout (300 ms) fires.
        const locker = new pg.Client({ connectionString: DATABASE_URL })
        await locker.connect()
        await locker.query(`SET search_path = "${store.schema}"`)
        await locker.query('BEGIN')
        await locker.query('LOCK TABLE positions IN ACCESS EXCLUSIVE MODE')
        release = async () => {
          await locker.query('COMMIT')
          await locker.end()
        }
      } else {
        let failing = true
        spy.set((_batch, real) => (failing ? Promise.reject(connectionLost()) : real()))
        release = async () => {
          failing = false
        }
      }

      const first = submit(q, original)
      await sleep(150)
      // The terminal saw no 0x8001 and retransmits the same positions.
      const retransmission = submit(
        q,
        original.map((p) => ({ ...p, receivedAt: p.receivedAt + 5_000 })),
      )
      await sleep(backend === 'pg' ? 900 : 300)
      t.equal(first.called(), 0, 'no acknowledgement while the database fails')
      t.equal(retransmission.called(), 0, 'nor for the retransmission')
      t.ok((await metric(registry, 'jt808_ingest_retries_total')) >= 1, 'the batch is being retried')
      t.equal(published.length, 0, 'nothing published to the matcher')

      await release()
      const [a, b] = await Promise.all([first.settled, retransmission.settled])
      t.equal(a.err, null, 'acknowledged once committed')
      t.equal(a.result?.inserted, 8)
      t.equal(b.err, null, 'the retransmission is acknowledged too')
      t.equal(b.result?.duplicates, 8, '... as duplicates')
      t.ok(a.at <= b.at, 'acknowledged in submission order')
      t.equal(await store.countPositions(v), 8, 'stored exactly once')
      t.equal(published.length, 8, 'published once')
    })

    t.test('a commit whose reply was lost is retried without a second copy and still published', async (t) => {
      const spy = interceptable(store)
      const { q } = queue(t, { batchMs: 5 }, spy.store)
      const published: CommittedPosition[] = []
      q.deliverTo([{ name: 'spy', take: (r) => void published.push(...r) }])
      let lose = true
      spy.set(async (_batch, real) => {
        const res = await real()
        if (lose) {
          lose = false
          throw connectionLost() // committed, but we never heard
        }
        return res
      })
      const v = nextVehicle()
      const out = await submit(q, rows(v, 4)).settled
      t.equal(out.err, null)
      t.same(spy.calls, [4, 4], 'written twice')
      t.equal(await store.countPositions(v), 4, 'stored once')
      t.equal(out.result?.inserted, 4, 'our own earlier commit counts as inserted, not duplicate')
      t.equal(published.length, 4, 'and reaches the matcher')
    })

    t.test('rejected rows are counted with their reason; the rest of the message is stored', async (t) => {
      const { q, registry } = queue(t, { maxFutureMs: 3600_000, retentionMs: 30 * DAY })
      const v = nextVehicle()
      const good = rows(v, 2)
      const bad = [
        committed(fix(v, NOW + 2 * 3600_000)), // clock far ahead
        committed(fix(v, NOW - 31 * DAY)), // beyond retention
        committed(fix(0, NOW - 1000)), // no vehicle
        committed(fix(v, Number.NaN)),
        committed(fix(v, NOW - 2000, { latitude: Number.NaN })),
        committed(fix(v, NOW - 3000, { alarm: -1 })),
      ]
      const out = await submit(q, [good[0]!, ...bad, good[1]!]).settled
      t.equal(out.err, null)
      t.same(out.result?.inserted, 2)
      t.same(out.result?.rejected, 6)
      t.same(out.result?.rejectReasons, { future_time: 1, expired: 1, invalid_vehicle: 1, invalid_time: 1, invalid_value: 2 })
      for (const [reason, n] of Object.entries({ future_time: 1, expired: 1, invalid_vehicle: 1, invalid_time: 1, invalid_value: 2 })) {
        t.equal(await metric(registry, 'jt808_ingest_rejected_total', { reason }), n, `metric counts ${reason}`)
      }
      const allBad = await submit(q, [bad[0]!]).settled
      t.same(allBad.result && [allBad.err, allBad.result.inserted, allBad.result.rejected], [null, 0, 1], 'a message with nothing storable is settled, not left hanging')
      t.equal(await store.countPositions(v), 2)
    })

    t.test('a row the database refuses is isolated; its batch commits', async (t) => {
      const { q, registry } = queue(t, { batchMs: 20 })
      const v = nextVehicle()
      // jsonb cannot hold \u0000: a genuine data exception (22P05) from the database.
      const poisoned = committed(fix(v, NOW - 500_000, { extras: { driverName: 'a\u0000b' } }))
      const subs = [submit(q, rows(v, 5)), submit(q, [poisoned, ...rows(v, 2, NOW - 400_000)]), submit(q, rows(v, 3, NOW - 300_000))]
      const [a, b, c] = await Promise.all(subs.map((s) => s.settled))
      t.same([a.result?.inserted, b.result?.inserted, b.result?.rejected, c.result?.inserted], [5, 2, 1, 3])
      t.same(b.result?.rejectReasons, { database: 1 })
      t.equal(await metric(registry, 'jt808_ingest_rejected_total', { reason: 'database' }), 1)
      t.equal(await store.countPositions(v), 10)
    })

    t.test('backpressure: pressure above highWater, drain at half; overload refused and counted', async (t) => {
      const spy = interceptable(store)
      const { q, registry } = queue(t, { batchRows: 1000, batchMs: 1, highWater: 100, maxQueuedRows: 150 }, spy.store)
      let open!: () => void
      const gate = new Promise<void>((r) => (open = r))
      spy.set(async (_b, real) => {
        await gate
        return real()
      })
      const events: string[] = []
      q.on('pressure', () => events.push('pressure'))
      q.on('drain', () => events.push('drain'))
      const v = nextVehicle()
      const first = submit(q, rows(v, 60))
      t.notOk(q.aboveHighWater)
      const second = submit(q, rows(v, 60, NOW - 1000_000))
      t.ok(q.aboveHighWater, 'above highWater at 120 queued rows')
      t.same(events, ['pressure'])
      const refused = await submit(q, rows(v, 40, NOW - 2000_000)).settled
      t.ok(refused.err instanceof IngestOverloadError, 'beyond maxQueuedRows: refused, not acknowledged')
      t.equal(await metric(registry, 'jt808_ingest_rejected_total', { reason: 'overload' }), 40)
      open()
      await Promise.all([first.settled, second.settled])
      await q.flush()
      t.notOk(q.aboveHighWater)
      t.same(events, ['pressure', 'drain'])
      t.equal(await store.countPositions(v), 120)
    })

    t.test('a slow consumer of committed rows holds the pressure until it catches up', async (t) => {
      const { q, registry } = queue(t, { batchRows: 1000, batchMs: 1, highWater: 100 })
      const events: string[] = []
      q.on('pressure', () => events.push('pressure'))
      q.on('drain', () => events.push('drain'))
      // the consumer takes every committed batch in, and finishes with it only when told
      const held: Array<() => void> = []
      q.deliverTo([{ name: 'slow', take: () => new Promise<void>((resolve) => held.push(resolve)) }])
      const v = nextVehicle()
      await submit(q, rows(v, 70)).settled
      t.same(events, [], '70 rows downstream: below highWater')
      t.equal(q.downstreamRows, 70, 'the queue counts what its consumer holds')
      await submit(q, rows(v, 60, NOW - 1000_000)).settled
      t.same(events, ['pressure'], 'committed, but 130 rows still downstream: pressure stays on')
      t.ok(q.aboveHighWater)
      t.equal(await metric(registry, 'jt808_ingest_downstream_rows', { consumer: 'slow' }), 130)
      held.shift()!()
      await sleep(5)
      t.same(events, ['pressure'], '60 downstream is above half of highWater')
      held.shift()!()
      await sleep(5)
      t.same(events, ['pressure', 'drain'], 'the consumer caught up: drain')
      t.equal(q.downstreamRows, 0)
      await q.flush()
      t.equal(q.queuedRows, 0, 'the queue itself is empty: downstream rows are counted apart')
    })

    t.test('consumers: each batch to each, in the declared order; a failing one costs the others nothing; close waits for them', async (t) => {
      const { q } = queue(t, { batchMs: 1 })
      const seen: string[] = []
      const errors: string[] = []
      q.on('consumerError', (err: Error, name: string) => errors.push(`${name}: ${err.message}`))
      let finish!: () => void
      q.deliverTo([
        { name: 'first', take: (r) => void seen.push(`first ${r.length}`) },
        {
          name: 'throws',
          take: () => {
            throw new Error('boom')
          },
        },
        {
          name: 'rejects',
          take: async () => {
            throw new Error('later')
          },
        },
        {
          name: 'last',
          take: (r) => {
            seen.push(`last ${r.length}`)
            return new Promise<void>((resolve) => (finish = resolve))
          },
        },
      ])
      const v = nextVehicle()
      const out = await submit(q, rows(v, 3)).settled
      t.equal(out.err, null, 'the batch is acknowledged whatever its consumers do')
      await sleep(5)
      t.same(seen, ['first 3', 'last 3'], 'in order, after the failing ones')
      t.same(errors.sort(), ['rejects: later', 'throws: boom'])
      t.equal(q.downstreamRows, 3, 'the last consumer still holds its rows')
      let closed = false
      const closing = q.close().then(() => (closed = true))
      await sleep(20)
      t.notOk(closed, 'close waits for the consumers to settle what they took')
      finish()
      await closing
      t.equal(q.downstreamRows, 0)
    })

    t.test('close writes what is queued, then refuses', async (t) => {
      const { q } = queue(t, { batchMs: 60_000, batchRows: 10_000 })
      const v = nextVehicle()
      const pending = submit(q, rows(v, 7))
      await q.close()
      t.equal((await pending.settled).result?.inserted, 7, 'queued rows committed on close')
      const late = await submit(q, rows(v, 1, NOW - 100)).settled
      t.ok(late.err instanceof IngestClosedError)
    })

    t.test('close with a timeout gives up on a database that stays down', async (t) => {
      const spy = interceptable(store)
      spy.set(() => Promise.reject(connectionLost()))
      const { q } = queue(t, { batchMs: 1 }, spy.store)
      const pending = submit(q, rows(nextVehicle(), 3))
      await sleep(30)
      await q.close(100)
      const out = await pending.settled
      t.ok(out.err instanceof IngestClosedError, 'settled with an error: no acknowledgement')
    })
  })
}
