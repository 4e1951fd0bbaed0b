/**
 * The attachment server connection carries two framings (T/JSATL12-2017 §4.5.4, the same in
 * T/GDRTA 002-2020): 0x7e-delimited JT/T 808 frames (0x1210, 0x1211, 0x1212) and raw file data
 * stream frames, not escaped:
 *   magic 0x30 0x31 0x63 0x64 ("01cd"), file name BYTE[50], offset DWORD, length DWORD, data BYTE[length]
 *
 * AttachmentSplitter is fed socket chunks and tells the two apart by the first byte of what
 * comes next: 0x7e starts a frame, "01cd" a stream frame; anything else is skipped to the next
 * 0x7e or magic and reported once. Stream data is handed on in pieces as it arrives (each with
 * its file offset), never gathered whole, so a connection holds at most one 808 frame and a
 * 62-byte stream header, whatever the chunk length. Never throws at its caller.
 */
import { BodyWriter, decodeFixedGbk, encodeGbk } from './bytes.js'
import { fail, ok, type CodecError, type Result } from './errors.js'
import { FLAG } from './escape.js'

export const STREAM_MAGIC = Buffer.from([0x30, 0x31, 0x63, 0x64])
export const STREAM_NAME_LENGTH = 50
/** magic + name + offset + length */
export const STREAM_HEADER_LENGTH = 4 + STREAM_NAME_LENGTH + 4 + 4

export interface StreamFrame {
  /** file name (0x00 padding removed, on either side: some terminals right-align it) */
  name: string
  offset: number
  data: Buffer
  /** the 50 name bytes as sent, hex, when re-encoding the name would not give them */
  nameAsSent?: string
}

/** One whole stream frame (tests, the terminal client). */
export function encodeStreamFrame(f: StreamFrame): Result<Buffer> {
  const name = f.nameAsSent !== undefined && decodeFixedGbk(Buffer.from(f.nameAsSent, 'hex')) === f.name ? Buffer.from(f.nameAsSent, 'hex') : null
  try {
    const w = new BodyWriter(STREAM_HEADER_LENGTH + f.data.length)
    w.bytes(STREAM_MAGIC)
    if (name && name.length === STREAM_NAME_LENGTH) w.bytes(name)
    else w.fixedString(f.name, STREAM_NAME_LENGTH, 'file name')
    w.u32(f.offset).u32(f.data.length).bytes(f.data)
    return ok(w.finish())
  } catch (e) {
    return fail('BAD_FIELD', (e as Error).message)
  }
}

/** Decodes one whole stream frame (magic included); trailing bytes are an error. */
export function decodeStreamFrame(buf: Buffer): Result<StreamFrame> {
  if (buf.length < STREAM_HEADER_LENGTH) return fail('TRUNCATED', `stream frame of ${buf.length} bytes is shorter than its ${STREAM_HEADER_LENGTH}-byte header`)
  if (!buf.subarray(0, 4).equals(STREAM_MAGIC)) return fail('BAD_FIELD', `stream frame magic is ${buf.toString('hex', 0, 4)}, not 30316364`)
  const header = readStreamHeader(buf, 0)
  const end = STREAM_HEADER_LENGTH + header.length
  if (buf.length < end) return fail('TRUNCATED', `stream frame declares ${header.length} data bytes, has ${buf.length - STREAM_HEADER_LENGTH}`)
  if (buf.length > end) return fail('LENGTH_MISMATCH', `stream frame declares ${header.length} data bytes, has ${buf.length - STREAM_HEADER_LENGTH}`)
  const frame: StreamFrame = { name: header.name, offset: header.offset, data: buf.subarray(STREAM_HEADER_LENGTH, end) }
  if (header.nameAsSent !== undefined) frame.nameAsSent = header.nameAsSent
  return ok(frame)
}

interface StreamHeader {
  name: string
  nameAsSent?: string
  offset: number
  length: number
}

function readStreamHeader(buf: Buffer, at: number): StreamHeader {
  const raw = buf.subarray(at + 4, at + 4 + STREAM_NAME_LENGTH)
  const name = decodeFixedGbk(raw)
  const h: StreamHeader = { name, offset: buf.readUInt32BE(at + 4 + STREAM_NAME_LENGTH), length: buf.readUInt32BE(at + 8 + STREAM_NAME_LENGTH) }
  const canonical = Buffer.alloc(STREAM_NAME_LENGTH)
  const enc = encodeGbk(name)
  if (enc.length <= STREAM_NAME_LENGTH) enc.copy(canonical)
  if (!canonical.equals(raw)) h.nameAsSent = raw.toString('hex')
  return h
}

export interface AttachmentSplitterOptions {
  /** Largest escaped 808 frame, delimiters excluded (default 4096). */
  maxFrameLength?: number
  /** Largest data length one stream frame may declare (default 1 MiB); larger ones are refused and skipped. */
  maxChunkLength?: number
  /** Escaped 808 frame content, delimiters excluded; may be a view into the chunk. */
  onFrame(escaped: Buffer): void
  /** A stream frame begins (its header read). Return false to drop its data (still consumed). */
  onChunkStart?(name: string, offset: number, length: number): boolean
  /** A piece of a stream frame's data at file offset `offset`; a view into the chunk: copy to keep. */
  onData(name: string, offset: number, piece: Buffer): void
  onError(error: CodecError): void
}

