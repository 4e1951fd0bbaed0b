/** `jt808 decode` / `jt808 encode` against the issue's §3 contract. */
import { spawnSync } from 'node:child_process'
import { PassThrough, Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { encodeSubpackets, headerOf } from '../../protocol/index.js'
import { main } from '../../src/cli/main.js'
import { fixture, FRAMES } from './helpers.js'
import { JT808 } from '../cli-process.js'

async function run(argv: string[], stdin = ''): Promise<{ code: number; lines: string[]; stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d) => (out += d))
  stderr.on('data', (d) => (err += d))
  const code = await main(argv, { stdin: Readable.from([stdin]), stdout, stderr, env: {} })
  return { code, lines: out.split('\n').filter((l) => l !== ''), stderr: err }
}
const json = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>)

t.test('decode: one JSON object per frame, with exactly the contract keys', async (t) => {
  const f = fixture('0200 basic + mileage only')
  const r = await run(['decode', f.hex])
  t.equal(r.code, 0)
  const [m] = json(r.lines)
  t.same(Object.keys(m), ['msgId', 'version', 'phone', 'serial', 'encryption', 'packet', 'checksumOk', 'body'])
  t.match(m, { msgId: '0x0200', version: 2013, phone: '001401249917', serial: 7, encryption: 0, packet: null, checksumOk: true })
  t.match(m.body, {
    alarm: 0,
    status: 0x400e,
    latitude: -19.591535,
    longitude: -46.912186,
    altitude: 0,
    speed: 0,
    direction: 0,
    time: '2015-01-01T19:42:57+08:00',
    extras: { mileage: 11.9 },
    unknown: [],
  })
})

t.test('decode: stdin, several frames per line, whitespace, frames without delimiters', async (t) => {
  const a = fixture('0002 heartbeat').hex
  const b = fixture('0001 terminal general reply').hex
  const spaced = b.replace(/(..)/g, '$1 ')
  const r = await run(['decode'], `${a}${a}\n  ${spaced}\n${a.slice(2, -2)}\n\n`)
  t.equal(r.code, 0)
  const out = json(r.lines)
  t.same(
    out.map((o) => o.msgId),
    ['0x0002', '0x0002', '0x0001', '0x0002'],
  )
  t.same(out[2].body, { replySerial: 0, replyId: '0x8105', result: 0 }, 'replyId as "0x8105"')
})

t.test('decode: errors are lines with code, message and hex; exit status 1; --lenient', async (t) => {
  const bad = fixture('0002 heartbeat with its checksum byte changed').hex
  const r = await run(['decode', bad, 'xyz', fixture('0002 heartbeat').hex])
  t.equal(r.code, 1)
  const out = json(r.lines)
  t.same(out[0], { error: { code: 'BAD_CHECKSUM', message: 'checksum 0xcb does not match 0xca' }, hex: bad })
  t.match(out[1], { error: { code: 'BAD_FIELD' }, hex: 'xyz' })
  t.match(out[2], { msgId: '0x0002', checksumOk: true })
  const lenient = await run(['decode', '--lenient', bad])
  t.equal(lenient.code, 0)
  t.match(json(lenient.lines)[0], { msgId: '0x0002', checksumOk: false })
  const usage = await run(['decode', '--nope'])
  t.equal(usage.code, 2)
})

t.test('decode: 2019 and 2011 versions, phone digits as sent', async (t) => {
  const r = await run(['decode', fixture('0100 2019 register (bit 14, BCD[10] phone)').hex, fixture('0100 2011 register, model padded with a space').hex])
  const [a, b] = json(r.lines)
  t.match(a, { msgId: '0x0100', version: 2019, phone: '00000866496077582164' })
  t.notOk('versionFlag' in a, 'bit 14 as the version implies: not printed')
  t.match(b, { version: 2011, body: { province: 44, city: 303, manufacturer: '70111', model: 'BSJ-M7B', terminalId: '0000000', plateColor: 1, plate: '粤B88888' } })
})

