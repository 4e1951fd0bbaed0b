/**
 * The embedded data directory shared by a running `jt808 serve` and the admin commands, with real
 * processes: the server holds the directory's lock; `token create|list|revoke`, `import` and
 * `export-raw` started as separate processes go through the server's API (the token they print
 * is one the server accepts); a second server or `migrate` on the same directory is refused with
 * the holder named; after the server stops, the commands open the directory themselves and see
 * what was written through the server; a lock left by a dead process is taken over.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ADMIN_TOKEN_FILE, LOCK_FILE } from '../../src/store/data-dir-lock.js'
import { JT808 } from '../cli-process.js'
import { seedEmbeddedDataDir } from '../embedded-db.js'

// A first start initialises the embedded database (tens of seconds on a loaded machine); every CLI run is a fresh node process.
t.setTimeout(400_000)

const ROOT = new URL('../../', import.meta.url).pathname

interface Run {
  code: number | null
  out: string
  err: string
}

function jt808(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...JT808, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out, err }))
    child.stdin.end(stdin)
  })
}

async function until<T>(what: string, check: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const readLock = (dir: string) => {
  try {
    return JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string; apiUrl: string | null; command: string }
  } catch {
    return null
  }
}

t.test('admin commands while the server runs on the embedded directory', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // created by an earlier start: the first one is test/cli/start.test.ts's subject
  await seedEmbeddedDataDir(dir)
  const env = {
    JT808_DATA_DIR: dir,
    JT808_TCP_PORT: '0',
    JT808_TCP_HOST: '127.0.0.1',
    JT808_HTTP_PORT: '0',
    JT808_HTTP_HOST: '127.0.0.1',
    JT808_ATTACHMENTS_PORT: '0',
    JT808_ATTACHMENTS_HOST: '127.0.0.1',
    JT808_LOG_LEVEL: 'warn',
    JT808_TOKEN: '',
  }

  const server = spawn(process.execPath, [...JT808, 'serve'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let serverOut = ''
  server.stdout.on('data', (c) => (serverOut += c))
  server.stderr.on('data', (c) => (serverOut += c))
  const exited = new Promise<number | null>((resolve) => server.on('close', (code) => resolve(code)))
  t.teardown(() => {
    if (server.exitCode === null) server.kill('SIGKILL')
  })

  const lock = await until(
    'the server to listen',
    () => {
      const l = readLock(dir)
      return l?.apiUrl ? { ...l, apiUrl: l.apiUrl } : null
    },
    200_000,
  )
  t.equal(lock.pid, server.pid, 'the lock names the server process')
  t.match(lock.apiUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  const secretFile = join(dir, ADMIN_TOKEN_FILE)
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'the admin secret is readable by its user only')
  const tcpPort = Number(/listening on tcp:\/\/[^:]+:(\d+)/.exec(await until('the TCP address', () => /listening on tcp/.test(serverOut) && serverOut, 30_000))![1])

  // token create: through the server, and the server accepts the token it printed.
  const created = await jt808(['token', 'create', '--role', 'supervisor', '--json'], env)
  t.equal(created.code, 0, created.err)
  const { id, token } = JSON.parse(created.out)
  const vehicles = await fetch(`${lock.apiUrl}/api/v1/vehicles`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(vehicles.status, 200, 'the printed token works against the running server')

  const listed = await jt808(['token', 'list', '--json'], env)
  t.equal(listed.code, 0, listed.err)
  t.ok(
    listed.out
      .split('\n')
      .filter(Boolean)
      .some((l) => JSON.parse(l).id === id),
    'token list shows it',
  )

  // import through the server
  const imported = await jt808(['import', 'vehicles', '-'], env, JSON.stringify({ plate: '浙A77001', terminalPhone: '012345678901', enterpriseLicenseNo: '330100000001' }) + '\n')
  t.equal(imported.code, 0, imported.err)
  const afterImport = (await (await fetch(`${lock.apiUrl}/api/v1/vehicles`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: Array<{ plate: string }> }
  t.ok(
    afterImport.items.some((v) => v.plate === '浙A77001'),
    'the server sees the imported vehicle',
  )
  t.match(imported.out, /line 1: created 浙A77001\/2/)
  // the same again, through the server: compared with what it stores, nothing imported twice
  const again = await jt808(['import', 'vehicles', '-'], env, JSON.stringify({ plate: '浙A77001', terminalPhone: '012345678901', enterpriseLicenseNo: '330100000001' }) + '\n')
  t.equal(again.code, 0, again.err)
  t.match(again.out, /line 1: unchanged 浙A77001\/2\n0 vehicles imported \(1 unchanged\)/)

  // export-raw through the server: a heartbeat sent to the gateway is archived, then exported.
  const from = new Date(Date.now() - 60_000).toISOString()
  await new Promise<void>((resolve, reject) => {
    const s = connect(tcpPort, '127.0.0.1', () => s.end(Buffer.from('7e0002000001234567890100008a7e', 'hex'), () => resolve()))
    s.on('error', reject)
  })
  const exported = await until(
    'the archived frame',
    async () => {
      const r = await jt808(['export-raw', '--terminal', '12345678901', '--from', from, '--to', new Date(Date.now() + 60_000).toISOString()], env)
      return r.code === 0 && r.out.includes('7e0002000001234567890100008a7e') && r
    },
    60_000,
  )
  t.match(JSON.parse(exported.out.trim().split('\n')[0]), { phone: '12345678901', hex: '7e0002000001234567890100008a7e' })

  // Openers of the files themselves are refused, naming the holder.
  const migrate = await jt808(['migrate'], env)
  t.equal(migrate.code, 1)
  t.match(migrate.err, new RegExp(`in use by process ${server.pid} on ${hostname()} \\(jt808 serve`))
  t.match(migrate.err, /Stop that process first/)
  const second = await jt808(['serve'], env)
  t.not(second.code, 0, 'a second server on the same directory does not start')
  t.match(second.err + second.out, new RegExp(`in use by process ${server.pid}`))

  // revoke through the server: refused from now on
  const revoked = await jt808(['token', 'revoke', id], env)
  t.equal(revoked.code, 0, revoked.err)
  t.equal((await fetch(`${lock.apiUrl}/api/v1/vehicles`, { headers: { authorization: `Bearer ${token}` } })).status, 401)

  // --server with a token that is not a supervisor's / not valid: the API's answer, exit 1
  const wrong = await jt808(['token', 'list', '--server', lock.apiUrl, '--token', 'jt808_wrong'], env)
  t.equal(wrong.code, 1)
  t.match(wrong.err, /401/)

  server.kill('SIGINT')
  t.equal(await exited, 0, 'the server stops cleanly')
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'its lock is gone')
  t.notOk(existsSync(secretFile), 'so is the admin secret')

  // Now the command opens the directory itself, and sees what was written through the server.
  const direct = await jt808(['token', 'list', '--json'], env)
  t.equal(direct.code, 0, direct.err)
  const row = direct.out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((x: { id: string }) => x.id === id)
  t.ok(row?.revokedAt, 'the token created and revoked through the server is in the database files')
})

t.test("a dead process's lock is taken over", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-stale-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await seedEmbeddedDataDir(dir)
  const dead = spawn(process.execPath, ['-e', ''])
  const deadPid = await new Promise<number>((resolve) => dead.on('close', () => resolve(dead.pid!)))
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: hostname(), startedAt: Date.now() - 1000, command: 'jt808 serve', apiUrl: 'http://127.0.0.1:1' }))
  const run = await jt808(['token', 'list'], { JT808_DATA_DIR: dir, JT808_TOKEN: '' })
  t.equal(run.code, 0, run.err)
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'taken over, then released')
})
