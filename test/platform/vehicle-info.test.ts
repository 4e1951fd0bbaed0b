/**
 * What JT/T 809 carries beyond positions, between two of our instances over loopback: L (lower
 * role: the vehicle's terminal talks 808 to it) forwards to U (upper role).
 *   0x1201  L registers each vehicle's terminal with its first position after login; U keeps it
 *   0x9601  U's supervisor asks for a vehicle's static information; L answers 0x1601 (CAR_INFO)
 *   0x1403 / 0x1412  an anomaly's handling ends on L (confirm / dismiss): its result goes up and
 *           U records it with the anomaly its 0x1402 became ("handled" as a rectify step)
 *   0x9402 / 0x9403  U's alarm notices reach L, which records them for the vehicle
 * 2011 and 2019 differ: 0x1201's field widths, 0x1403 (INFO_ID) vs 0x1412 (the report's MSG_SN),
 * the vehicle in the 0x9400 envelope or in the notice. Also, against U alone: a lower platform's
 * 2019 0x1403 forecast, a result naming no report, registration and static information of a
 * vehicle the platform may not report for.
 */
import t, { type Test } from 'tap'
import { eventually, fixAt, online, openBackends, provision } from '../gateway/harness.js'
import { newPlatform } from '../../src/platform/admin.js'
import { KEYS, LICENCE, lower, TOKEN, upper, type Combo } from './helpers.js'
import { RawPlatform } from './raw-platform.js'

const combos: Combo[] = [
  { edition: 2011, encryption: null, variant: 'embedded' },
  { edition: 2019, encryption: KEYS, variant: 'servers' },
]

type Json = Record<string, unknown> & { items?: Array<Record<string, unknown>> }

