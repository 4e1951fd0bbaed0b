/**
 * Self-check and statistics over both backends, on built trajectories with known answers:
 * a vehicle that passes every check and one that fails each for a stated reason; passages
 * through a bridge by hazard class; cargo flows by UN number, class and destination.
 */
import t from 'tap'
import { newWaybill, transitionWaybill, type PositionRecord } from '../../src/domain.js'
import { parsePeriod } from '../../src/api/routes/stats.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput, waybill } from './harness.js'

const DAY = 86_400_000
const NOW = Date.parse('2025-03-12T02:00:00Z') // 10:00 Beijing, 12 March
const TRIP_START = Date.parse('2025-03-10T01:00:00Z') // 09:00 Beijing, 10 March

/** A straight drive east along latitude 30.2 at 60 km/h, one fix per `stepS`, starting at t0. */
function drive(vehicleId: number, t0: number, minutes: number, stepS = 30, skip?: [number, number]): PositionRecord[] {
  const out: PositionRecord[] = []
  for (let s = 0; s <= minutes * 60; s += stepS) {
    if (skip && s >= skip[0] * 60 && s < skip[1] * 60) continue
    out.push({
      vehicleId,
      deviceTime: t0 + s * 1000,
      receivedAt: t0 + s * 1000 + 500,
      latitude: 30.2,
      longitude: 120.0 + ((s / 3600) * 60) / 96.2, // 60 km/h at 30.2°N (≈96.2 km per degree of longitude)
      altitude: 10,
      speed: 60,
      direction: 90,
      alarm: 0,
      status: 3,
      mileage: null,
      extras: {},
      blindArea: false,
      sourceMsgId: 0x0200,
    })
  }
  return out
}

