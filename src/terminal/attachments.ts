/**
 * The terminal side of an active-safety attachment upload (T/JSATL12-2017 §4.5): after the
 * platform's 0x9208, connect to the address it named, send 0x1210, then per file 0x1211, the
 * data as raw stream frames, 0x1212, and re-send what 0x9212 lists as missing. Used by the tests
 * and the benchmark; `skip`/`duplicate` hooks let them drop or repeat chunks on purpose.
 */
import { encodeStreamFrame, type AlarmAttachments, type Message, type MissingSegment, type UploadCompleteReply } from '../../protocol/index.js'
import { TerminalClient, type TerminalVersion } from './client.js'

export interface UploadOptions {
  /** data bytes per stream frame (default 64 KiB) */
  chunkBytes?: number
  /** true: do not send this chunk in the first pass (simulated loss) */
  skip?(offset: number, length: number): boolean
  /** true: send this chunk twice */
  duplicate?(offset: number, length: number): boolean
  /** give up after this many 0x9212 rounds (default 5) */
  maxRounds?: number
}

export interface UploadResult {
  /** 0x9212 answers with result 1 before the file was complete */
  rounds: number
  reply: UploadCompleteReply
}

export class AttachmentUploader {
  private waiters: Array<{ name: string; resolve: (r: UploadCompleteReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = []

  private constructor(
    readonly client: TerminalClient,
    private readonly timeoutMs: number,
  ) {}

  static async connect(host: string, port: number, phone: string, options: { version?: TerminalVersion; timeoutMs?: number } = {}): Promise<AttachmentUploader> {
    let self: AttachmentUploader | null = null
    const timeoutMs = options.timeoutMs ?? 10_000
    const client = await TerminalClient.connect(host, port, {
      phone,
      version: options.version,
      replyTimeoutMs: timeoutMs,
      onMessage: (m) => self?.onMessage(m),
      onDownlink: (m) => (m.msgId === 0x9212 ? null : undefined),
      onClose: () => self?.failAll(new Error('attachment connection closed')),
    })
    self = new AttachmentUploader(client, timeoutMs)
    return self
  }

  /** 0x1210; resolves with the 0x8001 result. */
  async alarmInfo(body: AlarmAttachments): Promise<number> {
    return resultOf(await this.client.send(0x1210, body))
  }

  async fileInfo(name: string, fileType: number, size: number): Promise<number> {
    return resultOf(await this.client.send(0x1211, { name, fileType, size }))
  }

  /** One raw stream frame (not 0x7e framed). */
  sendChunk(name: string, offset: number, data: Buffer): boolean {
    const f = encodeStreamFrame({ name, offset, data })
    if (!f.ok) throw new Error(f.error.message)
    return this.client.sendRaw(f.value)
  }

  /** 0x1212; resolves with the 0x9212 for this file (rejects on a 0x8001 refusal or timeout). */
  fileDone(name: string, fileType: number, size: number): Promise<UploadCompleteReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer)
        reject(new Error(`no 0x9212 for ${name} within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.waiters.push({ name, resolve, reject, timer })
      const serial = this.client.post(0x1212, { name, fileType, size })
      // a refusal comes as 0x8001 to the 0x1212
      this.client.awaitReply(0x1212, serial, this.timeoutMs).then(
        (m) => {
          const w = this.take(name)
          if (w) w.reject(new Error(`0x1212 for ${name} refused with 0x8001 result ${resultOf(m)}`))
        },
        () => undefined,
      )
    })
  }

  /** 0x1211, the data in chunks, 0x1212, and the re-sends 0x9212 asks for. */
  async upload(name: string, fileType: number, data: Buffer, o: UploadOptions = {}): Promise<UploadResult> {
    const result = await this.fileInfo(name, fileType, data.length)
    if (result !== 0) throw new Error(`0x1211 for ${name} refused with result ${result}`)
    const step = o.chunkBytes ?? 64 * 1024
    for (let at = 0; at < data.length; at += step) {
      const len = Math.min(step, data.length - at)
      if (o.skip?.(at, len)) continue
      this.sendChunk(name, at, data.subarray(at, at + len))
      if (o.duplicate?.(at, len)) this.sendChunk(name, at, data.subarray(at, at + len))
    }
    return this.finish(name, fileType, data, step, o.maxRounds ?? 5)
  }

  /** 0x1212 and re-sends until 0x9212 says complete. */
  async finish(name: string, fileType: number, data: Buffer, step = 64 * 1024, maxRounds = 5): Promise<UploadResult> {
    let rounds = 0
    for (;;) {
      await this.client.drained()
      const reply = await this.fileDone(name, fileType, data.length)
      if (reply.result === 0) return { rounds, reply }
      if (++rounds > maxRounds) throw new Error(`${name}: still incomplete after ${maxRounds} rounds`)
      for (const s of reply.missing) this.resend(name, data, s, step)
    }
  }

  close(): Promise<void> {
    return this.client.close()
  }

  destroy(): void {
    this.client.destroy()
  }

  private resend(name: string, data: Buffer, s: MissingSegment, step: number): void {
    for (let at = s.offset; at < s.offset + s.length; at += step) {
      const end = Math.min(s.offset + s.length, at + step, data.length)
      if (end > at) this.sendChunk(name, at, data.subarray(at, end))
    }
  }

  private onMessage(m: Message): void {
    if (m.msgId !== 0x9212) return
    const body = m.body as UploadCompleteReply
    this.take(body.name)?.resolve(body)
  }

  private take(name: string) {
    const i = this.waiters.findIndex((w) => w.name === name)
    if (i < 0) return undefined
    const [w] = this.waiters.splice(i, 1)
    clearTimeout(w.timer)
    return w
  }

  private failAll(e: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(e)
    }
  }
}

function resultOf(m: Message): number {
  return (m.body as { result: number }).result
}
