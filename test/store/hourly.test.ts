/**
 * positions_hourly stays equal to positions on TimescaleDB (the PGlite-TimescaleDB build), where
 * its refresh policy only recomputes the last 7 days: rows more than 7 days late, arriving after
 * the aggregate's watermark passed their hour, and hours the policy never reached, are refreshed
 * by the store (src/store/hourly.ts). The policy is run explicitly (CALL run_job): PGlite has no
 * background workers.
 */
import t from 'tap'
import { HOURLY_POLICY, HourlyRefresher } from '../../src/store/hourly.js'
import type { OpenedStore } from '../../src/store/index.js'
import { DAY, fix, openTestStore, STORE_BACKENDS } from './helpers.js'

const HOUR = 3_600_000
const hourOf = (ms: number) => Math.floor(ms / HOUR) * HOUR

/** The policy's refresh, as the job scheduler would run it now. */
async function runPolicy(store: OpenedStore): Promise<void> {
  const { rows } = await store.sql.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate' AND hypertable_name = 'positions_hourly'`,
  )
  if (rows.length !== 1) throw new Error(`expected one refresh policy, found ${rows.length}`)
  await store.sql.query(`CALL run_job(${rows[0].job_id})`)
}

async function watermark(store: OpenedStore): Promise<number> {
  const { rows } = await store.sql.query<{ wm: Date }>(
    `SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id)) AS wm
       FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = 'positions_hourly'`,
  )
  return new Date(rows[0].wm).getTime()
}

/** The aggregate and the same figures computed from the table, per vehicle and hour. */
async function aggregateAndTable(store: OpenedStore): Promise<{ aggregate: string[]; table: string[] }> {
  const line = (r: { vehicle_id: number; bucket: Date; points: number; distance_km: number | null; max_speed: number }) =>
    `${r.vehicle_id} ${new Date(r.bucket).toISOString()} ${Number(r.points)} ${r.distance_km === null ? null : Number(r.distance_km).toFixed(3)} ${Number(r.max_speed)}`
  const aggregate = await store.sql.query<{ vehicle_id: number; bucket: Date; points: number; distance_km: number | null; max_speed: number }>(
    `SELECT vehicle_id, bucket, points::int8 AS points, distance_km, max_speed FROM positions_hourly ORDER BY vehicle_id, bucket`,
  )
  const table = await store.sql.query<{ vehicle_id: number; bucket: Date; points: number; distance_km: number | null; max_speed: number }>(
    `SELECT vehicle_id, time_bucket(INTERVAL '1 hour', device_time) AS bucket, count(*)::int8 AS points,
            max(mileage) - min(mileage) AS distance_km, max(speed) AS max_speed
       FROM positions GROUP BY 1, 2 ORDER BY 1, 2`,
  )
  return { aggregate: aggregate.rows.map(line), table: table.rows.map(line) }
}

t.test('rows more than 7 days late, after the watermark passed their hour, reach the aggregate', async (t) => {
  const store = await openTestStore(t, 'timescale')
  t.ok(store.timescale)
  const { rows: policy } = await store.sql.query<{ same: boolean }>(
    `SELECT (config->>'start_offset')::interval = make_interval(secs => $1) AND (config->>'end_offset')::interval = make_interval(secs => $2)
            AND schedule_interval = make_interval(secs => $3) AS same
       FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate' AND hypertable_name = 'positions_hourly'`,
    [HOURLY_POLICY.startOffsetMs / 1000, HOURLY_POLICY.endOffsetMs / 1000, HOURLY_POLICY.scheduleMs / 1000],
  )
  t.same(policy, [{ same: true }], 'HOURLY_POLICY is the policy migration 001 added')
  const now = Date.now()
  const recent = hourOf(now - 2 * DAY)
  await store.insertPositions([fix(1, recent + 60_000, { mileage: 100 }), fix(1, recent + 600_000, { mileage: 103, speed: 61 })])
  await runPolicy(store)
  const old = hourOf(now - 10 * DAY)
  const older = hourOf(now - 40 * DAY)
  t.ok((await watermark(store)) > old, 'the watermark has passed the hours about to arrive')

  // a blind-area upload 10 and 40 days late, in one batch with a fresh fix
  await store.insertPositions([
    fix(1, old + 60_000, { mileage: 10 }),
    fix(1, old + 900_000, { mileage: 14.5, speed: 70 }),
    fix(2, older + 1_000, { mileage: 5 }),
    fix(1, now - 60_000, { mileage: 150 }),
  ])
  await store.hourly.idle()
  let { aggregate, table } = await aggregateAndTable(store)
  t.equal(table.length, 4, 'four vehicle-hours in the table')
  t.same(aggregate, table, 'the aggregate equals the table')

  // the next policy run keeps it so, and a late row into an hour already materialised updates it
  await runPolicy(store)
  await store.insertPositions([fix(1, old + 1_800_000, { mileage: 16, speed: 75 })])
  await store.hourly.idle()
  ;({ aggregate, table } = await aggregateAndTable(store))
  t.same(aggregate, table, 'still equal after another late row into a materialised hour')
  t.match(
    aggregate.find((l) => l.startsWith(`1 ${new Date(old).toISOString()}`)),
    / 3 6\.000 75$/,
  )
})

