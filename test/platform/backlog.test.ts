/**
 * A superior that is down, comes back, goes down again and returns: the lower instance's backlog
 * goes up as 0x1203 after each reconnection and nothing is lost (the forwarding position is durable);
 * anomalies (0x1402) and waybills (0x120D) committed meanwhile go up from the durable outbox, once.
 */
import t from 'tap'
import type { Anomaly } from '../../src/domain.js'
import { newWaybill, parseWaybill, type WaybillInput } from '../../src/domain.js'
import { eventually, fixAt, online, openBackends, provision } from '../gateway/harness.js'
import { freePort, LICENCE, lower, upper, waybill } from './helpers.js'

// two gateway instances (each with its own embedded database) per case: more than the default 120 s on a loaded machine
t.setTimeout(300_000)

t.test('a superior that is down, comes back, goes down again and returns: the backlog goes up as 0x1203, nothing is lost', async (t) => {
  const combo = { edition: 2011 as const, encryption: null }
  const bU = await openBackends('embedded')
  t.teardown(() => bU.close())
  const bL = await openBackends('embedded')
  t.teardown(() => bL.close())
  const port = await freePort()
  const l = await lower(t, bL, combo, port)
  const vehicle = await provision(bL.store)
  await bU.store.upsertVehicles([{ plate: vehicle.plate, plateColor: vehicle.plateColor, enterpriseLicenseNo: LICENCE }])
  const inU = (await bU.store.findVehicle(vehicle.plate, vehicle.plateColor))!
  const { client } = await online(l.port, vehicle)
  t.teardown(() => client.close())
  const start = Date.now() - 60 * 60_000
  let n = 0
  const report = async (count: number) => {
    for (let i = 0; i < count; i++, n++) t.equal(await client.reportPosition(fixAt(start + n * 10_000, { speed: 50 })), 0)
  }

  const anomaly = (type: Anomaly['type'], at: number): Anomaly => ({
    id: `${type}:${vehicle.vehicleId}:${at}`,
    type,
    status: 'open',
    severity: 'warning',
    vehicleId: vehicle.vehicleId,
    plate: vehicle.plate,
    plateColor: vehicle.plateColor,
    waybillNo: null,
    enterpriseLicenseNo: LICENCE,
    startedAt: at,
    endedAt: null,
    lastSeenAt: at,
    evidence: {},
  })
  const fromL = async (warnType: number) =>
    (await bU.store.listAnomalies({ type: 'TERMINAL_ALARM' })).items.filter((a) => a.vehicleId === inU.id && a.evidence.source === 'platform' && a.evidence.warnType === warnType)
  const parsed = parseWaybill(waybill('YD-OUTAGE-1', vehicle.plate))
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  const input: WaybillInput = parsed.value

  await report(10)
  t.equal(l.app.platforms.states().superior[0]?.state === 'live', false, 'no superior yet')
  await eventually(() => l.app.platforms.states().superior[0]!.backlogRows === 10, 5_000)
  t.pass('backlog counted while the superior is unreachable')
  // judged and written while the superior is down: an overspeed and a waybill
  await bL.store.upsertAnomalies([anomaly('OVERSPEED', start + 30_000)])
  await bL.store.insertWaybill(newWaybill(input, Date.now(), 'test', 'dispatched'))

  let u = await upper(t, bU, combo, port)
  await eventually(async () => (await bU.store.countPositions(inU.id)) === 10, 30_000, 100)
  t.pass('the backlog arrived after the superior came back')
  const first = await bU.store.track(inU.id, start, start + 3_600_000)
  t.same(new Set(first.map((p) => p.sourceMsgId)), new Set([0x1203]), 'as 0x1203 history')
  await eventually(() => l.app.platforms.states().superior[0]?.state === 'live', 5_000)
  t.equal(l.app.platforms.states().superior[0]!.backlogRows, 0)

  const speeding = await eventually(async () => (await fromL(0x0001))[0], 15_000, 100)
  t.equal(speeding.startedAt, Math.floor((start + 30_000) / 1000) * 1000, 'the overspeed judged during the outage arrived as 0x1402 WARN_TYPE 0x0001')
  const arrived = await eventually(async () => bU.store.getWaybill('YD-OUTAGE-1'), 10_000, 100)
  t.same([arrived.status, arrived.plate, arrived.carrierLicenseNo], ['dispatched', vehicle.plate, LICENCE], 'the waybill written during the outage arrived as 0x120D')
  await eventually(() => l.app.platforms.states().superior[0]!.outboxPending === 0, 10_000)
  t.pass('the outbox is confirmed by the next answered link test')

  await report(5)
  await eventually(async () => (await bU.store.countPositions(inU.id)) === 15, 10_000, 50)
  t.pass('live again: 0x1202')

  // down again; what is committed meanwhile waits in the database
  await u.close()
  await eventually(() => l.app.platforms.states().superior[0]?.state !== 'live', 10_000)
  await report(10)
  await bL.store.upsertAnomalies([anomaly('DAILY_DRIVING_EXCEEDED', start + 60_000)])
  await bL.store.upsertWaybills([{ ...input, driverPhone: '13900000009' }], { at: Date.now() })
  u = await upper(t, bU, combo, port)
  await eventually(async () => (await bU.store.countPositions(inU.id)) === 25, 30_000, 100)
  t.pass('nothing lost across the second outage')
  await eventually(async () => (await fromL(0x000d)).length === 1, 15_000, 100)
  t.pass('the anomaly judged during the second outage arrived (DAILY_DRIVING_EXCEEDED → 0x000D)')
  await eventually(async () => (await bU.store.getWaybill('YD-OUTAGE-1'))?.driverPhone === '13900000009', 10_000, 100)
  t.pass('the waybill changed during the second outage went up again')
  await eventually(() => l.app.platforms.states().superior[0]!.outboxPending === 0, 10_000)
  t.equal((await fromL(0x0001)).length, 1, 'the first overspeed is there once')
  const late = await (await fetch(`http://127.0.0.1:${u.app.http.port}/metrics`)).text()
  t.match(late, /jt808_platform_late_positions_total\{link="1001"\} [1-9]/, 'late arrivals counted per link')
  const cursor = await bL.store.getForwardCursor(l.app.platforms.states().superior[0]!.platformId)
  t.ok(cursor && cursor.receivedAt > start, 'the forwarding position is durable in the database')
})
