/**
 * What `jt808 simulate` says when the gateway refuses its terminals: registration refusals by
 * name (0x8100 result 3 is "terminal already registered", not 0x8001's "unsupported"), what to do,
 * no waiting out --duration with nobody online, and no injections counted that were never sent.
 * Also: `--emit-vehicles | head` ends quietly.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { runSimulate } from '../../src/cli/commands/simulate.js'
import { openBackends, startGateway } from '../gateway/harness.js'
import { captureIO } from './io.js'
import { JT808 } from '../cli-process.js'

t.test('registry mode without the fleet imported: refused by name, the import command printed, the run ends at once', async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends, { registrationMode: 'registry' })
  t.teardown(() => gw.close())
  const target = ['--target', `127.0.0.1:${gw.port}`, '--phone-prefix', '0177']
  const json = captureIO()
  const started = Date.now()
  const code = await runSimulate(['--terminals', '4', '--seed', '7', '--interval', '1', '--time-scale', '600', '--duration', '60s', '--overspeed', '5', '--json', '--quiet', ...target], json.io)
  t.equal(code, 1, 'not every frame acknowledged')
  t.ok(Date.now() - started < 30_000, `stopped when every terminal was refused, not after 60 s (${Date.now() - started} ms)`)
  const r = JSON.parse(json.stdout())
  t.equal(r.authenticated, 0)
  t.same(r.refusals, { 'register:2': 4 })
  t.equal(r.allRefused, true)
  t.same(r.acksByResult, {}, 'a refusal is not counted as an acknowledgement')
  t.same(r.injections, {}, 'nothing injected: nothing was sent')

  const text = captureIO()
  await runSimulate(['--terminals', '4', '--seed', '7', '--interval', '1', '--duration', '60s', '--quiet', ...target], text.io)
  t.match(text.stdout(), /refused\s+4 vehicle not in the registry \(0x8100 result 2\)/)
  t.match(text.stdout(), /import the fleet first: jt808 simulate --terminals 4 --seed 7 --phone-prefix 0177 --emit-vehicles \| jt808 import vehicles -/)
  t.match(text.stdout(), /every terminal was refused/)
})

t.test('0x8100 result 3 (terminal already registered) is named so, not "unsupported"', async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends, { registrationMode: 'open' })
  t.teardown(() => gw.close())
  const target = ['--target', `127.0.0.1:${gw.port}`, '--phone-prefix', '0178', '--interval', '1', '--quiet']
  // seed 1 enrols these phones with its plates; seed 2 brings other plates on the same phones
  t.equal(await runSimulate(['--terminals', '3', '--seed', '1', '--duration', '1s', ...target], captureIO().io), 0)
  const again = captureIO()
  t.equal(await runSimulate(['--terminals', '3', '--seed', '2', '--duration', '30s', ...target], again.io), 1)
  const out = again.stdout()
  t.match(out, /refused\s+3 terminal already registered to another vehicle \(0x8100 result 3\)/)
  t.notMatch(out, /unsupported/)
  t.match(out, /online\s+0 of 3 authenticated/)
  t.match(out, /another --seed, --version or --phone-prefix/)
})

t.test('--emit-vehicles into a reader that leaves early ends quietly', async (t) => {
  const child = spawn(process.execPath, [...JT808, 'simulate', '--terminals', '200000', '--emit-vehicles'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = once(child, 'exit')
  child.stdout.once('data', () => child.stdout.destroy()) // `| head -1`
  const [code] = (await exited) as [number | null]
  t.equal(err, '', 'no EPIPE stack')
  t.equal(code, 0)
})
