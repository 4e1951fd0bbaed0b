/** The waybill: table formats with field-level errors, lifecycle, activation windows in Beijing time. */
import t from 'tap'
import { activeIntervals, canTransition, InvalidTransitionError, isActive, newWaybill, parseWaybill, transitionWaybill, wasActiveAt, waybillFromFlat, type WaybillInput } from '../../src/domain.js'
import { BASE_WAYBILL, HOUR, MIN } from '../matcher/helpers.js'

const fieldsOf = (input: unknown) => {
  const r = parseWaybill(input)
  return r.ok ? [] : r.errors.map((e) => e.field)
}

t.test('a complete waybill parses; plateColor defaults to yellow (2)', async (t) => {
  const { plateColor: _omit, ...rest } = BASE_WAYBILL
  const r = parseWaybill(rest)
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(r.value.plateColor, 2)
  t.equal(r.value.goods[0].quantity, 30.5)
  t.equal(r.value.goods[0].unit, 't')
  t.equal(r.value.loadingDate, '20240603')
})

t.test('dates: the table formats, also accepted in the other spelling, normalised; impossible dates refused', async (t) => {
  const r = parseWaybill({ ...BASE_WAYBILL, issueDate: '20240603', loadingDate: '2024-06-03', expectedArrivalDate: '2024-06-05' })
  t.ok(r.ok)
  if (r.ok) {
    t.equal(r.value.issueDate, '2024-06-03')
    t.equal(r.value.loadingDate, '20240603')
    t.equal(r.value.expectedArrivalDate, '20240605')
  }
  t.same(fieldsOf({ ...BASE_WAYBILL, loadingDate: '20240231' }), ['loadingDate'])
  t.same(fieldsOf({ ...BASE_WAYBILL, issueDate: '2024/06/03' }), ['issueDate'])
  t.same(fieldsOf({ ...BASE_WAYBILL, expectedArrivalDate: '20240602' }), ['expectedArrivalDate'], 'arrival before loading')
})

t.test('lengths: an..N at most N characters (CJK count once), anN exactly N', async (t) => {
  t.same(fieldsOf({ ...BASE_WAYBILL, waybillNo: 'x'.repeat(51) }), ['waybillNo'])
  t.same(fieldsOf({ ...BASE_WAYBILL, waybillNo: 'x'.repeat(50) }), [])
  t.same(fieldsOf({ ...BASE_WAYBILL, consignorName: '危'.repeat(100) }), [], '100 CJK characters fit an..100')
  t.same(fieldsOf({ ...BASE_WAYBILL, consignorName: '危'.repeat(101) }), ['consignorName'])
  t.same(fieldsOf({ ...BASE_WAYBILL, carrierLicenseNo: '37010000000' }), ['carrierLicenseNo'], '11 of an12')
  t.same(fieldsOf({ ...BASE_WAYBILL, transportCertNo: '3701001234567' }), ['transportCertNo'])
  t.same(fieldsOf({ ...BASE_WAYBILL, driverQualificationNo: '1'.repeat(20) }), ['driverQualificationNo'])
  t.same(fieldsOf({ ...BASE_WAYBILL, plate: 'A'.repeat(36) }), ['plate'])
  t.same(fieldsOf({ ...BASE_WAYBILL, consignorPhone: '1'.repeat(19) }), ['consignorPhone'])
  t.same(fieldsOf({ ...BASE_WAYBILL, carrierPhone: 'call me' }), ['carrierPhone'])
})

t.test('required fields, the escort included; a trailer needs its certificate', async (t) => {
  const { waybillNo: _a, escortName: _b, escortQualificationNo: _c, ...rest } = BASE_WAYBILL
  t.same(fieldsOf(rest), ['waybillNo', 'escortName', 'escortQualificationNo'])
  t.same(fieldsOf({ ...BASE_WAYBILL, trailerPlate: '鲁A1234挂' }), ['trailerTransportCertNo'])
  t.same(fieldsOf({ ...BASE_WAYBILL, consignorPhone: '' }), [], 'phones are optional')
})

