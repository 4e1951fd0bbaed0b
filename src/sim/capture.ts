/**
 * Reading captures for `jt808 replay`. Two line formats, told apart per line:
 *   - hex: one or more frames per line ("7e…7e7e…7e", whitespace ignored; a line without the
 *     0x7e delimiters is taken as one frame), no timestamps;
 *   - NDJSON as `jt808 export-raw` writes it: {"t": ISO time or epoch ms, "phone", "connection", "hex"}.
 * Blank lines and lines starting with # are skipped. A line that is neither is a problem reported
 * with its file and line number; it never stops the rest of the capture.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { Deframer, parseFrame, type CodecError, type Header } from '../../protocol/index.js'

export interface CaptureFrame {
  /** "file:line" */
  source: string
  /** capture time, epoch ms; null for hex lines */
  t: number | null
  /** from the record, else from the frame header */
  phone: string | null
  /** the original connection ("ip:port") when the capture says */
  connection: string | null
  /** the frame as captured: escaped, with its 0x7e delimiters */
  bytes: Buffer
  /** parsed header (checksum not required); null when the frame does not parse */
  header: Header | null
  /** why the frame is bad (unparseable, or a checksum mismatch), else null */
  error: CodecError | null
}

export interface CaptureProblem {
  source: string
  message: string
}

export interface Capture {
  frames: CaptureFrame[]
  problems: CaptureProblem[]
}

const HEX_LINE = /^[0-9a-fA-F\s]+$/

/** Parses one frame's bytes (delimiters included or not) into a CaptureFrame. */
export function captureFrame(escapedInner: Buffer, meta: { source: string; t: number | null; phone: string | null; connection: string | null }): CaptureFrame {
  const bytes = Buffer.concat([Buffer.of(0x7e), escapedInner, Buffer.of(0x7e)])
  const parsed = parseFrame(escapedInner, { lenient: true })
  let header: Header | null = null
  let error: CodecError | null = null
  if (!parsed.ok) error = parsed.error
  else {
    header = parsed.value.header
    if (!parsed.value.checksumOk) error = { code: 'BAD_CHECKSUM', message: 'checksum does not match' }
    // lenient parsing takes a wrong body length; the capture still says the frame is not well-formed
    else if (header.declaredBodyLength !== undefined)
      error = { code: 'LENGTH_MISMATCH', message: `header declares a body of ${header.declaredBodyLength} bytes, frame carries ${parsed.value.body.length}` }
  }
  return { ...meta, phone: meta.phone ?? header?.phone ?? null, bytes, header, error }
}

/** Parses capture text line by line (pushing into `into`), starting at line number `firstLine`. */
export class CaptureReader {
  readonly frames: CaptureFrame[] = []
  readonly problems: CaptureProblem[] = []
  private lineNo = 0

  constructor(
    private readonly name: string,
    private readonly maxProblems = 1000,
  ) {}

  line(text: string): void {
    this.lineNo++
    const line = text.trim()
    if (line === '' || line.startsWith('#')) return
    const source = `${this.name}:${this.lineNo}`
    if (line.startsWith('{')) this.ndjson(line, source)
    else if (HEX_LINE.test(line)) this.hex(line.replace(/\s+/g, ''), source, { t: null, phone: null, connection: null })
    else this.problem(source, 'neither hex nor a JSON object')
  }

  private ndjson(line: string, source: string): void {
    let rec: unknown
    try {
      rec = JSON.parse(line)
    } catch (e) {
      this.problem(source, `bad JSON: ${(e as Error).message}`)
      return
    }
    const r = rec as { t?: unknown; receivedAt?: unknown; phone?: unknown; connection?: unknown; hex?: unknown; frame?: unknown }
    const hex = typeof r.hex === 'string' ? r.hex : typeof r.frame === 'string' ? r.frame : null
    if (hex === null) {
      this.problem(source, 'record has no "hex"')
      return
    }
    const tRaw = r.t ?? r.receivedAt
    let t: number | null = null
    if (typeof tRaw === 'number') t = tRaw
    else if (typeof tRaw === 'string') {
      t = Date.parse(tRaw)
      if (Number.isNaN(t)) {
        this.problem(source, `"t" is not a time: ${JSON.stringify(tRaw)}`)
        return
      }
    }
    const clean = hex.replace(/\s+/g, '')
    if (!HEX_LINE.test(clean) || clean.length === 0) {
      this.problem(source, '"hex" is not hexadecimal')
      return
    }
    this.hex(clean, source, { t, phone: typeof r.phone === 'string' ? r.phone : null, connection: typeof r.connection === 'string' ? r.connection : null })
  }

  private hex(hex: string, source: string, meta: { t: number | null; phone: string | null; connection: string | null }): void {
    if (hex.length % 2 !== 0) {
      this.problem(source, `odd number of hex digits (${hex.length})`)
      return
    }
    const bytes = Buffer.from(hex, 'hex')
    if (bytes[0] !== 0x7e) {
      // One frame without its delimiters.
      this.frames.push(captureFrame(bytes, { source, ...meta }))
      return
    }
    let n = 0
    const deframer = new Deframer({
      onFrame: (inner) => {
        n++
        this.frames.push(captureFrame(Buffer.from(inner), { source: n > 1 ? `${source}#${n}` : source, ...meta }))
      },
      onError: (e) => this.problem(source, `${e.code}: ${e.message}`),
    })
    deframer.push(bytes)
    if (deframer.buffered > 0) this.problem(source, 'frame without its closing 0x7e')
    if (n === 0 && deframer.buffered === 0) this.problem(source, 'no frame on the line')
  }

  private problem(source: string, message: string): void {
    if (this.problems.length < this.maxProblems) this.problems.push({ source, message })
  }
}

/** Reads capture files (or "-" for the given stdin). */
export async function readCaptures(files: string[], stdin?: NodeJS.ReadableStream): Promise<Capture> {
  const frames: CaptureFrame[] = []
  const problems: CaptureProblem[] = []
  for (const file of files) {
    const reader = new CaptureReader(file === '-' ? 'stdin' : file)
    const input = file === '-' ? stdin : createReadStream(file)
    if (!input) throw new Error('no standard input to read "-" from')
    const rl = createInterface({ input, crlfDelay: Infinity })
    for await (const line of rl) reader.line(line)
    frames.push(...orderByTime(reader.frames))
    problems.push(...reader.problems)
  }
  return { frames: files.length > 1 ? orderByTime(frames) : frames, problems }
}

/**
 * Stable order by capture time. A frame without a time stays right after the frame before it in
 * its file (it inherits that frame's time).
 */
export function orderByTime(frames: CaptureFrame[]): CaptureFrame[] {
  let last = -Infinity
  const keyed = frames.map((f, i) => {
    if (f.t !== null) last = f.t
    return { f, i, k: f.t ?? last }
  })
  keyed.sort((a, b) => a.k - b.k || a.i - b.i)
  // Hex-only frames inherit the previous time so pacing treats them as sent back-to-back.
  return keyed.map(({ f, k }) => (f.t === null && Number.isFinite(k) ? { ...f, t: k } : f))
}
