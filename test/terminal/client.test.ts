import t from 'tap'
import { decodeFrame, encodeMessage, type Message } from '../../protocol/index.js'
import { ConnectionClosedError, ReplyTimeoutError, TerminalClient, locationOf, resultOf } from '../../src/terminal/index.js'
import { LoopbackGateway } from './loopback-gateway.js'

const fix = { latitude: 31.2304, longitude: 121.4737, speed: 62.3, direction: 271, time: Date.UTC(2024, 4, 1, 2, 3, 4) }

t.test('positions and heartbeats are answered by serial, 2013 and 2019', async (t) => {
  for (const version of [2013, 2019] as const) {
    const gw = await LoopbackGateway.start({ result: (m) => (m.msgId === 0x0002 ? 1 : 0) })
    const phone = version === 2019 ? '00000000013800138000' : '013800138000'
    const c = await TerminalClient.connect('127.0.0.1', gw.port, { phone, version, firstSerial: 0xfffe })
    const [a, b, h] = await Promise.all([c.reportPosition(locationOf(fix)), c.reportPosition(locationOf({ ...fix, speed: 0 })), c.heartbeat()])
    t.same([a, b, h], [0, 0, 1], `${version}: results matched to their own sends`)
    const serials = gw.received.map((r) => r.message.serial)
    t.same(serials, [0xfffe, 0xffff, 0], `${version}: serial counter wraps`)
    const first = gw.received[0].message
    t.equal(first.version, version)
    t.equal(first.phone, phone)
    t.equal((first.body as { speed: number }).speed, 62.3)
    t.equal((first.body as { time: string }).time, '2024-05-01T10:03:04+08:00')
    await c.close()
    await gw.stop()
  }
})

t.test('a missing answer times out; a closed connection rejects what is pending', async (t) => {
  const gw = await LoopbackGateway.start({ result: () => null })
  const c = await TerminalClient.connect('127.0.0.1', gw.port, { phone: '013800138001', replyTimeoutMs: 50 })
  await t.rejects(c.heartbeat(), ReplyTimeoutError)
  t.equal(c.inFlight, 0)
  const p = c.send(0x0200, locationOf(fix))
  c.destroy()
  await t.rejects(p, ConnectionClosedError)
  await gw.stop()
})

t.test('unknown codec ids fail with the codec error, nothing sent', async (t) => {
  const gw = await LoopbackGateway.start()
  const c = await TerminalClient.connect('127.0.0.1', gw.port, { phone: '013800138002' })
  await t.rejects(c.send(0x0f0f, { foo: 1 }), { name: 'EncodeError' })
  // A raw body for an id without a codec is sent as bytes and acknowledged.
  const reply = await c.send(0x0f0f, { raw: '0102' })
  t.equal(resultOf(reply), 0)
  t.equal((gw.received[0].message.body as { raw: string }).raw, '0102')
  await c.close()
  await gw.stop()
})

t.test('split writes and garbage through sendRaw reach the server as frames', async (t) => {
  const gw = await LoopbackGateway.start()
  const c = await TerminalClient.connect('127.0.0.1', gw.port, { phone: '013800138003' })
  const { frame, serial } = c.encode(0x0200, locationOf(fix))
  const answered = c.awaitReply(0x0200, serial)
  c.sendRaw(Buffer.from('deadbeef', 'hex'))
  for (let i = 0; i < frame.length; i += 3) {
    c.sendRaw(frame.subarray(i, i + 3))
    await new Promise((r) => setImmediate(r))
  }
  t.equal(resultOf(await answered), 0)
  t.equal(gw.received.length, 1)
  await c.close()
  await gw.stop()
})

t.test('downlink commands are answered as a terminal must', async (t) => {
  const gw = await LoopbackGateway.start()
  const seen: Message[] = []
  const c = await TerminalClient.connect('127.0.0.1', gw.port, { phone: '013800138004', onMessage: (m) => seen.push(m) })
  await c.heartbeat() // so the server knows the connection
  const waitFor = async (n: number) => {
    for (let i = 0; i < 200 && gw.received.length < n; i++) await new Promise((r) => setTimeout(r, 5))
  }
  // 0x8202 (temporary tracking) has no table entry here: raw body; any unknown command gets 0x0001 ok.
  const s1 = gw.command(0, 0x8202, { raw: '000a0000003c' }, c.phone)
  await waitFor(2)
  const a1 = gw.received[1].message
  t.equal(a1.msgId, 0x0001)
  t.same(a1.body, { replySerial: s1, replyId: 0x8202, result: 0 })
  // 0x8201 position query → 0x0201 with the current position.
  const s2 = gw.command(0, 0x8201, { raw: '' }, c.phone)
  await waitFor(3)
  const a2 = gw.received[2].message
  t.equal(a2.msgId, 0x0201)
  t.equal((a2.body as { replySerial: number }).replySerial, s2)
  // 0x8104 parameter query → 0x0104 with the terminal's parameters; 0x8107 → 0x0107 attributes; 0x8300 text → 0x0001.
  const s3 = gw.command(0, 0x8104, {}, c.phone)
  await waitFor(4)
  const a3 = gw.received[3].message
  t.equal(a3.msgId, 0x0104)
  t.equal((a3.body as { replySerial: number }).replySerial, s3)
  t.ok(
    (a3.body as { params: Array<{ id: number; value?: number }> }).params.some((p) => p.id === 0x0001 && p.value === 60),
    'heartbeat parameter reported',
  )
  gw.command(0, 0x8107, {}, c.phone)
  await waitFor(5)
  t.equal(gw.received[4].message.msgId, 0x0107)
  t.equal((gw.received[4].message.body as { terminalType: number }).terminalType, 2)
  const s5 = gw.command(0, 0x8300, { flags: 0x08, text: '请注意限速' }, c.phone)
  await waitFor(6)
  t.same(gw.received[5].message.body, { replySerial: s5, replyId: 0x8300, result: 0 })
  t.ok(seen.some((m) => m.msgId === 0x8202))
  await c.close()
  await gw.stop()
})

t.test('register and authenticate, 2013 and 2019', async (t) => {
  const gw = await LoopbackGateway.start({ authCode: 'AC-77' })
  for (const version of [2013, 2019] as const) {
    const c = await TerminalClient.connect('127.0.0.1', gw.port, { phone: version === 2019 ? '00000000013800138005' : '013800138005', version })
    const reg = await c.register({ province: 44, city: 100, manufacturer: 'SIM01', model: 'M1', terminalId: 'T000001', plateColor: 2, plate: '粤B12345' })
    t.equal(reg.result, 0)
    t.equal(reg.authCode, 'AC-77')
    t.equal(await c.authenticate(reg.authCode as string), 0)
    await c.close()
  }
  await gw.stop()
})

t.test('encode matches decode of the same message', async (t) => {
  const out = encodeMessage({ msgId: 0x0200, phone: '013800138006', serial: 9, body: locationOf(fix) })
  t.ok(out.ok)
  if (!out.ok) return
  const d = decodeFrame(out.value.subarray(1, -1))
  t.ok(d.ok)
})
