/**
 * jt808 replay: a capture recorded by the real gateway's raw-frame archive, replayed against a
 * fresh real gateway (every frame acknowledged, counts exact, the 0x0102 given the new code);
 * pacing on a fake clock; bad frames reported, not fatal; unanswered frames and the exit code;
 * phone rewriting into copies; one connection for all.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { decodeFrame, encodeMessage, type OutgoingMessage } from '../../protocol/index.js'
import { runReplay } from '../../src/cli/commands/replay.js'
import { canonicalPhone } from '../../src/domain.js'
import { CaptureReader } from '../../src/sim/capture.js'
import { FakeClock } from '../../src/sim/clock.js'
import { startReplay, type ReplaySummary } from '../../src/sim/replay.js'
import { locationOf } from '../../src/terminal/position.js'
import { fixAt, online, openBackends, provision, startGateway } from '../gateway/harness.js'
import { LoopbackGateway } from '../terminal/loopback-gateway.js'
import { captureIO } from './io.js'

const dir = mkdtempSync(join(tmpdir(), 'jt808-replay-'))
let fileSeq = 0
function writeCapture(lines: string[]): string {
  const file = join(dir, `capture-${++fileSeq}.ndjson`)
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

function frameHex(msgId: number, body: unknown, serial: number, phone = '013800000001', version: 2013 | 2019 = 2013): string {
  const out = encodeMessage({ msgId, phone, serial, version, body } as OutgoingMessage)
  if (!out.ok) throw new Error(out.error.message)
  return out.value.toString('hex')
}

const T0 = Date.parse('2024-05-01T02:00:00.000Z')
const record = (dt: number, hex: string, phone = '013800000001', connection = '10.0.0.7:50001') => JSON.stringify({ t: new Date(T0 + dt).toISOString(), phone, connection, hex })

t.test('a capture exported from the archive replays against the gateway, every frame acknowledged', async (t) => {
  // Record: a terminal session through the real gateway with the raw-frame archive on.
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends, { archiveRawFrames: true })
  t.teardown(() => gw.close())
  const v = await provision(backends.store)
  const { client, authCode } = await online(gw.port, v)
  const start = Date.now() - 3600_000
  for (let i = 0; i < 5; i++) t.equal(await client.reportPosition(fixAt(start + i * 30_000)), 0)
  t.equal(await client.heartbeat(), 0)
  t.equal(await client.send(0x0704, { type: 1, items: [fixAt(start - 60_000), fixAt(start - 30_000)] }).then((m) => (m.body as { result: number }).result), 0)
  await client.close()
  const lines: string[] = []
  const phone = canonicalPhone(v.phone)
  for (let i = 0; i < 100 && lines.length < 9; i++) {
    lines.length = 0
    for await (const f of backends.store.exportFrames(phone, 0, Date.now() + 1000)) {
      lines.push(JSON.stringify({ t: new Date(f.receivedAt).toISOString(), phone: f.phone, connection: f.connection, hex: f.frame.toString('hex') }))
    }
    if (lines.length < 9) await new Promise((r) => setTimeout(r, 50)) // the archive writes in batches
  }
  t.equal(lines.length, 9, 'the archive holds register, auth, 5 positions, heartbeat, batch')
  const file = writeCapture(lines)
  const vehicle = await backends.store.findVehicle(v.plate, 2)
  t.equal(await backends.store.countPositions(vehicle!.id), 7)

  // Replay. Registering again issues a new code, so the capture's own 0x0102 is stale: the
  // replay must send the new one for the session to be accepted.
  const { io, stdout } = captureIO()
  const code = await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--json'], io)
  const s = JSON.parse(stdout()) as ReplaySummary
  t.equal(code, 0, 'exit 0: every frame acknowledged')
  t.equal(s.framesSent, 9)
  t.equal(s.framesExpectingAnswer, 9)
  t.same(s.acksByResult, { '0': 9 }, 'the replayed 0x0102 carried the new code: accepted')
  t.equal(s.framesWithoutAnswer, 0)
  t.equal(s.connections, 1)
  t.equal(s.connectionErrors, 0)
  t.equal(s.synthesized, 0)
  t.same(s.framesById, { '0x0002': 1, '0x0100': 1, '0x0102': 1, '0x0200': 5, '0x0704': 1 })
  t.ok(s.ackLatencyMs.p50 !== null && s.ackLatencyMs.p99 !== null && s.ackLatencyMs.p50 <= s.ackLatencyMs.p99)
  t.equal(await backends.store.countPositions(vehicle!.id), 7, 'retransmitted positions acknowledged, stored once')
  const stale = await (await import('../gateway/harness.js')).connect(gw.port, v.phone)
  t.equal(await stale.authenticate(authCode), 1, 'the original code no longer works: the replay really re-registered')
  await stale.close()

  // The same capture without its 0x0102: the replay answers 0x8100 itself.
  const noAuth = writeCapture(lines.filter((l) => !decodeHex(l, 0x0102)))
  const again = captureIO()
  const code2 = await runReplay([noAuth, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--json'], again.io)
  const s2 = JSON.parse(again.stdout()) as ReplaySummary
  t.equal(s2.synthesized, 1, 'one 0x0102 written by the replay')
  t.equal(s2.framesSent, 9)
  t.same(s2.acksByResult, { '0': 9 })
  t.equal(code2, 0)
})

function decodeHex(line: string, msgId: number): boolean {
  const hex = (JSON.parse(line) as { hex: string }).hex
  const d = decodeFrame(Buffer.from(hex, 'hex').subarray(1, -1))
  return d.ok && d.value.message.msgId === msgId
}

t.test('timing is the capture timing scaled by --speed (fake clock)', async (t) => {
  const gw = await LoopbackGateway.start()
  t.teardown(() => gw.stop())
  const loc = (s: number) => locationOf({ latitude: 30, longitude: 120, speed: 50, direction: 0, time: T0 + s * 1000 })
  const lines = [record(0, frameHex(0x0200, loc(0), 1)), record(1000, frameHex(0x0200, loc(1), 2)), record(1000, frameHex(0x0002, {}, 3)), record(4000, frameHex(0x0200, loc(4), 4))]
  const reader = new CaptureReader('mem')
  for (const l of lines) reader.line(l)
  for (const [speed, expected] of [
    [1, [0, 1000, 1000, 4000]],
    [2, [0, 500, 500, 2000]],
    [0.5, [0, 2000, 2000, 8000]],
    [Infinity, [0, 0, 0, 0]],
  ] as const) {
    const clock = new FakeClock(1_000_000)
    const at: number[] = []
    const r = startReplay({ target: { host: '127.0.0.1', port: gw.port }, frames: reader.frames, speed, clock, onSend: (f) => at.push(f.at) })
    const s = await r.done
    t.same(at, expected, `speed ${speed}: frames sent at the scaled capture times`)
    t.equal(s.acksByResult['0'], 4)
  }
  // Two loops follow each other with the capture's span plus one second.
  const clock = new FakeClock(0)
  const at: number[] = []
  const s = await startReplay({ target: { host: '127.0.0.1', port: gw.port }, frames: reader.frames, speed: 2, loops: 2, clock, onSend: (f) => at.push(f.at) }).done
  t.same(at, [0, 500, 500, 2000, 2500, 3000, 3000, 4500])
  t.equal(s.framesSent, 8)
})

t.test('bad frames in a capture are reported, sent as captured, and not fatal', async (t) => {
  const gw = await LoopbackGateway.start()
  t.teardown(() => gw.stop())
  const good = frameHex(0x0200, locationOf({ latitude: 30, longitude: 120, speed: 50, direction: 0, time: T0 }), 7)
  const badChecksum = good.slice(0, -4) + (good.slice(-4, -2) === '00' ? '01' : '00') + '7e'
  const lines = [
    '# a comment',
    record(0, good),
    'this is not a frame',
    record(10, badChecksum),
    record(20, '7e0200ff7e'), // truncated
    '{"t": "yesterday", "hex": "7e7e"}',
    '{"t": "2024-05-01T02:00:00Z"}',
    record(30, frameHex(0x0002, {}, 8)),
    frameHex(0x0002, {}, 9) + frameHex(0x0002, {}, 10), // two frames on a hex line
  ]
  const file = writeCapture(lines)
  const { io, stdout } = captureIO()
  const code = await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max'], io)
  const text = stdout()
  t.equal(code, 0, 'every good frame was acknowledged: exit 0')
  t.match(text, /every frame acknowledged/)
  t.match(text, /frames sent\s+6 /, 'good frames and the two bad frames went out')
  t.match(text, /bad frames\s+5/)
  t.match(text, /capture-\d+\.ndjson:3: neither hex nor a JSON object/)
  t.match(text, /capture-\d+\.ndjson:4: BAD_CHECKSUM/)
  t.match(text, /capture-\d+\.ndjson:5: TRUNCATED/)
  t.match(text, /capture-\d+\.ndjson:6: "t" is not a time/)
  t.match(text, /capture-\d+\.ndjson:7: record has no "hex"/)
  t.equal(gw.received.length, 4, 'the gateway decoded the 4 good frames')
  t.equal(gw.badFrames.length, 2, 'and saw the 2 bad ones')

  // --skip-bad keeps them off the wire.
  const before = gw.badFrames.length
  const again = captureIO()
  t.equal(await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--skip-bad', '--json'], again.io), 0)
  t.equal(JSON.parse(again.stdout()).framesSent, 4)
  t.equal(gw.badFrames.length, before)
})

t.test('frames without an answer are counted and fail the exit code', async (t) => {
  // This double never answers heartbeats and refuses one position.
  const gw = await LoopbackGateway.start({ result: (m) => (m.msgId === 0x0002 ? null : m.serial === 2 ? 1 : 0) })
  t.teardown(() => gw.stop())
  const loc = locationOf({ latitude: 30, longitude: 120, speed: 50, direction: 0, time: T0 })
  const file = writeCapture([
    record(0, frameHex(0x0200, loc, 1)),
    record(1, frameHex(0x0200, loc, 2)),
    record(2, frameHex(0x0002, {}, 3)),
    record(3, frameHex(0x0001, { replySerial: 1, replyId: 0x8300, result: 0 }, 4)),
  ])
  const { io, stdout } = captureIO()
  const code = await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--timeout', '0.2', '--json'], io)
  const s = JSON.parse(stdout()) as ReplaySummary
  t.equal(code, 1)
  t.equal(s.allAcknowledged, false)
  t.equal(s.framesSent, 4)
  t.equal(s.framesExpectingAnswer, 3, '0x0001 expects no answer')
  t.same(s.acksByResult, { '0': 1, '1': 1 })
  t.equal(s.framesWithoutAnswer, 1)
})

t.test('no gateway listening: connection errors, frames not sent, exit 1', async (t) => {
  const gw = await LoopbackGateway.start()
  const port = gw.port
  await gw.stop()
  const file = writeCapture([record(0, frameHex(0x0002, {}, 1)), record(1, frameHex(0x0002, {}, 2))])
  const { io, stdout } = captureIO()
  t.equal(await runReplay([file, '--target', `127.0.0.1:${port}`, '--speed', 'max', '--json'], io), 1)
  const s = JSON.parse(stdout()) as ReplaySummary
  t.equal(s.framesNotSent, 2)
  t.ok(s.connectionErrors >= 1)
})

t.test('--rewrite-phone with --copies replays the capture as several terminals', async (t) => {
  const gw = await LoopbackGateway.start()
  t.teardown(() => gw.stop())
  const loc = locationOf({ latitude: 30, longitude: 120, speed: 50, direction: 0, time: T0 })
  const register = { province: 37, city: 100, manufacturer: 'SIM01', model: 'M', terminalId: 'T000001', plateColor: 2, plate: '鲁A12345' }
  const file = writeCapture([
    record(0, frameHex(0x0100, register, 0, '013800000001'), '013800000001'),
    record(0, frameHex(0x0200, loc, 1, '013800000001'), '013800000001'),
    record(0, frameHex(0x0200, loc, 1, '013800000002'), '013800000002', '10.0.0.8:1'),
    record(5, frameHex(0x0002, {}, 2, '013800000001'), '013800000001'),
  ])
  const { io, stdout } = captureIO()
  t.equal(await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--rewrite-phone', '0150', '--copies', '3', '--json'], io), 0)
  const s = JSON.parse(stdout()) as ReplaySummary
  t.equal(s.framesSent, 15, '4 frames × 3 copies, and a 0x0102 after each 0x8100 (the capture has none)')
  t.equal(s.synthesized, 3)
  t.equal(s.connections, 6, 'two terminals × three copies, one connection each')
  const plates = gw.received
    .filter((r) => r.message.msgId === 0x0100)
    .map((r) => `${r.message.phone} ${(r.message.body as { plate: string }).plate}`)
    .sort()
  t.same(plates, ['015000000000 鲁A12345-0', '015000000002 鲁A12345-2', '015000000004 鲁A12345-4'], 'each renumbered terminal registers its own vehicle')
  const phones = [...new Set(gw.received.map((r) => r.message.phone))].sort()
  t.same(phones, ['015000000000', '015000000001', '015000000002', '015000000003', '015000000004', '015000000005'])
  t.equal(gw.badFrames.length, 0, 'rewritten frames carry valid checksums')

  const single = captureIO()
  const before = gw.sockets.length
  t.equal(await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--connections', 'single', '--json'], single.io), 0)
  t.equal(gw.sockets.length - before, 1, 'one connection for every terminal')
  t.equal(JSON.parse(single.stdout()).framesSent, 5)
})

t.test('a reconnect in the capture is replayed as a reconnect', async (t) => {
  const gw = await LoopbackGateway.start()
  t.teardown(() => gw.stop())
  const file = writeCapture([
    record(0, frameHex(0x0002, {}, 1)),
    record(1, frameHex(0x0002, {}, 2), '013800000001', '10.0.0.7:50002'),
    record(2, frameHex(0x0002, {}, 3), '013800000001', '10.0.0.7:50002'),
  ])
  const { io, stdout } = captureIO()
  t.equal(await runReplay([file, '--target', `127.0.0.1:${gw.port}`, '--speed', 'max', '--json'], io), 0)
  const s = JSON.parse(stdout()) as ReplaySummary
  t.equal(s.connections, 2)
  t.equal(s.connectionErrors, 0)
  t.same(
    gw.received.map((r) => r.connection),
    [0, 1, 1],
  )
})

t.test('usage errors exit 2 with the usage', async (t) => {
  const { main } = await import('../../src/cli/main.js')
  for (const argv of [['replay'], ['replay', 'x', '--copies', '2'], ['replay', 'x', '--speed', 'fast'], ['replay', 'x', '--target', 'nohost'], ['replay', 'x', '--bogus']]) {
    const { io, stderr } = captureIO()
    t.equal(await main(argv, io), 2, argv.join(' '))
    t.match(stderr(), /usage: jt808 replay/)
  }
  const { io, stdout } = captureIO()
  t.equal(await main(['replay', '--help'], io), 0)
  t.match(stdout(), /--rewrite-phone PREFIX/)
})