for (const combo of combos) {
  t.test(`${combo.edition}, ${combo.encryption ? 'encrypted' : 'plain'}, ${combo.variant}: registration, static information, handling results, alarm notices`, async (t) => {
    const bU = await openBackends(combo.variant)
    t.teardown(() => bU.close())
    const bL = await openBackends(combo.variant)
    t.teardown(() => bL.close())
    const u = await upper(t, bU, combo)
    const l = await lower(t, bL, combo, u.app.platforms.address()!.port)
    const vehicle = await provision(bL.store)
    await bL.store.upsertVehicles([{ plate: vehicle.plate, plateColor: vehicle.plateColor, transportCertNo: '370100123456', enterpriseName: '济南甲危货运输有限公司', businessScope: ['3', '2.1'] }])
    await bU.store.upsertVehicles([{ plate: vehicle.plate, plateColor: vehicle.plateColor, enterpriseLicenseNo: LICENCE }])
    await eventually(() => l.app.platforms.states().superior[0]?.state === 'live', 30_000)
    await eventually(() => u.app.platforms.states().lower[0], 30_000)
    const lowerId = (await bU.store.findLowerPlatform(1001))!.id

    const call =
      (port: number) =>
      async (path: string, init: { method?: string; body?: unknown; token?: string } = {}) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
          method: init.method ?? 'GET',
          headers: { authorization: `Bearer ${init.token ?? TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
          ...(init.body ? { body: JSON.stringify(init.body) } : {}),
        })
        return { status: r.status, json: (await r.json()) as Json }
      }
    const uapi = call(u.app.http.port)
    const lapi = call(l.app.http.port)
    const info = `/vehicles/${encodeURIComponent(vehicle.plate)}/platform-info?plateColor=${vehicle.plateColor}`

    // the terminal comes online on L and raises alarm bits 0 (emergency) and 1 (overspeed): L forwards
    // the positions (its first one with the vehicle's 0x1201) and the two TERMINAL_ALARM anomalies (0x1402)
    const { client } = await online(l.port, vehicle, combo.edition === 2019 ? 2019 : 2013)
    t.teardown(() => client.close())
    const t0 = Date.now() - 60_000
    for (let i = 0; i < 4; i++) t.equal(await client.reportPosition(fixAt(t0 + i * 10_000, { alarm: i === 0 ? 0 : 3 })), 0)

    // 0x1201: U shows the terminal L registered, each field as wide as the edition allows
    const reg = await eventually(async () => ((await uapi(info)).json.registrations as Array<Record<string, unknown>>)[0], 30_000, 100)
    t.match(
      reg,
      {
        platformId: lowerId,
        platformName: 'Enterprise platform A',
        platformCode: '1001',
        producerId: 'SIM01',
        model: combo.edition === 2019 ? 'JT808-2019-SIM' : 'JT808-SI',
        terminalId: 'T000001',
        simCode: vehicle.phone,
      },
      '0x1201: the terminal of our registry (2011: its 9-character model cut to MODEL_TYPE[8])',
    )
    t.equal(l.app.platforms.states().superior[0]?.registrationsOut, 1, 'once per vehicle and login')

    // 0x9601 → 0x1601: U's supervisor asks, L answers with CAR_INFO from its registry
    const asked = await uapi(`/platforms/${lowerId}/static-info-requests`, { method: 'POST', body: { plate: vehicle.plate, plateColor: vehicle.plateColor } })
    t.equal(asked.status, 202, JSON.stringify(asked.json))
    const answered = await eventually(async () => ((await uapi(info)).json.staticInfo as Array<Record<string, unknown>>).find((s) => s.carInfo !== null), 30_000, 100)
    t.match(
      answered.fields,
      { VIN: vehicle.plate, RTPN: '370100123456', OWERS_NAME: '济南甲危货运输有限公司', RTOLN: LICENCE, DG_TYPE: '3、2.1', VEHICLE_ORIG_ID: String(vehicle.vehicleId), TRANS_TYPE: '' },
      '0x1601: CAR_INFO in KEY:=value items, the standard’s keys',
    )
    t.match(answered, { platformId: lowerId, requestMsgSn: asked.json.msgSn, requestedBy: /^tok_bootstrap_/ })
    t.equal((await uapi(`/platforms/${lowerId}/static-info-requests`, { method: 'POST', body: { plate: '鲁Z99999', plateColor: 2 } })).status, 404, 'a vehicle the registry does not know')
    const other = await uapi('/tokens', { method: 'POST', body: { role: 'enterprise', enterpriseLicenseNo: '999999999999' } })
    t.equal((await uapi(info, { token: other.json.token as string })).status, 404, "another enterprise's vehicle looks absent")
    const own = await uapi('/tokens', { method: 'POST', body: { role: 'enterprise', enterpriseLicenseNo: LICENCE } })
    t.equal((await uapi(info, { token: own.json.token as string })).status, 200, 'its own enterprise sees it')
    t.equal((await uapi(`/platforms/${lowerId}/static-info-requests`, { method: 'POST', body: { plate: vehicle.plate, plateColor: 2 }, token: own.json.token as string })).status, 403)
    const audit = await uapi(`/audit?route=${encodeURIComponent('/api/v1/platforms/:id/static-info-requests')}`)
    t.ok(
      audit.json.items?.some((e) => e.target === `platform ${lowerId}` && e.status === 202),
      'the request is audited',
    )

    // handling ends on L: bit 0's anomaly confirmed (result 1), bit 1's dismissed (result 2)
    const mine = await eventually(async () => {
      const { items } = await bL.store.listAnomalies({ type: 'TERMINAL_ALARM' })
      const byBit = (b: number) => items.find((a) => a.evidence.bit === b)
      return byBit(0) && byBit(1) ? { emergency: byBit(0)!, overspeed: byBit(1)! } : null
    }, 10_000)
    const theirs = async (warnType: number) => (await bU.store.listAnomalies({ type: 'TERMINAL_ALARM' })).items.find((a) => a.evidence.source === 'platform' && a.evidence.warnType === warnType)
    const upEmergency = await eventually(() => theirs(0x0003), 30_000)
    const upOverspeed = await eventually(() => theirs(0x0001), 30_000)
    for (const action of ['notify', 'rectify', 'confirm']) {
      const r = await lapi(`/anomalies/${encodeURIComponent(mine.emergency.id)}/handling`, { method: 'POST', body: { action, note: `${action} on L` } })
      t.equal(r.status, 201, `${action}: ${JSON.stringify(r.json)}`)
    }
    t.equal((await lapi(`/anomalies/${encodeURIComponent(mine.overspeed.id)}/handling`, { method: 'POST', body: { action: 'dismiss' } })).status, 201)

    const resultOf = async (id: string) => (await uapi(`/anomalies/${encodeURIComponent(id)}`)).json
    const handled = await eventually(
      async () => {
        const a = await resultOf(upEmergency.id)
        return (a.platformResults as unknown[]).length ? a : null
      },
      15_000,
      100,
    )
    const msg = combo.edition === 2019 ? '0x1412' : '0x1403'
    t.match(handled.platformResults, [{ platformId: lowerId, dataType: msg, result: 1 }], `${msg} result 1 (handled) recorded with the anomaly its 0x1402 became`)
    t.match(
      (handled.handlingHistory as Array<Record<string, unknown>>).at(-1),
      { action: 'rectify', note: new RegExp(`Enterprise platform A \\(1001\\) reports the alarm handled \\(${msg} result 1\\)`) },
      'and entered its history as the rectification',
    )
    t.equal(handled.handling, 'rectify', 'the supervisor confirms it next')
    const dismissed = await eventually(
      async () => {
        const a = await resultOf(upOverspeed.id)
        return (a.platformResults as unknown[]).length ? a : null
      },
      15_000,
      100,
    )
    t.match(dismissed.platformResults, [{ dataType: msg, result: 2 }], 'a dismissal goes up as result 2 (not handled)')
    t.same(dismissed.handlingHistory, [], 'no step for it')
    await eventually(() => l.app.platforms.states().superior[0]?.outboxPending === 0, 30_000, 100)
    t.equal(l.app.platforms.states().superior[0]?.alarmResultsOut, 2, 'each result sent once')

    // 0x9402 / 0x9403 from U reach L: recorded as notices of the vehicle (the 2011 envelope names it, the 2019 body does)
    const warnTime = Math.floor(Date.now() / 1000) - 30
    for (const [dataType, content] of [
      [0x9402, '前方路段拥堵预警'],
      [0x9403, '车辆在外省超速'],
    ] as const) {
      const data =
        combo.edition === 2019
          ? { sourcePlatformId: '37000000001', warnType: 0x0001, warnTime, startTime: warnTime, endTime: 0, plate: vehicle.plate, plateColor: 2, destinationPlatformId: '', drvLineId: 0, content }
          : { warnSrc: 3, warnType: 0x0001, warnTime, content }
      const body = combo.edition === 2019 ? { dataType, data } : { plate: vehicle.plate, plateColor: 2, dataType, data }
      t.not(u.app.platforms.upper.send(lowerId, { msgId: 0x9400, body }), null)
    }
    const notices = await eventually(
      async () => {
        const n = (await lapi(info)).json.alarmNotices as Array<Record<string, unknown>>
        return n.length === 2 ? n : null
      },
      10_000,
      100,
    )
    // the two arrive back to back and are recorded concurrently: compared in a fixed order
    t.match(
      [...notices].sort((a, b) => String(b.dataType).localeCompare(String(a.dataType))),
      [
        { dataType: '0x9403', plate: vehicle.plate, warnType: 1, content: '车辆在外省超速', warnTime: new Date(warnTime * 1000).toISOString() },
        { dataType: '0x9402', content: '前方路段拥堵预警' },
      ],
      'both notices recorded for the vehicle on L',
    )
    t.equal(((await lapi('/platforms/alarm-notices')).json.items ?? []).length, 2, 'and in the supervisor’s list')
    const lm = await (await fetch(`http://127.0.0.1:${l.app.http.port}/metrics`)).text()
    t.match(lm, /jt808_platform_alarm_notices_in_total\{link="1001",type="0x9403"\} 1/)
    t.match(lm, /jt808_platform_alarm_results_out_total\{link="1001"\} 2/)
    const um = await (await fetch(`http://127.0.0.1:${u.app.http.port}/metrics`)).text()
    t.match(um, /jt808_platform_registrations_in_total\{link="1001",result="stored"\} 1/)
    t.match(um, /jt808_platform_static_info_in_total\{link="1001",result="stored"\} 1/)
    t.match(um, /jt808_platform_alarm_results_in_total\{link="1001",result="matched"\} 2/)

    if (combo.edition === 2019) await t.test('against U alone: a forecast, a result for no report, foreign vehicles', () => rawLower(t, bU, u.app.platforms.address()!.port, u.app.http.port))
  })
}

/** A hand-driven 2019 lower platform (1002) on U: what our own lower role never sends. */
async function rawLower(t: Test, bU: Awaited<ReturnType<typeof openBackends>>, port: number, http: number): Promise<void> {
  await bU.store.createPlatform(newPlatform({ role: 'lower', name: 'Raw platform', accessCode: 1002, userId: 78, password: 'pw2', edition: 2019, enterpriseLicences: [LICENCE] }), Date.now())
  const [own] = await bU.store.upsertVehicles([{ plate: '鲁A10020', plateColor: 2, enterpriseLicenseNo: LICENCE }])
  await bU.store.upsertVehicles([{ plate: '鲁A10021', plateColor: 2, enterpriseLicenseNo: '999999999999' }])
  const p = await RawPlatform.open(port, 1002, 2019)
  t.teardown(() => p.close())
  t.equal(await p.login(78, 'pw2'), 0)
  const raw = (await bU.store.findLowerPlatform(1002))!.id
  const now = Math.floor(Date.now() / 1000)
  p.send(0x1400, {
    dataType: 0x1403,
    data: { sourcePlatformId: '1002', warnType: 0x0002, warnTime: now, startTime: now, endTime: 0, plate: '鲁A10020', plateColor: 2, destinationPlatformId: '', drvLineId: 0, content: '疲劳驾驶预警' },
  })
  p.send(0x1400, { dataType: 0x1412, data: { sourceDataType: 0x1402, sourceMsgSn: 4242, result: 1 } })
  for (const plate of ['鲁A10020', '鲁A10021']) {
    p.send(0x1200, { plate, plateColor: 2, dataType: 0x1201, data: { platformId: '1002', producerId: 'P', model: 'M', imei: '860000000000001', terminalId: 'T', simCode: '13800000002' } })
    p.send(0x1600, { plate, plateColor: 2, dataType: 0x1601, data: { sourceDataType: 0x9601, sourceMsgSn: 0, carInfo: 'VIN:=x;RTPN:=y' } })
  }
  const notice = await eventually(async () => (await bU.store.listPlatformAlarmNotices({ platformId: raw }))[0], 30_000)
  t.match(notice, { dataType: 0x1403, vehicleId: own, enterpriseLicenseNo: LICENCE, warnType: 2, content: '疲劳驾驶预警' }, 'a 2019 0x1403 is a forecast: kept as a notice of the vehicle')
  const m = async () => (await fetch(`http://127.0.0.1:${http}/metrics`)).text()
  await eventually(async () => /jt808_platform_alarm_results_in_total\{link="1002",result="unmatched"\} 1/.test(await m()), 30_000)
  t.pass('a result naming no report of that platform is kept unmatched')
  await eventually(async () => /jt808_platform_static_info_in_total\{link="1002",result="foreign_enterprise"\} 1/.test(await m()), 30_000)
  const metrics = await m()
  t.match(metrics, /jt808_platform_registrations_in_total\{link="1002",result="foreign_enterprise"\} 1/, "another enterprise's vehicle: refused and counted")
  t.match(metrics, /jt808_platform_registrations_in_total\{link="1002",result="stored"\} 1/)
  const regs = await bU.store.listPlatformRegistrations(own!)
  t.match(regs, [{ platformId: raw, imei: '860000000000001', simCode: '13800000002' }], '2019: the IMEI is kept')
  t.match(await bU.store.listPlatformStaticInfo(own!), [{ platformId: raw, requestedAt: null, carInfo: 'VIN:=x;RTPN:=y', fields: { VIN: 'x', RTPN: 'y' } }], 'an unasked 0x1601 is kept too')
}
