/**
 * The authentication deadline: a connection that has not authenticated within
 * authDeadlineSeconds is closed however busily it talks (heartbeats and stray bytes reset only
 * the idle timeout), while an authenticated terminal on the same gateway stays.
 */
import t from 'tap'
import { connect, eventually, metricValue, online, openBackends, provision, sleep, startGateway, VARIANTS } from './harness.js'

for (const variant of VARIANTS) {
  t.test(variant, async (t) => {
    const backends = await openBackends(variant)
    t.teardown(() => backends.close())
    // idle timeout far away: only the deadline can close the talkers
    const gw = await startGateway(backends, { authDeadlineSeconds: 1, idleTimeoutSeconds: 60 })
    t.teardown(() => gw.close())

    t.test('heartbeats and single bytes do not keep an unauthenticated connection open', async (t) => {
      const v = await provision(backends.store)
      const { client: authed } = await online(gw.port, v)
      t.teardown(() => authed.close())
      const chatty = await connect(gw.port, '13900000001')
      const trickle = await connect(gw.port, '13900000002')
      t.teardown(() => Promise.all([chatty.close(), trickle.close()]))
      const opened = Date.now()
      const heartbeats: number[] = []
      const talk = setInterval(() => {
        if (!chatty.isClosed) void chatty.heartbeat().then((r) => heartbeats.push(r), () => undefined)
        if (!trickle.isClosed) trickle.sendRaw(Buffer.from([0x30]))
      }, 150)
      t.teardown(() => clearInterval(talk))
      await eventually(() => chatty.isClosed && trickle.isClosed, 8000)
      const lasted = Date.now() - opened
      t.ok(lasted >= 900, `closed after the deadline, not before (${lasted} ms)`)
      t.ok(heartbeats.length >= 3 && heartbeats.every((r) => r === 0), `heartbeats were answered until then (${heartbeats.length})`)
      t.equal(await metricValue(gw.registry, 'jt808_connections_closed_total', { reason: 'auth_deadline' }) >= 2, true, 'counted by reason')
      // the authenticated terminal is past the deadline too, and still served
      await sleep(300)
      t.equal(authed.isClosed, false)
      t.equal(await authed.heartbeat(), 0)
    })
  })
}
