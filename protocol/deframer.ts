/**
 * Streaming deframer: feed it socket chunks of any size; it calls onFrame with the escaped
 * bytes between two 0x7e delimiters. Every 0x7e is a boundary, so a torn frame followed by a
 * good one costs only the torn frame. It never throws, and holds at most maxFrameLength bytes.
 */
import type { CodecError } from './errors.js'
import { FLAG } from './escape.js'

export interface DeframerOptions {
  /** Largest escaped frame accepted, delimiters excluded. Default 4096 (a full 2019 frame escaped is ~2.1 KB). */
  maxFrameLength?: number
  /** Escaped frame content, delimiters excluded. May be a view into the chunk: copy it to keep it. */
  onFrame: (escaped: Buffer) => void
  onError: (error: CodecError) => void
}

export const DEFAULT_MAX_FRAME_LENGTH = 4096

export class Deframer {
  private readonly max: number
  private readonly onFrame: (escaped: Buffer) => void
  private readonly onError: (error: CodecError) => void
  /** False until the first 0x7e, and again after an overlong frame was discarded. */
  private synced = false
  /** Bytes of a frame whose closing 0x7e has not arrived yet (null when none). */
  private pending: Buffer | null = null

  constructor(options: DeframerOptions) {
    this.max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH
    this.onFrame = options.onFrame
    this.onError = options.onError
  }

  /** Bytes currently held for an incomplete frame. */
  get buffered(): number {
    return this.pending?.length ?? 0
  }

  push(chunk: Buffer): void {
    let start = 0
    const len = chunk.length
    while (start < len) {
      if (!this.synced) {
        const at = chunk.indexOf(FLAG, start)
        if (at < 0) return // garbage before any delimiter is dropped
        this.synced = true
        start = at + 1
        continue
      }
      const end = chunk.indexOf(FLAG, start)
      if (end < 0) {
        this.hold(chunk.subarray(start))
        return
      }
      let frame = chunk.subarray(start, end)
      if (this.pending !== null) {
        frame = Buffer.concat([this.pending, frame])
        this.pending = null
      }
      start = end + 1
      if (frame.length === 0) continue // "7e 7e": end of one frame, start of the next
      if (frame.length > this.max) {
        this.onError({ code: 'FRAME_TOO_LONG', message: `frame of ${frame.length} bytes exceeds ${this.max}` })
        continue
      }
      this.onFrame(frame)
    }
  }

  /** Forget any partial frame (e.g. on connection reset). */
  reset(): void {
    this.pending = null
    this.synced = false
  }

  private hold(part: Buffer): void {
    const have = this.pending?.length ?? 0
    if (have + part.length > this.max) {
      this.onError({
        code: 'FRAME_TOO_LONG',
        message: `no closing 0x7e within ${this.max} bytes; discarding and resynchronising`,
      })
      this.pending = null
      this.synced = false
      return
    }
    // Copy: the socket may reuse its chunk, and we must not pin a large chunk for a few bytes.
    this.pending = this.pending === null ? Buffer.from(part) : Buffer.concat([this.pending, part])
  }
}