t.test('goods: UN number n4, class, quantity n..9,2, unit', async (t) => {
  const g = BASE_WAYBILL.goods[0]
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [] }), ['goods'])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, unNumber: '123' }] }), ['goods[0].unNumber'])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, unNumber: 'UN12' }] }), ['goods[0].unNumber'])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [g, { ...g, hazardClass: '10' }] }), ['goods[1].hazardClass'])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, hazardClass: '1.1D' }] }), [])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, quantity: 1.234 }] }), ['goods[0].quantity'], '3 decimals')
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, quantity: 9999999.99 }] }), [], '7 + 2 digits')
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, quantity: 10000000 }] }), ['goods[0].quantity'], '8 integer digits')
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, quantity: 0 }] }), ['goods[0].quantity'])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, quantity: '12.50' }] }), [], 'numeric text')
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, unit: 'kg' }] }), ['goods[0].unit'])
  t.same(fieldsOf({ ...BASE_WAYBILL, goods: [{ ...g, colour: 'red' }] }), ['goods[0].colour'])
})

t.test('route extras: points and a LineString within China, corridorKm', async (t) => {
  const ok = parseWaybill({
    ...BASE_WAYBILL,
    loadingPoint: [117.0, 36.65],
    destinationPoint: [120.3, 36.07],
    plannedRoute: {
      type: 'LineString',
      coordinates: [
        [117, 36.65],
        [120.3, 36.07],
      ],
    },
    corridorKm: 3,
  })
  t.ok(ok.ok)
  t.same(fieldsOf({ ...BASE_WAYBILL, loadingPoint: [36.65, 117.0] }), ['loadingPoint'], 'lat/lon swapped')
  t.same(fieldsOf({ ...BASE_WAYBILL, plannedRoute: { type: 'Polygon', coordinates: [] } }), ['plannedRoute'])
  t.same(fieldsOf({ ...BASE_WAYBILL, plannedRoute: { type: 'LineString', coordinates: [[117, 36]] } }), ['plannedRoute.coordinates'])
  t.same(fieldsOf({ ...BASE_WAYBILL, corridorKm: -1 }), ['corridorKm'])
  t.same(fieldsOf({ ...BASE_WAYBILL, plateColor: 'yellow' }), ['plateColor'])
  t.same(fieldsOf({ ...BASE_WAYBILL, surprise: 1 }), ['surprise'], 'unknown fields are errors, not dropped')
  t.same(fieldsOf('nope'), [''])
})

t.test('every problem is reported at once, each with a message', async (t) => {
  const r = parseWaybill({ ...BASE_WAYBILL, waybillNo: '', loadingDate: 'x', goods: [{ unNumber: '12' }] })
  t.notOk(r.ok)
  if (r.ok) return
  t.ok(r.errors.length >= 6)
  for (const e of r.errors) t.ok(e.message.length > 3, `${e.field}: ${e.message}`)
})

t.test('a CSV row maps to the JSON shape', async (t) => {
  const row: Record<string, string> = {}
  for (const [k, v] of Object.entries(BASE_WAYBILL)) if (typeof v === 'string' || typeof v === 'number') row[k] = String(v)
  Object.assign(row, {
    unNumber: '1203',
    goodsName: '汽油',
    hazardClass: '3',
    packingGroup: 'II',
    specification: '罐装',
    quantity: '30.5',
    unit: 't',
    'goods[1].unNumber': '1005',
    'goods[1].name': '氨',
    'goods[1].hazardClass': '2.3',
    'goods[1].quantity': '2',
    loadingPoint: '117.0,36.65',
  })
  const r = parseWaybill(waybillFromFlat(row))
  t.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors))
  if (r.ok) {
    t.equal(r.value.goods.length, 2)
    t.equal(r.value.goods[1].hazardClass, '2.3')
    t.same(r.value.loadingPoint, [117.0, 36.65])
  }
  const bad = parseWaybill(waybillFromFlat({ ...row, goods: '[{oops' }))
  t.notOk(bad.ok)
  if (!bad.ok)
    t.same(
      bad.errors.map((e) => e.field),
      ['goods'],
    )
})

