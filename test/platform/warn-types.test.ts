/**
 * WARN_TYPE mapping (docs/platform-exchange.md) and the EWAYBILL_INFO reader: pure, no I/O.
 */
import t from 'tap'
import { otherWarnType, warnTypeOfAnomaly, warnTypeOfBit } from '../../src/platform/warn-types.js'
import { readWaybillText, waybillToText } from '../../src/platform/waybill-text.js'
import { waybill } from './helpers.js'

t.test('808 alarm bits → WARN_TYPE', async (t) => {
  const bits = [0, 1, 2, 15, 18, 20, 23, 26, 27, 28, 5]
  t.same(
    bits.map((b) => warnTypeOfBit(b, 2011)),
    [0x0003, 0x0001, 0x0002, 0x000e, 0x000d, 0x0004, 0x000b, 0x0009, 0x000e, 0x000c, 0x000e],
    '2011',
  )
  t.same(
    bits.map((b) => warnTypeOfBit(b, 2019)),
    [0x0003, 0x0001, 0x0002, 0x0010, 0x000d, 0x0004, 0x000b, 0x0009, 0x00ff, 0x000c, 0x00ff],
    '2019: illegal driving 0x0010, other 0x00FF',
  )
  t.equal(warnTypeOfBit(27, 2011), otherWarnType(2011), 'bit 27 is illegal ignition, not "vehicle moved"')
})

t.test('anomaly types → WARN_TYPE', async (t) => {
  const of = (type: Parameters<typeof warnTypeOfAnomaly>[0]['type'], evidence: Record<string, unknown> = {}, e: 2011 | 2019 = 2011) => warnTypeOfAnomaly({ type, evidence }, e)
  t.same([of('OVERSPEED'), of('FATIGUE_DRIVING'), of('NIGHT_FATIGUE_DRIVING'), of('DAILY_DRIVING_EXCEEDED'), of('ROUTE_DEVIATION')], [1, 2, 2, 0x0d, 0x0b])
  t.same([of('NIGHT_DRIVING_RESTRICTED'), of('NIGHT_DRIVING_RESTRICTED', {}, 2019), of('POSITION_DRIFT', {}, 2019), of('RUNNING_WITHOUT_WAYBILL', {}, 2019)], [0x0e, 0x10, 0x14, 0xff])
  t.equal(of('TERMINAL_ALARM', { bit: 0 }), 0x0003, 'a terminal alarm by its bit')
  t.equal(of('TERMINAL_ALARM', { source: 'platform', warnType: 0x000a }), 0x000a, "a lower platform's alarm keeps its code")
  t.equal(of('TERMINAL_ALARM', { source: 'active-safety', kind: 'adas' }, 2019), 0x00ff, 'active safety: other')
})

t.test('EWAYBILL_INFO: json, pairs, text; the message decides the vehicle', async (t) => {
  const v = { plate: '鲁A20001', plateColor: 2 }
  const json = readWaybillText(JSON.stringify(waybill('YD-1', '鲁A20001')), v)
  t.same([json.format, json.waybill?.waybillNo, json.errors], ['json', 'YD-1', []])
  const { plate: _p, plateColor: _c, ...noPlate } = waybill('YD-2', 'x')
  t.equal(readWaybillText(JSON.stringify(noPlate), v).waybill?.plate, '鲁A20001', "no plate in the text: the message's")
  t.same(
    readWaybillText(JSON.stringify(waybill('YD-3', '鲁A99999')), v).errors.map((e) => e.field),
    ['plate'],
  )
  t.match(readWaybillText('{not json', v), { format: 'json', waybill: null, errors: [{ field: '', message: /^not JSON/ }] })
  t.match(readWaybillText('[1]', v), { format: 'text', waybill: null, errors: [] }, 'an array is not a waybill object: plain text')
  t.same(readWaybillText('危险品运单 随车携带', v), { format: 'text', waybill: null, errors: [] })
  const { goods: _g, ...flat } = waybill('YD-4', '鲁A20001')
  const pairs = Object.entries({ ...flat, 'goods[0].unNumber': '1203', 'goods[0].name': '汽油', 'goods[0].hazardClass': '3', 'goods[0].quantity': '7.5' })
    .map(([k, x]) => `${k}:=${String(x)}`)
    .join('\n')
  const p = readWaybillText(pairs + '\0\0', v)
  t.same([p.format, p.waybill?.goods[0]?.quantity, p.errors], ['pairs', 7.5, []], 'pairs, one per line, trailing NULs ignored')
  const back = readWaybillText(waybillToText({ ...json.waybill!, status: 'dispatched', statusHistory: [] } as never), v)
  t.same(back.waybill, json.waybill, 'what we send reads back as the same waybill (no status or history in it)')
})
