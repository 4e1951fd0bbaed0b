/**
 * The alarms consumer: every active-safety item becomes an anomaly; only an alarm id announcing
 * attachments gets a 0x9208, once, however often the report is retransmitted; blind-area
 * (0x0704 type 1) history instructs nothing; a terminal offline when its alarm is handled gets
 * the 0x9208 queued, delivered after its next authentication.
 */
import t from 'tap'
import type { Message } from '../../protocol/index.js'
import { eventually, fixAt, metricValue, online, openBackends, provision, startGateway } from '../gateway/harness.js'
import { dsmAlarm } from './helpers.js'

t.test('one anomaly per alarm; 0x9208 only with attachments, once; none for blind-area history', async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends)
  t.teardown(() => gw.close())
  const v = await provision(backends.store)
  const instructions: Message[] = []
  const { client } = await online(gw.port, v, 2013, {
    onDownlink: (m) => {
      if (m.msgId === 0x9208) instructions.push(m)
      return undefined
    },
  })
  t.teardown(() => client.close())
  const base = Date.now() - 120_000

  // no attachments: an anomaly, no instruction
  const quiet = fixAt(base)
  quiet.extras.dsm = { ...dsmAlarm(base, 0, 5), alarmType: 1, alarmLevel: 1 }
  t.equal(await client.reportPosition(quiet), 0)
  const a = await eventually(async () => (await backends.store.listAnomalies({ vehicleId: v.vehicleId })).items.find((x) => x.evidence.source === 'active-safety'))
  t.match(a, { type: 'TERMINAL_ALARM', severity: 'warning', status: 'closed', evidence: { kind: 'dsm', name: 'fatigue', fatigue: true } })
  t.notOk('attachments' in a.evidence)

  // with attachments, sent twice (a retransmission): one alarm, one 0x9208
  const loud = fixAt(base + 1000)
  loud.extras.dsm = dsmAlarm(base + 1000, 2, 6)
  t.equal(await client.reportPosition(loud), 0)
  t.equal(await client.reportPosition(loud), 0)
  await eventually(() => instructions.length === 1)
  await gw.app.attachments.alarms.idle()
  t.equal(instructions.length, 1)
  t.equal(await metricValue(gw.registry, 'jt808_attachment_alarms_instructed_total'), 1)

  // blind-area history with an alarm: stored, but nothing instructed
  const old = fixAt(base + 2000)
  old.extras.dsm = dsmAlarm(base + 2000, 1, 7)
  const reply = await client.send(0x0704, { type: 1, items: [old] })
  t.equal((reply.body as { result: number }).result, 0)
  await gw.app.attachments.alarms.idle()
  t.equal(await metricValue(gw.registry, 'jt808_attachment_alarms_instructed_total'), 1, 'counted as it is sent: none for history')
  const anomalies = (await backends.store.listAnomalies({ vehicleId: v.vehicleId })).items.filter((x) => x.evidence.source === 'active-safety')
  t.equal(anomalies.length, 2)
})

t.test('a terminal offline when its alarm is handled gets the 0x9208 after it authenticates again', async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends)
  t.teardown(() => gw.close())
  const v = await provision(backends.store)
  const time = Date.now() - 60_000
  const loc = fixAt(time)
  // the alarm committed while no session of the terminal is anywhere (it reported, then lost its link)
  gw.app.attachments.alarms.onCommitted([
    {
      vehicleId: v.vehicleId,
      deviceTime: time,
      receivedAt: Date.now(),
      latitude: loc.latitude,
      longitude: loc.longitude,
      altitude: 0,
      speed: 62,
      direction: 90,
      alarm: 0,
      status: 0,
      mileage: null,
      extras: { dsm: dsmAlarm(time, 2, 9) },
      blindArea: false,
      sourceMsgId: 0x0200,
      phone: v.phone,
      plate: v.plate,
      plateColor: 2,
      enterpriseLicenseNo: '370100000001',
    },
  ])
  await gw.app.attachments.alarms.idle()
  await eventually(async () => (await metricValue(gw.registry, 'jt808_attachment_instructions_total', { status: 'queued' })) === 1)
  const anomaly = (await backends.store.listAnomalies({ vehicleId: v.vehicleId })).items.find((x) => x.evidence.source === 'active-safety')
  const [alarm] = await backends.store.attachmentAlarmsOfAnomaly(anomaly!.id)
  t.equal(alarm.state, 'instructed')

  const instructions: Message[] = []
  const { client } = await online(gw.port, v, 2013, {
    onDownlink: (m) => {
      if (m.msgId === 0x9208) instructions.push(m)
      return undefined
    },
  })
  t.teardown(() => client.close())
  await eventually(() => instructions.length === 1)
  t.match(instructions[0].body, { alarmFlag: { terminalId: 'DSM0001', serial: 9, attachmentCount: 2 }, tcpPort: Number })
  t.equal((instructions[0].body as { alarmNumber: string }).alarmNumber, alarm.alarmNumber, 'the number the alarm was stored with')
})
