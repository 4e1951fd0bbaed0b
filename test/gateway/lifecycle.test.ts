/**
 * Terminal lifecycle over real TCP, on both backends (PGlite + in-process state, PostgreSQL +
 * Redis): register → authenticate → heartbeat → positions → deregister for 2013 and 2019,
 * wrong auth code, unknown vehicle, open enrolment, refusal before authentication.
 */
import t from 'tap'
import { verifyAuthCode } from '../../src/gateway/index.js'
import { resultOf } from '../../src/terminal/client.js'
import { BACKENDS, connect, eventually, fixAt, metricValue, newPhone, newPlate, online, openBackends, provision, registerFields, startGateway } from './harness.js'

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const gw = await startGateway(backends, { authFailuresBeforeClose: 2 })
    t.teardown(() => gw.close())
    const { store } = backends

    for (const version of [2013, 2019] as const) {
      t.test(`register → auth → heartbeat → positions → deregister (${version})`, async (t) => {
        const v = await provision(store)
        const sessions: string[] = []
        const onSession = (e: { kind: string; phone: string }) => e.phone === v.phone && sessions.push(e.kind)
        gw.app.gateway.on('session', onSession)
        t.teardown(() => void gw.app.gateway.off('session', onSession))

        const client = await connect(gw.port, version === 2019 ? v.phone.padStart(20, '0') : v.phone.padStart(12, '0'), { version })
        t.teardown(() => client.close())
        const reg = await client.register(registerFields(v.plate, v.plateColor, version))
        t.equal(reg.result, 0, '0x8100 result 0')
        t.equal(reg.message.msgId, 0x8100)
        t.equal(reg.message.version, version, 'answered in the terminal own version')
        t.match(reg.authCode, /^[A-Za-z0-9_-]{16}$/, 'a random auth code')

        const terminal = await store.getTerminal(v.phone)
        t.ok(terminal, 'terminal row saved under the canonical phone')
        t.not(terminal!.authCodeHash, reg.authCode, 'the code is not stored in clear')
        t.ok(verifyAuthCode(reg.authCode!, terminal!.authCodeHash), 'the stored hash verifies the code')
        t.equal(terminal!.vehicleId, v.vehicleId)

        const imei = '86' + v.phone.slice(-11).padStart(13, '0')
        t.equal(await client.authenticate(reg.authCode!, { imei, softwareVersion: 'FW-2.1.7' }), 0, 'authenticated')
        await eventually(async () => (await backends.store.getTerminal(v.phone))?.protocolVersion === version)
        if (version === 2019) {
          const after = await store.getTerminal(v.phone)
          t.equal(after!.imei, imei, '2019 IMEI recorded')
          t.equal(after!.firmware, 'FW-2.1.7', '2019 firmware recorded')
        }
        await eventually(async () => (await backends.newState().getSession(v.phone))?.nodeId === gw.app.config.nodeId)
        t.ok(gw.app.gateway.isConnected(v.phone), 'session held by this gateway')

        t.equal(await client.heartbeat(), 0, 'heartbeat answered')

        const base = Math.floor(Date.now() / 1000) * 1000 - 60_000
        const results = await Promise.all([0, 1, 2].map((i) => client.reportPosition(fixAt(base + i * 10_000, { speed: 30 + i }))))
        t.same(results, [0, 0, 0], 'every position acknowledged')
        t.equal(await store.countPositions(v.vehicleId), 3, 'and stored')
        const track = await store.track(v.vehicleId, base - 1, base + 60_000)
        t.same(
          track.map((p) => [p.deviceTime, p.speed, p.sourceMsgId, p.blindArea]),
          [
            [base, 30, 0x0200, false],
            [base + 10_000, 31, 0x0200, false],
            [base + 20_000, 32, 0x0200, false],
          ],
        )

        // a retransmission (same device time) is acknowledged and stored once
        t.equal(await client.reportPosition(fixAt(base, { speed: 30 })), 0)
        t.equal(await store.countPositions(v.vehicleId), 3, 'retransmission stored once')

        // 0x0704 blind-area batch
        const batch = { type: 1, items: [fixAt(base - 120_000), fixAt(base - 110_000)] }
        t.equal(resultOf(await client.send(0x0704, batch)), 0, '0x0704 acknowledged')
        const blind = await store.track(v.vehicleId, base - 130_000, base - 100_000)
        t.same(
          blind.map((p) => [p.sourceMsgId, p.blindArea]),
          [
            [0x0704, true],
            [0x0704, true],
          ],
          'blind-area items stored as such',
        )

        t.equal(await client.logout(), 0, 'deregistration answered')
        await eventually(() => client.isClosed)
        t.equal((await store.getTerminal(v.phone))!.authCodeHash, null, 'the auth code is revoked by 0x0003')
        await eventually(() => sessions.includes('offline'))
        t.same(sessions, ['online', 'offline'])
        t.equal(await backends.newState().getSession(v.phone), null, 'session removed')
      })
    }

    t.test('positions sent right before 0x0003 still get their acks (after commit) before the close', async (t) => {
      const v = await provision(store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const base = Date.now() - 60_000
      // No waiting between the messages: the deregistration arrives while the positions are being committed.
      const acks = [0, 1, 2].map((i) => client.reportPosition(fixAt(base + i * 1000)))
      const logout = client.logout()
      t.same(await Promise.all(acks), [0, 0, 0], 'every position acknowledged')
      t.equal(await logout, 0, 'deregistration answered')
      await eventually(() => client.isClosed)
      t.equal(await store.countPositions(v.vehicleId), 3, 'and stored')
    })

    t.test('an authenticated connection cannot authenticate again as another terminal', async (t) => {
      const a = await provision(store)
      const b = await provision(store)
      const first = await online(gw.port, a)
      t.teardown(() => first.client.close())
      const other = await online(gw.port, b)
      await other.client.close()
      // a's connection presents b's phone and b's valid code
      const asB = await connect(gw.port, b.phone)
      const frame = asB.encode(0x0102, { authCode: other.authCode })
      await asB.close()
      const reply = await first.client.sendFrame(frame.frame, 0x0102, frame.serial)
      t.equal((reply.body as { result: number }).result, 1, 'refused')
      await eventually(() => !gw.app.gateway.isConnected(b.phone))
      t.ok(gw.app.gateway.isConnected(a.phone), 'the connection stays the first terminal')
    })

    t.test('wrong auth code: 0x8001 result 1, closed after the configured failures', async (t) => {
      const v = await provision(store)
      const client = await connect(gw.port, v.phone)
      t.teardown(() => client.close())
      const reg = await client.register(registerFields(v.plate))
      t.equal(reg.result, 0)
      const before = await metricValue(gw.registry, 'jt808_auth_failures_total')
      t.equal(await client.authenticate('not-the-code'), 1, 'first failure answered 1')
      t.equal(client.isClosed, false, 'still open after one failure')
      t.equal(await client.authenticate('still-wrong'), 1, 'second failure answered 1')
      await eventually(() => client.isClosed)
      t.equal((await metricValue(gw.registry, 'jt808_auth_failures_total')) - before, 2, 'failures counted')
      t.notOk(gw.app.gateway.isConnected(v.phone))
    })

    t.test('registry mode: unknown vehicle → 2, vehicle of another terminal → 1, unknown terminal → 4', async (t) => {
      const client = await connect(gw.port, newPhone())
      t.teardown(() => client.close())
      t.equal((await client.register(registerFields(newPlate()))).result, 2, 'no such vehicle')

      const taken = await provision(store)
      t.equal((await client.register(registerFields(taken.plate))).result, 1, 'vehicle bound to another terminal')

      const [unbound] = await store.upsertVehicles([{ plate: newPlate(), plateColor: 2 }])
      const vehicle = await store.getVehicle(unbound)
      t.equal((await client.register(registerFields(vehicle!.plate))).result, 4, 'terminal unknown to the registry')

      // the registry knows the terminal id: a registration with a blank or another id → 4
      const withId = await provision(store, { terminalId: 'T777777' })
      const c3 = await connect(gw.port, withId.phone)
      t.teardown(() => c3.close())
      t.equal((await c3.register({ ...registerFields(withId.plate), terminalId: '' })).result, 4, 'blank terminal id refused')
      t.equal((await c3.register({ ...registerFields(withId.plate), terminalId: 'T000009' })).result, 4, 'another terminal id refused')
      t.equal((await c3.register({ ...registerFields(withId.plate), terminalId: 'T777777' })).result, 0, 'the registered id accepted')

      // terminal already registered to another vehicle → 3
      const mine = await provision(store)
      const other = await provision(store)
      const c2 = await connect(gw.port, mine.phone)
      t.teardown(() => c2.close())
      t.equal((await c2.register(registerFields(mine.plate))).result, 0)
      await store.upsertVehicles([{ plate: other.plate, plateColor: 2, terminalPhone: null }])
      t.equal((await c2.register(registerFields(other.plate))).result, 3, 'terminal already registered')
    })

    t.test('before authentication: only 0x0100/0x0102/0x0002/0x0003; a position is refused and not stored', async (t) => {
      const v = await provision(store)
      const client = await connect(gw.port, v.phone)
      t.teardown(() => client.close())
      t.equal(await client.heartbeat(), 0, 'heartbeat answered before auth')
      const before = await metricValue(gw.registry, 'jt808_refused_before_auth_total')
      t.equal(await client.reportPosition(fixAt(Date.now() - 5000)), 1, 'position refused with result 1')
      t.equal(resultOf(await client.send(0x0704, { type: 0, items: [fixAt(Date.now() - 4000)] })), 1, 'batch refused')
      t.equal((await metricValue(gw.registry, 'jt808_refused_before_auth_total')) - before, 2, 'refusals counted')
      t.equal(await store.countPositions(v.vehicleId), 0, 'nothing stored')
      // authenticating afterwards works on the same connection
      const reg = await client.register(registerFields(v.plate))
      t.equal(await client.authenticate(reg.authCode!), 0)
      t.equal(await client.reportPosition(fixAt(Date.now() - 3000)), 0)
      t.equal(await store.countPositions(v.vehicleId), 1)
    })

    t.test('open mode enrols an unknown terminal and vehicle', async (t) => {
      const open = await startGateway(backends, { registrationMode: 'open' })
      t.teardown(() => open.close())
      const phone = newPhone()
      const plate = newPlate()
      const { client } = await online(open.port, { phone, plate, plateColor: 1 })
      t.teardown(() => client.close())
      const vehicle = await store.findVehicle(plate, 1)
      t.ok(vehicle, 'vehicle enrolled')
      t.equal(vehicle!.terminalPhone, phone)
      t.equal(await client.reportPosition(fixAt(Date.now() - 1000)), 0)
      t.equal(await store.countPositions(vehicle!.id), 1)
    })

    t.test('open mode: a plate spelled differently (lower case, spaced) binds the registered vehicle, no second one', async (t) => {
      const open = await startGateway(backends, { registrationMode: 'open' })
      t.teardown(() => open.close())
      const plate = newPlate()
      const [id] = await store.upsertVehicles([{ plate, plateColor: 2 }])
      const phone = newPhone()
      const spelled = `${plate.slice(0, 2).toLowerCase()} ${plate.slice(2)}`
      const { client } = await online(open.port, { phone, plate: spelled, plateColor: 2 })
      t.teardown(() => client.close())
      const all = await store.findVehiclesByPlate(plate)
      t.same(
        all.map((v) => [v.id, v.plate, v.terminalPhone]),
        [[id, plate, phone]],
        'the one vehicle, its display form kept, now bound',
      )
    })

    t.test('a retired vehicle: its terminal is refused (0x8001 result 1, counted; 0x8100 result 2 in either mode) until reinstated', async (t) => {
      const v = await provision(store)
      const reg = await (async () => {
        const c = await connect(gw.port, v.phone)
        try {
          return await c.register(registerFields(v.plate))
        } finally {
          await c.close()
        }
      })()
      t.equal(reg.result, 0)
      await store.setVehicleRetired(v.vehicleId, Date.now())
      const refusals = () => metricValue(gw.registry, 'jt808_auth_failures_total', { reason: 'vehicle_retired' })
      const before = await refusals()
      const client = await connect(gw.port, v.phone)
      t.teardown(() => client.close())
      t.equal(await client.authenticate(reg.authCode!), 1, 'authentication refused')
      t.equal((await refusals()) - before, 1, 'counted under reason vehicle_retired')
      t.notOk(gw.app.gateway.isConnected(v.phone))
      t.equal(await client.reportPosition(fixAt(Date.now() - 1000)), 1, 'and its positions refused')
      t.equal((await client.register(registerFields(v.plate))).result, 2, 'registration: no such vehicle (in service)')
      const open = await startGateway(backends, { registrationMode: 'open' })
      t.teardown(() => open.close())
      const other = await connect(open.port, newPhone())
      t.teardown(() => other.close())
      t.equal((await other.register(registerFields(v.plate.toLowerCase()))).result, 2, 'open mode does not enrol the retired plate again')
      t.equal((await store.findVehiclesByPlate(v.plate)).length, 1, 'nor a second vehicle for it')
      t.equal(await store.countPositions(v.vehicleId), 0, 'nothing stored')
      await store.setVehicleRetired(v.vehicleId, null)
      t.equal(await client.authenticate(reg.authCode!), 0, 'reinstated: the same code authenticates again')
    })

    t.test('retiring a vehicle through the API closes its terminal’s open connection, wherever it is held', async (t) => {
      const token = `jt808_review14-retire-${backend}-0123456789`
      const gwApi = await startGateway(backends, { bootstrapToken: token })
      t.teardown(() => gwApi.close())
      const v = await provision(store)
      // Held by the first gateway (gw); retired through the second one's API: the message goes to gw's node channel.
      const { client, authCode } = await online(gw.port, v)
      t.teardown(() => client.close())
      await eventually(async () => (await backends.newState().getSession(v.phone))?.nodeId === gw.app.config.nodeId)
      const res = await fetch(`http://127.0.0.1:${gwApi.app.http.port}/api/v1/vehicles/${encodeURIComponent(v.plate)}/retire`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
      t.equal(res.status, 200, await res.text())
      await eventually(() => client.isClosed)
      // the terminal may see the close before the gateway's own 'close' event has run
      await eventually(() => !gw.app.gateway.isConnected(v.phone))
      t.pass('the session is gone')
      const back = await connect(gw.port, v.phone)
      t.teardown(() => back.close())
      t.equal(await back.authenticate(authCode!), 1, 'and the terminal is refused when it comes back')
    })

    t.test('unsupported id → 0x8001 result 3; position without a valid time → result 2, counted, not stored', async (t) => {
      const v = await provision(store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const frames = (id: string) => metricValue(gw.registry, 'jt808_frames_total', { msg_id: id })
      const replies = (result: string) => metricValue(gw.registry, 'jt808_acks_total', { msg_id: '0x8001', result })
      const [other0, location0, unsupported0, messageError0] = [await frames('other'), await frames('0x0200'), await replies('3'), await replies('2')]
      t.equal(resultOf(await client.send(0x0f0f, { raw: '0102' })), 3, 'unsupported')
      const rejected = await metricValue(gw.registry, 'jt808_positions_rejected_total', { reason: 'no_device_time' })
      const bad = { ...fixAt(Date.now()), time: '991399999999' }
      t.equal(await client.reportPosition(bad), 2, 'no valid device time: message error')
      t.equal((await metricValue(gw.registry, 'jt808_positions_rejected_total', { reason: 'no_device_time' })) - rejected, 1, 'counted')
      // per-frame counters are added up at scrape time: each scrape sees every frame once
      t.equal((await frames('other')) - other0, 1, 'the unknown id counted as "other"')
      t.equal((await frames('0x0200')) - location0, 1, 'the report counted by id')
      t.equal((await replies('3')) - unsupported0, 1, '0x8001 result 3 counted')
      t.equal((await replies('2')) - messageError0, 1, '0x8001 result 2 counted')
      t.equal((await frames('0x0200')) - location0, 1, 'a second scrape adds nothing')
      t.equal(await store.countPositions(v.vehicleId), 0, 'not stored')
    })
  })
}
