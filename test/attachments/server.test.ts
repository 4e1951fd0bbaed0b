/**
 * The attachment server on its own, with a store that fails: the terminal still gets an answer
 * (0x8001 result 1) and may retry; too many bad frames close only that connection.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { createAttachmentMetrics } from '../../src/attachments/metrics.js'
import { FileSystemObjectStore } from '../../src/attachments/object-store.js'
import { AttachmentServer } from '../../src/attachments/server.js'
import type { AttachmentAlarm } from '../../src/store/attachments.js'
import { AttachmentUploader } from '../../src/terminal/attachments.js'
import { eventually } from '../gateway/harness.js'

const ALARM: AttachmentAlarm = {
  alarmNumber: 'a'.repeat(32),
  alarmKey: 'k',
  phone: '13912345678',
  vehicleId: 1,
  plate: '苏A00001',
  plateColor: 2,
  enterpriseLicenseNo: null,
  variant: 'jsatl12',
  kind: 'adas',
  alarmType: 1,
  alarmLevel: 1,
  alarmId: { terminalId: 'T1', time: '2024-01-01T00:00:00+08:00', serial: 1, attachmentCount: 1, reserved: 0 },
  deviceTime: 0,
  expectedFiles: 1,
  anomalyId: 'x',
  state: 'instructed',
  createdAt: 0,
  updatedAt: 0,
}

async function serverFor(t: Test, opts: { failures?: number; connectionBytes?: number; globalBytes?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'jt808-att-server-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  let failures = opts.failures ?? 0
  const server = new AttachmentServer({
    store: {
      getAttachmentAlarm: async () => {
        if (failures-- > 0) throw new Error('database unreachable')
        return ALARM
      },
      saveAttachmentFile: async () => 1,
      setAttachmentAlarmState: async () => undefined,
      listAttachmentFiles: async () => [],
    },
    objects: new FileSystemObjectStore(join(dir, 'objects')),
    metrics: createAttachmentMetrics(new Registry()),
    logger: pino({ level: 'silent' }),
    stagingDir: join(dir, 'staging'),
    limits: {
      maxFileBytes: 1 << 20,
      maxFiles: 4,
      connectionBytes: opts.connectionBytes ?? 1 << 16,
      globalBytes: opts.globalBytes ?? 1 << 20,
      fileDeadlineMs: 10_000,
      maxPendingFiles: 10,
      badFramesBeforeClose: 3,
      idleTimeoutMs: 10_000,
    },
  })
  const { port } = await server.listen(0, '127.0.0.1')
  t.teardown(() => server.close())
  return { server, port }
}

t.test('a failing store still answers, and the retry succeeds', async (t) => {
  const { port } = await serverFor(t, { failures: 1 })
  const up = await AttachmentUploader.connect('127.0.0.1', port, ALARM.phone, { timeoutMs: 3000 })
  t.teardown(() => up.destroy())
  const info = { variant: 'jsatl12' as const, terminalId: 'T1', alarmFlag: ALARM.alarmId, alarmNumber: ALARM.alarmNumber, infoType: 0, files: [] }
  t.equal(await up.alarmInfo(info), 1, 'answered with a failure, not left waiting')
  t.equal(await up.alarmInfo(info), 0, 'the retry goes through')
  t.equal(await up.client.heartbeat(), 0, 'heartbeats are answered')

  // bad frames: the connection closes at the third; another terminal's connection is untouched
  const other = await AttachmentUploader.connect('127.0.0.1', port, '13900000002', { timeoutMs: 3000 })
  t.teardown(() => other.destroy())
  for (let i = 0; i < 3; i++) up.client.sendRaw(Buffer.from('7e0102ff7e', 'hex'))
  await eventually(() => up.client.isClosed)
  t.equal(await other.client.heartbeat(), 0)
})

t.test('reading stops and resumes around bytes in flight: tiny limits still complete every upload', async (t) => {
  // every piece of data is over the limits: each one pauses the socket until it is on disk
  const { server, port } = await serverFor(t, { connectionBytes: 1, globalBytes: 1 })
  const info = { variant: 'jsatl12' as const, terminalId: 'T1', alarmFlag: ALARM.alarmId, alarmNumber: ALARM.alarmNumber, infoType: 0, files: [] }
  const photo = Buffer.concat([Buffer.from('ffd8ffe0', 'hex'), Buffer.alloc(300_000, 0x5a)])
  const uploads = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const up = await AttachmentUploader.connect('127.0.0.1', port, ALARM.phone, { timeoutMs: 20_000 })
      t.teardown(() => up.destroy())
      t.equal(await up.alarmInfo(info), 0)
      return up.upload(`p${i}.jpg`, 0, photo, { chunkBytes: 16_384 })
    }),
  )
  t.same(
    uploads.map((u) => u.reply.result),
    [0, 0, 0],
  )
  t.equal(server.bytesInFlight, 0)
  t.equal(server.pendingFiles, 0)
})
