/**
 * The attachment server: its own TCP port, where terminals upload the files of an active-safety
 * alarm after the platform's 0x9208 (T/JSATL12-2017 §4.5, T/GDRTA 002-2020 the same flow):
 *
 *   0x1210 alarm attachment info (alarm number, file list)     → 0x8001
 *   per file: 0x1211 file info (name, type, size)               → 0x8001
 *             stream frames "01cd" name offset length data      (no answer)
 *             0x1212 upload done                                → 0x9212 result 0, or 1 + missing segments
 *
 * A file's state outlives its connection until its deadline: a terminal cut off mid-way
 * reconnects, sends 0x1210 with info type 1 and carries on where it was. Everything is bounded
 * (file size and count, bytes not yet on disk per connection and in total, a deadline per file,
 * files pending at once); what is out of range is refused with a result and counted, and only
 * that message or chunk is affected.
 */
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { AttachmentSplitter, decodeFrame, encodeGeneralReply, encodeMessage, isMessage, MAX_MISSING_SEGMENTS, type Message, type MessageOf, type MissingSegment } from '../../protocol/index.js'
import { canonicalPhone } from '../domain.js'
import type { AttachmentAlarm, AttachmentStore } from '../store/attachments.js'
import { FileUpload } from './assembly.js'
import { contentMismatch, sniff } from './content-type.js'
import type { AttachmentMetrics, FailureReason, RefusalReason } from './metrics.js'
import type { ObjectStore } from './object-store.js'

export interface AttachmentLimits {
  maxFileBytes: number
  maxFiles: number
  /** received bytes not yet on disk, per connection: its socket stops reading above this */
  connectionBytes: number
  /** the same over all connections */
  globalBytes: number
  fileDeadlineMs: number
  /** files announced and not finished, over all connections */
  maxPendingFiles: number
  /** bad frames on one connection before it is closed */
  badFramesBeforeClose: number
  /** a connection that sends nothing for this long is closed */
  idleTimeoutMs: number
}

export interface AttachmentServerDeps {
  store: Pick<AttachmentStore, 'getAttachmentAlarm' | 'saveAttachmentFile' | 'setAttachmentAlarmState' | 'listAttachmentFiles'>
  objects: ObjectStore
  metrics: AttachmentMetrics
  logger: Logger
  limits: AttachmentLimits
  /** where files are assembled before they go to the object store */
  stagingDir: string
  lenient?: boolean
  now?: () => number
  /** a file was stored whole (the alarm's anomaly lists it) */
  onFileStored?(alarm: AttachmentAlarm): void
}

const GENERAL_OK = 0
const GENERAL_FAILURE = 1
const GENERAL_MESSAGE_ERROR = 2
const GENERAL_UNSUPPORTED = 3

/** One terminal connection. */
class Upload {
  alarm: AttachmentAlarm | null = null
  serial = 0
  inFlight = 0
  badFrames = 0
  paused = false
  /** messages handled one at a time, in order */
  chain: Promise<void> = Promise.resolve()
  constructor(readonly socket: Socket) {}
}

export class AttachmentServer {
  private readonly server: Server
  private readonly conns = new Set<Upload>()
  /** alarm number / file name → the file being received (survives its connection until the deadline) */
  private readonly files = new Map<string, FileUpload>()
  private inFlight = 0
  /** connections whose socket is paused for bytes in flight */
  private paused = 0
  private readonly now: () => number
  private closed = false

