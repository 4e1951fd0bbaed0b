/**
 * Text from terminals with NUL and other control characters (a plate "粤A1\0 2345", a
 * manufacturer, an IMEI, a driver's name): PostgreSQL and PGlite refuse U+0000, and the handler
 * used to fail with the terminal left unanswered. Every such text is stored with U+FFFD in place
 * of the character, and a handler that fails anyway still answers (0x8001 result 1).
 */
import t from 'tap'
import type { Store } from '../../src/store/port.js'
import { BACKENDS, connect, fixAt, newPhone, online, openBackends, provision, registerFields, startGateway } from './harness.js'

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const { store } = backends
    const gw = await startGateway(backends, { registrationMode: 'open' })
    t.teardown(() => gw.close())

    t.test('0x0100 with NUL in the plate and the manufacturer: registered, stored with U+FFFD', async (t) => {
      const phone = newPhone()
      const client = await connect(gw.port, phone, { version: 2019 })
      t.teardown(() => client.close())
      const plate = `粤A1\u0000${String(Date.now() % 10000).padStart(4, '0')}`
      const reg = await client.register({ ...registerFields(plate, 2, 2019), manufacturer: 'SI\u0000M', model: 'M\u0001X' })
      t.equal(reg.result, 0, '0x8100 result 0')
      const terminal = await store.getTerminal(phone)
      t.equal(terminal?.manufacturer, 'SI\ufffdM')
      t.equal(terminal?.model, 'M\ufffdX')
      const vehicle = terminal?.vehicleId ? await store.getVehicle(terminal.vehicleId) : null
      t.equal(vehicle?.plate, plate.replace('\u0000', '\ufffd'), 'the plate keeps its damage visible')
      // 2019 authentication carries the IMEI and firmware version as text
      const auth = await client.authenticate(reg.authCode!, { imei: '86000000000\u000012', softwareVersion: 'v1\u00002' })
      t.equal(auth, 0, 'authenticated')
      const after = await store.getTerminal(phone)
      t.equal(after?.imei, '86000000000\ufffd12')
      t.equal(after?.firmware, 'v1\ufffd2')
    })

    t.test('0x0702 with NUL in the driver name and issuer: stored and acknowledged', async (t) => {
      const v = await provision(store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const reply = await client.send(0x0702, {
        status: 1,
        time: '2024-05-06T08:30:00+08:00',
        readResult: 0,
        driverName: '张\u0000三',
        qualificationNo: '3701001980\u00000011',
        issuer: '济南\u0000市',
        validUntil: '2027-12-31',
      })
      t.equal((reply.body as { result: number }).result, 0)
    })

    t.test('0x0200 whose active-safety alarm flag has NUL in the terminal ID: stored and acknowledged', async (t) => {
      const v = await provision(store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const time = Math.floor(Date.now() / 1000) * 1000 - 60_000
      const loc = fixAt(time)
      ;(loc.extras as Record<string, unknown>).adas = {
        alarmId: 0x40,
        flagStatus: 1,
        alarmType: 1,
        alarmLevel: 2,
        frontSpeed: 10,
        frontDistance: 10,
        deviationType: 2,
        roadSignType: 1,
        roadSignData: 10,
        speed: 30,
        altitude: 100,
        latitude: 36.65,
        longitude: 117.12,
        time: '2020-07-07T19:23:59+08:00',
        vehicleStatus: 1,
        alarmFlag: { terminalId: 'ad\u0000as', time: '2020-08-27T11:11:11+08:00', serial: 1, attachmentCount: 1, reserved: 1 },
      }
      t.equal(await client.reportPosition(loc), 0, 'acknowledged')
      const [stored] = await store.track(v.vehicleId, time - 1000, time + 1000)
      t.match(stored?.extras, { adas: { alarmFlag: { terminalId: 'ad\ufffdas' } } })
    })

    t.test('a handler that fails still answers: 0x8001 result 1', async (t) => {
      const failing = new Proxy(store as Store, {
        get(target, prop, receiver) {
          if (prop === 'saveTerminal') return () => Promise.reject(new Error('refused by the test store'))
          const v = Reflect.get(target, prop, receiver) as unknown
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
        },
      })
      const other = await startGateway(backends, { registrationMode: 'open' }, { store: failing })
      t.teardown(() => other.close())
      const client = await connect(other.port, newPhone())
      t.teardown(() => client.close())
      const reg = await client.register(registerFields(`粤B${String(Date.now() % 100000).padStart(5, '0')}`))
      t.equal(reg.message.msgId, 0x8001, 'a general reply')
      t.equal(reg.result, 1, 'failure')
    })
  })
}
