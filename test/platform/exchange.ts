/**
 * Two instances of the gateway exchanging over JT/T 809 on loopback: L (lower role: terminals
 * report to it over 808, it forwards to its superior) and U (upper role: L logs in to it).
 *   terminal ─808─▶ L ─commit─▶ forwarder ─809 0x1202─▶ U ─ingest─▶ matcher ─▶ anomaly ─▶ SSE
 * One scenario for every edition and encryption; exchange-2011.test.ts and exchange-2019.test.ts
 * run it per edition (two files, so tap runs them in parallel; backlog.test.ts: a superior that is
 * down and comes back).
 */
import t from 'tap'
import { newWaybill, parseWaybill } from '../../src/domain.js'
import { eventually, fixAt, online, openBackends, provision } from '../gateway/harness.js'
import { KM_PER_DEG_LON, LICENCE, lower, TOKEN, upper, waybill, type Combo } from './helpers.js'

export function exchangeTests(combos: Combo[]): void {
  for (const combo of combos) {
    t.test(`${combo.edition}, ${combo.encryption ? 'encrypted' : 'plain'}, ${combo.variant}: terminal → lower → upper → matcher → anomaly → SSE`, async (t) => {
      const bU = await openBackends(combo.variant)
      t.teardown(() => bU.close())
      const bL = await openBackends(combo.variant)
      t.teardown(() => bL.close())
      const u = await upper(t, bU, combo)
      const l = await lower(t, bL, combo, u.app.platforms.address()!.port)

      const vehicle = await provision(bL.store)
      await bU.store.upsertVehicles([{ plate: vehicle.plate, plateColor: vehicle.plateColor, enterpriseLicenseNo: LICENCE }])
      const inU = (await bU.store.findVehicle(vehicle.plate, vehicle.plateColor))!

      await eventually(() => l.app.platforms.states().superior[0]?.state === 'live', 10_000)
      const lowerSeen = await eventually(() => u.app.platforms.states().lower[0], 5_000)
      t.equal(lowerSeen.accessCode, 1001, 'the lower platform is logged in by its access code')
      await eventually(() => u.app.platforms.states().lower[0]?.sub?.up && l.app.platforms.states().superior[0]?.sub?.up, 10_000)
      t.pass('the upper platform opened its sub-link to the announced address')

      const api = (path: string, init: RequestInit = {}) =>
        fetch(`http://127.0.0.1:${u.app.http.port}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } })
      const sse = await api('/anomalies/stream', { headers: { accept: 'text/event-stream' } })
      const reader = sse.body!.getReader()
      let feed = ''
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
          if (done) return
          feed += new TextDecoder().decode(value)
        }
      })()
      t.teardown(async () => {
        await reader.cancel().catch(() => undefined)
        await pump
      })

      const { client } = await online(l.port, vehicle, combo.edition === 2019 ? 2019 : 2013)
      t.teardown(() => client.close())
      const start = Date.now() - 20 * 60_000
      const stepDeg = (95 * 5) / 3600 / KM_PER_DEG_LON
      for (let i = 0; i <= 24; i++) {
        t.equal(await client.reportPosition(fixAt(start + i * 5000, { speed: 95, longitude: 117.12 + i * stepDeg, alarm: i >= 10 ? 1 : 0 })), 0)
      }
      await eventually(async () => (await bU.store.countPositions(inU.id)) === 25, 15_000, 50)
      t.pass('every fix the lower instance committed reached the upper one')
      const track = await bU.store.track(inU.id, start, start + 3_600_000)
      t.same(new Set(track.map((p) => p.sourceMsgId)), new Set([0x1202]), 'each position remembers it came as 0x1202 …')
      t.ok(
        track.every((p) => p.extras.platform === 1001),
        '… from platform 1001',
      )
      const sent = await bL.store.track(vehicle.vehicleId, start, start + 3_600_000)
      t.same(
        track.map((p) => [p.deviceTime, p.latitude.toFixed(6), p.longitude.toFixed(6), p.speed, p.direction]),
        sent.map((p) => [p.deviceTime, p.latitude.toFixed(6), p.longitude.toFixed(6), p.speed, p.direction]),
        'time, coordinates (1e-6 degree), speed and direction arrive as the lower instance stored them',
      )

      const overspeed = await eventually(
        async () => {
          const { items } = (await (await api(`/anomalies?plate=${encodeURIComponent(vehicle.plate)}&type=OVERSPEED`)).json()) as { items: Array<{ id: string; type: string }> }
          return items[0]
        },
        15_000,
        100,
      )
      await eventually(() => feed.includes(overspeed.id), 10_000, 50)
      t.pass('the upper instance judged the platform-reported vehicle and announced the anomaly on its feed')
      t.equal((await bL.store.listAnomalies({ type: 'OVERSPEED' })).items.length, 1, 'the lower instance judged it too')

      // the emergency alarm the terminal raised (a TERMINAL_ALARM anomaly on L) and L's overspeed went up as
      // 0x1402 and became anomalies with their source on U
      const fromL = async (warnType: number) => (await bU.store.listAnomalies({ type: 'TERMINAL_ALARM' })).items.find((a) => a.evidence.source === 'platform' && a.evidence.warnType === warnType)
      const viaPlatform = await eventually(() => fromL(0x0003), 10_000)
      t.same([viaPlatform.plate, viaPlatform.evidence.platform], [vehicle.plate, 1001], 'alarm bit 0 → 0x1402 WARN_TYPE 0x0003 (emergency)')
      const overspeedUp = await eventually(() => fromL(0x0001), 10_000)
      t.equal(overspeedUp.plate, vehicle.plate, "L's OVERSPEED anomaly → 0x1402 WARN_TYPE 0x0001 (overspeed)")

      // a waybill written on L goes up as 0x120D and is a dispatched waybill on U; U's 0x920B request is answered 0x120B
      const parsed = parseWaybill(waybill(`YD-X-${combo.edition}`, vehicle.plate))
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
      await bL.store.insertWaybill(newWaybill(parsed.value, Date.now(), 'test', 'dispatched'))
      const up = await eventually(async () => bU.store.getWaybill(`YD-X-${combo.edition}`), 10_000, 100)
      t.same([up.status, up.plate, up.statusHistory.at(-1)?.by], ['dispatched', vehicle.plate, 'platform 1001'], 'the waybill arrived as 0x120D and is used on U')
      const lowerPlatform = (await bU.store.findLowerPlatform(1001))!.id
      const req = await api(`/platforms/${lowerPlatform}/waybill-requests`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plate: vehicle.plate, plateColor: vehicle.plateColor }),
      })
      t.equal(req.status, 202)
      const answered = await eventually(async () => (await bU.store.listPlatformWaybills({ platformId: lowerPlatform })).find((w) => w.dataType === 0x120b), 10_000, 100)
      t.same([answered.format, answered.waybillNo], ['json', `YD-X-${combo.edition}`], "L answered 0x920B with the vehicle's current waybill (0x120B)")

      // 督办 across the two: U's notify sends 0x9401 to L, which answers 0x1401 "handling" (and, in 2011 where
      // the request names the vehicle, records it on its own open anomaly)
      const notified = await api(`/anomalies/${encodeURIComponent(overspeed.id)}/handling`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'notify' }),
      })
      t.equal(notified.status, 201)
      await eventually(async () => (await bU.store.listSupervisions(overspeed.id))[0]?.result === 0, 10_000)
      t.pass('the lower instance answered the 督办: handling (0x1401 result 0)')
      if (combo.edition === 2011) {
        const mine = (await bL.store.listAnomalies({ type: 'OVERSPEED' })).items[0]!
        const h = await eventually(async () => (await bL.store.listHandling(mine.id)).find((e) => e.action === 'notify'), 5000)
        t.match(h.note, /督办 \d+ from Provincial platform/, "recorded on the lower instance's anomaly")
      }

      // 查岗 across the two: U's supervisor asks, L's operator sees it pending and answers, U records who and when
      const lapi = (path: string, init: RequestInit = {}) =>
        fetch(`http://127.0.0.1:${l.app.http.port}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
      const lowerId = (await bU.store.findLowerPlatform(1001))!.id
      const asked = await api(`/platforms/${lowerId}/post-queries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: '请报在岗人员' }) })
      t.equal(asked.status, 202)
      const { id: askedId } = (await asked.json()) as { id: number }
      const pending = await eventually(async () => {
        const { items } = (await (await lapi('/platforms/post-queries?direction=in&unanswered=true')).json()) as { items: Array<{ id: number; question: string }> }
        return items[0]
      }, 10_000)
      t.equal(pending.question, '请报在岗人员', 'the lower instance lists the pending post query')
      const ans = await lapi(`/platforms/post-queries/${pending.id}/answer`, { method: 'POST', body: JSON.stringify({ answer: '李四在岗', responder: '李四', responderTel: '13800000000' }) })
      t.equal(ans.status, 200)
      t.equal((await lapi(`/platforms/post-queries/${pending.id}/answer`, { method: 'POST', body: JSON.stringify({ answer: 'again' }) })).status, 409, 'answered once')
      const got = await eventually(async () => {
        const { items } = (await (await api(`/platforms/post-queries?platform=${lowerId}`)).json()) as {
          items: Array<{ id: number; answer: string | null; responder: string | null; delayMs: number | null }>
        }
        return items.find((i) => i.id === askedId && i.answer !== null)
      }, 10_000)
      t.equal(got.answer, '李四在岗', 'the answer reached the upper instance')
      t.equal(got.responder, combo.edition === 2019 ? '李四' : null, 'who answered travels in 2019 (2011 has no field for it)')
      t.ok(got.delayMs !== null && got.delayMs >= 0)

      const states = (await (await api('/platforms/links')).json()) as { lower: Array<{ accessCode: number; positionsIn: number }> }
      t.equal(states.lower[0]?.positionsIn, 25, 'link state in the API')
      const metrics = await (await fetch(`http://127.0.0.1:${u.app.http.port}/metrics`)).text()
      t.match(metrics, /jt808_platform_positions_in_total\{link="1001",msg="0x1202"\} 25/)
    })
  }
}
