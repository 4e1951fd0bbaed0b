/**
 * `jt808 migrate` and `jt808 export-raw` end to end on the real PostgreSQL (own schema) and on an
 * embedded PGlite data directory (persisted between commands, as a fresh clone would use it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import type { CliIO } from '../../src/cli/command.js'
import { runExportRaw } from '../../src/cli/commands/export-raw.js'
import { runMigrate } from '../../src/cli/commands/migrate.js'
import type { Config } from '../../src/config/index.js'
import { openStore, type OpenStoreOptions } from '../../src/store/index.js'
import { DATABASE_URL, openTestStore } from './helpers.js'

function io(env: NodeJS.ProcessEnv): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c) => (out += c))
  stderr.on('data', (c) => (err += c))
  return { stdin: new PassThrough(), stdout, stderr, env, out: () => out, err: () => err }
}

const T = Date.parse('2026-05-01T00:00:00Z')

t.test('embedded data directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { JT808_DATA_DIR: dir }

  const first = io(env)
  t.equal(await runMigrate(['--json'], first, { now: () => T }), 0, first.err())
  const report = JSON.parse(first.out())
  t.ok(report.applied.includes('001_core'))
  t.equal(report.timescale, false)
  t.ok(report.partitionsCreated.includes('positions_p20260501'), 'partitions ahead created')

  const again = io(env)
  t.equal(await runMigrate([], again), 0)
  t.match(again.out(), /applied: none \(up to date\)/, 'second run applies nothing (the data directory persisted)')

  // Archive frames, then export them.
  const store = await openStore({ ...(await import('../../src/config/index.js')).loadConfig(env) })
  await store.archiveFrames([
    { phone: '013800000001', receivedAt: T + 1000, connection: '127.0.0.1:5001', frame: Buffer.from('7e0002000001380000000100017e', 'hex') },
    { phone: '013800000001', receivedAt: T + 2000, connection: '127.0.0.1:5002', frame: Buffer.from('7e0102000001380000000100027e', 'hex') },
    { phone: '013800000002', receivedAt: T + 1500, connection: '127.0.0.1:5003', frame: Buffer.from('7e7e', 'hex') },
  ])
  await store.close()

  const exp = io(env)
  t.equal(await runExportRaw(['--terminal', '013800000001', '--from', '2026-05-01T08:00:00+08:00', '--to', String(T + 60_000)], exp), 0, exp.err())
  const lines = exp
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.same(lines, [
    { t: '2026-05-01T00:00:01.000Z', phone: '013800000001', connection: '127.0.0.1:5001', hex: '7e0002000001380000000100017e' },
    { t: '2026-05-01T00:00:02.000Z', phone: '013800000001', connection: '127.0.0.1:5002', hex: '7e0102000001380000000100027e' },
  ])
  t.match(exp.err(), /2 frames exported/)

  const file = join(dir, 'out.ndjson')
  const toFile = io(env)
  t.equal(await runExportRaw(['--terminal', '013800000001', '--from', String(T + 1500), '--to', String(T + 60_000), '--out', file], toFile), 0)
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1, '--out writes the file; the window is honoured')

  await t.rejects(runExportRaw(['--terminal', 'abc', '--from', '0', '--to', '1'], io(env)), /--terminal/)
  await t.rejects(runExportRaw(['--terminal', '1', '--from', 'yesterday', '--to', '1'], io(env)), /--from must be/)
  await t.rejects(runMigrate(['--storage', 'maybe'], io(env)), /--storage/)
})

t.test('PostgreSQL', async (t) => {
  // The test store owns the schema (dropped at teardown); the commands open their own stores in it.
  const owner = await openTestStore(t, 'pg', undefined, { migrate: false })
  const open = (config: Config, opts: OpenStoreOptions = {}) => openStore(config, { ...opts, schema: owner.schema })
  const env = { DATABASE_URL }
  const first = io(env)
  t.equal(await runMigrate(['--json', '--storage', 'partitions'], first, { openStore: open, now: () => T }), 0, first.err())
  t.ok(JSON.parse(first.out()).applied.includes('001_core'))
  const again = io(env)
  t.equal(await runMigrate(['--json'], again, { openStore: open }), 0)
  t.same(JSON.parse(again.out()).applied, [], 'idempotent')

  await owner.archiveFrames([{ phone: '013800000009', receivedAt: T, connection: '10.0.0.1:1', frame: Buffer.from([0x7e, 0x7d, 0x02, 0x7e]) }])
  const exp = io(env)
  t.equal(await runExportRaw(['--terminal', '013800000009', '--from', String(T), '--to', String(T)], exp, { openStore: (c) => open(c) }), 0, exp.err())
  t.same(JSON.parse(exp.out()), { t: new Date(T).toISOString(), phone: '013800000009', connection: '10.0.0.1:1', hex: '7e7d027e' })
})