  constructor(private readonly d: AttachmentServerDeps) {
    this.now = d.now ?? Date.now
    this.server = createServer((socket) => this.accept(socket))
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await mkdir(this.d.stagingDir, { recursive: true })
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  /** Files being received now (tests, metrics). */
  get pendingFiles(): number {
    return this.files.size
  }

  get bytesInFlight(): number {
    return this.inFlight
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const c of this.conns) c.socket.destroy()
    await Promise.allSettled([...this.conns].map((c) => c.chain))
    await Promise.allSettled([...this.files.values()].map((f) => f.discard()))
    this.files.clear()
    this.d.metrics.pending.set(0)
    await closing
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy()
      return
    }
    const c = new Upload(socket)
    this.conns.add(c)
    this.d.metrics.connections.inc()
    socket.setNoDelay(true)
    socket.setTimeout(this.d.limits.idleTimeoutMs, () => socket.destroy())
    const splitter = new AttachmentSplitter({
      maxChunkLength: Math.min(this.d.limits.maxFileBytes, 64 * 1024 * 1024),
      onFrame: (escaped) => {
        const copy = Buffer.from(escaped)
        c.chain = c.chain.then(() => this.onFrame(c, copy)).catch((err: unknown) => this.d.logger.error({ err }, 'attachment frame handling failed'))
      },
      onChunkStart: (name, offset, length) => this.acceptChunk(c, name, offset, length),
      onData: (name, offset, piece) => this.onData(c, name, offset, piece),
      onError: (e) => {
        this.refuse('bad_frame')
        if (++c.badFrames >= this.d.limits.badFramesBeforeClose) {
          this.d.logger.debug({ code: e.code, message: e.message }, 'attachment connection closed after bad frames')
          socket.destroy()
        }
      },
    })
    socket.on('data', (chunk: Buffer) => splitter.push(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      if (c.paused) this.paused--
      c.paused = false
      this.conns.delete(c)
      this.d.metrics.connections.dec()
      splitter.reset()
    })
  }

  // ---- 0x7e frames -------------------------------------------------------------------------------

  private async onFrame(c: Upload, escaped: Buffer): Promise<void> {
    const d = decodeFrame(escaped, { lenient: this.d.lenient })
    if (!d.ok) {
      this.refuse('bad_frame')
      if (++c.badFrames >= this.d.limits.badFramesBeforeClose) c.socket.destroy()
      return
    }
    const m = d.value.message
    try {
      if (isMessage(m, 0x1210)) return await this.onAlarmInfo(c, m)
      if (isMessage(m, 0x1211)) return await this.onFileInfo(c, m)
      if (isMessage(m, 0x1212)) return await this.onFileDone(c, m)
    } catch (err) {
      // the database or the disk failed: the terminal still gets its answer, and retries
      this.d.logger.error({ err, msgId: m.msgId, phone: m.phone }, 'attachment message failed')
      this.reply(c, m, GENERAL_FAILURE)
      return
    }
    if (m.msgId === 0x0002) return this.reply(c, m, GENERAL_OK)
    if (m.msgId === 0x0001) return // a terminal's general reply needs no answer
    this.refuse('unsupported')
    this.reply(c, m, m.msgId === 0x1210 || m.msgId === 0x1211 || m.msgId === 0x1212 ? GENERAL_MESSAGE_ERROR : GENERAL_UNSUPPORTED)
  }

  private async onAlarmInfo(c: Upload, m: MessageOf<0x1210>): Promise<void> {
    const b = m.body
    const alarm = await this.d.store.getAttachmentAlarm(b.alarmNumber)
    if (!alarm) return this.refuseWith(c, m, 'unknown_alarm')
    if (alarm.phone !== canonicalPhone(m.phone)) return this.refuseWith(c, m, 'wrong_terminal')
    if (b.files.length > this.d.limits.maxFiles) return this.refuseWith(c, m, 'too_many_files')
    c.alarm = alarm
    if (alarm.state === 'instructed') await this.d.store.setAttachmentAlarmState(alarm.alarmNumber, 'uploading', this.now())
    this.reply(c, m, GENERAL_OK)
  }

  private async onFileInfo(c: Upload, m: MessageOf<0x1211>): Promise<void> {
    const { name, fileType, size } = m.body
    const alarm = c.alarm
    if (!alarm) return this.refuseWith(c, m, 'no_alarm_yet')
    if (size > this.d.limits.maxFileBytes) return this.refuseWith(c, m, 'too_large')
    if (size === 0) return this.refuseWith(c, m, 'empty_file')
    const key = fileKey(alarm.alarmNumber, name)
    const existing = this.files.get(key)
    if (existing && existing.size === size && existing.state === 'receiving') {
      // a resumed upload (info type 1, or 0x1211 repeated): keep what arrived
      this.armDeadline(existing)
      return this.reply(c, m, GENERAL_OK)
    }
    if (existing?.state === 'finishing') return this.refuseWith(c, m, 'busy') // its 0x1212 is being handled
    const rows = await this.d.store.listAttachmentFiles([alarm.alarmNumber])
    // stored already (the terminal did not get our 0x9212): nothing to receive; its 0x1212 is answered 0
    if (rows.some((f) => f.name === name && f.state === 'complete' && f.size === size)) return this.reply(c, m, GENERAL_OK)
    if (existing) await this.forget(existing)
    if (this.files.size >= this.d.limits.maxPendingFiles) return this.refuseWith(c, m, 'busy')
    if (rows.filter((f) => f.name !== name).length >= this.d.limits.maxFiles) return this.refuseWith(c, m, 'too_many_files')
    const f = new FileUpload(alarm.alarmNumber, name, fileType, size, join(this.d.stagingDir, randomUUID()), this.now())
    this.files.set(key, f)
    this.d.metrics.pending.set(this.files.size)
    this.armDeadline(f) // before anything can fail: the deadline is what frees it
    f.rowId = await this.d.store.saveAttachmentFile(this.rowOf(f, 'pending', null))
    this.d.metrics.uploadsStarted.inc()
    this.reply(c, m, GENERAL_OK)
  }

  private async onFileDone(c: Upload, m: MessageOf<0x1212>): Promise<void> {
    const { name, fileType } = m.body
    if (!c.alarm) return this.refuseWith(c, m, 'no_alarm_yet')
    const f = this.files.get(fileKey(c.alarm.alarmNumber, name))
    if (!f || f.state !== 'receiving') {
      // stored already (our 0x9212 was lost, the terminal asks again): complete
      const stored = (await this.d.store.listAttachmentFiles([c.alarm.alarmNumber])).find((x) => x.name === name && x.state === 'complete')
      if (stored) return this.completeReply(c, m, name, fileType, [])
      return this.refuseWith(c, m, 'unknown_file')
    }
    try {
      await f.settle()
    } catch (err) {
      this.d.logger.error({ err, file: name }, 'staging write failed')
      await this.fail(f, 'write_error')
      return this.completeReply(c, m, name, fileType, [{ offset: 0, length: f.size }])
    }
    const missing = f.missing()
    if (missing.length) {
      f.rounds++
      this.d.metrics.retransmissionRounds.inc()
      await this.d.store.saveAttachmentFile(this.rowOf(f, 'pending', null))
      return this.completeReply(c, m, name, fileType, capSegments(missing, f.size))
    }
    f.state = 'finishing'
    await this.finish(f)
    this.completeReply(c, m, name, fileType, [])
  }

  // ---- stream frames -----------------------------------------------------------------------------

  /** A stream frame's header: is its data wanted? */
  private acceptChunk(c: Upload, name: string, offset: number, length: number): boolean {
    const f = c.alarm ? this.files.get(fileKey(c.alarm.alarmNumber, name)) : undefined
    if (!f || f.state !== 'receiving') {
      this.refuse('unknown_file')
      return false
    }
    if (offset + length > f.size) {
      this.refuse('out_of_range')
      return false
    }
    return true
  }

  private onData(c: Upload, name: string, offset: number, piece: Buffer): void {
    const f = c.alarm ? this.files.get(fileKey(c.alarm.alarmNumber, name)) : undefined
    if (!f || f.state !== 'receiving') return
    const n = piece.length
    c.inFlight += n
    this.inFlight += n
    this.d.metrics.bytesInFlight.set(this.inFlight)
    f.write(offset, piece, (bytes) => {
      c.inFlight -= bytes
      this.inFlight -= bytes
      this.d.metrics.bytesInFlight.set(this.inFlight)
      this.resumeReading()
    })
    if (!c.paused && (c.inFlight > this.d.limits.connectionBytes || this.inFlight > this.d.limits.globalBytes)) {
      c.paused = true
      this.paused++
      c.socket.pause()
    }
  }

  private resumeReading(): void {
    if (this.paused === 0 || this.inFlight > this.d.limits.globalBytes) return
    for (const c of this.conns) {
      if (c.paused && c.inFlight <= this.d.limits.connectionBytes) {
        c.paused = false
        this.paused--
        c.socket.resume()
      }
    }
  }

  // ---- completion --------------------------------------------------------------------------------

  private async finish(f: FileUpload): Promise<void> {
    try {
      const { sha256, head } = await f.digest()
      const sniffed = sniff(head)
      const mismatch = contentMismatch(f.fileType, sniffed)
      if (mismatch) {
        await this.fail(f, 'content_type', mismatch)
        return
      }
      const objectKey = `${f.alarmNumber}/${f.rowId}`
      await this.d.objects.putFile(objectKey, f.stagingPath, sniffed.contentType)
      f.state = 'complete'
      await this.d.store.saveAttachmentFile({ ...this.rowOf(f, 'complete', null), contentType: sniffed.contentType, sha256, objectKey, completedAt: this.now() })
      this.d.metrics.uploadsCompleted.inc()
      this.d.metrics.bytes.inc(f.size)
      await this.forget(f)
      await this.alarmProgress(f.alarmNumber)
    } catch (err) {
      this.d.logger.error({ err, file: f.name }, 'storing an attachment failed')
      await this.fail(f, 'store_error')
    }
  }

  /** Every announced file complete → the alarm is complete; the anomaly learns of each stored file. */
  private async alarmProgress(alarmNumber: string): Promise<void> {
    const alarm = await this.d.store.getAttachmentAlarm(alarmNumber)
    if (!alarm) return
    const files = await this.d.store.listAttachmentFiles([alarmNumber])
    const done = files.filter((x) => x.state === 'complete').length
    if (done >= alarm.expectedFiles && alarm.state !== 'complete') await this.d.store.setAttachmentAlarmState(alarmNumber, 'complete', this.now())
    this.d.onFileStored?.(alarm)
  }

  private async fail(f: FileUpload, reason: FailureReason, detail?: string): Promise<void> {
    if (f.state === 'failed') return
    f.state = 'failed'
    this.d.metrics.uploadsFailed.inc({ reason })
    await this.d.store.saveAttachmentFile(this.rowOf(f, 'failed', detail ?? reason)).catch((err: unknown) => this.d.logger.error({ err }, 'recording a failed attachment failed'))
    await this.forget(f)
  }

  private async forget(f: FileUpload): Promise<void> {
    const key = fileKey(f.alarmNumber, f.name)
    if (this.files.get(key) === f) this.files.delete(key)
    this.d.metrics.pending.set(this.files.size)
    await f.discard()
  }

  private armDeadline(f: FileUpload): void {
    if (f.deadline) clearTimeout(f.deadline)
    f.deadline = setTimeout(() => {
      f.deadline = null
      if (f.state === 'receiving') void this.fail(f, 'deadline')
    }, this.d.limits.fileDeadlineMs)
    f.deadline.unref()
  }

  private rowOf(f: FileUpload, state: 'pending' | 'complete' | 'failed', failure: string | null) {
    return {
      alarmNumber: f.alarmNumber,
      name: f.name,
      fileType: f.fileType,
      size: f.size,
      received: f.received,
      state,
      rounds: f.rounds,
      contentType: null,
      sha256: null,
      objectKey: null,
      failure,
      startedAt: f.startedAt,
      completedAt: null,
    }
  }

  // ---- replies -----------------------------------------------------------------------------------

  private refuse(reason: RefusalReason): void {
    this.d.metrics.refused.inc({ reason })
  }

  private refuseWith(c: Upload, m: Message, reason: RefusalReason): void {
    this.refuse(reason)
    this.d.logger.debug({ phone: m.phone, msgId: m.msgId, reason }, 'attachment message refused')
    this.reply(c, m, GENERAL_FAILURE)
  }

  private reply(c: Upload, m: Message, result: number): void {
    if (c.socket.destroyed) return
    c.socket.write(encodeGeneralReply({ ...m, msgId: 0x8001, serial: nextSerial(c), packet: null }, m.serial, m.msgId, result))
  }

  private completeReply(c: Upload, m: Message, name: string, fileType: number, missing: MissingSegment[]): void {
    if (c.socket.destroyed) return
    const frame = encodeMessage({
      msgId: 0x9212,
      phone: m.phone,
      serial: nextSerial(c),
      version: m.version,
      versionFlag: m.versionFlag,
      protocolVersion: m.protocolVersion,
      body: { name, fileType, result: missing.length ? 1 : 0, missing },
    })
    if (frame.ok) c.socket.write(frame.value)
    else this.d.logger.error({ error: frame.error }, '0x9212 could not be encoded')
  }
}

function nextSerial(c: Upload): number {
  const s = c.serial
  c.serial = (c.serial + 1) & 0xffff
  return s
}

function fileKey(alarmNumber: string, name: string): string {
  return `${alarmNumber}/${name}`
}

/** At most 255 segments fit 0x9212: the last one then stretches to the end of the file. */
export function capSegments(missing: MissingSegment[], size: number): MissingSegment[] {
  if (missing.length <= MAX_MISSING_SEGMENTS) return missing
  const head = missing.slice(0, MAX_MISSING_SEGMENTS - 1)
  const from = missing[MAX_MISSING_SEGMENTS - 1].offset
  head.push({ offset: from, length: size - from })
  return head
}