type Mode = 'scan' | 'frame' | 'header' | 'data' | 'skip'

export class AttachmentSplitter {
  private readonly maxFrame: number
  private readonly maxChunk: number
  private mode: Mode = 'scan'
  /** partial 808 frame or stream header */
  private held: Buffer | null = null
  private name = ''
  private fileOffset = 0
  private remaining = 0
  private keep = true
  /** true while garbage is being skipped (reported once per run) */
  private reportedGarbage = false

  constructor(private readonly o: AttachmentSplitterOptions) {
    this.maxFrame = o.maxFrameLength ?? 4096
    this.maxChunk = o.maxChunkLength ?? 1 << 20
  }

  /** Bytes held for an incomplete 808 frame or stream header. */
  get buffered(): number {
    return this.held?.length ?? 0
  }

  push(chunk: Buffer): void {
    let i = 0
    const n = chunk.length
    while (i < n) {
      switch (this.mode) {
        case 'scan': {
          const b = chunk[i]
          if (b === FLAG) {
            this.mode = 'frame'
            this.reportedGarbage = false
            i++
          } else if (b === STREAM_MAGIC[0] && this.magicAt(chunk, i)) {
            this.mode = 'header'
            this.reportedGarbage = false
          } else {
            if (!this.reportedGarbage) {
              this.reportedGarbage = true
              this.o.onError({ code: 'BAD_FIELD', message: `byte 0x${b.toString(16).padStart(2, '0')} starts neither a 0x7e frame nor a stream frame; skipping to the next one` })
            }
            i++
          }
          break
        }
        case 'frame': {
          const end = chunk.indexOf(FLAG, i)
          if (end < 0) {
            this.hold(chunk.subarray(i), this.maxFrame)
            return
          }
          let frame = chunk.subarray(i, end)
          if (this.held) {
            frame = Buffer.concat([this.held, frame])
            this.held = null
          }
          i = end + 1
          if (frame.length === 0) continue // "7e 7e": a closing flag read as an opening one; stay in frame mode
          this.mode = 'scan'
          if (frame.length > this.maxFrame) this.o.onError({ code: 'FRAME_TOO_LONG', message: `frame of ${frame.length} bytes exceeds ${this.maxFrame}` })
          else this.o.onFrame(frame)
          break
        }
        case 'header': {
          const have = this.held?.length ?? 0
          const take = Math.min(STREAM_HEADER_LENGTH - have, n - i)
          const part = chunk.subarray(i, i + take)
          i += take
          if (have + take < STREAM_HEADER_LENGTH) {
            this.held = this.held ? Buffer.concat([this.held, part]) : Buffer.from(part)
            if (!this.magicAt(this.held, 0)) this.resync()
            return
          }
          const header = readStreamHeader(this.held ? Buffer.concat([this.held, part]) : part, 0)
          this.held = null
          this.name = header.name
          this.fileOffset = header.offset
          this.remaining = header.length
          if (header.length > this.maxChunk) {
            this.o.onError({ code: 'FRAME_TOO_LONG', message: `stream frame of "${header.name}" declares ${header.length} bytes, more than ${this.maxChunk}; skipped` })
            this.keep = false
          } else this.keep = this.o.onChunkStart?.(header.name, header.offset, header.length) ?? true
          this.mode = this.remaining === 0 ? 'scan' : 'data'
          break
        }
        case 'data': {
          const take = Math.min(this.remaining, n - i)
          if (this.keep) this.o.onData(this.name, this.fileOffset, chunk.subarray(i, i + take))
          this.fileOffset += take
          this.remaining -= take
          i += take
          if (this.remaining === 0) this.mode = 'scan'
          break
        }
        default:
          return
      }
    }
  }

  /** Forget any partial frame. */
  reset(): void {
    this.held = null
    this.mode = 'scan'
    this.remaining = 0
  }

  /** The magic at buf[at..] as far as buf goes (a prefix counts: the rest may follow). */
  private magicAt(buf: Buffer, at: number): boolean {
    for (let k = 0; k < 4 && at + k < buf.length; k++) if (buf[at + k] !== STREAM_MAGIC[k]) return false
    return true
  }

  /** A held header prefix turned out not to be the magic: rescan its bytes after the first. */
  private resync(): void {
    const held = this.held as Buffer
    this.held = null
    this.mode = 'scan'
    this.push(held.subarray(1))
  }

  private hold(part: Buffer, max: number): void {
    const have = this.held?.length ?? 0
    if (have + part.length > max) {
      this.o.onError({ code: 'FRAME_TOO_LONG', message: `no closing 0x7e within ${max} bytes; discarding and resynchronising` })
      this.held = null
      this.mode = 'scan'
      this.reportedGarbage = true
      return
    }
    this.held = this.held === null ? Buffer.from(part) : Buffer.concat([this.held, part])
  }
}
