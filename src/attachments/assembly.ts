/**
 * One file being received: its bytes go straight to a staging file on local disk at the offsets
 * the stream frames name (out of order, duplicated, re-sent — all the same), and the ranges
 * written are tracked. Nothing of it is visible outside until it is complete, checked and handed
 * to the object store.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, rm, type FileHandle } from 'node:fs/promises'
import { RangeSet } from './ranges.js'

export type UploadState = 'receiving' | 'finishing' | 'complete' | 'failed'

export class FileUpload {
  state: UploadState = 'receiving'
  /** 0x9212 answers with result 1 so far */
  rounds = 0
  /** bytes handed to write() whose write has not finished */
  inFlight = 0
  /** file row id in the store */
  rowId = 0
  deadline: NodeJS.Timeout | null = null
  private readonly ranges = new RangeSet()
  private readonly handle: Promise<FileHandle>
  private readonly writes = new Set<Promise<void>>()
  private error: Error | null = null

  constructor(
    readonly alarmNumber: string,
    readonly name: string,
    readonly fileType: number,
    readonly size: number,
    readonly stagingPath: string,
    readonly startedAt: number,
  ) {
    this.handle = open(stagingPath, 'w')
    this.handle.catch((e: Error) => (this.error = e))
  }

  get received(): number {
    return this.ranges.covered
  }

  /**
   * Writes `data` at `offset` (the caller checked it lies within the file). `settled(n)` runs
   * when the n bytes are on disk or failed: the caller's in-flight accounting.
   */
  write(offset: number, data: Buffer, settled: (bytes: number) => void): void {
    const n = data.length
    this.inFlight += n
    const p = this.handle
      .then((h) => h.write(data, 0, n, offset))
      .then(
        () => this.ranges.add(offset, offset + n),
        (e: Error) => {
          this.error ??= e
        },
      )
      .finally(() => {
        this.inFlight -= n
        this.writes.delete(p)
        settled(n)
      })
    this.writes.add(p)
  }

  /** Waits until every write so far is on disk; throws the first write error. */
  async settle(): Promise<void> {
    while (this.writes.size) await Promise.all([...this.writes])
    if (this.error) throw this.error
  }

  missing(): Array<{ offset: number; length: number }> {
    return this.ranges.missing(this.size)
  }

  /** sha256 of the staged file and its first bytes (content sniffing). */
  async digest(): Promise<{ sha256: string; head: Buffer }> {
    const h = await this.handle
    await h.sync()
    const hash = createHash('sha256')
    const heads: Buffer[] = []
    let headLength = 0
    for await (const chunk of createReadStream(this.stagingPath, { end: this.size - 1 }) as AsyncIterable<Buffer>) {
      hash.update(chunk)
      if (headLength < 512) {
        heads.push(chunk.subarray(0, 512 - headLength))
        headLength += Math.min(chunk.length, 512 - headLength)
      }
    }
    return { sha256: hash.digest('hex'), head: Buffer.concat(heads) }
  }

  /** Closes and removes the staging file. */
  async discard(): Promise<void> {
    if (this.deadline) clearTimeout(this.deadline)
    this.deadline = null
    await Promise.allSettled([...this.writes])
    await this.handle.then((h) => h.close()).catch(() => undefined)
    await rm(this.stagingPath, { force: true })
  }
}
