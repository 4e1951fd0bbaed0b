/**
 * Partition upkeep and retention with a controllable clock: daily (and monthly) partitions made
 * ahead on plain PostgreSQL, dropped whole once older than the configured retention; on
 * TimescaleDB the same applyRetention(now) drops chunks.
 */
import pg from 'pg'
import t from 'tap'
import { newWaybill, type Anomaly } from '../../src/domain.js'
import { BASE_WAYBILL } from '../matcher/helpers.js'
import { DATABASE_URL, DAY, fix, openTestStore, STORE_BACKENDS, testConfig } from './helpers.js'

const NOW = Date.parse('2026-06-15T10:00:00Z')

const config = testConfig({ retention: { positionsDays: 10, rawFramesDays: 3, alarmsDays: 60, waybillsDays: 400, anomaliesDays: 1095, attachmentsDays: 1095 } })

for (const backend of STORE_BACKENDS) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend, config, { now: () => NOW })

    if (backend !== 'timescale') {
      // openStore already made [now - 1 day, now + 7 days]; ask for more ahead.
      const created = await store.ensurePartitions(NOW, 9)
      t.same(created, ['positions_p20260623', 'positions_p20260624', 'raw_frames_p20260623', 'raw_frames_p20260624'], 'only the missing days are created')
      t.same(await store.ensurePartitions(NOW, 9), [], 'idempotent')
    } else {
      t.same(await store.ensurePartitions(NOW, 9), [], 'TimescaleDB makes its own chunks')
    }

    // Positions 2..14 days old, raw frames 1..5 days old, alarm transitions 30 and 90 days old.
    for (let d = 2; d <= 14; d++) await store.insertPositions([fix(1, NOW - d * DAY), fix(2, NOW - d * DAY)])
    for (let d = 1; d <= 5; d++) await store.archiveFrames([{ phone: '013800000001', receivedAt: NOW - d * DAY, connection: '127.0.0.1:1', frame: Buffer.from([0x7e, d, 0x7e]) }])
    await store.insertAlarmTransitions([
      { vehicleId: 1, deviceTime: NOW - 30 * DAY, raised: 1, cleared: 0, alarm: 1 },
      { vehicleId: 1, deviceTime: NOW - 90 * DAY, raised: 2, cleared: 0, alarm: 2 },
    ])
    await store.recordSessionEvents([
      { phone: '013800000001', vehicleId: 1, nodeId: 'n', address: '127.0.0.1:1', kind: 'online', at: NOW - 40 * DAY },
      { phone: '013800000001', vehicleId: 1, nodeId: 'n', address: '127.0.0.1:1', kind: 'offline', at: NOW - DAY },
    ])
    await store.enqueueCommand({ id: 'c1', phone: '013800000001', msgId: 0x8103, body: {}, createdAt: NOW - 2 * DAY, expiresAt: NOW - DAY })

    // Nothing is dropped by a clock from the past.
    t.same(await store.applyRetention(NOW - 100 * DAY), [], 'an early clock drops nothing')
    t.equal(await store.countPositions(), 26)

    const dropped = await store.applyRetention(NOW)
    t.ok(dropped.length > 0, `dropped: ${dropped.join(', ')}`)
    // Whole days only: rows of day -11 (end of its partition ≤ cutoff) go, day -10 stays with part of its day.
    const left = await store.track(1, NOW - 20 * DAY, NOW)
    const ages = left.map((p) => Math.round((NOW - p.deviceTime) / DAY))
    t.same(ages, [10, 9, 8, 7, 6, 5, 4, 3, 2], 'positions older than 10 days dropped, younger kept')
    if (backend !== 'timescale') {
      t.ok(dropped.includes('positions_p20260604'), 'day partition 2026-06-04 dropped')
      t.notOk(dropped.includes('positions_p20260605'), 'day partition 2026-06-05 kept (it ends after the cutoff)')
      t.ok(dropped.includes('alarm_transitions_p202603'), 'month partition 2026-03 of alarm transitions dropped')
    }

    const frames = []
    for await (const f of store.exportFrames('013800000001', NOW - 10 * DAY, NOW)) frames.push(Math.round((NOW - f.receivedAt) / DAY))
    t.same(frames, [3, 2, 1], 'raw frames older than 3 days dropped')

    const { rows: alarms } = await store.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM alarm_transitions`)
    t.equal(alarms[0]!.n, 1, 'the 90-day-old alarm transition is gone, the 30-day-old one kept')
    const { rows: sessions } = await store.sql.query<{ kind: string }>(`SELECT kind FROM sessions`)
    t.same(sessions, [{ kind: 'offline' }], 'sessions follow the positions retention')
    t.same(await store.takePendingCommands('013800000001', NOW), [], 'expired commands purged')

    t.same(await store.applyRetention(NOW), [], 'a second run finds nothing more')
  })
}

t.test('PostgreSQL: a day is added while another session reads and writes positions', async (t) => {
  const store = await openTestStore(t, 'pg', config, { now: () => NOW })
  const reader = new pg.Client({ connectionString: DATABASE_URL })
  await reader.connect()
  t.teardown(() => reader.end())
  await reader.query(`SET search_path = "${store.schema}"`)
  await reader.query('BEGIN')
  await reader.query('SELECT count(*) FROM positions') // holds ACCESS SHARE until COMMIT
  // CREATE … PARTITION OF would wait for that reader (ACCESS EXCLUSIVE); CREATE + ATTACH does not.
  const created = await Promise.race([store.ensurePartitions(NOW + 40 * DAY, 0), new Promise<'blocked'>((r) => setTimeout(() => r('blocked'), 3000))])
  t.ok(Array.isArray(created) && created.includes('positions_p20260725'), 'partition created without waiting for the reader')
  t.same(await store.insertPositions([fix(1, NOW + 40 * DAY), fix(1, NOW + 40 * DAY)]), { inserted: 1, duplicates: 1, duplicateIndexes: [1] }, 'the attached partition has the primary key')
  await reader.query('COMMIT')
})

t.test('applyRetention also prunes waybills (≥ 12 months) and closed anomalies (≥ 3 years)', async (t) => {
  const store = await openTestStore(t, 'pglite', config, { now: () => NOW })
  // A 2024 trip (older than 400 days at NOW) and one loading today.
  const old = newWaybill({ ...BASE_WAYBILL, waybillNo: 'OLD-1' }, Date.parse('2024-06-03T00:00:00Z'))
  const current = newWaybill({ ...BASE_WAYBILL, waybillNo: 'NOW-1', issueDate: '2026-06-15', loadingDate: '20260615', expectedArrivalDate: '20260616' }, NOW)
  t.equal(await store.insertWaybill(old), true)
  t.equal(await store.insertWaybill(current), true)
  const anomaly = (id: string, status: 'open' | 'closed', endedAt: number | null): Anomaly => ({
    id,
    type: 'OVERSPEED',
    status,
    severity: 'warning',
    vehicleId: 1,
    plate: '鲁A12345',
    plateColor: 2,
    waybillNo: null,
    enterpriseLicenseNo: null,
    startedAt: Date.parse('2022-01-01T00:00:00Z'),
    endedAt,
    lastSeenAt: endedAt ?? NOW,
    evidence: {},
  })
  await store.upsertAnomalies([
    anomaly('A-closed-2022', 'closed', Date.parse('2022-01-01T00:10:00Z')),
    anomaly('A-closed-2025', 'closed', Date.parse('2025-01-01T00:10:00Z')),
    anomaly('A-open-2022', 'open', null),
  ])
  const dropped = await store.applyRetention(NOW)
  t.ok(dropped.includes('waybills: 1 rows'), `waybills pruned (${dropped.join(', ')})`)
  t.ok(dropped.includes('anomalies: 1 rows'), 'one closed anomaly pruned')
  t.equal(await store.getWaybill('OLD-1'), null, 'the 2024 waybill is gone')
  t.not(await store.getWaybill('NOW-1'), null, "today's waybill stays")
  t.equal(await store.getAnomaly('A-closed-2022'), null, 'closed more than 3 years ago: gone')
  t.not(await store.getAnomaly('A-closed-2025'), null, 'closed within 3 years: kept')
  t.not(await store.getAnomaly('A-open-2022'), null, 'an open anomaly is never pruned')
})
