/**
 * Subpacket uploads and events, on both backends: 0x0801 media in subpackets (complete →
 * 0x8800 with nothing missing and the media stored; a lost packet re-requested by 0x8800
 * listing it), a subpacketed 0x0704 (fragments acknowledged, a lost one re-requested with
 * 0x8003), 0x0702 driver card events stored and emitted.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { encodeBody, encodeSubpackets, headerOf, type Message, type OutgoingMessage } from '../../protocol/index.js'
import type { DriverCardEvent } from '../../src/domain.js'
import type { TerminalClient } from '../../src/terminal/client.js'
import { BACKENDS, eventually, fixAt, online, openBackends, provision, startGateway } from './harness.js'

/** Encodes a message as subpacket frames with the client's serials. */
function fragments(client: TerminalClient, msgId: number, body: unknown, packetSize: number): { frames: Buffer[]; serials: number[] } {
  const bytes = encodeBody({ msgId, phone: client.phone, serial: 0, body } as OutgoingMessage)
  if (!bytes.ok) throw new Error(bytes.error.message)
  const first = client.nextSerial()
  const out = encodeSubpackets(headerOf({ msgId, phone: client.phone, serial: first, version: client.version }), bytes.value, { packetSize })
  if (!out.ok) throw new Error(out.error.message)
  for (let i = 1; i < out.value.frames.length; i++) client.nextSerial()
  return out.value
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const gw = await startGateway(backends, { subpacketTimeoutSeconds: 1 })
    t.teardown(() => gw.close())
    const { store } = backends

    t.test('0x0801 media: reassembled, stored, 0x8800; a lost packet is re-requested', async (t) => {
      const v = await provision(store)
      const platform: Message[] = []
      const { client } = await online(gw.port, v, 2013, { onMessage: (m) => platform.push(m) })
      t.teardown(() => client.close())
      const media: Array<{ mediaId: number; bytes: number }> = []
      const onMedia = (e: { mediaId: number; bytes: number; phone: string }) => e.phone === v.phone && media.push(e)
      gw.app.gateway.on('media', onMedia)
      t.teardown(() => void gw.app.gateway.off('media', onMedia))

      const jpeg = randomBytes(2500)
      const body = { mediaId: 77, type: 0, format: 0, event: 1, channel: 1, location: fixAt(Date.now() - 1000), data: jpeg.toString('hex') }
      const { frames } = fragments(client, 0x0801, body, 512)
      t.ok(frames.length >= 5, `${frames.length} subpackets`)
      for (const f of frames) client.sendRaw(f)
      const done = await eventually(() => platform.find((m) => m.msgId === 0x8800 && (m.body as { mediaId: number }).mediaId === 77))
      t.same((done.body as { packetIds?: number[] }).packetIds ?? [], [], '0x8800 lists nothing missing')
      t.notOk(
        platform.some((m) => m.msgId === 0x8001 && (m.body as { replyId: number }).replyId === 0x0801),
        'media fragments are not acked one by one',
      )
      await eventually(() => media.length === 1)
      t.same(media[0], { phone: v.phone, vehicleId: v.vehicleId, mediaId: 77, type: 0, event: 1, bytes: 2500 }, 'stored with its metadata')

      // second upload with packet 2 lost: after the timeout the platform asks for it by 0x8800
      const second = fragments(client, 0x0801, { ...body, mediaId: 78 }, 512)
      second.frames.forEach((f, i) => i !== 1 && client.sendRaw(f))
      const ask = await eventually(() => platform.find((m) => m.msgId === 0x8800 && (m.body as { mediaId: number }).mediaId === 78), 5000)
      t.same((ask.body as { packetIds: number[] }).packetIds, [2], 'the missing packet is listed')
      client.sendRaw(second.frames[1])
      await eventually(() => platform.filter((m) => m.msgId === 0x8800 && (m.body as { mediaId: number }).mediaId === 78).length === 2)
      await eventually(() => media.length === 2)
      t.equal(media[1].bytes, 2500, 'complete after the re-sent packet')
    })

    t.test('a subpacketed 0x0704: fragments acked, a lost one re-requested by 0x8003 after the timeout', async (t) => {
      const v = await provision(store)
      const platform: Message[] = []
      const { client } = await online(gw.port, v, 2013, { onMessage: (m) => platform.push(m) })
      t.teardown(() => client.close())
      const base = Date.now() - 7_200_000
      const items = Array.from({ length: 30 }, (_, i) => fixAt(base + i * 1000))
      const { frames, serials } = fragments(client, 0x0704, { type: 1, items }, 300)
      t.ok(frames.length >= 3)
      // the last fragment is lost: only the idle timeout (1 s here) can notice
      const last = frames.length - 1
      const sentAt = Date.now()
      frames.forEach((f, i) => i !== last && client.sendRaw(f))
      const resend = await eventually(() => platform.find((m) => m.msgId === 0x8003))
      t.ok(Date.now() - sentAt >= 900, 're-requested after the subpacket timeout')
      t.same(resend.body, { originalSerial: serials[0], packetIds: [last + 1] }, '0x8003 quotes the first serial and the missing index')
      client.sendRaw(frames[last])
      await eventually(() => serials.every((s) => platform.some((m) => m.msgId === 0x8001 && (m.body as { replySerial: number }).replySerial === s)))
      t.pass('every fragment acknowledged')
      t.equal(await store.countPositions(v.vehicleId), 30, 'all 30 blind-area items stored')
    })

    t.test('0x0702 driver card: stored, emitted, acknowledged', async (t) => {
      const v = await provision(store)
      const events: DriverCardEvent[] = []
      const listener = (e: DriverCardEvent) => e.phone === v.phone && events.push(e)
      gw.app.gateway.on('driver-card', listener)
      t.teardown(() => void gw.app.gateway.off('driver-card', listener))
      const { client } = await online(gw.port, v)
      t.teardown(() => client.close())
      const reply = await client.send(0x0702, {
        status: 1,
        time: '2024-05-06T08:30:00+08:00',
        readResult: 0,
        driverName: '张三',
        qualificationNo: '370100198001010011',
        issuer: '济南市交通运输局',
        validUntil: '2027-12-31',
      })
      t.equal((reply.body as { result: number }).result, 0)
      t.equal(events.length, 1)
      t.match(events[0], { vehicleId: v.vehicleId, status: 1, time: Date.parse('2024-05-06T00:30:00Z'), driverName: '张三', qualificationNo: '370100198001010011', validUntil: '2027-12-31' })
    })
  })
}
