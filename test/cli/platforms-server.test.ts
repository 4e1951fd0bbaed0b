/**
 * `jt808 platforms` while a server holds the embedded data directory: the server here is the real
 * API started as `serve` starts it (store, lock, local admin secret, URL in the lock file), in this
 * process, so the command — run in the same process — finds the lock held by a live process and
 * must go through the API instead of opening the files (which the lock refuses). Its writes land
 * in the server's store, audited as the local admin; the API's refusals are exit 1; --server with
 * a non-supervisor token is refused; after the server stops the command opens the directory itself.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import t from 'tap'
import { startApi } from '../../src/api/index.js'
import { createToken } from '../../src/api/tokens.js'
import { main } from '../../src/cli/main.js'
import { loadConfig } from '../../src/config/index.js'
import { openState } from '../../src/state/index.js'
import { openStore } from '../../src/store/index.js'
import { captureIO } from './io.js'
import { seedEmbeddedDataDir } from '../embedded-db.js'

async function jt808(args: string[], env: NodeJS.ProcessEnv) {
  const c = captureIO()
  c.io.env = { ...env }
  const code = await main(['platforms', ...args], c.io)
  return { code, out: c.stdout(), err: c.stderr() }
}

t.test('platforms through the server that holds the embedded directory', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'jt808-platforms-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { JT808_DATA_DIR: dir, JT808_HTTP_PORT: '0', JT808_HTTP_HOST: '127.0.0.1', JT808_TOKEN: '' }
  await seedEmbeddedDataDir(dir)
  const config = loadConfig(env)
  const store = await openStore(config)
  const state = await openState(config)
  const api = await startApi({ config, store, state, commander: null, registry: new Registry(), logger: pino({ level: 'silent' }), dataDirLock: store.dataDirLock })
  let serving = true
  const stop = async () => {
    if (!serving) return
    serving = false
    await api.close()
    await state.close()
    await store.close()
  }
  t.teardown(stop)

  const lower = await jt808(['add', '--role', 'lower', '--name', 'Enterprise A', '--access-code', '3001', '--user-id', '5', '--password', 'abc12345', '--licences', '370100000001', '--json'], env)
  t.equal(lower.code, 0, lower.err)
  const created = JSON.parse(lower.out)
  t.match(created, { role: 'lower', accessCode: 3001, name: 'Enterprise A', createdAt: String })
  t.notOk(/abc12345|scrypt/.test(lower.out), 'neither the password nor its hash is printed')
  t.equal((await store.findLowerPlatform(3001))?.id, created.id, "written to the server's store")
  const sup = await jt808(
    ['add', '--role', 'superior', '--name', 'Province', '--access-code', '3001', '--user-id', '9', '--password', 'up', '--host', '10.0.0.1', '--port', '9000', '--edition', '2019'],
    env,
  )
  t.equal(sup.code, 0, sup.err)

  const dup = await jt808(['add', '--role', 'lower', '--name', 'again', '--access-code', '3001', '--user-id', '5', '--password', 'x'], env)
  t.equal(dup.code, 1, 'one lower platform per access code: the API refuses')
  t.match(dup.err, /409 a lower platform with access code 3001 exists/)
  t.equal(
    (await jt808(['add', '--role', 'superior', '--name', 'x', '--access-code', '1', '--user-id', '1', '--password', 'toolongpassword'], env)).code,
    2,
    'bad input: a usage error before any request',
  )

  const list = await jt808(['list'], env)
  t.equal(list.code, 0, list.err)
  t.match(list.out, /^\d+\tlower\t3001\tEnterprise A\t2011\tenabled\t-\t370100000001\n\d+\tsuperior\t3001\tProvince\t2019\tenabled\t10\.0\.0\.1:9000\t-\n$/)

  const audit = await store.listAudit({})
  t.match(
    audit.filter((a) => a.route === '/api/v1/platforms').map((a) => [a.tokenId, a.method, a.status]),
    [
      ['local-admin', 'POST', 409],
      ['local-admin', 'POST', 201],
      ['local-admin', 'POST', 201],
    ],
    'each add audited as the local admin',
  )

  const { secret: inspector } = await createToken(store, { role: 'inspector' })
  const refused = await jt808(['list', '--server', `http://127.0.0.1:${api.address.port}`, '--token', inspector], env)
  t.equal(refused.code, 1)
  t.match(refused.err, /403/)

  t.equal((await jt808(['remove', String(created.id)], env)).code, 0)
  t.equal(await store.findLowerPlatform(3001), null, 'removed from the server')
  const again = await jt808(['remove', String(created.id)], env)
  t.equal(again.code, 1, 'removing twice: not found')
  t.match(again.err, /404/)

  await stop()
  const direct = await jt808(['list'], env)
  t.equal(direct.code, 0, direct.err)
  t.match(direct.out, /^\d+\tsuperior\t3001\tProvince\t/, 'with no server the command opens the directory and sees what was written')
})
