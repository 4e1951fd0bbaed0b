/**
 * `jt808 serve` refusing to start: one clear line naming the setting, no stack trace or JSON
 * log line before it, and nothing opened when the configuration alone is wrong.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startStoreUpkeep } from '../../src/store/index.js'
import { openEmbeddedStore } from '../embedded-db.js'
import { testConfig } from '../store/helpers.js'
import { JT808 } from '../cli-process.js'

// several `serve` processes, one creating an embedded database: minutes on a loaded machine
t.setTimeout(300_000)

async function serve(env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [...JT808, 'serve', '--port', '0', '--http-port', '0'], {
    env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', JT808_ATTACHMENTS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, out, err }
}

/** Runs serve until `until` matches its stdout, then stops it with SIGINT. */
async function serveUntil(env: Record<string, string>, until: RegExp, timeoutMs = 90_000): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [...JT808, 'serve', '--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1'], {
    env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', JT808_BOOTSTRAP_TOKEN: '', JT808_LOG_LEVEL: 'warn', JT808_ATTACHMENTS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = once(child, 'exit')
  const deadline = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (until.test(out)) child.kill('SIGINT')
  })
  const [code] = (await exited) as [number | null]
  clearTimeout(deadline)
  return { code, out, err }
}

const noStack = (text: string) => !/\n\s+at |"stack"/.test(text)

t.test('an unknown log level names JT808_LOG_LEVEL and the levels it takes', async (t) => {
  const r = await serve({ JT808_LOG_LEVEL: 'loud' })
  t.equal(r.code, 2)
  t.match(r.err, /JT808_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/)
  t.ok(noStack(r.err), r.err)
})

t.test('a bad matcher configuration is refused before anything is opened', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'jt808-start-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const r = await serve({ JT808_DATA_DIR: dataDir, JT808_MATCHER_CONFIG: '{"overspeed":{"x":1}}' })
  t.equal(r.code, 2)
  t.equal(r.err, 'jt808 serve: invalid matcher configuration:\n  - overspeed: not a matcher setting\n', 'just the clear lines')
  t.equal(r.out, '')
  t.notOk(existsSync(join(dataDir, 'pglite')), 'the embedded database was not opened')
  const missing = await serve({ JT808_DATA_DIR: dataDir, JT808_MATCHER_CONFIG: join(dataDir, 'nope.json') })
  t.equal(missing.code, 2)
  t.match(missing.err, /^jt808 serve: JT808_MATCHER_CONFIG: ENOENT[^\n]*nope\.json'\n$/)
})

t.test('stopping the storage upkeep waits for its run, so closing the store under it reports nothing', async (t) => {
  const store = await openEmbeddedStore(testConfig({ databaseUrl: null }))
  const errors: Error[] = []
  const upkeep = startStoreUpkeep(store, { onError: (e) => errors.push(e) })
  await upkeep.stop()
  await store.close()
  await new Promise((r) => setTimeout(r, 50))
  t.same(
    errors.map((e) => e.message),
    [],
  )
})

t.test('a first start says it is creating the embedded database, then where it listens and how to get a token', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'jt808-start-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const first = await serveUntil({ JT808_DATA_DIR: dataDir }, /jt808 token create/)
  t.equal(first.code, 0, first.err)
  const lines = first.out.split('\n')
  t.match(lines[0], `jt808 gateway starting: creating the embedded database in ${join(dataDir, 'pglite')} (first start only`, 'said before the slow part')
  t.match(lines[1], /^jt808 gateway listening on tcp:\/\/127\.0\.0\.1:\d+ /)
  t.match(lines[2], /^REST API on http:\/\/127\.0\.0\.1:\d+\/api\/v1 \(docs: http:\/\/127\.0\.0\.1:\d+\/docs\)$/)
  t.match(lines[3], /^no API token exists yet: set JT808_BOOTSTRAP_TOKEN=.* or run "jt808 token create --role supervisor"$/)
  const again = await serveUntil({ JT808_DATA_DIR: dataDir, JT808_BOOTSTRAP_TOKEN: 'start-test-0123456789' }, /Authorization/)
  t.equal(again.code, 0, again.err)
  t.match(again.out.split('\n')[0], `jt808 gateway starting: opening the embedded database in ${join(dataDir, 'pglite')}…`)
  t.match(again.out, /curl -H "Authorization: Bearer \$JT808_BOOTSTRAP_TOKEN" http:\/\/127\.0\.0\.1:\d+\/api\/v1\/vehicles\n/)
})
