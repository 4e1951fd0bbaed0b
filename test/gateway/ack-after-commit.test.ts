/**
 * The write path seen from the terminal, on both backends: the 0x8001 for a position is
 * written only after its batch committed (a store that fails first: no ack until the retry
 * committed; the terminal's retransmission is stored once), and reading stops while the
 * ingest queue is above its high-water mark. Alarm transitions follow the committed positions.
 */
import t from 'tap'
import type { Message } from '../../protocol/index.js'
import type { AlarmTransition } from '../../src/domain.js'
import type { Store } from '../../src/store/port.js'
import { BACKENDS, connect, eventually, fixAt, metricValue, online, openBackends, provision, sleep, startGateway } from './harness.js'

/** The real store, with insertPositions wrapped: `before` runs first and may throw or wait. */
function wrapInsert(store: Store, before: () => Promise<void>, after: () => void): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'insertPositions') {
        return async (batch: Parameters<Store['insertPositions']>[0]) => {
          await before()
          const r = await target.insertPositions(batch)
          after()
          return r
        }
      }
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

/** The real store; alarm transitions it stored are also pushed to `written`. */
function spyAlarmTransitions(store: Store, written: AlarmTransition[]): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'insertAlarmTransitions') {
        return async (rows: AlarmTransition[]) => {
          await target.insertAlarmTransitions(rows)
          written.push(...rows)
        }
      }
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())

    t.test('no ack until the batch commits; the retransmission is stored once', async (t) => {
      const log: string[] = []
      let failuresLeft = 2
      const flaky = wrapInsert(
        backends.store,
        async () => {
          if (failuresLeft-- > 0) {
            log.push('insert failed')
            throw Object.assign(new Error('connection terminated unexpectedly'), { code: '08006' })
          }
        },
        () => log.push('committed'),
      )
      const gw = await startGateway(backends, {}, { store: flaky })
      t.teardown(() => gw.close())
      const v = await provision(backends.store)
      const { client } = await online(gw.port, v, 2013, { onMessage: (m: Message) => m.msgId === 0x8001 && (m.body as { replyId: number }).replyId === 0x0200 && log.push('ack') })
      t.teardown(() => client.close())

      const { frame, serial } = client.encode(0x0200, fixAt(Date.now() - 10_000))
      const first = client.sendFrame(frame, 0x0200, serial)
      await eventually(() => log.includes('insert failed'))
      await sleep(50)
      t.notOk(log.includes('ack'), 'nothing acknowledged after a failed write')
      // The terminal's retransmission (same bytes) while the batch is still failing.
      const again = client.sendFrame(frame, 0x0200, serial)
      const replies = await Promise.all([first, again])
      t.same(
        replies.map((r) => (r.body as { result: number }).result),
        [0, 0],
        'both acknowledged in the end',
      )
      t.same(log.slice(0, 2), ['insert failed', 'insert failed'])
      t.ok(log.indexOf('committed') < log.indexOf('ack'), `ack only after commit: ${log.join(' → ')}`)
      t.equal(await backends.store.countPositions(v.vehicleId), 1, 'stored exactly once')
      t.ok((await metricValue(gw.registry, 'jt808_ingest_retries_total')) >= 2, 'retries counted')
    })

    t.test('alarm transitions are stored after commit and continue across reconnects', async (t) => {
      const written: AlarmTransition[] = []
      const spy = spyAlarmTransitions(backends.store, written)
      const gw = await startGateway(backends, {}, { store: spy })
      t.teardown(() => gw.close())
      const v = await provision(backends.store)
      const base = Math.floor(Date.now() / 1000) * 1000 - 60_000
      const first = await online(gw.port, v)
      t.equal(await first.client.reportPosition(fixAt(base, { alarm: 0 })), 0)
      t.equal(await first.client.reportPosition(fixAt(base + 1000, { alarm: 0b10 })), 0)
      t.equal(await first.client.reportPosition(fixAt(base + 2000, { alarm: 0b10 })), 0)
      await eventually(async () => (await gw.app.state.getLastPosition(v.vehicleId))?.deviceTime === base + 2000)
      await first.client.close()
      const again = await connect(gw.port, v.phone)
      t.teardown(() => again.close())
      t.equal(await again.authenticate(first.authCode), 0)
      t.equal(await again.reportPosition(fixAt(base + 3000, { alarm: 0b10 })), 0, 'still overspeeding after the reconnect: no new transition')
      t.equal(await again.reportPosition(fixAt(base + 4000, { alarm: 0 })), 0)
      await eventually(() => written.length >= 2)
      await sleep(600)
      t.same(
        written.map((r) => [r.vehicleId, r.deviceTime, r.raised, r.cleared, r.alarm]),
        [
          [v.vehicleId, base + 1000, 0b10, 0, 0b10],
          [v.vehicleId, base + 4000, 0, 0b10, 0],
        ],
      )
    })

    t.test('a report the queue refuses (overload) keeps its alarm transition for the retransmission', async (t) => {
      const written: AlarmTransition[] = []
      const spy = spyAlarmTransitions(backends.store, written)
      const gw = await startGateway(backends, {}, { store: spy })
      t.teardown(() => gw.close())
      // The queue refuses the next submission as an overloaded queue does: done(err), nothing stored.
      let refuseNext = false
      const ingest = gw.app.ingest
      const submit = ingest.submit.bind(ingest)
      ingest.submit = (rows, done) => {
        if (!refuseNext) return submit(rows, done)
        refuseNext = false
        done(new Error('ingest queue overloaded'))
      }
      const v = await provision(backends.store)
      const base = Math.floor(Date.now() / 1000) * 1000 - 60_000
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      t.equal(await client.reportPosition(fixAt(base, { alarm: 0 })), 0)
      refuseNext = true
      const { frame, serial } = client.encode(0x0200, fixAt(base + 1000, { alarm: 0b10 }))
      // The first transmission gets no answer; the client's wait is answered by the retransmission's ack.
      const answered = client.sendFrame(frame, 0x0200, serial)
      await eventually(() => !refuseNext)
      await sleep(100)
      client.sendRaw(frame)
      const reply = await answered
      t.equal((reply.body as { result: number }).result, 0, 'the retransmission is acknowledged')
      await eventually(() => written.length >= 1)
      t.same(
        written.map((r) => [r.deviceTime, r.raised, r.cleared, r.alarm]),
        [[base + 1000, 0b10, 0, 0b10]],
        'the transition is stored once, with the retransmitted report',
      )
      t.equal(await backends.store.countPositions(v.vehicleId), 2)
    })

    t.test('above the high-water mark sockets stop reading; they resume on drain', async (t) => {
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      const held = wrapInsert(
        backends.store,
        () => gate,
        () => undefined,
      )
      const gw = await startGateway(backends, { ingestHighWater: 10, ingestBatchRows: 5, ingestBatchMs: 1, idleTimeoutSeconds: 1 }, { store: held })
      t.teardown(() => gw.close())
      const v = await provision(backends.store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const base = Date.now() - 3_600_000
      const sends: Promise<Message>[] = []
      let maxQueued = 0
      for (let i = 0; i < 60; i++) {
        const { frame, serial } = client.encode(0x0200, fixAt(base + i * 1000))
        sends.push(client.sendFrame(frame, 0x0200, serial, 20_000))
        await sleep(3)
        maxQueued = Math.max(maxQueued, gw.app.ingest.queuedRows)
      }
      // Held longer than the idle timeout: a terminal we stopped reading is not silent.
      await sleep(1500)
      maxQueued = Math.max(maxQueued, gw.app.ingest.queuedRows)
      t.equal(gw.app.gateway.stats().paused, true, 'the gateway reports backpressure')
      t.ok(maxQueued <= 15, `queue held near the high-water mark (max ${maxQueued} queued of 60 sent)`)
      t.ok((await metricValue(gw.registry, 'jt808_ingest_pressure_pauses_total')) >= 1)
      release()
      const replies = await Promise.all(sends)
      t.ok(
        replies.every((r) => (r.body as { result: number }).result === 0),
        'every position acknowledged after the drain',
      )
      t.equal(await backends.store.countPositions(v.vehicleId), 60, 'and stored')
      t.equal(gw.app.gateway.stats().paused, false)
      t.equal(client.isClosed, false, 'the paused terminal was not taken for idle')
    })
  })
}
