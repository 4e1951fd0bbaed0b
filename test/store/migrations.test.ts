/**
 * Migrations on every backend: from an empty database, re-run (idempotent, recorded once), the
 * storage shape (native partitions vs hypertables with compression, retention, hourly aggregate),
 * and the chunk-interval rule.
 */
import t from 'tap'
import { runMigrations } from '../../src/store/maintenance.js'
import { chunkIntervalSeconds } from '../../src/store/time-tables.js'
import { openTestStore, STORE_BACKENDS, testConfig } from './helpers.js'

const CORE_TABLES = ['vehicles', 'terminals', 'positions', 'alarm_transitions', 'raw_frames', 'driver_card_events', 'sessions', 'media', 'queued_commands']

for (const backend of STORE_BACKENDS) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend, testConfig(), { migrate: false })
    t.equal(store.migrationReport, null, 'nothing ran at open with migrate: false')

    const first = await store.migrate()
    t.ok(first.applied.includes('001_core'), 'first run applies 001_core')
    t.same(first.alreadyApplied, [], 'nothing was applied before')
    t.equal(first.timescale, backend === 'timescale', 'TimescaleDB detected exactly where present')
    t.equal(store.timescale, backend === 'timescale')

    const { rows: tables } = await store.sql.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')`,
    )
    const names = new Set(tables.map((r) => r.relname))
    for (const table of CORE_TABLES) t.ok(names.has(table), `table ${table} exists`)

    const again = await store.migrate()
    t.same(again.applied, [], 'a re-run applies nothing')
    t.same(again.alreadyApplied, first.applied, 'and reports every migration as applied')
    const { rows: recorded } = await store.sql.query<{ id: string; n: number }>(`SELECT id, count(*)::int AS n FROM schema_migrations GROUP BY id`)
    t.ok(
      recorded.every((r) => r.n === 1),
      'each migration recorded once',
    )
    t.ok(recorded.some((r) => r.id === '001_core'))

    if (backend === 'timescale') {
      const { rows: hyper } = await store.sql.query<{ hypertable_name: string; compression_enabled: boolean }>(
        `SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema() ORDER BY 1`,
      )
      t.same(
        hyper.map((h) => [h.hypertable_name, h.compression_enabled]),
        [
          ['alarm_transitions', true],
          ['positions', true],
          ['raw_frames', true],
        ],
        'positions, alarm transitions and raw frames are compressed hypertables',
      )
      const { rows: comp } = await store.sql.query<{ segmentby: string; orderby: string }>(
        `SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings WHERE hypertable::text = 'positions'`,
      )
      t.same(comp[0], { segmentby: 'vehicle_id', orderby: 'device_time DESC' }, 'positions segment by vehicle, order by time')
      const { rows: jobs } = await store.sql.query<{ proc_name: string; hypertable_name: string; config: Record<string, string> }>(
        `SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE hypertable_schema = current_schema()`,
      )
      const job = (proc: string, table: string) => jobs.find((j) => j.proc_name === proc && j.hypertable_name === table)?.config
      t.equal(job('policy_retention', 'positions')?.drop_after, '180 days')
      t.equal(job('policy_retention', 'raw_frames')?.drop_after, '30 days')
      t.equal(job('policy_retention', 'alarm_transitions')?.drop_after, '1095 days')
      t.equal(job('policy_compression', 'positions')?.compress_after, '7 days')
      t.ok(job('policy_refresh_continuous_aggregate', 'positions_hourly'), 'the hourly aggregate is refreshed by a policy')
      const { rows: caggs } = await store.sql.query(`SELECT view_name FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema()`)
      t.same(caggs, [{ view_name: 'positions_hourly' }], 'continuous aggregate positions_hourly')
    } else {
      const { rows } = await store.sql.query<{ relkind: string }>(
        `SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = 'positions'`,
      )
      t.equal(rows[0]?.relkind, 'p', 'positions is natively partitioned')
    }
  })
}

t.test('retention policies follow a configuration change at the next start (TimescaleDB)', async (t) => {
  const store = await openTestStore(t, 'timescale')
  // The same database opened later with other settings: runMigrations re-synchronises the policy.
  const ctx = {
    sql: store.sql,
    config: testConfig({ retention: { ...testConfig().retention, positionsDays: 200 } }),
    mode: { timescale: true },
    timescaleOption: 'auto' as const,
    knownPartitions: new Set<string>(),
  }
  await runMigrations(ctx)
  const { rows } = await store.sql.query<{ drop_after: string }>(
    `SELECT config->>'drop_after' AS drop_after FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_name = 'positions'`,
  )
  t.same(rows, [{ drop_after: '200 days' }])
})

t.test('plain PostgreSQL can be forced even where TimescaleDB exists', async (t) => {
  const store = await openTestStore(t, 'timescale', testConfig(), { timescale: false })
  t.equal(store.timescale, false)
  const { rows } = await store.sql.query<{ relkind: string }>(`SELECT relkind FROM pg_class WHERE relname = 'positions'`)
  t.equal(rows[0]?.relkind, 'p')
})

t.test('TimescaleDB required but absent is a clear error', async (t) => {
  await t.rejects(openTestStore(t, 'pglite', testConfig(), { timescale: true }), { name: 'TimescaleUnavailableError' })
})

t.test('chunk interval rule: chunk indexes fit in 25 % of shared_buffers', async (t) => {
  const GiB = 1024 ** 3
  // 10 000 vehicles / 30 s = 333 rows/s × 40 B = 13.3 kB/s of index; 2 GiB budget → 44.7 h → 44 h.
  t.equal(chunkIntervalSeconds(10_000, 30, 8 * GiB), 44 * 3600)
  t.equal(chunkIntervalSeconds(10_000, 30, 128 * 1024 ** 2), 3600, 'never below one hour')
  t.equal(chunkIntervalSeconds(100, 60, 8 * GiB), 7 * 24 * 3600, 'never above a week')
  t.ok(chunkIntervalSeconds(20_000, 30, 8 * GiB) < chunkIntervalSeconds(10_000, 30, 8 * GiB), 'a larger fleet gets shorter chunks')
  t.ok(chunkIntervalSeconds(10_000, 10, 8 * GiB) < chunkIntervalSeconds(10_000, 30, 8 * GiB), 'faster reporting gets shorter chunks')
})
