/**
 * Streaming JT/T 809 deframer: feed it socket chunks of any size; it calls onFrame with the bytes
 * between a 0x5b head flag and its 0x5d end flag. Bytes outside frames are dropped and counted
 * (strayBytes); a frame cut short by a new 0x5b is reported and the new one read. It holds at
 * most maxFrameLength bytes and never throws.
 *
 * A sender that does not escape may put a raw 0x5b or 0x5d inside a frame, MSG_LENGTH included.
 * When the bytes up to the first 0x5d do not make MSG_LENGTH but the byte where MSG_LENGTH (read
 * literally) ends the frame is a 0x5d, the frame is taken by its length and handed over with
 * `unescaped: true` (decodeFrame809's option of that name). Waiting for that byte delays the frames
 * behind a broken one, never loses them: when it is not a 0x5d, the frame ends at the first 0x5d.
 */
import type { CodecError } from '../errors.js'
import { HEAD, TAIL } from './escape.js'

export interface Deframer809Options {
  /** Largest frame accepted, flags included. Default 256 KiB (a 0x1502 photo reply is the largest message). */
  maxFrameLength?: number
  /** The bytes between the flags; a view into the chunk: copy it to keep it. */
  onFrame: (content: Buffer, info: { unescaped: boolean }) => void
  onError: (error: CodecError) => void
}

export const DEFAULT_MAX_FRAME_LENGTH_809 = 256 * 1024
/** Head flag, 2011 header, CRC, end flag. */
const MIN_FRAME = 26

export class Deframer809 {
  private readonly max: number
  private readonly onFrame: Deframer809Options['onFrame']
  private readonly onError: Deframer809Options['onError']
  /** Bytes from a 0x5b whose frame is not complete yet (null when none). */
  private pending: Buffer | null = null
  /** Bytes dropped outside frames since the start. */
  strayBytes = 0

  constructor(options: Deframer809Options) {
    this.max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH_809
    this.onFrame = options.onFrame
    this.onError = options.onError
  }

  /** Bytes currently held for an incomplete frame. */
  get buffered(): number {
    return this.pending?.length ?? 0
  }

  reset(): void {
    this.pending = null
  }

  push(chunk: Buffer): void {
    let data = chunk
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk])
      this.pending = null
    }
    let pos = 0
    const n = data.length
    while (pos < n) {
      const s = data.indexOf(HEAD, pos)
      if (s < 0) {
        this.strayBytes += n - pos
        return
      }
      this.strayBytes += s - pos
      const e = data.indexOf(TAIL, s + 1)
      if (e < 0) {
        // Also waits for a frame that is simply longer than this chunk.
        this.hold(data, s)
        return
      }
      const cut = e - s + 1
      const torn = data.indexOf(HEAD, s + 1)
      const inner = torn >= 0 && torn < e
      // MSG_LENGTH as an escaping sender writes it, and as one that does not (raw bytes).
      const escaped = escapedLength(data, s)
      const literal = s + 5 <= n ? data.readUInt32BE(s + 1) : null
      const fitsEscaped = escaped !== null && escaped === unescapedLength(data, s + 1, e) + 2
      if ((fitsEscaped || literal === cut) && cut <= this.max) {
        // Right length up to this 0x5d; literally so with a raw 0x5b inside: a sender that does not escape.
        this.onFrame(data.subarray(s + 1, e), { unescaped: !fitsEscaped })
        pos = e + 1
        continue
      }
      if (literal !== null && literal > cut && literal >= MIN_FRAME && literal <= this.max) {
        // The first 0x5d does not end a frame of MSG_LENGTH: the sender may not escape (a raw 0x5d
        // in its data). Look where MSG_LENGTH ends the frame — unless a whole new frame visibly
        // follows this 0x5d.
        const last = s + literal - 1
        if (last >= n && (e + 1 >= n || data[e + 1] !== HEAD || data.indexOf(TAIL, e + 2) < 0)) {
          this.hold(data, s)
          return
        }
        if (last < n && data[last] === TAIL) {
          this.onFrame(data.subarray(s + 1, last), { unescaped: true })
          pos = last + 1
          continue
        }
      }
      if (inner) {
        this.onError({ code: 'TRUNCATED', message: `frame of ${torn - s} bytes cut short by a new 0x5b` })
        pos = torn
        continue
      }
      pos = e + 1
      if (cut > this.max) {
        this.onError({ code: 'FRAME_TOO_LONG', message: `frame of ${cut} bytes exceeds ${this.max}` })
        continue
      }
      this.onFrame(data.subarray(s + 1, e), { unescaped: false })
    }
  }

  /** Keeps data[s..] for the next chunk, or drops it when it outgrows the limit. */
  private hold(data: Buffer, s: number): void {
    if (data.length - s > this.max) {
      this.onError({ code: 'FRAME_TOO_LONG', message: `no 0x5d within ${this.max} bytes; discarding and resynchronising` })
      // Resynchronise at the next 0x5b after the discarded head, if the held bytes hold one.
      const next = data.indexOf(HEAD, s + 1)
      this.strayBytes += (next < 0 ? data.length : next) - s
      if (next >= 0) this.push(Buffer.from(data.subarray(next)))
      return
    }
    // Copy: the socket may reuse its chunk, and a large chunk must not be pinned for a few bytes.
    this.pending = Buffer.from(data.subarray(s))
  }
}

/** MSG_LENGTH right after the 0x5b at s with escapes reversed; null when the bytes are not all there. */
function escapedLength(data: Buffer, s: number): number | null {
  let v = 0
  let i = s + 1
  for (let k = 0; k < 4; k++) {
    if (i >= data.length) return null
    let b = data[i++]
    if (b === 0x5a || b === 0x5e) {
      if (i >= data.length) return null
      const next = data[i]
      if (next === 0x01 || next === 0x02) {
        b = next === 0x02 ? b : b === 0x5a ? HEAD : TAIL
        i++
      }
    }
    v = v * 256 + b
  }
  return v
}

/** Length of data[start, end) once unescaped. */
function unescapedLength(data: Buffer, start: number, end: number): number {
  let n = end - start
  for (let i = start; i < end - 1; i++) {
    const b = data[i]
    if ((b === 0x5a || b === 0x5e) && (data[i + 1] === 0x01 || data[i + 1] === 0x02)) {
      n--
      i++
    }
  }
  return n
}
