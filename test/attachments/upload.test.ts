/**
 * End to end: a terminal of our own raises a DSM alarm in a 0x0200, receives 0x9208 once the
 * position is committed, uploads a real JPEG and a real MP4 clip to the attachment server in
 * chunks — with a dropped chunk (one retransmission round), a duplicated one, an out-of-range
 * one, and a connection cut mid-clip resumed with info type 1 — and the files are then served
 * through the API beside the anomaly, under the enterprise/inspector scopes, every access audited.
 * Runs on the embedded backends and on PostgreSQL + Redis.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createToken } from '../../src/api/tokens.js'
import { AttachmentUploader } from '../../src/terminal/attachments.js'
import { BACKENDS, eventually, metricValue, openBackends, provision, startGateway } from '../gateway/harness.js'
import { raiseAlarm } from './helpers.js'

const JPEG = readFileSync(new URL('../../fixtures/media/stripe.jpg', import.meta.url))
const CLIP = readFileSync(new URL('../../fixtures/media/clip.mp4', import.meta.url))
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

for (const backend of BACKENDS) {
  t.test(`${backend}: alarm → 0x9208 → upload with loss, duplicates, a cut, resumption → API`, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const gw = await startGateway(backends, { registrationMode: 'registry' })
    t.teardown(() => gw.close())
    const v = await provision(backends.store)
    const time = Date.now() - 60_000
    const { client, ack, instruction } = await raiseAlarm(gw.port, v, time, 2)
    t.teardown(() => client.close())
    t.equal(ack, 0)
    const ins = await eventually(() => instruction())
    const server = gw.app.attachments.address as AddressInfo
    t.match(ins.body, { variant: 'jsatl12', serverHost: '127.0.0.1', tcpPort: server.port, alarmFlag: { terminalId: 'DSM0001', serial: 1, attachmentCount: 2 } })
    t.match(ins.body.alarmNumber, /^[0-9a-f]{32}$/)

    // the anomaly exists already, with an empty attachment list
    const anomalyId = `AS-${v.phone}-${ins.body.alarmFlag.time.slice(2, 19).replace(/[-T:]/g, '')}-1-dsm`
    const opened = await eventually(() => backends.store.getAnomaly(anomalyId))
    t.match(opened, { type: 'TERMINAL_ALARM', severity: 'critical', plate: v.plate, evidence: { source: 'active-safety', kind: 'dsm', name: 'phone-call', level: 2, attachments: [] } })

    const files = [
      { name: 'x_65_02_0_' + ins.body.alarmNumber + '.jpg', size: JPEG.length },
      { name: 'x_65_02_1_' + ins.body.alarmNumber + '.mp4', size: CLIP.length },
    ]
    const info = { variant: 'jsatl12' as const, terminalId: 'DSM0001', alarmFlag: ins.body.alarmFlag, alarmNumber: ins.body.alarmNumber, infoType: 0, files }
    const up = await AttachmentUploader.connect('127.0.0.1', server.port, v.phone)
    t.teardown(() => up.destroy())
    t.equal(await up.alarmInfo(info), 0)

    // the photo: chunk 2 dropped (one retransmission round), chunk 0 sent twice, a chunk past the end
    const refusedBefore = await metricValue(gw.registry, 'jt808_attachment_refused_total', { reason: 'out_of_range' })
    t.equal(await up.fileInfo(files[0].name, 0, JPEG.length), 0)
    up.sendChunk(files[0].name, JPEG.length - 10, Buffer.alloc(100, 1))
    const photo = await up.upload(files[0].name, 0, JPEG, { chunkBytes: 1024, skip: (at) => at === 2048, duplicate: (at) => at === 0 })
    t.equal(photo.rounds, 1, 'one round re-sent the dropped chunk')
    t.equal(await metricValue(gw.registry, 'jt808_attachment_refused_total', { reason: 'out_of_range' }), refusedBefore + 1)

    // the clip: half of it, then the connection is cut
    const half = Math.floor(CLIP.length / 2 / 4096) * 4096
    t.equal(await up.fileInfo(files[1].name, 2, CLIP.length), 0)
    for (let at = 0; at < half; at += 4096) up.sendChunk(files[1].name, at, CLIP.subarray(at, at + 4096))
    await up.client.drained()
    await eventually(async () => gw.app.attachments.server.bytesInFlight === 0 && (await backends.store.listAttachmentFiles([ins.body.alarmNumber])).length === 2)
    up.destroy()

    // resumed: info type 1, the file announced again; only the second half is missing
    const again = await AttachmentUploader.connect('127.0.0.1', server.port, v.phone)
    t.teardown(() => again.destroy())
    t.equal(await again.alarmInfo({ ...info, infoType: 1, files: [files[1]] }), 0)
    t.equal(await again.fileInfo(files[1].name, 2, CLIP.length), 0)
    const missing = await again.fileDone(files[1].name, 2, CLIP.length)
    t.equal(missing.result, 1)
    t.same(missing.missing, [{ offset: half, length: CLIP.length - half }], 'what arrived before the cut is kept')
    for (let at = half; at < CLIP.length; at += 4096) again.sendChunk(files[1].name, at, CLIP.subarray(at, Math.min(CLIP.length, at + 4096)))
    const clip = await again.finish(files[1].name, 2, CLIP, 4096)
    t.equal(clip.rounds, 0, 'complete once the missing half came')
    await again.close()

    const stored = await backends.store.listAttachmentFiles([ins.body.alarmNumber])
    t.match(stored, [
      { name: files[0].name, state: 'complete', size: JPEG.length, sha256: sha(JPEG), contentType: 'image/jpeg', rounds: 1 },
      { name: files[1].name, state: 'complete', size: CLIP.length, sha256: sha(CLIP), contentType: 'video/mp4', rounds: 1 },
    ])
    t.equal((await backends.store.getAttachmentAlarm(ins.body.alarmNumber))?.state, 'complete')
    t.equal(await metricValue(gw.registry, 'jt808_attachment_uploads_completed_total'), 2)
    t.equal(await metricValue(gw.registry, 'jt808_attachment_retransmission_rounds_total'), 2)
    t.equal(await metricValue(gw.registry, 'jt808_attachment_uploads_pending'), 0)

    // the anomaly lists both files; the API serves them under the scopes
    const anomaly = await eventually(async () => {
      const a = await backends.store.getAnomaly(anomalyId)
      return (a?.evidence.attachments as unknown[] | undefined)?.length === 2 ? a : null
    })
    const listed = anomaly.evidence.attachments as Array<{ id: string; href: string; contentType: string }>
    const base = `http://127.0.0.1:${gw.app.http.port}/api/v1`
    const token = async (role: string, licence: string | null = null) => (await createToken(backends.store, { role, enterpriseLicenseNo: licence })).secret
    const supervisor = await token('supervisor')
    const own = await token('enterprise', '370100000001')
    const other = await token('enterprise', '370100000099')
    const inspector = await token('inspector')
    const get = (path: string, secret: string, headers: Record<string, string> = {}) => fetch(base + path, { headers: { authorization: `Bearer ${secret}`, ...headers } })

    const viaApi = (await (await get(`/anomalies/${anomalyId}`, supervisor)).json()) as { evidence: { attachments: unknown[] } }
    t.same(viaApi.evidence.attachments, listed)
    const jpeg = await get(listed[0].href.replace('/api/v1', ''), own)
    t.equal(jpeg.status, 200)
    t.equal(jpeg.headers.get('content-type'), 'image/jpeg')
    t.ok(Buffer.from(await jpeg.arrayBuffer()).equals(JPEG))
    const ranged = await get(listed[1].href.replace('/api/v1', ''), inspector, { range: 'bytes=100-1099' })
    t.equal(ranged.status, 206)
    t.equal(ranged.headers.get('content-type'), 'video/mp4')
    t.equal(ranged.headers.get('content-range'), `bytes 100-1099/${CLIP.length}`)
    t.ok(Buffer.from(await ranged.arrayBuffer()).equals(CLIP.subarray(100, 1100)))
    const tail = await get(listed[1].href.replace('/api/v1', ''), supervisor, { range: 'bytes=-10' })
    t.ok(Buffer.from(await tail.arrayBuffer()).equals(CLIP.subarray(CLIP.length - 10)))
    t.equal((await get(listed[1].href.replace('/api/v1', ''), supervisor, { range: `bytes=${CLIP.length}-` })).status, 416)
    const foreign = await get(listed[0].href.replace('/api/v1', ''), other)
    const unknown = await get('/attachments/999999999', other)
    t.equal(foreign.status, 404)
    t.equal(unknown.status, 404)
    t.same(await foreign.json(), { error: { code: 'NOT_FOUND', message: 'attachment ' + listed[0].id + ' not found', details: null } }, 'another enterprise’s file looks like a missing one')
    t.equal((await fetch(base + listed[0].href.replace('/api/v1', ''))).status, 401)

    const audit = (await backends.store.listAudit({ limit: 1000 })).filter((e) => e.route === '/api/v1/attachments/:id')
    t.same(audit.map((e) => e.status).sort(), [200, 206, 206, 404, 404, 416], 'every file access is audited, refused ones too')
  })
}
