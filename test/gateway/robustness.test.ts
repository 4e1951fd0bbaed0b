/**
 * The connection pipeline under hostile and sloppy input, on both backends: frames split
 * across TCP writes at every offset, garbage floods (one connection closes, another terminal
 * is unaffected), consecutive bad frames, duplicate connections, idle timeouts.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { Message } from '../../protocol/index.js'
import { BACKENDS, eventually, fixAt, metricValue, online, openBackends, provision, sleep, startGateway } from './harness.js'

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const gw = await startGateway(backends, { badFramesBeforeClose: 5, idleTimeoutSeconds: 1 })
    t.teardown(() => gw.close())
    const { store } = backends

    t.test('frames split across TCP writes at every offset', async (t) => {
      const v = await provision(store)
      const replies: Message[] = []
      const { client } = await online(gw.port, v, 2013, { onMessage: (m) => m.msgId === 0x8001 && replies.push(m) })
      t.teardown(() => client.close())
      const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000
      let n = 0
      const stream = () => {
        // heartbeat + two positions + heartbeat, back to back (a "sticky" stream)
        const parts = [client.encode(0x0002, {}), client.encode(0x0200, fixAt(base + n++ * 1000)), client.encode(0x0200, fixAt(base + n++ * 1000)), client.encode(0x0002, {})]
        return { bytes: Buffer.concat(parts.map((p) => p.frame)), serials: parts.map((p) => p.serial) }
      }
      const answered = (serials: number[]) => eventually(() => serials.every((s) => replies.some((r) => (r.body as { replySerial: number }).replySerial === s)))
      const probe = stream()
      const length = probe.bytes.length
      client.sendRaw(probe.bytes)
      await answered(probe.serials)
      for (let cut = 1; cut < length; cut++) {
        const s = stream()
        client.sendRaw(s.bytes.subarray(0, cut))
        await sleep(2)
        client.sendRaw(s.bytes.subarray(cut))
        await answered(s.serials)
      }
      // and one byte per write
      const s = stream()
      for (let i = 0; i < s.bytes.length; i++) {
        client.sendRaw(s.bytes.subarray(i, i + 1))
        if (i % 8 === 0) await sleep(1)
      }
      await answered(s.serials)
      t.ok(
        replies.every((r) => (r.body as { result: number }).result === 0),
        `all ${replies.length} replies ok`,
      )
      t.equal(await store.countPositions(v.vehicleId), n, `every one of the ${n} positions stored once`)
      t.equal(client.isClosed, false)
    })

    t.test('a garbage flood closes that connection; another terminal keeps working', async (t) => {
      const good = await provision(store)
      const { client: steady } = await online(gw.port, good)
      t.teardown(() => steady.close())
      const bad = await provision(store)
      const { client: flooder } = await online(gw.port, bad)
      t.teardown(() => flooder.close())
      const before = await metricValue(gw.registry, 'jt808_bad_frames_total')

      const base = Date.now() - 600_000
      let flooding = true
      const flood = (async () => {
        while (flooding && !flooder.isClosed) {
          // random bytes with delimiters sprinkled in: frames that fail to unescape, checksum or parse
          const junk = randomBytes(4096)
          for (let i = 0; i < junk.length; i += 97) junk[i] = 0x7e
          flooder.sendRaw(junk)
          await sleep(1)
        }
      })()
      const results: number[] = []
      for (let i = 0; i < 10; i++) results.push(await steady.reportPosition(fixAt(base + i * 1000)))
      await eventually(() => flooder.isClosed)
      flooding = false
      await flood
      t.same(results, Array(10).fill(0), 'the steady terminal got every ack')
      t.equal(await store.countPositions(good.vehicleId), 10)
      t.ok((await metricValue(gw.registry, 'jt808_bad_frames_total')) - before >= 5, 'bad frames counted')
      t.equal(await steady.heartbeat(), 0, 'still served after the flood')
    })

    t.test('bytes that never form a frame also close the connection', async (t) => {
      const v = await provision(store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const junk = Buffer.alloc(16 * 1024, 0x55)
      for (let i = 0; i < 8 && !client.isClosed; i++) {
        client.sendRaw(junk)
        await sleep(5)
      }
      await eventually(() => client.isClosed)
      t.ok((await metricValue(gw.registry, 'jt808_connections_closed_total', { reason: 'garbage' })) >= 1)
    })

    t.test('consecutive bad frames close; interleaved good frames reset the count', async (t) => {
      const v = await provision(store)
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const badFrame = (() => {
        const f = Buffer.from(client.encode(0x0002, {}).frame)
        f[f.length - 2] ^= 0xff // corrupt the checksum
        return f
      })()
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 4; i++) client.sendRaw(badFrame)
        t.equal(await client.heartbeat(), 0, `round ${round}: 4 bad frames then a good one: still open`)
      }
      for (let i = 0; i < 5; i++) client.sendRaw(badFrame)
      await eventually(() => client.isClosed)
      t.pass('5 consecutive bad frames closed it')
    })

    t.test('a new connection for the same terminal supersedes the old one', async (t) => {
      const v = await provision(store)
      const kinds: string[] = []
      const onSession = (e: { kind: string; phone: string }) => e.phone === v.phone && kinds.push(e.kind)
      gw.app.gateway.on('session', onSession)
      t.teardown(() => void gw.app.gateway.off('session', onSession))
      const first = await online(gw.port, v)
      t.teardown(() => first.client.close())
      const second = await (async () => {
        const { connect } = await import('./harness.js')
        const c = await connect(gw.port, v.phone)
        t.equal(await c.authenticate(first.authCode), 0, 'the second connection authenticates with the same code')
        return c
      })()
      t.teardown(() => second.close())
      await eventually(() => first.client.isClosed)
      t.pass('the old connection was closed')
      t.equal(await second.reportPosition(fixAt(Date.now() - 2000)), 0, 'the new one is served')
      const session = await backends.newState().getSession(v.phone)
      t.equal(session?.nodeId, gw.app.config.nodeId, 'the session stays registered')
      t.same(kinds, ['online', 'online'], 'no offline event for the superseded connection')
      t.ok(gw.app.gateway.isConnected(v.phone))
    })

    t.test('raw-frame archive: every received frame, bad ones included, with time and connection', async (t) => {
      const archiving = await startGateway(backends, { archiveRawFrames: true })
      t.teardown(() => archiving.close())
      const v = await provision(store)
      const from = Date.now() - 1000
      const { client } = await online(archiving.port, v)
      t.teardown(() => client.close())
      const position = client.encode(0x0200, fixAt(Date.now() - 1000))
      const bad = Buffer.from(client.encode(0x0002, {}).frame)
      bad[bad.length - 2] ^= 0xff
      client.sendRaw(bad)
      t.equal(await client.sendFrame(position.frame, 0x0200, position.serial).then((m) => (m.body as { result: number }).result), 0)
      const frames = await eventually(async () => {
        const rows = []
        for await (const f of store.exportFrames(v.phone, from, Date.now() + 1000)) rows.push(f)
        return rows.length >= 4 ? rows : null
      })
      t.equal(frames.length, 4, 'register, authenticate, the bad frame, the position')
      t.same(frames[2].frame, bad, 'the bad frame exactly as received')
      t.same(frames[3].frame, position.frame, 'the position exactly as received')
      t.match(frames[3].connection, /^127\.0\.0\.1:\d+$/)
      t.ok(frames.every((f) => f.receivedAt >= from && f.receivedAt <= Date.now()))
    })

    t.test('idle connections are closed; a heartbeating one is kept', async (t) => {
      const quiet = await online(gw.port, await provision(store))
      const busy = await online(gw.port, await provision(store))
      t.teardown(() => quiet.client.close())
      t.teardown(() => busy.client.close())
      const started = Date.now()
      for (let i = 0; i < 8; i++) {
        await sleep(250)
        t.equal(await busy.client.heartbeat(), 0)
      }
      t.ok(quiet.client.isClosed, `the silent connection was closed within ${Date.now() - started} ms`)
      t.equal(busy.client.isClosed, false, 'the heartbeating one is open')
    })
  })
}
