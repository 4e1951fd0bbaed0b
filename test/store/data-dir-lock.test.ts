/**
 * The embedded data directory's lock in one process: exclusive, naming its holder; released on
 * close; a dead pid's or an unreadable lock taken over; another host's never; a released handle
 * never removes a lock that is no longer its own; the admin secret is 0600 and goes with the lock.
 * (test/cli/server-lock.test.ts covers real second processes.)
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config/index.js'
import { acquireDataDirLock, ADMIN_TOKEN_FILE, DataDirLockedError, LOCK_FILE, readAdminSecret, readLiveHolder } from '../../src/store/data-dir-lock.js'
import { openStore } from '../../src/store/index.js'

const tempDir = (t: Test) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-lockunit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''])
  return new Promise((resolve) => child.on('close', () => resolve(child.pid!)))
}

t.test('exclusive, names its holder, released', async (t) => {
  const dir = tempDir(t)
  const lock = acquireDataDirLock(dir, 'jt808 serve')
  t.match(readLiveHolder(dir), { pid: process.pid, host: hostname(), command: 'jt808 serve', apiUrl: null })
  const err = t.throws(() => acquireDataDirLock(dir, 'jt808 token')) as DataDirLockedError
  t.ok(err instanceof DataDirLockedError)
  t.equal(err.code, 'DATA_DIR_LOCKED')
  t.equal(err.holder.pid, process.pid)
  t.match(err.message, new RegExp(`in use by process ${process.pid} on ${hostname()} \\(jt808 serve, since `))
  lock.setApiUrl('http://127.0.0.1:8080')
  t.match(err.holder, { pid: process.pid })
  t.equal(readLiveHolder(dir)?.apiUrl, 'http://127.0.0.1:8080')
  t.throws(() => acquireDataDirLock(dir), /API http:\/\/127\.0\.0\.1:8080/, 'the message names the API once it listens')
  lock.writeAdminSecret('jt808_secret')
  t.equal(statSync(join(dir, ADMIN_TOKEN_FILE)).mode & 0o777, 0o600)
  t.equal(readAdminSecret(dir), 'jt808_secret')
  lock.release()
  t.notOk(existsSync(join(dir, LOCK_FILE)))
  t.equal(readAdminSecret(dir), null, 'the secret goes with the lock')
  acquireDataDirLock(dir).release()
})

t.test("a dead pid's lock and an unreadable one are taken over; another host's is not", async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid(), host: hostname(), startedAt: 1, command: 'jt808 serve', apiUrl: null }))
  t.equal(readLiveHolder(dir), null, 'stale')
  const lock = acquireDataDirLock(dir)
  t.equal(readLiveHolder(dir)?.pid, process.pid)
  lock.release()

  writeFileSync(join(dir, LOCK_FILE), '{"pid": 12')
  acquireDataDirLock(dir).release()

  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 1, command: 'jt808 serve', apiUrl: null }))
  t.throws(() => acquireDataDirLock(dir), /in use by process 1 on elsewhere/, 'a process on another host cannot be probed: it holds the lock')
})

t.test('releasing never removes a lock taken over by someone else', async (t) => {
  const dir = tempDir(t)
  const lock = acquireDataDirLock(dir)
  const other = JSON.stringify({ pid: 1, host: hostname(), startedAt: 2, command: 'other', apiUrl: null })
  writeFileSync(join(dir, LOCK_FILE), other)
  lock.release()
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), other)
})

t.test('openStore takes the lock for the embedded directory and releases it on close', async (t) => {
  const dir = tempDir(t)
  const config = loadConfig({ JT808_DATA_DIR: dir })
  const store = await openStore(config)
  t.equal(readLiveHolder(dir)?.pid, process.pid)
  t.ok(store.dataDirLock)
  await t.rejects(openStore(config), DataDirLockedError, 'a second opener is refused before PGlite touches the files')
  await store.close()
  t.equal(readLiveHolder(dir), null)
  const memory = await openStore(config, { embedded: 'memory' })
  t.equal(memory.dataDirLock, null, 'in memory: no lock')
  await memory.close()
})