t.test('lifecycle: created → dispatched → in_transit → completed, or cancelled; others refused', async (t) => {
  const w0 = newWaybill(BASE_WAYBILL as WaybillInput, 1000, 'api')
  t.equal(w0.status, 'created')
  const w1 = transitionWaybill(w0, 'dispatched', 2000, 'api')
  const w2 = transitionWaybill(w1, 'in_transit', 3000)
  const w3 = transitionWaybill(w2, 'completed', 4000)
  t.same(
    w3.statusHistory.map((c) => [c.status, c.at]),
    [
      ['created', 1000],
      ['dispatched', 2000],
      ['in_transit', 3000],
      ['completed', 4000],
    ],
  )
  t.equal(w0.status, 'created', 'transitions return a new waybill')
  t.throws(() => transitionWaybill(w0, 'completed', 5000), InvalidTransitionError)
  t.throws(() => transitionWaybill(w0, 'in_transit', 5000), InvalidTransitionError)
  t.throws(() => transitionWaybill(w3, 'cancelled', 5000), InvalidTransitionError, 'completed is final')
  t.ok(canTransition('in_transit', 'cancelled'))
  t.notOk(canTransition('cancelled', 'created'))
  try {
    transitionWaybill(w3, 'dispatched', 1)
  } catch (e) {
    t.match((e as Error).message, /completed is final/)
    t.equal((e as InvalidTransitionError).code, 'INVALID_TRANSITION')
  }
  const imported = newWaybill(BASE_WAYBILL as WaybillInput, 1000, 'import', 'in_transit')
  t.same(
    imported.statusHistory.map((c) => c.status),
    ['created', 'dispatched', 'in_transit'],
  )
})

t.test('activation window: [loading date 00:00, expected arrival 24:00] Beijing time, widened by grace', async (t) => {
  const w = { ...newWaybill({ ...BASE_WAYBILL, loadingDate: '20240603', expectedArrivalDate: '20240604' } as WaybillInput, 0), status: 'dispatched' as const }
  const startBj = Date.UTC(2024, 5, 2, 16, 0, 0) // 2024-06-03 00:00 +08:00
  const endBj = Date.UTC(2024, 5, 4, 16, 0, 0) // 2024-06-04 24:00 +08:00
  t.notOk(isActive(w, startBj - 1), '23:59:59.999 the day before (UTC 15:59 of June 2)')
  t.ok(isActive(w, startBj), '00:00 Beijing is 16:00 UTC the day before')
  t.ok(isActive(w, endBj - 1))
  t.ok(isActive(w, endBj), '24:00 itself belongs to the window')
  t.notOk(isActive(w, endBj + 1))
  t.ok(isActive(w, startBj - 2 * HOUR, 2 * HOUR), 'grace widens the start')
  t.notOk(isActive(w, startBj - 2 * HOUR - 1, 2 * HOUR))
  t.ok(isActive(w, endBj + 2 * HOUR, 2 * HOUR), 'and the end')
  t.notOk(isActive({ ...w, status: 'created' }, startBj + HOUR), 'created is not active')
  t.notOk(isActive({ ...w, status: 'completed' }, startBj + HOUR), 'completed is not active')
  t.ok(isActive({ ...w, status: 'in_transit' }, startBj + HOUR))
})

t.test('history-aware activity: as it stood at the time', async (t) => {
  const day = Date.UTC(2024, 5, 2, 16, 0, 0)
  let w = newWaybill({ ...BASE_WAYBILL } as WaybillInput, day + HOUR)
  w = transitionWaybill(w, 'dispatched', day + 8 * HOUR)
  w = transitionWaybill(w, 'in_transit', day + 9 * HOUR)
  w = transitionWaybill(w, 'completed', day + 15 * HOUR)
  t.same(activeIntervals(w), [[day + 8 * HOUR, day + 15 * HOUR]])
  t.notOk(wasActiveAt(w, day + 8 * HOUR - 1))
  t.ok(wasActiveAt(w, day + 12 * HOUR), 'in transit at noon, although completed now')
  t.notOk(isActive(w, day + 12 * HOUR), 'not active now')
  t.notOk(wasActiveAt(w, day + 15 * HOUR + MIN))
  const cancelled = transitionWaybill(transitionWaybill(newWaybill(BASE_WAYBILL as WaybillInput, day), 'dispatched', day + 30 * 3_600_000), 'cancelled', day + 31 * HOUR)
  t.same(activeIntervals(cancelled), [], 'dispatched after the window closed (the window is one day)')
})
