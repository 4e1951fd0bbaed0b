/**
 * AttachmentStore on every backend (PostgreSQL, PGlite, PGlite-TimescaleDB): an alarm inserted
 * once per key, file rows upserted by (alarm, name), lookups, retention listing with object
 * keys, deletion cascading to the files.
 */
import t from 'tap'
import type { AttachmentAlarm } from '../../src/store/attachments.js'
import { DAY, openTestStore, STORE_BACKENDS } from './helpers.js'

const NOW = Date.parse('2026-06-15T10:00:00Z')

function alarm(n: number, createdAt: number): AttachmentAlarm {
  return {
    alarmNumber: String(n).padStart(32, '0'),
    alarmKey: `AS-1391234-${n}-dsm`,
    phone: '13912345678',
    vehicleId: 7,
    plate: '苏A12345',
    plateColor: 2,
    enterpriseLicenseNo: '320100000001',
    variant: n % 2 ? 'gdrta' : 'jsatl12',
    kind: 'dsm',
    alarmType: 2,
    alarmLevel: 2,
    alarmId: { terminalId: 'DSM0001', time: '2026-06-15T18:00:00+08:00', serial: n, attachmentCount: 2, reserved: 0 },
    deviceTime: createdAt,
    expectedFiles: 2,
    anomalyId: `AS-${n}`,
    state: 'instructed',
    createdAt,
    updatedAt: createdAt,
  }
}

for (const backend of STORE_BACKENDS) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend)
    const a = alarm(1, NOW)
    t.same(await store.insertAttachmentAlarm(a), a)
    const again = await store.insertAttachmentAlarm({ ...a, alarmNumber: 'f'.repeat(32) })
    t.equal(again.alarmNumber, a.alarmNumber, 'the same key gives back the alarm stored first')
    t.same(await store.getAttachmentAlarm(a.alarmNumber), a)
    t.same(await store.attachmentAlarmsOfAnomaly('AS-1'), [a])
    await store.setAttachmentAlarmState(a.alarmNumber, 'uploading', NOW + 1000)
    t.match(await store.getAttachmentAlarm(a.alarmNumber), { state: 'uploading', updatedAt: NOW + 1000 })

    const file = {
      alarmNumber: a.alarmNumber,
      name: 'x.jpg',
      fileType: 0,
      size: 5_000_000_000,
      received: 0,
      state: 'pending' as const,
      rounds: 0,
      contentType: null,
      sha256: null,
      objectKey: null,
      failure: null,
      startedAt: NOW,
      completedAt: null,
    }
    const id = await store.saveAttachmentFile(file)
    const id2 = await store.saveAttachmentFile({
      ...file,
      received: file.size,
      state: 'complete',
      rounds: 2,
      contentType: 'image/jpeg',
      sha256: 'ab'.repeat(32),
      objectKey: `${a.alarmNumber}/${id}`,
      completedAt: NOW + 5000,
    })
    t.equal(id2, id, 'upserted by (alarm, name)')
    const got = await store.getAttachmentFile(id)
    t.match(got, {
      file: { id, size: 5_000_000_000, state: 'complete', rounds: 2, objectKey: `${a.alarmNumber}/${id}`, completedAt: NOW + 5000 },
      alarm: { alarmNumber: a.alarmNumber, enterpriseLicenseNo: '320100000001' },
    })
    t.equal(await store.getAttachmentFile(id + 1000), null)
    await store.saveAttachmentFile({ ...file, name: 'y.mp4', fileType: 2 })
    t.same(
      (await store.listAttachmentFiles([a.alarmNumber])).map((f) => f.name),
      ['x.jpg', 'y.mp4'],
    )

    const old = alarm(2, NOW - 40 * DAY)
    await store.insertAttachmentAlarm(old)
    t.same(await store.attachmentAlarmsBefore(NOW - 30 * DAY, 10), [{ alarmNumber: old.alarmNumber, objectKeys: [] }])
    t.same(await store.attachmentAlarmsBefore(NOW + DAY, 10), [
      { alarmNumber: old.alarmNumber, objectKeys: [] },
      { alarmNumber: a.alarmNumber, objectKeys: [`${a.alarmNumber}/${id}`] },
    ])
    t.equal(await store.deleteAttachmentAlarms([a.alarmNumber, old.alarmNumber]), 2)
    t.same(await store.listAttachmentFiles([a.alarmNumber]), [], 'files go with their alarm')
  })
}