t.test('hours the policy never reached (it did not run) are refreshed by the storage upkeep', async (t) => {
  const store = await openTestStore(t, 'timescale')
  const now = Date.now()
  const old = hourOf(now - 9 * DAY)
  // stored while the policy was not running: straight into the table, no refresh scheduled
  await store.sql.query(
    `INSERT INTO positions (vehicle_id, device_time, received_at, lat, lon, altitude, speed, direction, alarm, status, mileage, extras, blind_area, source_msg_id)
     VALUES (7, $1, $1, 30.1, 120.1, 5, 40, 90, 0, 3, 20, '{}', false, 512), (7, $2, $2, 30.1, 120.1, 5, 44, 90, 0, 3, 23, '{}', false, 512)`,
    [new Date(old + 60_000).toISOString(), new Date(old + 120_000).toISOString()],
  )
  await store.insertPositions([fix(7, now - 3 * DAY, { mileage: 400 })])
  await runPolicy(store) // resumes: refreshes only the last 7 days, and moves the watermark past the older hour
  let { aggregate, table } = await aggregateAndTable(store)
  t.not(aggregate.length, table.length, 'the hole: positions holds an hour the aggregate lacks')
  await store.refreshHourlyBacklog(now)
  ;({ aggregate, table } = await aggregateAndTable(store))
  t.same(aggregate, table, 'the upkeep filled it')
})

for (const backend of STORE_BACKENDS.filter((b) => b !== 'timescale')) {
  t.test(`${backend}: positions_hourly is a view, nothing to refresh`, async (t) => {
    const store = await openTestStore(t, backend)
    const now = Date.now()
    await store.insertPositions([fix(3, now - 10 * DAY, { mileage: 1 }), fix(3, now - 10 * DAY + 60_000, { mileage: 2 })])
    await store.refreshHourlyBacklog(now)
    await store.hourly.idle()
    const hours = await store.hourlyStats(3, now - 11 * DAY, now)
    t.equal(hours.length, 1)
    t.equal(hours[0].points, 2)
  })
}

t.test('HourlyRefresher: touched hours coalesce into ranges, one refresh at a time, bounded, retried', async (t) => {
  const calls: Array<[number, number]> = []
  let inFlight = 0
  let maxInFlight = 0
  let release: (() => void) | null = null
  let failNext = false
  const errors: string[] = []
  const r = new HourlyRefresher({
    maxRanges: 3,
    retryMs: 10,
    onError: (e) => errors.push(e.message),
    refresh: async (from, to) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      try {
        if (failNext) {
          failNext = false
          throw new Error('database away')
        }
        calls.push([from / HOUR, to / HOUR])
        if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve))
      } finally {
        inFlight--
      }
    },
  })
  r.note([5 * HOUR + 10])
  // while the first refresh runs, many rows arrive: adjacent hours merge, the far ones stay apart…
  r.note([10 * HOUR, 11 * HOUR + 5, 12 * HOUR, 10 * HOUR + 1])
  r.note([20 * HOUR, 30 * HOUR, 31 * HOUR])
  t.same(
    r.pending.map(([a, b]) => [a / HOUR, b / HOUR]),
    [
      [10, 13],
      [20, 21],
      [30, 32],
    ],
  )
  // …and past maxRanges the two closest merge
  r.note([40 * HOUR])
  t.same(
    r.pending.map(([a, b]) => [a / HOUR, b / HOUR]),
    [
      [10, 21],
      [30, 32],
      [40, 41],
    ],
  )
  failNext = true
  release!()
  // the retry timer is unref'd (it never keeps a process alive): hold the loop open meanwhile
  const keepAlive = setInterval(() => {}, 1000)
  await r.idle()
  clearInterval(keepAlive)
  t.same(
    calls,
    [
      [5, 6],
      [10, 21],
      [30, 32],
      [40, 41],
    ],
    'every range refreshed, the failed one again after a pause',
  )
  t.equal(maxInFlight, 1, 'one refresh at a time')
  t.equal(errors.length, 1)
  t.match(errors[0], /refreshing positions_hourly over .* failed: database away/)
  await r.stop()
  r.note([50 * HOUR])
  t.same(r.pending, [], 'nothing scheduled after stop')

  // a refresh that keeps failing: stop() ends the retries and releases whoever waits
  const failing = new HourlyRefresher({ retryMs: 60_000, refresh: async () => Promise.reject(new Error('down')) })
  failing.note([HOUR])
  const waited = failing.idle()
  await new Promise((resolve) => setTimeout(resolve, 20))
  await failing.stop()
  await waited
  t.same(
    failing.pending.map(([a, b]) => [a / HOUR, b / HOUR]),
    [[1, 2]],
    'left for the upkeep sweep',
  )
})