t.test('decode: a subpacket set prints its fragments, then the reassembled message', async (t) => {
  const body = Buffer.alloc(1500)
  body.write('f0', 'hex')
  const s = encodeSubpackets(headerOf({ msgId: 0x0900, phone: '013912344329', serial: 40 }), Buffer.concat([Buffer.from([0xf0]), Buffer.alloc(1499, 0x7e)]))
  t.ok(s.ok)
  if (!s.ok) return
  const [one, two] = s.value.frames.map((f) => f.toString('hex'))
  const r = await run(['decode'], `${two}\n${one}\n`)
  t.equal(r.code, 0)
  const out = json(r.lines)
  t.equal(out.length, 3)
  t.match(out[0], { msgId: '0x0900', packet: { total: 2, index: 2 }, body: { raw: /^7e7e/ } })
  t.match(out[1], { packet: { total: 2, index: 1 }, serial: 40 })
  t.match(out[2], { msgId: '0x0900', serial: 40, packet: null, reassembled: true, body: { type: 0xf0 } })
  t.equal((out[2].body as { hex: string }).hex.length, 1499 * 2)
})

t.test('encode: the inverse of decode for every fixture', async (t) => {
  const input = FRAMES.map((f) => f.hex).join('\n')
  const decoded = await run(['decode'], input)
  const encoded = await run(['encode'], decoded.lines.join('\n'))
  t.equal(encoded.code, 0)
  // Frames that decoded come back byte for byte; error lines pass their hex through.
  const again = await run(['decode'], encoded.lines.join('\n'))
  t.same(again.lines, decoded.lines, 'decode(encode(decode(x))) === decode(x)')
  const valid = FRAMES.filter((f) => 'msgId' in f.expect).map((f) => f.hex)
  for (const hex of valid) t.ok(encoded.lines.includes(hex), `re-encoded ${hex.slice(0, 24)}…`)
})

t.test('encode: hand-written JSON gives the captured frame', async (t) => {
  const r = await run(['encode', '{"msgId":"0x8001","phone":"014535709217","serial":0,"body":{"replySerial":6,"replyId":"0x0002","result":0}}'])
  t.equal(r.code, 0)
  t.same(r.lines, [fixture('8001 reply to heartbeat').hex])
  const params = await run(['encode', '{"msgId":"0x8103","phone":"014535709217","serial":0,"body":{"params":[{"id":"0x0013","text":"188.245.151.94"},{"id":"0x0018","value":5015}]}}'])
  t.same(params.lines, [fixture('8103 set server address and TCP port').hex])
})

t.test('encode: bad input is reported per line, exit status 1', async (t) => {
  const r = await run(['encode'], 'not json\n{"msgId":"0x0200","phone":"1","serial":1,"body":{"alarm":0}}\n{"msgId":"nope","phone":"1","body":{}}\n')
  t.equal(r.code, 1)
  const out = json(r.lines)
  t.equal(out.length, 3)
  t.ok(out.every((o) => typeof (o.error as { code: string }).code === 'string' && 'input' in o))
})

t.test('encode: a body over 1023 bytes goes out as subpackets', async (t) => {
  const r = await run(['encode', JSON.stringify({ msgId: '0x8900', phone: '013912344329', serial: 1, body: { type: 0xf0, hex: '00'.repeat(2000) } })])
  t.equal(r.lines.length, 2)
  const back = await run(['decode'], r.lines.join('\n'))
  t.match(json(back.lines)[2], { reassembled: true, serial: 1, body: { type: 0xf0 } })
})

t.test('the jt808 binary entry point runs decode', async (t) => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const p = spawnSync(process.execPath, [...JT808, 'decode'], { cwd: root, input: fixture('0002 heartbeat').hex + '\n', encoding: 'utf8', timeout: 60_000 })
  t.equal(p.status, 0, p.stderr)
  t.match(JSON.parse(p.stdout.trim()), { msgId: '0x0002', phone: '043048325465' })
})
