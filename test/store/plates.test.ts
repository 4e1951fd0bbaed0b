/**
 * One canonical plate (canonicalPlate) on every backend: the registry finds and upserts a vehicle
 * under any spelling of its plate and never holds two; waybill and anomaly plate filters use the
 * same form; the plate-key migration keys a database registered before it, duplicates included.
 */
import t from 'tap'
import { canonicalPlate, plateKey, samePlate } from '../../src/domain.js'
import { runMigrations } from '../../src/store/maintenance.js'
import { MIGRATIONS } from '../../src/store/migrations/index.js'
import { openTestStore, STORE_BACKENDS, testConfig } from './helpers.js'

t.test('canonicalPlate', async (t) => {
  for (const spelling of ['浙B82002', '浙b82002', '浙B 82002', ' 浙b 8 2002 ', '浙B\u300082002', '浙Ｂ８２００２', '浙B·82002', '浙B\t82002'])
    t.equal(canonicalPlate(spelling), '浙B82002', JSON.stringify(spelling))
  t.equal(canonicalPlate('粤ｂ１２３４５挂'), '粤B12345挂', 'trailer suffix kept')
  t.notOk(samePlate('浙B82002', '浙B82003'))
  t.notOk(samePlate('浙B82002', '沪B82002'))
  t.equal(plateKey('浙b 82002', 2), plateKey('浙Ｂ８２００２', 2), 'the matcher keys vehicles by it')
  t.not(plateKey('浙B82002', 2), plateKey('浙B82002', 1))
})

for (const backend of STORE_BACKENDS) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend)

    t.test('registry: any spelling finds and updates the one vehicle', async (t) => {
      const [id] = await store.upsertVehicles([{ plate: '浙B82001', plateColor: 2, enterpriseLicenseNo: 'B' }])
      for (const spelling of ['浙b82001', '浙B 82001', '浙Ｂ８２００１']) {
        t.equal((await store.findVehicle(spelling, 2))?.id, id, `${spelling} with colour`)
        t.equal((await store.findVehicle(spelling))?.id, id, `${spelling} without colour`)
      }
      const [again] = await store.upsertVehicles([{ plate: '浙b 82001', plateColor: 2, enterpriseName: '乙' }])
      t.equal(again, id, 'an upsert in another spelling is the same vehicle')
      const v = (await store.getVehicle(id))!
      t.equal(v.plate, '浙B82001', 'the display form stays as first registered')
      t.equal(v.enterpriseLicenseNo, 'B')
      t.equal(v.enterpriseName, '乙')
      const [blue] = await store.upsertVehicles([{ plate: '浙b82001', plateColor: 1 }])
      t.not(blue, id, 'another colour is another vehicle')
      t.same(
        (await store.findVehiclesByPlate('浙b 82001')).map((v) => v.id),
        [id, blue],
        'every colour of one plate',
      )
      t.same(await store.findVehiclesByPlate('浙B82999'), [])
      const { rows } = await store.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM vehicles WHERE plate_key = '浙B82001'`)
      t.equal(rows[0]!.n, 2)
      await t.rejects(store.sql.query(`INSERT INTO vehicles (plate, plate_key, plate_color) VALUES ('浙b82001', '浙B82001', 2)`), 'the database refuses a second row for one canonical plate')
    })

    t.test('waybill and anomaly plate filters', async (t) => {
      const v = (await store.findVehicle('浙B82001', 2))!
      await store.upsertAnomalies([
        {
          id: 'p-1',
          type: 'OVERSPEED',
          status: 'open',
          severity: 'warning',
          vehicleId: v.id,
          plate: '浙b 82001',
          plateColor: 2,
          waybillNo: null,
          enterpriseLicenseNo: 'B',
          startedAt: 1_700_000_000_000,
          endedAt: null,
          lastSeenAt: 1_700_000_060_000,
          evidence: {},
        },
      ])
      for (const spelling of ['浙B82001', '浙b82001', '浙Ｂ 82001'])
        t.same(
          (await store.listAnomalies({ plate: spelling })).items.map((a) => a.id),
          ['p-1'],
          `anomalies by ${spelling}`,
        )
    })
  })

  // The migration has no TimescaleDB branch: PostgreSQL and PGlite cover it (and keep this file's time down on a loaded machine).
  if (backend !== 'timescale')
    t.test(`${backend}: the plate-key migration keys plates registered before it`, async (t) => {
      const store = await openTestStore(t, backend, testConfig(), { migrate: false })
      const at = MIGRATIONS.findIndex((m) => m.id.endsWith('_plate_key'))
      const before = MIGRATIONS.slice(0, at)
      const ctx = { sql: store.sql, config: testConfig(), mode: { timescale: false }, timescaleOption: 'auto' as const, knownPartitions: new Set<string>() }
      await runMigrations(ctx, before)
      // What an earlier version let in: B's truck, then A's "浙b 82001" (the same plate), and a full-width one.
      await store.sql.query(`INSERT INTO vehicles (plate, plate_color, enterprise_license_no) VALUES ('浙B82001', 2, 'B'), ('浙b 82001', 2, 'A'), ('浙Ｃ１', 2, 'C')`)
      await store.sql.query(
        `INSERT INTO anomalies (id, type, status, severity, vehicle_id, plate, plate_color, started_at, last_seen_at, evidence)
       VALUES ('m-1', 'OVERSPEED', 'open', 'warning', 1, '浙Ｃ １', 2, now(), now(), '{}')`,
      )
      await store.sql.query(
        `INSERT INTO waybills (waybill_no, plate, plate_color, trailer_plate, carrier_license_no, driver_qualification_no, escort_qualification_no, status, window_start, window_end, data, created_at, updated_at)
       VALUES ('WB-M-1', '浙Ｃ１', 2, '浙Ｃ２挂', 'C', 'd', 'e', 'created', now(), now(), '{}', now(), now())`,
      )
      const report = await runMigrations(ctx)
      t.same(
        report.applied,
        MIGRATIONS.slice(at).map((m) => m.id),
      )
      const { rows } = await store.sql.query<{ plate: string; plate_key: string; enterprise_license_no: string }>(`SELECT plate, plate_key, enterprise_license_no FROM vehicles ORDER BY id`)
      t.same(
        rows.map((r) => [r.plate, r.enterprise_license_no, r.plate_key]),
        [
          ['浙B82001', 'B', '浙B82001'],
          ['浙b 82001', 'A', '浙B82001#2'],
          ['浙Ｃ１', 'C', '浙C1'],
        ],
        'the first registered keeps the plate; the later duplicate is kept aside',
      )
      t.equal((await store.findVehicle('浙b82001', 2))?.enterpriseLicenseNo, 'B')
      t.equal((await store.findVehicle('浙C1', 2))?.plate, '浙Ｃ１')
      const anomalies = await store.sql.query<{ plate_key: string }>(`SELECT plate_key FROM anomalies`)
      t.same(anomalies.rows, [{ plate_key: '浙C1' }])
      const waybills = await store.sql.query<{ plate: string; trailer_plate: string }>(`SELECT plate, trailer_plate FROM waybills`)
      t.same(waybills.rows, [{ plate: '浙C1', trailer_plate: '浙C2挂' }], 'waybill plate columns in the canonical form')
    })
}
