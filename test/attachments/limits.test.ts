/**
 * The attachment server's bounds and refusals: each is answered with a clear result and counted,
 * and never costs the connection's other files; the per-file deadline; content checked against
 * the announced type; the Guangdong alarm id for a terminal configured so; retention deleting
 * files with their records.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { encodeBody } from '../../protocol/index.js'
import { AttachmentUploader } from '../../src/terminal/attachments.js'
import { eventually, metricValue, newPhone, openBackends, provision, sleep, startGateway } from '../gateway/harness.js'
import { raiseAlarm } from './helpers.js'

const JPEG = readFileSync(new URL('../../fixtures/media/stripe.jpg', import.meta.url))
const CLIP = readFileSync(new URL('../../fixtures/media/clip.mp4', import.meta.url))
const DAY = 86_400_000

t.test('refusals, deadline, content check, Guangdong layout, retention', async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gdPhone = newPhone()
  const gw = await startGateway(backends, {
    attachmentsMaxFileBytes: 10_000,
    attachmentsMaxFiles: 3,
    attachmentsFileDeadlineSeconds: 1,
    attachmentsVariantByTerminal: `${gdPhone}=gdrta`,
  })
  t.teardown(() => gw.close())
  const port = (gw.app.attachments.address as AddressInfo).port
  const refused = (reason: string) => metricValue(gw.registry, 'jt808_attachment_refused_total', { reason })

  const v = await provision(backends.store)
  const raised = await raiseAlarm(gw.port, v, Date.now() - 30_000, 3)
  t.teardown(() => raised.client.close())
  const ins = (await eventually(() => raised.instruction())).body
  const info = { variant: 'jsatl12' as const, terminalId: 'DSM0001', alarmFlag: ins.alarmFlag, alarmNumber: ins.alarmNumber, infoType: 0, files: [] }

  const up = await AttachmentUploader.connect('127.0.0.1', port, v.phone)
  t.teardown(() => up.destroy())
  t.equal(await up.fileInfo('early.jpg', 0, 10), 1, '0x1211 before 0x1210: refused')
  t.equal(await refused('no_alarm_yet'), 1)
  t.equal(await up.alarmInfo({ ...info, alarmNumber: 'f'.repeat(32) }), 1, 'an alarm number never given: refused')
  t.equal(await refused('unknown_alarm'), 1)
  const stranger = await AttachmentUploader.connect('127.0.0.1', port, '13000000000')
  t.teardown(() => stranger.destroy())
  t.equal(await stranger.alarmInfo(info), 1, "another terminal quoting this alarm's number: refused")
  t.equal(await refused('wrong_terminal'), 1)
  t.equal(await up.alarmInfo({ ...info, files: Array.from({ length: 4 }, (_, i) => ({ name: `f${i}.jpg`, size: 1 })) }), 1, 'more files than allowed')
  t.equal(await refused('too_many_files'), 1)
  t.equal(await up.alarmInfo(info), 0)

  // refused file, garbage and data for no file on the same connection: the next file still goes through
  t.equal(await up.fileInfo('big.mp4', 2, 10_001), 1, 'larger than the limit')
  t.equal(await refused('too_large'), 1)
  up.sendChunk('never-announced.jpg', 0, Buffer.alloc(100))
  up.client.sendRaw(Buffer.from('garbage!'))
  const photo = await up.upload('photo.jpg', 0, JPEG, { chunkBytes: 4000 })
  t.equal(photo.reply.result, 0)
  t.equal(await refused('unknown_file'), 1)
  t.equal(await refused('bad_frame'), 1)

  // the terminal missed our 0x9212 and starts the stored file again: it is told it is complete
  t.equal(await up.fileInfo('photo.jpg', 0, JPEG.length), 0)
  t.equal((await up.fileDone('photo.jpg', 0, JPEG.length)).result, 0)
  t.match(
    (await backends.store.listAttachmentFiles([ins.alarmNumber])).find((f) => f.name === 'photo.jpg'),
    { state: 'complete', objectKey: /\// },
  )

  // a "picture" whose bytes are a video: nothing to re-send, but it is not stored
  const fake = await up.upload('fake.jpg', 0, CLIP.subarray(0, 9000))
  t.equal(fake.reply.result, 0)
  t.equal(await metricValue(gw.registry, 'jt808_attachment_uploads_failed_total', { reason: 'content_type' }), 1)

  // a file left half-sent fails at its deadline; its 0x1212 is then refused
  t.equal(await up.fileInfo('slow.jpg', 0, JPEG.length), 0)
  up.sendChunk('slow.jpg', 0, JPEG.subarray(0, 1000))
  await eventually(() => metricValue(gw.registry, 'jt808_attachment_uploads_failed_total', { reason: 'deadline' }), 5000)
  await t.rejects(up.fileDone('slow.jpg', 0, JPEG.length), /refused with 0x8001 result 1/)
  const rows = await backends.store.listAttachmentFiles([ins.alarmNumber])
  t.match(
    rows.map((r) => [r.name, r.state, r.failure]),
    [
      ['photo.jpg', 'complete', null],
      ['fake.jpg', 'failed', /announced as a picture, the bytes are video\/mp4/],
      ['slow.jpg', 'failed', 'deadline'],
    ],
  )
  t.equal(gw.app.attachments.server.pendingFiles, 0)
  await up.close()

  // Guangdong: the 0x9208 carries the 40-byte alarm id; the terminal answers in that layout
  const gd = await provision(backends.store, { phone: gdPhone })
  const gdRaised = await raiseAlarm(gw.port, gd, Date.now() - 20_000, 1)
  t.teardown(() => gdRaised.client.close())
  const gdIns = (await eventually(() => gdRaised.instruction())).body
  t.equal(gdIns.variant, 'gdrta')
  const encoded = encodeBody({ msgId: 0x9208, phone: '1', serial: 1, body: gdIns })
  t.equal(encoded.ok && encoded.value.length, 1 + '127.0.0.1'.length + 4 + 40 + 32 + 16)
  const gdUp = await AttachmentUploader.connect('127.0.0.1', port, gd.phone)
  t.teardown(() => gdUp.destroy())
  t.equal(
    await gdUp.alarmInfo({
      variant: 'gdrta',
      terminalId: 'GD-TERMINAL-000000000000000001',
      alarmFlag: gdIns.alarmFlag,
      alarmNumber: gdIns.alarmNumber,
      infoType: 0,
      files: [{ name: 'gd.jpg', size: JPEG.length }],
    }),
    0,
  )
  t.equal((await gdUp.upload('gd.jpg', 0, JPEG)).reply.result, 0)
  t.equal((await backends.store.getAttachmentAlarm(gdIns.alarmNumber))?.state, 'complete')
  await gdUp.close()

  // retention: alarms past JT808_RETENTION_ATTACHMENTS_DAYS go with their files
  const stored = (await backends.store.listAttachmentFiles([ins.alarmNumber, gdIns.alarmNumber])).filter((f) => f.state === 'complete')
  t.equal(stored.length, 2)
  const objects = gw.app.attachments.objects
  for (const f of stored) t.equal(await objects.size(f.objectKey as string), f.size)
  t.equal(await gw.app.attachments.applyRetention(Date.now() + 1000 * DAY), 0, 'nothing is old yet')
  t.equal(await gw.app.attachments.applyRetention(Date.now() + 1096 * DAY), 2)
  for (const f of stored) t.equal(await objects.size(f.objectKey as string), null, 'file deleted')
  t.same(await backends.store.listAttachmentFiles([ins.alarmNumber, gdIns.alarmNumber]), [])
  t.equal(await backends.store.getAttachmentAlarm(ins.alarmNumber), null)
  await sleep(0)
})
