/** Waybills and anomalies round-trip through the store, on the real PostgreSQL (own schema) and on PGlite. */
import t from 'tap'
import { newWaybill, transitionWaybill, type Anomaly, type WaybillInput } from '../../src/domain.js'
import { openTestStore, type StoreBackend } from '../store/helpers.js'
import { BASE_WAYBILL, bj, HOUR } from './helpers.js'

const anomaly = (over: Partial<Anomaly> = {}): Anomaly => ({
  id: 'OVERSPEED-1-1717380000000',
  type: 'OVERSPEED',
  status: 'open',
  severity: 'warning',
  vehicleId: 1,
  plate: '鲁A12345',
  plateColor: 2,
  waybillNo: 'YD202406030001',
  enterpriseLicenseNo: '370100000001',
  startedAt: bj('10:00'),
  endedAt: null,
  lastSeenAt: bj('10:01'),
  evidence: { limitKmh: 80, maxSpeedKmh: 92.5, points: [[bj('10:00'), 117.0, 36.65, 92.5]] },
  ...over,
})

for (const backend of ['pglite', 'pg'] as StoreBackend[])
  t.test(backend, async (t) => {
    // one store per backend (migrations on PGlite take seconds); the two areas use distinct rows
    const store = await openTestStore(t, backend)
    t.test(`waybills on ${backend}`, async (t) => {
      const input: WaybillInput = {
        ...BASE_WAYBILL,
        plannedRoute: {
          type: 'LineString',
          coordinates: [
            [117, 36.65],
            [120.3, 36.07],
          ],
        },
        corridorKm: 3,
      }
      const w = newWaybill(input, bj('07:00'), 'api')
      t.equal(await store.insertWaybill(w), true)
      t.equal(await store.insertWaybill(w), false, 'the number exists: nothing written')
      const got = await store.getWaybill(w.waybillNo)
      t.same(got, w, 'every field, the route and the history come back')

      // lifecycle, compare-and-set
      const moved = await store.updateWaybillStatus(w.waybillNo, 'created', { status: 'dispatched', at: bj('07:30'), by: 'tok-1' })
      t.equal(moved?.status, 'dispatched')
      t.same(
        moved?.statusHistory.map((h) => [h.status, h.at, h.by]),
        [
          ['created', bj('07:00'), 'api'],
          ['dispatched', bj('07:30'), 'tok-1'],
        ],
      )
      t.equal(await store.updateWaybillStatus(w.waybillNo, 'created', { status: 'cancelled', at: bj('07:31') }), null, 'stale from-status: refused')
      t.equal(await store.updateWaybillStatus('nope', 'created', { status: 'dispatched', at: 1 }), null)

      // active for the plate (and as trailer), and the last trip
      t.equal((await store.activeWaybillFor('鲁A 12345', 2, bj('12:00')))?.waybillNo, w.waybillNo, 'plates compare without spaces')
      t.equal(await store.activeWaybillFor('鲁A12345', 2, bj('00:00', 1) + 1), null, 'after expected arrival 24:00')
      t.equal((await store.activeWaybillFor('鲁A12345', 2, bj('00:00', 1) + HOUR, 2 * HOUR))?.waybillNo, w.waybillNo, 'within grace')
      t.equal(await store.lastWaybillFor('鲁A12345', 2, bj('00:00', 2)), null, 'dispatched is not a trip yet')

      // bulk import: all or nothing; existing numbers keep status and history
      const more = Array.from({ length: 3 }, (_, i) => ({ ...BASE_WAYBILL, waybillNo: `IMP-${i}`, plate: `鲁B0000${i}` }))
      t.same(await store.upsertWaybills([...more, { ...input, destination: '烟台市' }], { at: bj('08:00') }), { inserted: 3, updated: 1 })
      const updated = await store.getWaybill(w.waybillNo)
      t.equal(updated?.destination, '烟台市')
      t.equal(updated?.status, 'dispatched')
      t.equal(updated?.statusHistory.length, 2)
      await t.rejects(
        store.upsertWaybills([
          { ...BASE_WAYBILL, waybillNo: 'IMP-X' },
          { ...BASE_WAYBILL, waybillNo: 'BAD', loadingDate: 'x' },
        ]),
      )
      t.equal(await store.getWaybill('IMP-X'), null, 'nothing of a failed import stays')

      // listing: stable order, cursor, filters
      const p1 = await store.listWaybills({ limit: 2 })
      t.same(
        p1.items.map((x) => x.waybillNo),
        ['IMP-2', 'IMP-1'],
      )
      const p2 = await store.listWaybills({ limit: 2, cursor: p1.nextCursor })
      t.same(
        p2.items.map((x) => x.waybillNo),
        ['IMP-0', w.waybillNo],
      )
      t.equal(p2.nextCursor, null)
      t.same(
        (await store.listWaybills({ status: 'dispatched' })).items.map((x) => x.waybillNo),
        [w.waybillNo],
      )
      t.same(
        (await store.listWaybills({ plate: '鲁B00001' })).items.map((x) => x.waybillNo),
        ['IMP-1'],
      )
      t.same((await store.listWaybills({ carrierLicenseNo: 'other' })).items, [])
      t.same((await store.listWaybills({ from: bj('00:00', 2) })).items, [], 'windows ended before')
      await t.rejects(store.listWaybills({ cursor: '1; DROP TABLE waybills' }), RangeError)

      // change polling (how other processes hear of it)
      const changes = await store.waybillChangesSince(0)
      t.same(new Set(changes.map((c) => c.waybill.waybillNo)), new Set([w.waybillNo, 'IMP-0', 'IMP-1', 'IMP-2']))
      const last = Math.max(...changes.map((c) => c.changedAt))
      t.same(await store.waybillChangesSince(last), [])
      const effect = await store.waybillsInEffect(bj('12:00'))
      t.same(
        effect.map((x) => x.waybillNo),
        [w.waybillNo],
        'created ones are not in effect',
      )

      // 0x0701 reports, linked to the vehicle
      await store.insertWaybillReport({ phone: '13900000001', vehicleId: 7, receivedAt: bj('09:00'), body: { raw: Buffer.from([1, 2, 3]) } })
      const reports = await store.listWaybillReports(7, bj('08:00'), bj('10:00'))
      t.equal(reports.length, 1)
      t.same(reports[0].body, { raw: { hex: '010203' } })

      // retention
      const done = transitionWaybill(transitionWaybill(updated!, 'in_transit', bj('09:00')), 'completed', bj('18:00'))
      await store.updateWaybillStatus(done.waybillNo, 'dispatched', { status: 'in_transit', at: bj('09:00') })
      t.equal((await store.lastWaybillFor('鲁A12345', 2, bj('00:00', 2)))?.waybillNo, w.waybillNo, 'the last trip')
      t.equal(await store.deleteWaybillsBefore(bj('00:00', 400)), 5 + 1 - 1, 'four waybills and one report; none younger')
    })

    t.test(`anomalies on ${backend}`, async (t) => {
      const a = anomaly()
      await store.upsertAnomalies([a])
      t.same(await store.getAnomaly(a.id), a)
      const closed: Anomaly = {
        ...a,
        status: 'closed',
        endedAt: bj('10:02'),
        lastSeenAt: bj('10:02'),
        severity: 'critical',
        resolvedByLateData: true,
        evidence: { ...a.evidence, durationMs: 120_000 },
      }
      await store.upsertAnomalies([
        closed,
        anomaly({ id: 'TERMINAL_ALARM-2-1', type: 'TERMINAL_ALARM', vehicleId: 2, plate: '鲁B00002', enterpriseLicenseNo: '370100000002', startedAt: bj('11:00'), evidence: { bit: 0 } }),
      ])
      t.same(await store.getAnomaly(a.id), closed, 'updated in place')
      t.equal(await store.getAnomaly('missing'), null)
      for (let i = 0; i < 5; i++) {
        await store.upsertAnomalies([
          anomaly({ id: `FATIGUE_DRIVING-3-${i}`, type: 'FATIGUE_DRIVING', vehicleId: 3, plate: '鲁C00003', startedAt: bj('12:00') + i * HOUR, evidence: i === 4 ? { refuted: true } : {} }),
        ])
      }
      // stable order: insertion, newest first; an update does not move a row
      await store.upsertAnomalies([{ ...closed, lastSeenAt: bj('10:03'), endedAt: bj('10:03') }])
      const all: string[] = []
      let cursor: string | null = null
      do {
        const page = await store.listAnomalies({ limit: 3, cursor })
        all.push(...page.items.map((x) => x.id))
        cursor = page.nextCursor
      } while (cursor)
      t.same(all, ['FATIGUE_DRIVING-3-4', 'FATIGUE_DRIVING-3-3', 'FATIGUE_DRIVING-3-2', 'FATIGUE_DRIVING-3-1', 'FATIGUE_DRIVING-3-0', 'TERMINAL_ALARM-2-1', a.id])
      t.same(
        (await store.listAnomalies({ type: 'TERMINAL_ALARM' })).items.map((x) => x.id),
        ['TERMINAL_ALARM-2-1'],
      )
      t.same(
        (await store.listAnomalies({ status: 'closed' })).items.map((x) => x.id),
        [a.id],
      )
      t.same(
        (await store.listAnomalies({ enterpriseLicenseNo: '370100000002' })).items.map((x) => x.id),
        ['TERMINAL_ALARM-2-1'],
      )
      t.same(
        (await store.listAnomalies({ plate: '鲁C00003', from: bj('13:30'), to: bj('14:30') })).items.map((x) => x.id),
        ['FATIGUE_DRIVING-3-2', 'FATIGUE_DRIVING-3-1', 'FATIGUE_DRIVING-3-0'],
        'open ones overlap anything after their start',
      )
      t.same(
        (await store.listAnomalies({ severity: 'critical' })).items.map((x) => x.id),
        [a.id],
      )
      t.same(
        (await store.openAnomalies([2])).map((x) => x.id),
        ['TERMINAL_ALARM-2-1'],
      )
      t.equal((await store.openAnomalies()).length, 6)
      t.same(
        (await store.openAnomalies(undefined, { part: 2, parts: 4 })).map((x) => x.id),
        ['TERMINAL_ALARM-2-1'],
        "one partition's open anomalies",
      )
      t.equal((await store.openAnomalies(undefined, { part: 3, parts: 4 })).length, 5)
      t.same(await store.openAnomalies(undefined, { part: 1, parts: 4 }), [])
      const counts = await store.anomalyCounts({ from: bj('00:00'), to: bj('00:00', 1) })
      t.same(
        counts.map((c) => [c.vehicleId, c.type, c.count]),
        [
          [1, 'OVERSPEED', 1],
          [2, 'TERMINAL_ALARM', 1],
          [3, 'FATIGUE_DRIVING', 4],
        ],
        'refuted ones are not counted',
      )
      t.equal(await store.deleteAnomaliesBefore(bj('00:00', 1)), 1, 'only closed ones are deleted')
    })
  })
