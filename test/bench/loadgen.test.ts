/**
 * The benchmarks' load generator must send what it claims: valid registrations, authentications
 * and reports that a real gateway stores, and count exactly the acknowledgements it gets back.
 */
import t from 'tap'
import { runLoadgen } from '../../bench/loadgen.js'
import { eventually, openBackends, sleep, startGateway } from '../gateway/harness.js'

for (const batch of [1, 5]) {
  t.test(`loadgen ${batch === 1 ? '0x0200' : `0x0704 of ${batch}`}: every report stored once and acknowledged`, async (t) => {
    const backends = await openBackends('embedded')
    const gw = await startGateway(backends, { registrationMode: 'open' })
    t.teardown(async () => {
      await gw.close()
      await backends.close()
    })
    const gen = runLoadgen({ host: '127.0.0.1', port: gw.port, first: 40 + batch, terminals: 4, intervalMs: 100, seconds: 2, batch, overspeedEvery: 2, holdUntilGo: true })
    await eventually(() => gen.online() === 4 || null, 10_000)
    t.equal(await backends.store.countPositions(), 0, 'nothing is reported before go()')
    gen.go()
    await sleep(800)
    gen.mark()
    await sleep(400)
    gen.mark()
    await gen.stop()
    const r = gen.report()
    t.equal(r.authenticated, 4)
    t.ok(r.sent >= 4 * batch * 8, `sent ${r.sent} positions`)
    t.equal(r.sent % batch, 0)
    t.equal(r.acked, r.sent, 'every report answered')
    t.equal(r.refused, 0)
    t.equal(r.unanswered, 0)
    t.ok(r.window.count > 0 && r.window.count < r.sent / batch, 'the window holds only the answers between the marks')
    t.equal(await backends.store.countPositions(), r.sent, 'each position stored exactly once')
    const speeds = new Set<number>()
    for (const v of await backends.store.listVehicles()) for (const p of await backends.store.track(v.id, 0, Date.now() + 86_400_000)) speeds.add(Math.round(p.speed))
    t.ok(speeds.has(95), 'every other terminal speeds (95 km/h)')
  })
}
