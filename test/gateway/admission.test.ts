/**
 * Admission control of authentications (a reconnect storm): with authConcurrency N, N + k
 * concurrent 0x0102 are all answered with at most N in the registry at once; past authQueue the
 * connection is closed unanswered (the terminal retries later and gets in); and an authenticated
 * terminal's 0x0200 is acknowledged while handshakes wait in line.
 *
 * The registry lookup of an authentication is slowed (a Proxy over the real store, as in
 * auth-deadline.test.ts) and counts how many run at once: what the gate lets through is observed
 * where it matters, not read from the gate itself.
 */
import t from 'tap'
import type { Message } from '../../protocol/index.js'
import type { Store } from '../../src/store/port.js'
import { BACKENDS, connect, eventually, fixAt, metricValue, online, openBackends, provision, registerFields, sleep, startGateway, type Backends } from './harness.js'

const LOOKUP_MS = 250

function slowRegistry(store: Store) {
  const seen = { now: 0, max: 0, calls: 0 }
  const slow = new Proxy(store, {
    get(target, prop, receiver) {
      // counted in terminals looked up (a query may carry several)
      if (prop === 'getTerminalsWithVehicles')
        return async (phones: readonly string[]) => {
          seen.calls += phones.length
          seen.now += phones.length
          seen.max = Math.max(seen.max, seen.now)
          try {
            await sleep(LOOKUP_MS)
            return await target.getTerminalsWithVehicles(phones)
          } finally {
            seen.now -= phones.length
          }
        }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  return { slow, seen }
}

/**
 * Registered terminals (their auth codes), each on a connection of its own ready to authenticate.
 * One after another: registrations take admission slots too.
 */
async function registered(backends: Backends, port: number, n: number) {
  const out = []
  for (let i = 0; i < n; i++) {
    const v = await provision(backends.store)
    const client = await connect(port, v.phone, { replyTimeoutMs: 15_000 })
    const reg = await client.register(registerFields(v.plate, v.plateColor))
    if (reg.result !== 0 || !reg.authCode) throw new Error(`registration failed: ${reg.result}`)
    out.push({ v, client, authCode: reg.authCode })
  }
  return out
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())

    t.test('N + k concurrent authentications: all answered, never more than N in the registry', async (t) => {
      const { slow, seen } = slowRegistry(backends.store)
      const gw = await startGateway(backends, { authConcurrency: 2, authQueue: 100 }, { store: slow })
      t.teardown(() => gw.close())
      // a terminal already back, reporting while the others authenticate
      const first = await provision(backends.store)
      const { client: back } = await online(gw.port, first)
      t.teardown(() => back.close())
      const terminals = await registered(backends, gw.port, 7)
      t.teardown(() => Promise.all(terminals.map((x) => x.client.close())))
      seen.max = 0
      const started = Date.now()
      const auths = Promise.all(terminals.map((x) => x.client.authenticate(x.authCode)))
      // while handshakes wait in line, the authenticated terminal's position is committed and acknowledged
      const gate = gw.app.gateway.registryGate
      await eventually(() => gate.queued > 0, 5000, 5)
      const sent = Date.now()
      t.equal(await back.reportPosition(fixAt(Math.floor(sent / 1000) * 1000 - 5000)), 0, '0x0200 acknowledged')
      const ackMs = Date.now() - sent
      t.ok(gate.queued > 0, `…while authentications were still waiting (${gate.queued} in line, ack in ${ackMs} ms)`)
      const results = await auths
      t.same(results, Array(7).fill(0), 'every authentication answered 0')
      t.equal(seen.max, 2, 'at most (and, under load, exactly) 2 registry lookups at once')
      // 7 lookups of 250 ms two at a time take ≥ 4 rounds: the gate really serialised them
      t.ok(Date.now() - started >= 4 * LOOKUP_MS - 50, `took ${Date.now() - started} ms`)
      for (const x of terminals) t.equal(await x.client.heartbeat(), 0)
    })

    t.test('past the line the connection is closed unanswered, and a retry gets in', async (t) => {
      const { slow, seen } = slowRegistry(backends.store)
      const gw = await startGateway(backends, { authConcurrency: 1, authQueue: 2 }, { store: slow })
      t.teardown(() => gw.close())
      const terminals = await registered(backends, gw.port, 6)
      t.teardown(() => Promise.all(terminals.map((x) => x.client.close())))
      const outcomes = await Promise.all(
        terminals.map((x) =>
          x.client.authenticate(x.authCode).then(
            (r) => `result ${r}`,
            (e: Error) => e.name,
          ),
        ),
      )
      const answered = outcomes.filter((o) => o === 'result 0').length
      t.equal(answered, 3, `1 running + 2 in line answered (${outcomes.join(', ')})`)
      t.equal(outcomes.filter((o) => o === 'ConnectionClosedError').length, 3, 'the others: connection closed, no failure result')
      t.equal(await metricValue(gw.registry, 'jt808_connections_closed_total', { reason: 'auth_overload' }), 3)
      t.equal(seen.max, 1)
      t.equal(await metricValue(gw.registry, 'jt808_auth_failures_total'), 0, 'not counted as failed authentications')
      // the refused terminals come back (their backoff) and authenticate with the same code
      const refused = terminals.filter((_, i) => outcomes[i] !== 'result 0')
      for (const x of refused) {
        const again = await connect(gw.port, x.v.phone)
        t.teardown(() => again.close())
        t.equal(await again.authenticate(x.authCode), 0)
      }
    })

    t.test('a terminal that gives up while in line is skipped at its turn: nothing is looked up for it', async (t) => {
      const { slow, seen } = slowRegistry(backends.store)
      const gw = await startGateway(backends, { authConcurrency: 1, authQueue: 100 }, { store: slow })
      t.teardown(() => gw.close())
      const terminals = await registered(backends, gw.port, 4)
      t.teardown(() => Promise.all(terminals.map((x) => x.client.close())))
      seen.calls = 0
      const [a, b, c, d] = terminals as [(typeof terminals)[0], (typeof terminals)[0], (typeof terminals)[0], (typeof terminals)[0]]
      const auths = [a, c, d].map((x) => x.client.authenticate(x.authCode))
      const gaveUp = b.client.authenticate(b.authCode).then(
        () => 'answered',
        (e: Error) => e.name,
      )
      const gate = gw.app.gateway.registryGate
      await eventually(() => gate.queued >= 3, 5000, 5)
      await b.client.close() // its terminal gives up: FIN while its handshake waits in line
      t.same(await Promise.all(auths), [0, 0, 0], 'the others are answered')
      t.not(await gaveUp, 'answered')
      await eventually(async () => (await metricValue(gw.registry, 'jt808_admission_skipped_total')) === 1, 5000)
      t.equal(seen.calls, 3, 'three registry lookups: none for the terminal that left')
      t.notOk(gw.app.gateway.isConnected(b.v.phone), 'no session for it')
    })

    t.test('queued commands of terminals authenticating together are taken in a few statements, each delivered once', async (t) => {
      const calls: number[] = []
      const counting = new Proxy(backends.store as Store, {
        get(target, prop, receiver) {
          if (prop === 'takePendingCommandsOf')
            return async (phones: string[], now: number) => {
              calls.push(phones.length)
              await sleep(200) // slow enough that the others authenticate meanwhile
              return target.takePendingCommandsOf(phones, now)
            }
          const v = Reflect.get(target, prop, receiver) as unknown
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
        },
      })
      const gw = await startGateway(backends, { authConcurrency: 4 }, { store: counting })
      t.teardown(() => gw.close())
      const n = 8
      const terminals = await registered(backends, gw.port, n)
      await Promise.all(terminals.map((x) => x.client.close()))
      await eventually(() => terminals.every((x) => !gw.app.gateway.isConnected(x.v.phone)))
      for (const x of terminals) {
        const q = await gw.app.gateway.sendCommand(x.v.phone, { msgId: 0x8300, body: { flags: 0x08, text: `for ${x.v.phone}` } })
        t.equal(q.status, 'queued')
      }
      calls.length = 0
      const got = new Map<string, string[]>()
      const again = await Promise.all(
        terminals.map((x) => connect(gw.port, x.v.phone, { onMessage: (m: Message) => m.msgId === 0x8300 && got.set(x.v.phone, [...(got.get(x.v.phone) ?? []), (m.body as { text: string }).text]) })),
      )
      t.teardown(() => Promise.all(again.map((c) => c.close())))
      t.same(await Promise.all(again.map((c, i) => c.authenticate(terminals[i]!.authCode))), Array(n).fill(0))
      await eventually(() => got.size === n)
      await sleep(300)
      for (const x of terminals) t.same(got.get(x.v.phone), [`for ${x.v.phone}`], 'its own command, once')
      t.equal(
        calls.reduce((a, b) => a + b, 0),
        n,
        'every phone looked up',
      )
      t.ok(calls.length < n, `in ${calls.length} statements for ${n} terminals (${calls.join(', ')})`)
      for (const x of terminals) t.same(await backends.store.takePendingCommands(x.v.phone, Date.now()), [], 'no longer queued')
    })
  })
}
