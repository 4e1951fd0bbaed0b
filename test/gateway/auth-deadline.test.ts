/**
 * The authentication deadline: a connection that has not authenticated within
 * authDeadlineSeconds is closed however busily it talks (heartbeats and stray bytes reset only
 * the idle timeout), while an authenticated terminal on the same gateway stays.
 */
import t from 'tap'
import type { Store } from '../../src/store/port.js'
import { BACKENDS, connect, eventually, metricValue, online, openBackends, provision, registerFields, sleep, startGateway } from './harness.js'

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
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
        if (!chatty.isClosed)
          void chatty.heartbeat().then(
            (r) => heartbeats.push(r),
            () => undefined,
          )
        if (!trickle.isClosed) trickle.sendRaw(Buffer.from([0x30]))
      }, 150)
      t.teardown(() => clearInterval(talk))
      await eventually(() => chatty.isClosed && trickle.isClosed, 8000)
      const lasted = Date.now() - opened
      t.ok(lasted >= 900, `closed after the deadline, not before (${lasted} ms)`)
      t.ok(heartbeats.length >= 3 && heartbeats.every((r) => r === 0), `heartbeats were answered until then (${heartbeats.length})`)
      t.equal((await metricValue(gw.registry, 'jt808_connections_closed_total', { reason: 'auth_deadline' })) >= 2, true, 'counted by reason')
      // the authenticated terminal is past the deadline too, and still served
      await sleep(300)
      t.equal(authed.isClosed, false)
      t.equal(await authed.heartbeat(), 0)
    })

    t.test('a registration we are slow to handle is not cut off by the deadline', async (t) => {
      // the registry takes longer than the deadline to save the terminal, and to look it up when it
      // authenticates (a sweep runs meanwhile, the deadline long past): our delay, not the terminal's
      const slow = new Proxy(backends.store as Store, {
        get(target, prop, receiver) {
          if (prop === 'saveTerminal') return (...args: Parameters<Store['saveTerminal']>) => sleep(1600).then(() => target.saveTerminal(...args))
          if (prop === 'getTerminalsWithVehicles') return (phones: readonly string[]) => sleep(1600).then(() => target.getTerminalsWithVehicles(phones))
          const v = Reflect.get(target, prop, receiver) as unknown
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
        },
      })
      const other = await startGateway(backends, { authDeadlineSeconds: 1, idleTimeoutSeconds: 60 }, { store: slow })
      t.teardown(() => other.close())
      const v = await provision(backends.store)
      const client = await connect(other.port, v.phone)
      t.teardown(() => client.close())
      const reg = await client.register(registerFields(v.plate, v.plateColor))
      t.equal(reg.result, 0, 'registered after the deadline passed')
      // the terminal takes a moment of its own before it authenticates: the deadline is its time, not ours
      await sleep(500)
      t.equal(await client.authenticate(reg.authCode!), 0, 'and authenticated, however long the lookup took')
      await sleep(600)
      t.equal(client.isClosed, false, 'authenticated: the deadline no longer applies')
    })
  })
}
