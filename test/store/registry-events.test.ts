/**
 * Registry, terminal events, the raw-frame archive export and the offline command queue on
 * every backend.
 */
import t from 'tap'
import type { RawFrame } from '../../src/domain.js'
import { openTestStore, STORE_BACKENDS } from './helpers.js'

const NOW = Date.parse('2026-04-01T08:00:00Z')

for (const backend of STORE_BACKENDS) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend, undefined, { now: () => NOW })

    t.test('vehicles and terminals', async (t) => {
      const [a, b] = await store.upsertVehicles([
        { plate: '浙A12345', plateColor: 2, enterpriseLicenseNo: '330100000001', businessScope: ['2.1', '3'], transportCertValidUntil: '2027-12-31' },
        { plate: '浙A12345', plateColor: 1 },
      ])
      t.not(a, b, 'plate colour is part of the identity')
      const va = await store.getVehicle(a!)
      t.same(va, {
        id: a,
        plate: '浙A12345',
        plateColor: 2,
        terminalPhone: null,
        terminalId: null,
        enterpriseLicenseNo: '330100000001',
        enterpriseName: null,
        transportCertNo: null,
        transportCertValidUntil: '2027-12-31',
        businessScope: ['2.1', '3'],
        retiredAt: null,
      })
      // An update that names only some fields keeps the others.
      const [again] = await store.upsertVehicles([{ plate: '浙A12345', plateColor: 2, enterpriseName: '杭州危运' }])
      t.equal(again, a, 'upsert by plate and colour returns the same id')
      const updated = await store.findVehicle('浙A12345', 2)
      t.equal(updated?.enterpriseName, '杭州危运')
      t.same(updated?.businessScope, ['2.1', '3'], 'fields not given are kept')
      t.equal(await store.getVehicle(999_999), null)
      t.same(
        (await store.listVehicles({ enterpriseLicenseNo: '330100000001' })).map((v) => v.id),
        [a],
      )
      t.equal((await store.listVehicles()).length, 2)

      // Declared binding (registry import), then the terminal's own registration moves it.
      await store.upsertVehicles([{ plate: '浙B00001', plateColor: 2, terminalPhone: '013300000001', terminalId: 'T1' }])
      t.equal((await store.findVehicleByTerminal('013300000001'))?.plate, '浙B00001', 'found by the declared phone')
      const terminal = {
        phone: '013300000001',
        terminalId: 'T1',
        vehicleId: a!,
        authCodeHash: 'scrypt$x',
        protocolVersion: 1,
        manufacturer: 'M1',
        model: 'X9',
        imei: null,
        firmware: null,
        registeredAt: NOW,
      }
      await store.saveTerminal(terminal)
      t.same(await store.getTerminal('013300000001'), terminal)
      const bound = await store.findVehicleByTerminal('013300000001')
      t.equal(bound?.id, a, "the terminal's registration wins")
      t.equal(bound?.terminalPhone, '013300000001')
      t.equal((await store.findVehicle('浙B00001', 2))?.terminalPhone, null, 'the vehicle it left no longer claims it')
      await store.saveTerminal({ ...terminal, imei: '860000000000001', firmware: '1.2' })
      t.equal((await store.getTerminal('013300000001'))?.imei, '860000000000001', 'saveTerminal replaces')
      t.equal(await store.getTerminal('000000000000'), null)

      // authentication's one query for many terminals: each with its vehicle, equal to the two lookups
      await store.saveTerminal({ ...terminal, phone: '013300000009', vehicleId: null })
      const found = await store.getTerminalsWithVehicles(['013300000001', '000000000000', '013300000009', '013300000001'])
      t.same([...found.keys()].sort(), ['013300000001', '013300000009'], 'unknown phones are absent, repeated ones once')
      t.same(found.get('013300000001'), { terminal: await store.getTerminal('013300000001'), vehicle: await store.getVehicle(a!) })
      t.same(found.get('013300000009'), { terminal: { ...terminal, phone: '013300000009', vehicleId: null }, vehicle: null }, 'an unbound terminal')
      t.equal((await store.getTerminalsWithVehicles([])).size, 0)
    })

    t.test('events', async (t) => {
      await store.insertAlarmTransitions([{ vehicleId: 1, deviceTime: NOW, raised: 0x80000000, cleared: 1, alarm: 0x80000002 }])
      await store.insertAlarmTransitions([{ vehicleId: 1, deviceTime: NOW, raised: 0x80000000, cleared: 1, alarm: 0x80000002 }])
      const { rows: alarms } = await store.sql.query<{ raised: number; alarm: number }>(`SELECT raised, alarm FROM alarm_transitions`)
      t.same(alarms, [{ raised: 0x80000000, alarm: 0x80000002 }], 'a retransmitted transition is stored once; DWORDs intact')

      const card = {
        vehicleId: 1,
        phone: '013300000001',
        status: 1,
        time: NOW,
        readResult: 0,
        driverName: '张三',
        qualificationNo: '330100199001011234',
        issuer: '杭州运管',
        validUntil: '2028-01-01',
        idNumber: null,
      }
      await store.insertDriverCardEvent(card)
      await store.insertDriverCardEvent(card)
      const { rows: cards } = await store.sql.query(`SELECT driver_name, status FROM driver_card_events`)
      t.same(cards, [{ driver_name: '张三', status: 1 }], 'driver card event stored once')

      await store.recordSessionEvents([{ phone: '013300000001', vehicleId: 1, nodeId: 'gw-1', address: '10.0.0.1:5000', kind: 'online', at: NOW }])
      const { rows: sessions } = await store.sql.query(`SELECT kind, node_id, reason FROM sessions`)
      t.same(sessions, [{ kind: 'online', node_id: 'gw-1', reason: null }])
      // a batch in one statement, nulls kept, order of the input
      await store.recordSessionEvents([
        { phone: '013300000002', vehicleId: null, nodeId: 'gw-1', address: '10.0.0.2:5000', kind: 'online', at: NOW + 1000 },
        { phone: '013300000002', vehicleId: null, nodeId: 'gw-1', address: '10.0.0.2:5000', kind: 'offline', at: NOW + 2000, reason: 'idle' },
      ])
      await store.recordSessionEvents([])
      const { rows: batch } = await store.sql.query(`SELECT phone, vehicle_id, kind, reason, at = $1::timestamptz AS at_ok FROM sessions WHERE phone = '013300000002' ORDER BY id`, [
        new Date(NOW + 1000).toISOString(),
      ])
      t.same(batch, [
        { phone: '013300000002', vehicle_id: null, kind: 'online', reason: null, at_ok: true },
        { phone: '013300000002', vehicle_id: null, kind: 'offline', reason: 'idle', at_ok: false },
      ])

      const media = { phone: '013300000001', vehicleId: 1, mediaId: 7, type: 0, format: 0, event: 1, channel: 1, location: { lat: 30.1 }, data: Buffer.from([0xff, 0xd8, 0, 0x7e]), receivedAt: NOW }
      await store.insertMedia(media)
      await store.insertMedia({ ...media, data: Buffer.from([1]) })
      const { rows: stored } = await store.sql.query<{ data: Buffer; location: unknown }>(`SELECT data, location FROM media`)
      t.equal(stored.length, 1, 'a re-sent media id is stored once')
      t.ok(Buffer.isBuffer(stored[0]!.data) && stored[0]!.data.equals(media.data), 'bytea comes back as the same Buffer')
      t.same(stored[0]!.location, { lat: 30.1 })

      // findMedia: the photo a terminal uploaded after a 0x8801 (lower role's 0x9502)
      await store.insertMedia({ ...media, mediaId: 8, type: 2, receivedAt: NOW + 10 })
      await store.insertMedia({ ...media, mediaId: 9, receivedAt: NOW + 20 })
      t.same(
        await store.findMedia(['013300000001'], NOW + 1, null).then((m) => m && [m.mediaId, m.data.toString('hex'), m.receivedAt]),
        [9, 'ffd8007e', NOW + 20],
        'the first image since then (audio and older ones skipped)',
      )
      t.equal((await store.findMedia(['013300000001'], NOW, [9]))?.mediaId, 9, 'by media id')
      t.equal(await store.findMedia(['013300000001'], NOW, [10]), null, 'an id not uploaded yet')
      t.equal(await store.findMedia(['13300000001'], NOW, null), null, 'another spelling of the phone is another phone')
      t.match(await store.findMedia(['x', '013300000001'], NOW, [7]), { phone: '013300000001', vehicleId: 1, type: 0, format: 0, event: 1, channel: 1, location: { lat: 30.1 } })
    })

    t.test('raw-frame export pages through ties in receive time', async (t) => {
      const frames: RawFrame[] = []
      // 2600 frames; groups of 3 share a receive time, so page boundaries (1000) fall inside groups.
      for (let i = 0; i < 2600; i++) {
        frames.push({ phone: '013300000002', receivedAt: NOW + Math.floor(i / 3) * 10, connection: `127.0.0.1:${40000 + (i % 3)}`, frame: Buffer.from([0x7e, i & 0xff, i >> 8, 0x7e]) })
      }
      await store.archiveFrames(frames)
      await store.archiveFrames([{ phone: '013300000003', receivedAt: NOW, connection: 'x', frame: Buffer.from([0x7e, 0x7e]) }])
      const out: RawFrame[] = []
      for await (const f of store.exportFrames('013300000002', NOW, NOW + 60_000)) out.push(f)
      t.equal(out.length, 2600, 'every frame exported once')
      t.ok(
        out.every((f, i) => i === 0 || f.receivedAt >= out[i - 1]!.receivedAt),
        'in receive order',
      )
      const key = (f: RawFrame) => `${f.receivedAt}/${f.connection}/${f.frame.toString('hex')}`
      t.same(new Set(out.map(key)), new Set(frames.map(key)), 'exactly the archived frames, bytes intact')
      const window: RawFrame[] = []
      for await (const f of store.exportFrames('013300000002', NOW + 100, NOW + 199)) window.push(f)
      t.equal(window.length, 30, 'the time window is inclusive at both ends')
    })

    t.test('offline command queue', async (t) => {
      await store.enqueueCommand({ id: 'b', phone: '013300000001', msgId: 0x8300, body: { text: 'b' }, createdAt: NOW + 2, expiresAt: NOW + 60_000 })
      await store.enqueueCommand({ id: 'a', phone: '013300000001', msgId: 0x8103, body: { params: [1] }, createdAt: NOW + 1, expiresAt: NOW + 60_000 })
      await store.enqueueCommand({ id: 'old', phone: '013300000001', msgId: 0x8300, body: null, createdAt: NOW, expiresAt: NOW + 10 })
      await store.enqueueCommand({ id: 'other', phone: '013300000009', msgId: 0x8300, body: null, createdAt: NOW, expiresAt: NOW + 60_000 })
      const taken = await store.takePendingCommands('013300000001', NOW + 1000)
      t.same(
        taken.map((c) => c.id),
        ['a', 'b'],
        'oldest first, expired left out',
      )
      t.same(taken[0]!.body, { params: [1] })
      t.same(await store.takePendingCommands('013300000001', NOW + 1000), [], 'taken once')
      t.equal((await store.takePendingCommands('013300000009', NOW)).length, 1, "other terminals' commands untouched")
    })
  })
}
