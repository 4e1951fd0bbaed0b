/** `jt808 decode` / `jt808 encode` with JT/T 809 frames: autodetected by 0x5b, or --protocol 809. */
import { PassThrough, Readable } from 'node:stream'
import t from 'tap'
import { main } from '../../../src/cli/main.js'
import { fixture809, FIXTURES_809 } from './helpers.js'

async function run(argv: string[], stdin = ''): Promise<{ code: number; lines: string[] }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  stdout.on('data', (d) => (out += d))
  stderr.resume()
  const code = await main(argv, { stdin: Readable.from([stdin]), stdout, stderr, env: {} })
  return { code, lines: out.split('\n').filter((l) => l !== '') }
}
const json = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>)

t.test('decode: an 809 frame is recognised by its 0x5b and printed with its header', async (t) => {
  const f = fixture809('2011 1001 login')
  const r = await run(['decode', f.hex])
  t.equal(r.code, 0)
  const [m] = json(r.lines)
  t.same(Object.keys(m), ['protocol', 'msgId', 'edition', 'sn', 'gnssCentreId', 'versionFlag', 'encryptFlag', 'encryptKey', 'crcOk', 'body'])
  t.match(m, { protocol: 809, msgId: '0x1001', edition: 2011, versionFlag: '1.0.0', crcOk: true, body: { userId: 20180920, password: '20180920', downLinkIp: '127.0.0.1', downLinkPort: 809 } })
})

t.test('decode: --keys decrypts, quirks and dataType are shown, 808 and 809 lines mix', async (t) => {
  const f = fixture809('2019 1202 real-time position with 808 0x0200 body, encrypted')
  const heartbeat808 = '7e0002000001234567890100008a7e'
  const r = await run(['decode', '--keys', '56107078,37382110,50361430'], `${f.hex}\n${heartbeat808}\n`)
  t.equal(r.code, 0)
  const [a, b] = json(r.lines)
  t.match(a, { protocol: 809, msgId: '0x1200', edition: 2019, encryptFlag: 1, quirks: ['unescaped'], body: { plate: '测B01844', dataType: '0x1202' } })
  t.match(b, { msgId: '0x0002' })
  const ack = await run(['decode', '--keys', '56107078,37382110,50361430', fixture809('2019 1401 supervision reply, 2019 layout').hex])
  t.match(json(ack.lines)[0], { body: { dataType: '0x1401', data: { sourceDataType: '0x1402', sourceMsgSn: 4, result: 1 } } }, 'sourceDataType shown as an id')
  const without = await run(['decode', f.hex])
  t.match(json(without.lines)[0], { bodyEncrypted: true, body: { raw: /^[0-9a-f]+$/ } })
})

t.test('decode | encode gives every fixture frame back', async (t) => {
  const hexes = FIXTURES_809.filter((f) => f.hex.length < 5000)
  for (const f of hexes) {
    const keys = f.keys ? ['--keys', `${f.keys.m1},${f.keys.ia1},${f.keys.ic1}`] : []
    const d = await run(['decode', ...keys, f.hex])
    t.equal(d.code, 0, f.name)
    const e = await run(['encode', ...keys], d.lines.join('\n') + '\n')
    t.equal(e.code, 0)
    t.same(e.lines, [f.hex], f.name)
  }
})

t.test('--protocol 809: frames without flags; errors are lines; usage errors', async (t) => {
  const f = fixture809('2011 1001 login')
  const r = await run(['decode', '--protocol', '809', f.hex.slice(2, -2)])
  t.match(json(r.lines)[0], { msgId: '0x1001' })
  const broken = f.hex.slice(0, -6) + '00' + f.hex.slice(-4)
  const bad = await run(['decode', broken])
  t.equal(bad.code, 1)
  t.match(json(bad.lines)[0], { error: { code: 'BAD_CHECKSUM' }, hex: broken })
  t.equal((await run(['decode', '--keys', '1,2'])).code, 2)
  t.equal((await run(['decode', '--protocol', '810'])).code, 2)
  const enc = await run(['encode', '--protocol', '809'], JSON.stringify({ msgId: '0x1005', sn: 3, gnssCentreId: 9, body: {} }) + '\n')
  t.equal(enc.code, 0)
  // flag, MSG_LENGTH 26, sn 3, 0x1005, access code 9, version 1.0.0, not encrypted, key 0, CRC, flag
  t.match(enc.lines[0], /^5b0000001a000000031005000000090100000000000000[0-9a-f]{4}5d$/)
  const noKeys = await run(['encode'], JSON.stringify({ protocol: 809, msgId: '0x9001', encryptFlag: 1, body: { verifyCode: 1 } }) + '\n')
  t.equal(noKeys.code, 1)
  t.match(json(noKeys.lines)[0], { error: { code: 'BAD_FIELD' } })
})
