/**
 * GET /api/v1/anomalies/stream over real HTTP, on both backends: live delivery, enterprise scope
 * and filters, resumption with Last-Event-ID and ?since=, events appended by another State
 * instance (Redis: another OS process), and a client that stops reading being dropped without
 * holding up the others.
 */
import { execFile } from 'node:child_process'
import net from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import { ANOMALY_EVENTS_STREAM } from '../../src/domain.js'
import type { RedisState } from '../../src/state/redis.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, REDIS_URL } from './harness.js'
import { anomalyEvent, connectSse } from './sse.js'

const run = promisify(execFile)

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend, { feed: { drainTimeoutMs: 300, maxQueuedEvents: 1000, heartbeatMs: 200, blockMs: 500 } })
    const base = await f.listen()
    const stream = `${base}/api/v1/anomalies/stream`
    const append = (e: ReturnType<typeof anomalyEvent>) => f.state.append(ANOMALY_EVENTS_STREAM, e)

    t.test('refusals happen before the stream starts', async (t) => {
      const anon = await fetch(stream)
      t.equal(anon.status, 401)
      t.equal(((await anon.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED')
      const bad = await fetch(stream, { headers: { ...f.auth(f.tokens.supervisor), 'last-event-id': 'yesterday' } })
      t.equal(bad.status, 400)
      t.same(((await bad.json()) as { error: { details: { fields: unknown } } }).error.details.fields, [
        { field: 'header/last-event-id', message: 'must be an event id ("<ms>-<seq>") or epoch milliseconds' },
      ])
      const foreign = await fetch(`${stream}?enterprise=${LICENCE_B}`, { headers: f.auth(f.tokens.entA) })
      t.equal(foreign.status, 403)
    })

    t.test('live delivery, scoped per enterprise, filtered, with resumable ids', async (t) => {
      const sup = await connectSse(stream, f.auth(f.tokens.supervisor))
      const entA = await connectSse(stream, f.auth(f.tokens.entA))
      const entB = await connectSse(stream, f.auth(f.tokens.entB))
      const onlyFatigue = await connectSse(`${stream}?type=FATIGUE_DRIVING`, f.auth(f.tokens.inspector))
      t.teardown(() => [sup, entA, entB, onlyFatigue].forEach((c) => c.close()))
      t.equal(sup.status, 200)
      await new Promise((r) => setTimeout(r, 50))

      const e1 = anomalyEvent('anomaly.opened', LICENCE_A)
      const e2 = anomalyEvent('anomaly.opened', LICENCE_B, { type: 'FATIGUE_DRIVING', severity: 'critical' })
      const e3 = anomalyEvent('anomaly.closed', LICENCE_A, { id: e1.anomaly.id })
      const ids = [await append(e1), await append(e2), await append(e3)]

      const got = await sup.waitFor(3)
      t.same(
        got.map((e) => e.id),
        ids,
        'the SSE id is the stream entry id',
      )
      t.same(
        got.map((e) => e.event),
        ['anomaly.opened', 'anomaly.opened', 'anomaly.closed'],
      )
      const first = JSON.parse(got[0].data)
      t.match(first, {
        event: 'anomaly.opened',
        at: new Date(e1.at).toISOString(),
        anomaly: {
          id: e1.anomaly.id,
          type: 'OVERSPEED',
          status: 'open',
          plate: '浙A10001',
          enterpriseLicenseNo: LICENCE_A,
          startedAt: new Date(e1.anomaly.startedAt).toISOString(),
          endedAt: null,
          evidence: { maxSpeed: 92.5 },
        },
      })
      t.equal(first.anomaly.vehicleId, undefined, 'internal ids are not exposed')

      const a = await entA.waitFor(2)
      t.same(
        a.map((e) => e.id),
        [ids[0], ids[2]],
        'enterprise A sees only its own',
      )
      const b = await entB.waitFor(1)
      t.same(
        b.map((e) => e.id),
        [ids[1]],
      )
      const fat = await onlyFatigue.waitFor(1)
      t.same(
        fat.map((e) => e.id),
        [ids[1]],
      )
      await new Promise((r) => setTimeout(r, 300))
      t.equal(entA.events.length, 2, 'nothing else arrives for A')
      t.equal(entB.events.length, 1)
      t.ok(sup.comments.includes('ping'), 'idle heartbeat comments')
    })

    t.test('resume with Last-Event-ID and ?since= replays exactly what was missed, then goes live', async (t) => {
      const c1 = await connectSse(stream, f.auth(f.tokens.entA))
      await new Promise((r) => setTimeout(r, 50))
      const id1 = await append(anomalyEvent('anomaly.opened', LICENCE_A))
      const seen = await c1.waitFor(1)
      t.equal(seen[0].id, id1)
      c1.close()
      await c1.closed

      // Missed while disconnected: two of A's, one of B's.
      const missed = [await append(anomalyEvent('anomaly.updated', LICENCE_A)), await append(anomalyEvent('anomaly.opened', LICENCE_B)), await append(anomalyEvent('anomaly.closed', LICENCE_A))]
      const c2 = await connectSse(stream, { ...f.auth(f.tokens.entA), 'last-event-id': id1 })
      t.teardown(() => c2.close())
      const replayed = await c2.waitFor(2)
      t.same(
        replayed.map((e) => e.id),
        [missed[0], missed[2]],
        'replayed A’s missed events, in order',
      )
      const live = await append(anomalyEvent('anomaly.opened', LICENCE_A))
      const after = await c2.waitFor(3)
      t.equal(after[2].id, live, 'then live')
      await new Promise((r) => setTimeout(r, 200))
      t.equal(c2.events.length, 3, 'no duplicates')

      const c3 = await connectSse(`${stream}?since=${encodeURIComponent(missed[0])}`, f.auth(f.tokens.supervisor))
      t.teardown(() => c3.close())
      const fromSince = await c3.waitFor(3)
      t.same(
        fromSince.map((e) => e.id),
        [missed[1], missed[2], live],
      )
    })

    t.test('an event appended by another state instance (another process) reaches clients', async (t) => {
      const c = await connectSse(stream, f.auth(f.tokens.supervisor))
      t.teardown(() => c.close())
      await new Promise((r) => setTimeout(r, 50))
      const event = anomalyEvent('anomaly.opened', LICENCE_B, { type: 'TERMINAL_ALARM', evidence: { bits: [0] } })
      let id: string
      if (backend === 'servers') {
        // A real second OS process writing to the same Redis under the same prefix.
        const prefix = (f.state as RedisState).prefix
        const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/api/append-process.ts', REDIS_URL, prefix, JSON.stringify([event])], { timeout: 30_000 })
        id = stdout.trim()
      } else {
        // In-process state is one process by definition: a second handle on it.
        id = await f.newState().append(ANOMALY_EVENTS_STREAM, event)
      }
      const got = await c.waitFor(1, 10_000)
      t.equal(got[0].id, id)
      t.equal(JSON.parse(got[0].data).anomaly.type, 'TERMINAL_ALARM')
    })

    t.test('a client that stops reading is dropped; the others get everything', async (t) => {
      const fast = await connectSse(stream, f.auth(f.tokens.supervisor))
      t.teardown(() => fast.close())
      // A raw client that sends the request and never reads its socket.
      const slow = net.connect(Number(new URL(base).port), '127.0.0.1')
      await new Promise<void>((r) => slow.once('connect', () => r()))
      slow.write(`GET /api/v1/anomalies/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${f.tokens.supervisor}\r\nAccept: text/event-stream\r\n\r\n`)
      await new Promise((r) => setTimeout(r, 100))
      slow.pause()
      const slowClosed = new Promise<void>((r) => slow.once('close', () => r()))
      slow.on('error', () => undefined)
      t.teardown(() => slow.destroy())

      const big = 'x'.repeat(64 * 1024)
      const n = 400
      for (let i = 0; i < n; i++) await append(anomalyEvent('anomaly.updated', LICENCE_A, { evidence: { note: big, i } }))
      const got = await fast.waitFor(n, 20_000)
      t.equal(got.length, n, 'the reading client got every event')
      t.same(
        got.map((e) => JSON.parse(e.data).anomaly.evidence.i),
        Array.from({ length: n }, (_, i) => i),
      )
      const end = Date.now() + 5_000
      while (f.app.feed.stats.dropped < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      t.equal(f.app.feed.stats.dropped, 1, 'exactly the slow client was dropped')
      t.equal(f.app.feed.clientCount, 1, 'the reading client is still attached')
      // A paused socket notices the server's close only once it reads again.
      slow.resume()
      await Promise.race([slowClosed, new Promise((_, reject) => setTimeout(() => reject(new Error('slow client socket not closed by the server')), 5_000))])
      t.pass('the server closed the slow client’s connection')
      const metrics = await f.registry.metrics()
      t.match(metrics, /jt808_sse_dropped_total\{reason="(drain-timeout|queue-overflow)"\} [1-9]/)
    })

    t.test('closing the server ends the streams', async (t) => {
      const c = await connectSse(stream, f.auth(f.tokens.inspector))
      await new Promise((r) => setTimeout(r, 50))
      t.equal(f.app.feed.clientCount >= 1, true)
      await f.app.close()
      await c.closed
      t.pass('stream ended')
    })
  })
}
