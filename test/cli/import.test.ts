/**
 * jt808 import: per-line error reports, nothing half-imported, on the embedded store (PGlite)
 * and on the real PostgreSQL (a schema of its own); waybills validated line by line.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runImport, splitCsv } from '../../src/cli/commands/import.js'
import { DEFAULTS } from '../../src/config/index.js'
import { openStore, type OpenedStore } from '../../src/store/index.js'
import { captureIO } from './io.js'
import { DATABASE_URL } from '../backends.js'
import { openEmbeddedStore } from '../embedded-db.js'

const dir = mkdtempSync(join(tmpdir(), 'jt808-import-'))
let seq = 0
function file(name: string, text: string): string {
  const f = join(dir, `${++seq}-${name}`)
  writeFileSync(f, text)
  return f
}

const GOOD_CSV = `plate,plate_color,terminal_phone,terminal_id,enterprise_license_no,enterprise_name,transport_cert_no,transport_cert_valid_until,business_scope
鲁A10001,2,13900010001,T100001,370100000001,"山东危运物流有限公司",370100123401,2027-06-30,2.1;3
鲁A10002,2,13900010002,T100002,370100000001,"山东危运物流有限公司, 二队",370100123402,2027-06-30,"3|8"
鲁A10003,,13900010003,,370100000001,,,,
`

const BAD_CSV = `plate,plateColor,terminalPhone,transportCertValidUntil,businessScope
鲁B20001,2,13900020001,2027-01-31,3
,2,13900020002,,
鲁B20003,blue,1390002000X,2027-02-30,9.9
鲁B20004,2,13900020004
鲁b 20001,2,13900020005,,
"鲁B20006,2,13900020006,,
`

const variants = [
  { name: 'embedded', open: () => openEmbeddedStore({ ...structuredClone(DEFAULTS) }), drop: async (_s: OpenedStore) => {} },
  {
    name: 'postgresql',
    open: () => openStore({ ...structuredClone(DEFAULTS), databaseUrl: DATABASE_URL }, { schema: `imp_${randomUUID().replace(/-/g, '').slice(0, 12)}`, poolSize: 2 }),
    drop: async (s: OpenedStore) => {
      const { rows } = await s.sql.query<{ schema: string }>('SELECT current_schema() AS schema')
      await s.sql.query(`DROP SCHEMA IF EXISTS ${rows[0].schema} CASCADE`)
    },
  },
]

for (const variant of variants) {
  t.test(`vehicles (${variant.name})`, async (t) => {
    const store = await variant.open()
    t.teardown(async () => {
      await variant.drop(store)
      await store.close()
    })
    const deps = { openStore: async () => store }

    const ok = captureIO()
    t.equal(await runImport(['vehicles', file('good.csv', GOOD_CSV)], ok.io, deps), 0, ok.stderr())
    t.equal(ok.stdout(), 'line 2: created 鲁A10001/2\nline 3: created 鲁A10002/2\nline 4: created 鲁A10003/2\n3 vehicles imported (3 created)\n')
    // the same file again: nothing is imported again, and it says so per line
    const again = captureIO()
    t.equal(await runImport(['vehicles', file('good.csv', GOOD_CSV), '--json'], again.io, deps), 0, again.stderr())
    const same = JSON.parse(again.stdout())
    t.same([same.imported, same.created, same.unchanged, same.conflicting], [0, 0, 3, 0])
    t.same(
      same.lines.map((l: { line: number; outcome: string }) => [l.line, l.outcome]),
      [
        [2, 'unchanged'],
        [3, 'unchanged'],
        [4, 'unchanged'],
      ],
    )
    const v2 = await store.findVehicle('鲁A10002', 2)
    t.equal(v2?.enterpriseName, '山东危运物流有限公司, 二队', 'quoted comma kept')
    t.same(v2?.businessScope, ['3', '8'])
    t.equal(v2?.transportCertValidUntil, '2027-06-30')
    t.equal((await store.findVehicle('鲁A10003', 2))?.terminalPhone, '13900010003', 'empty colour defaults to 2 (yellow)')

    const before = (await store.listVehicles()).length
    const bad = captureIO()
    t.equal(await runImport(['vehicles', file('bad.csv', BAD_CSV)], bad.io, deps), 1)
    const report = bad.stderr()
    t.match(report, /line 3: plate: required/)
    t.match(report, /line 4: terminalPhone: digits only/)
    t.match(report, /line 4: transportCertValidUntil: not a real date/)
    t.match(report, /line 4: plateColor: a JT\/T 415 colour code/)
    t.match(report, /line 4: businessScope: "9.9" is not a hazard class/)
    t.match(report, /line 5: 3 columns, the header has 5/)
    t.match(report, /line 6: plate: "鲁B20001\/2" already on line 2/, 'the same plate spelled differently is the same vehicle')
    t.match(report, /line 7: unterminated quoted field/)
    t.notMatch(report, /line 2:/, 'the good line is not blamed')
    t.match(bad.stdout(), /0 vehicles imported, 5 lines failed: nothing imported/)
    t.equal((await store.listVehicles()).length, before, 'nothing half-imported')
    t.equal(await store.findVehicle('鲁B20001', 2), null)

    // NDJSON, JSON report, and an update of an existing vehicle.
    const nd = captureIO()
    const text = [JSON.stringify({ plate: '鲁A10001', plateColor: 2, enterpriseName: '新名称', businessScope: ['2.1'] }), '', '{"plate": "鲁A10009", "nope": 1}', 'not json', '[1]'].join('\n')
    t.equal(await runImport(['vehicles', file('v.ndjson', text), '--json'], nd.io, deps), 1)
    const r = JSON.parse(nd.stdout())
    t.equal(r.imported, 0)
    t.equal(r.failed, 3)
    t.same(
      r.errors.map((e: { line: number; field: string }) => [e.line, e.field]),
      [
        [3, 'nope'],
        [4, ''],
        [5, ''],
      ],
    )
    t.equal((await store.findVehicle('鲁A10001', 2))?.enterpriseName, '山东危运物流有限公司', 'the valid line was not imported either')
    const changed = file('v2.ndjson', text.split('\n')[0] + '\n' + JSON.stringify({ plate: '鲁A10004', terminalPhone: '13900010004' }) + '\n')
    const conflict = captureIO()
    t.equal(await runImport(['vehicles', changed], conflict.io, deps), 1, 'a record stored with other values is a conflict')
    t.match(
      conflict.stdout(),
      /^line 1: conflicting 鲁A10001\/2 \(enterpriseName, businessScope differ from what is stored\)\nline 2: created 鲁A10004\/2\n0 vehicles imported \(1 created, 1 conflicting\): nothing imported\n$/,
    )
    t.match(conflict.stderr(), /1 vehicles conflicting with what is stored \(--update overwrites them\): nothing imported/)
    t.equal((await store.findVehicle('鲁A10001', 2))?.enterpriseName, '山东危运物流有限公司', 'the conflicting vehicle is kept')
    t.equal(await store.findVehicle('鲁A10004', 2), null, 'and nothing else was imported')
    const fixed = captureIO()
    t.equal(await runImport(['vehicles', changed, '--update'], fixed.io, deps), 0)
    t.match(fixed.stdout(), /line 1: updated 鲁A10001\/2 \(enterpriseName, businessScope changed\)\nline 2: created 鲁A10004\/2\n2 vehicles imported \(1 created, 1 updated\)\n$/)
    t.equal((await store.findVehicle('鲁A10001', 2))?.enterpriseName, '新名称', 'upserted by plate and colour')
    t.equal((await store.findVehicle('鲁A10001', 2))?.terminalPhone, '13900010001', 'fields not given are kept')

    const dry = captureIO()
    t.equal(await runImport(['vehicles', file('dry.csv', 'plate\n鲁C30001\n'), '--dry-run'], dry.io, deps), 0)
    t.equal(await store.findVehicle('鲁C30001', 2), null, '--dry-run writes nothing')
  })
}

t.test('waybills: every line validated and reported', async (t) => {
  const good = {
    waybillNo: 'YD202406030001',
    issueDate: '2024-06-03',
    consignorName: '济南化工有限公司',
    consigneeName: '青岛港务集团',
    loadingPlace: '济南市历城区',
    loadingDate: '20240603',
    destination: '青岛市黄岛区',
    expectedArrivalDate: '20240604',
    carrierName: '山东危运物流有限公司',
    carrierLicenseNo: '370100000001',
    plate: '鲁A12345',
    plateColor: 2,
    transportCertNo: '370100123456',
    driverName: '张三',
    driverQualificationNo: '370102198001011234',
    escortName: '李四',
    escortQualificationNo: '370102198502025678',
    goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', packingGroup: 'II', specification: '罐装', quantity: 30.5, unit: 't' }],
  }
  const lines = [
    JSON.stringify(good),
    JSON.stringify({ ...good, waybillNo: 'YD2', carrierLicenseNo: '123', goods: [{ ...good.goods[0], unNumber: '12' }] }),
    JSON.stringify({ ...good, waybillNo: 'YD202406030001' }),
  ]
  const { io, stdout } = captureIO()
  t.equal(
    await runImport(['waybills', file('w.ndjson', lines.join('\n')), '--json', '--dry-run'], io, {
      openStore: async () => {
        throw new Error('must not open the store')
      },
    }),
    1,
  )
  const r = JSON.parse(stdout())
  t.equal(r.failed, 2)
  t.ok(r.errors.some((e: { line: number; field: string }) => e.line === 2 && e.field === 'carrierLicenseNo'))
  t.ok(r.errors.some((e: { line: number; field: string }) => e.line === 2 && /goods\[0\]\.unNumber/.test(e.field)))
  t.ok(r.errors.some((e: { line: number; field: string; message: string }) => e.line === 3 && e.field === 'waybillNo' && /already on line 1/.test(e.message)))

  // CSV: one goods entry per row through the flat columns.
  const header =
    'waybillNo,issueDate,consignorName,consigneeName,loadingPlace,loadingDate,destination,expectedArrivalDate,carrierName,carrierLicenseNo,plate,plateColor,transportCertNo,driverName,driverQualificationNo,escortName,escortQualificationNo,unNumber,goodsName,hazardClass,packingGroup,specification,quantity,unit'
  const row = 'YD9,2024-06-03,甲,乙,济南,20240603,青岛,20240604,承运,370100000001,鲁A12345,2,370100123456,张三,370102198001011234,李四,370102198502025678,1203,汽油,3,II,罐装,30.5,t'
  const csv = captureIO()
  t.equal(await runImport(['waybills', file('w.csv', `${header}\n${row}\n`), '--dry-run'], csv.io, {}), 0, csv.stderr())
  t.match(csv.stderr(), /1 waybills valid/)
})

t.test('waybills imported again: created, unchanged, conflicting per line; --update only while "created"', async (t) => {
  const store = await openEmbeddedStore({ ...structuredClone(DEFAULTS) })
  t.teardown(() => store.close())
  const deps = { openStore: async () => store }
  const base = {
    issueDate: '2024-06-03',
    consignorName: '济南化工有限公司',
    consigneeName: '青岛港务集团',
    loadingPlace: '济南市历城区',
    loadingDate: '20240603',
    destination: '青岛市黄岛区',
    expectedArrivalDate: '20240604',
    carrierName: '山东危运物流有限公司',
    carrierLicenseNo: '370100000001',
    plate: '鲁A12345',
    plateColor: 2,
    transportCertNo: '370100123456',
    driverName: '张三',
    driverQualificationNo: '370102198001011234',
    escortName: '李四',
    escortQualificationNo: '370102198502025678',
    goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', packingGroup: 'II', specification: '罐装', quantity: 30.5, unit: 't' }],
  }
  const w = (no: string, extra: object = {}) => JSON.stringify({ ...base, waybillNo: no, ...extra })
  const first = captureIO()
  t.equal(await runImport(['waybills', file('w1.ndjson', [w('YD-A'), w('YD-B')].join('\n'))], first.io, deps), 0, first.stderr())
  t.match(first.stdout(), /line 1: created YD-A\nline 2: created YD-B\n2 waybills imported \(2 created\)/)
  const moved = await store.updateWaybillStatus('YD-B', 'created', { status: 'dispatched', at: Date.now(), by: 'test' })
  t.ok(moved)

  const again = captureIO()
  const lines = [w('YD-A'), w('YD-B', { driverName: '王五' }), w('YD-C')].join('\n')
  t.equal(await runImport(['waybills', file('w2.ndjson', lines), '--json'], again.io, deps), 1)
  const r = JSON.parse(again.stdout())
  t.same(r.lines, [
    { line: 1, key: 'YD-A', outcome: 'unchanged', fields: [] },
    { line: 2, key: 'YD-B', outcome: 'conflicting', fields: ['driverName'] },
    { line: 3, key: 'YD-C', outcome: 'created', fields: [] },
  ])
  t.equal(r.imported, 0)
  t.equal(await store.getWaybill('YD-C'), null, 'a conflict imports nothing')

  const update = captureIO()
  t.equal(await runImport(['waybills', file('w3.ndjson', lines), '--update'], update.io, deps), 1, 'a dispatched waybill does not change')
  t.match(update.stdout(), /line 2: conflicting YD-B \(driverName differ from what is stored\): status dispatched: its fields no longer change/)
  const editable = captureIO()
  t.equal(await runImport(['waybills', file('w4.ndjson', [w('YD-A', { driverName: '王五' }), w('YD-C')].join('\n')), '--update'], editable.io, deps), 0, editable.stdout())
  t.match(editable.stdout(), /line 1: updated YD-A \(driverName changed\)\nline 2: created YD-C\n2 waybills imported \(1 created, 1 updated\)/)
  t.equal((await store.getWaybill('YD-A'))?.driverName, '王五')
})

t.test('usage and CSV splitting', async (t) => {
  const { UsageError } = await import('../../src/cli/command.js')
  for (const argv of [[], ['trucks', 'x.csv'], ['vehicles'], ['vehicles', 'a', 'b'], ['vehicles', 'x', '--format', 'xml']]) {
    const e = await runImport(argv, captureIO().io).then(
      () => null,
      (err: unknown) => err,
    )
    t.ok(e instanceof UsageError, argv.join(' ') || '(none)')
  }
  const missing = captureIO()
  t.equal(await runImport(['vehicles', join(dir, 'missing.csv')], missing.io), 1)
  t.match(missing.stderr(), /cannot read/)
  t.same(splitCsv('a,"b,c","d""e",'), ['a', 'b,c', 'd"e', ''])
  t.equal(splitCsv('a,"open'), null)
})