t.test('periods', async (t) => {
  t.same(parsePeriod('2025-03'), { from: Date.parse('2025-03-01T00:00:00+08:00'), to: Date.parse('2025-04-01T00:00:00+08:00') }, 'a Beijing month')
  t.same(parsePeriod('2025'), { from: Date.parse('2025-01-01T00:00:00+08:00'), to: Date.parse('2026-01-01T00:00:00+08:00') })
  t.same(parsePeriod('2025-03-01/2025-03-15'), { from: Date.parse('2025-03-01T00:00:00+08:00'), to: Date.parse('2025-03-16T00:00:00+08:00') }, 'days inclusive')
  t.equal(parsePeriod('2025-13'), null)
  t.equal(parsePeriod('2025-03-15/2025-03-01'), null)
  t.equal(parsePeriod('last month'), null)
})

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend, { now: () => NOW })
    const { app, auth, tokens, store } = f
    const get = (url: string, token = tokens.supervisor) => app.inject({ method: 'GET', url, headers: auth(token) })
    await app.inject({
      method: 'POST',
      url: '/api/v1/vehicles',
      headers: auth(tokens.supervisor),
      payload: [
        vehicleInput('浙A30001', LICENCE_A, { terminalPhone: '13500000001', businessScope: ['3'] }),
        vehicleInput('浙B30001', LICENCE_B, { terminalPhone: '13500000002', businessScope: ['2.1'], transportCertValidUntil: '2025-03-01' }),
      ],
    })
    const good = (await store.findVehicle('浙A30001', 2))!
    const bad = (await store.findVehicle('浙B30001', 2))!

    // A's last trip (10–11 March): dispatched at 09:00, driven 2 h with full track, completed.
    let wa = newWaybill(waybill('WB-A-TRIP', LICENCE_A, { loadingDate: '20250310', expectedArrivalDate: '20250311', destination: '宁波市北仑区' }) as never, TRIP_START - 3_600_000)
    wa = transitionWaybill(wa, 'dispatched', TRIP_START)
    wa = transitionWaybill(wa, 'in_transit', TRIP_START + 60_000)
    wa = transitionWaybill(wa, 'completed', TRIP_START + 2 * 3_600_000)
    await store.insertWaybill(wa)
    await store.insertPositions(drive(good.id, TRIP_START, 120))
    // B's last trip: same window, but a 90-minute hole in the middle of the drive.
    let wb = newWaybill(
      waybill('WB-B-TRIP', LICENCE_B, {
        plate: '浙B30001',
        loadingDate: '20250310',
        expectedArrivalDate: '20250311',
        destination: '上海市金山区',
        goods: [{ unNumber: '1965', name: '液化石油气', hazardClass: '2.1', packingGroup: '', specification: '', quantity: 20, unit: 't' }],
      }) as never,
      TRIP_START - 3_600_000,
    )
    wb = transitionWaybill(wb, 'dispatched', TRIP_START)
    wb = transitionWaybill(wb, 'in_transit', TRIP_START + 60_000)
    wb = transitionWaybill(wb, 'completed', TRIP_START + 2 * 3_600_000)
    await store.insertWaybill(wb)
    await store.insertPositions(drive(bad.id, TRIP_START, 120, 30, [15, 105]))
    // Next trips (12 March): A carries class 3 (in scope); B carries class 3 (outside 2.1).
    await store.insertWaybill(newWaybill(waybill('WB-A-NEXT', LICENCE_A, { loadingDate: '20250312', expectedArrivalDate: '20250312' }) as never, NOW - 1000))
    await store.insertWaybill(newWaybill(waybill('WB-B-NEXT', LICENCE_B, { plate: '浙B30001', loadingDate: '20250312', expectedArrivalDate: '20250313' }) as never, NOW - 1000))
    // A is online and reported a minute ago; B is offline, silent since the trip, and has an open critical anomaly.
    await f.state.putSession({ phone: '13500000001', nodeId: 'n1', since: NOW - 3_600_000, address: '127.0.0.1:1', vehicleId: good.id, plate: good.plate }, 60_000)
    await f.state.setLastPosition({ ...drive(good.id, NOW - 60_000, 0)[0], phone: '13500000001', plate: good.plate, plateColor: 2, enterpriseLicenseNo: LICENCE_A })
    await store.upsertAnomalies([
      {
        id: 'crit-b',
        type: 'TERMINAL_ALARM',
        status: 'open',
        severity: 'critical',
        vehicleId: bad.id,
        plate: bad.plate,
        plateColor: 2,
        waybillNo: null,
        enterpriseLicenseNo: LICENCE_B,
        startedAt: NOW - DAY,
        endedAt: null,
        lastSeenAt: NOW - DAY,
        evidence: { bits: [0] },
      },
    ])

    t.test('self-check: pass', async (t) => {
      const res = await get(`/api/v1/vehicles/${encodeURIComponent('浙A30001')}/self-check`, tokens.entA)
      t.equal(res.statusCode, 200, res.body)
      const body = res.json()
      t.equal(body.pass, true, JSON.stringify(body.checks))
      t.same(
        body.checks.map((c: { name: string; pass: boolean; reason: string | null }) => [c.name, c.pass, c.reason]),
        [
          ['terminal-online', true, null],
          ['reporting-normally', true, null],
          ['last-trip-track-complete', true, null],
          ['no-open-critical', true, null],
          ['certificate-valid', true, null],
          ['scope-covers-cargo', true, null],
        ],
      )
      t.equal(body.checks[2].details.lastWaybillNo, 'WB-A-TRIP', 'judged on the last trip')
      t.equal(body.checks[5].details.waybillNo, 'WB-A-NEXT', 'and the next waybill')
    })

    t.test('self-check: fail, each check with its reason', async (t) => {
      const res = await get(`/api/v1/vehicles/${encodeURIComponent('浙B30001')}/self-check`)
      t.equal(res.statusCode, 200, res.body)
      const body = res.json()
      t.equal(body.pass, false)
      const by = Object.fromEntries(body.checks.map((c: { name: string }) => [c.name, c]))
      t.match(by['terminal-online'], { pass: false, reason: /13500000002 is not connected/ })
      t.match(by['reporting-normally'], { pass: false, reason: /no position/ })
      t.match(by['last-trip-track-complete'], { pass: false, reason: /completeness .* below 70/, details: { lastWaybillNo: 'WB-B-TRIP' } })
      t.match(by['no-open-critical'], { pass: false, reason: /TERMINAL_ALARM/ })
      t.match(by['certificate-valid'], { pass: false, reason: /expired on 2025-03-01/ })
      t.match(by['scope-covers-cargo'], { pass: false, reason: /does not cover class 3/, details: { waybillNo: 'WB-B-NEXT' } })
      t.equal((await get(`/api/v1/vehicles/${encodeURIComponent('浙B30001')}/self-check`, tokens.entA)).statusCode, 404)
    })

    t.test('corridors: passages through a bridge by hazard class', async (t) => {
      // A bridge across both drives ~ 8–10 km east of the start (120.083–120.104°E).
      const bridge = await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: {
          name: '某江大桥',
          kind: 'bridge',
          geometry: {
            type: 'LineString',
            coordinates: [
              [120.083, 30.2],
              [120.104, 30.2],
            ],
          },
          bufferMeters: 100,
        },
      })
      t.equal(bridge.statusCode, 201)
      // Elsewhere: a tunnel nobody drove through.
      await app.inject({
        method: 'POST',
        url: '/api/v1/geofences',
        headers: auth(tokens.supervisor),
        payload: {
          name: '某山隧道',
          kind: 'tunnel',
          geometry: {
            type: 'Polygon',
            coordinates: [
              [
                [121, 31],
                [121.01, 31],
                [121.01, 31.01],
                [121, 31.01],
                [121, 31],
              ],
            ],
          },
        },
      })
      const q = `from=2025-03-10T00:00:00Z&to=2025-03-11T00:00:00Z`
      const res = await get(`/api/v1/stats/corridors?${q}`)
      t.equal(res.statusCode, 200, res.body)
      const [b, tunnel] = res.json().segments
      t.match(b, { name: '某江大桥', kind: 'bridge', passages: 2, vehicles: 2, byHazardClass: { '3': 1, '2.1': 1 }, withoutWaybill: 0 })
      t.match(tunnel, { name: '某山隧道', passages: 0, vehicles: 0 })
      const a = await get(`/api/v1/stats/corridors?${q}`, tokens.entA)
      t.match(a.json().segments[0], { passages: 1, byHazardClass: { '3': 1 } }, 'an enterprise counts its own vehicles only')
      t.same(Object.keys(a.json().segments[0].byHazardClass), ['3'])
      t.equal((await get(`/api/v1/stats/corridors?from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z`)).statusCode, 400, 'at most 31 days')
      t.equal((await get(`/api/v1/stats/corridors`)).statusCode, 400)
    })

    t.test('flows: quantities, distance and tonne-km by UN number, class, destination', async (t) => {
      const q = `from=2025-03-10T00:00:00Z&to=2025-03-11T00:00:00Z`
      const byUn = await get(`/api/v1/stats/flows?${q}&groupBy=unNumber`)
      t.equal(byUn.statusCode, 200, byUn.body)
      const items = byUn.json().items
      const petrol = items.find((i: { key: string }) => i.key === '1203')
      const lpg = items.find((i: { key: string }) => i.key === '1965')
      t.match(petrol, { names: ['汽油'], waybills: 1, tonnes: 25.5 })
      // A drove 2 h at 60 km/h while WB-A-TRIP was active (a minute before in_transit counts: dispatched is active).
      t.ok(Math.abs(petrol.distanceKm - 120) < 1.5, `A's distance ≈ 120 km (${petrol.distanceKm})`)
      t.ok(Math.abs(petrol.tonneKm - 25.5 * petrol.distanceKm) < 0.1)
      // B's track has a 90-minute hole: the distance counts what the track shows (straight line across the hole).
      t.ok(Math.abs(lpg.distanceKm - 120) < 1.5, `B's distance ≈ 120 km (${lpg.distanceKm})`)
      const byClass = await get(`/api/v1/stats/flows?${q}&groupBy=hazardClass`)
      t.same(
        byClass
          .json()
          .items.map((i: { key: string }) => i.key)
          .sort(),
        ['2.1', '3'],
      )
      const byDest = await get(`/api/v1/stats/flows?${q}&groupBy=destination`, tokens.entB)
      t.same(
        byDest.json().items.map((i: { key: string; waybills: number }) => [i.key, i.waybills]),
        [['上海市金山区', 1]],
        'an enterprise sees its own waybills only',
      )
      t.equal((await get(`/api/v1/stats/flows?${q}&groupBy=driver`)).statusCode, 400)
      t.equal((await get(`/api/v1/stats/flows?${q}&enterprise=${LICENCE_A}`, tokens.entB)).statusCode, 403)
    })

    t.test('quality per enterprise and per vehicle-day; grades', async (t) => {
      const q = 'from=2025-03-10T00:00:00%2B08:00&to=2025-03-11T00:00:00%2B08:00'
      const ent = await get(`/api/v1/stats/quality?${q}&groupBy=enterprise`)
      t.equal(ent.statusCode, 200, ent.body)
      const whole = (licence: string) => ent.json().items.find((e: { enterpriseLicenseNo: string; day: string | null }) => e.enterpriseLicenseNo === licence && e.day === null)
      t.match(whole(LICENCE_A), { networked: 1, online: 1, validRate: 1, pass: { completeness: true } })
      t.ok(whole(LICENCE_A).completeness > 0.99, 'A’s track is complete')
      t.ok(whole(LICENCE_B).completeness < 0.7, `B’s is not (${whole(LICENCE_B).completeness})`)
      t.equal(whole(LICENCE_B).pass.completeness, false)
      const own = await get(`/api/v1/stats/quality?${q}&groupBy=vehicle`, tokens.entB)
      t.same([...new Set(own.json().items.map((v: { plate: string }) => v.plate))], ['浙B30001'], 'an enterprise sees its own vehicles')
      t.equal((await get(`/api/v1/stats/quality?${q}&enterprise=${LICENCE_A}`, tokens.entB)).statusCode, 403)
      t.equal((await get(`/api/v1/stats/quality?${q}&groupBy=driver`)).statusCode, 400)

      const grades = await get('/api/v1/stats/grades?period=2025-03')
      t.equal(grades.statusCode, 200, grades.body)
      const g = Object.fromEntries(grades.json().items.map((i: { subject: string }) => [i.subject, i]))
      t.match(g[LICENCE_A], { grade: 'green', anomalies: 0 })
      t.match(g[LICENCE_B], { anomalies: 1, byType: { TERMINAL_ALARM: 1 } })
      t.ok(g[LICENCE_B].score > g[LICENCE_A].score)
      const mine = await get('/api/v1/stats/grades?period=2025-03-01/2025-03-31', tokens.entA)
      t.same(
        mine.json().items.map((i: { subject: string }) => i.subject),
        [LICENCE_A],
      )
      const drivers = await get('/api/v1/stats/grades?period=2025-03&kind=driver')
      t.equal(drivers.statusCode, 200)
      t.match(drivers.json().items, [{ subject: '330102198001011234', grade: 'green', units: 2 }], 'one driver, two trips')
      const withQuality = await get('/api/v1/stats/grades?period=2025-03-10/2025-03-11&quality=true')
      t.equal(withQuality.statusCode, 200, withQuality.body)
      t.equal((await get('/api/v1/stats/grades?period=March')).statusCode, 400)
      t.equal((await get('/api/v1/stats/grades')).statusCode, 400)
    })
  })
}
