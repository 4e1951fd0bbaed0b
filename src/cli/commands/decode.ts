/**
 * `jt808 decode`: hex frames in, one JSON object per frame out (NDJSON). The contract other
 * tools rely on is issue 2 §3; protocol/json.ts holds the JSON form.
 */
import { createInterface } from 'node:readline'
import {
  decodeBody,
  Deframer,
  messageToJson,
  parseFrame,
  Reassembler,
  type CodecError,
  type Message,
} from '../../../protocol/index.js'
import { UsageError, type CliIO, type Command } from '../command.js'

const USAGE = `usage: jt808 decode [--lenient] [HEX ...]

Decodes JT/T 808 frames given as hex — as arguments, or on stdin, one or more frames per line
(whitespace ignored; a frame given without its 0x7e delimiters is accepted too). Prints one JSON
object per frame (NDJSON):
  {"msgId":"0x0200","version":2013,"phone":"012345678900","serial":126,"encryption":0,
   "packet":null,"checksumOk":true,"body":{...}}
  {"error":{"code":"BAD_CHECKSUM","message":"..."},"hex":"7e...7e"}
Subpackets print as raw fragments; when a set completes, one more line carries the reassembled
message with "reassembled": true. Exit status 1 when any frame failed to decode.

  --lenient   accept a wrong checksum (checksumOk: false), stray 0x7d bytes, and with a right
              checksum a header body length other than the body's ("declaredBodyLength": n)`

export const decodeCommand: Command = {
  name: 'decode',
  summary: 'decode hex JT/T 808 frames to NDJSON',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    let lenient = false
    const inputs: string[] = []
    for (const a of argv) {
      if (a === '--lenient') lenient = true
      else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`)
      else inputs.push(a)
    }
    const decoder = new LineDecoder(lenient, (obj) => io.stdout.write(JSON.stringify(obj) + '\n'))
    if (inputs.length > 0) for (const line of inputs) decoder.line(line)
    else for await (const line of createInterface({ input: io.stdin, crlfDelay: Infinity })) decoder.line(line)
    return decoder.failures > 0 ? 1 : 0
  },
}

/** Decodes lines of hex; keeps reassembly state across lines (fragments may sit on different lines). */
export class LineDecoder {
  failures = 0
  private readonly reassembler = new Reassembler()
  /** Sets holding a fragment accepted with a bad checksum (lenient): the merged message says so too. */
  private readonly tainted = new Set<string>()
  private now = 0

  constructor(
    private readonly lenient: boolean,
    private readonly emit: (obj: Record<string, unknown>) => void,
  ) {}

  line(text: string): void {
    const compact = text.replace(/\s+/g, '')
    if (compact === '') return
    if (!/^([0-9a-fA-F]{2})+$/.test(compact)) {
      this.error({ code: 'BAD_FIELD', message: 'not an even number of hex digits' }, compact)
      return
    }
    let bytes = Buffer.from(compact, 'hex')
    if (bytes[0] !== 0x7e) bytes = Buffer.concat([Buffer.from([0x7e]), bytes, Buffer.from([0x7e])])
    else if (bytes[bytes.length - 1] !== 0x7e || bytes.length === 1) bytes = Buffer.concat([bytes, Buffer.from([0x7e])]) // a torn last frame is reported below
    const frames: Buffer[] = []
    const errors: CodecError[] = []
    const deframer = new Deframer({ maxFrameLength: 64 * 1024, onFrame: (f) => frames.push(Buffer.from(f)), onError: (e) => errors.push(e) })
    deframer.push(bytes)
    for (const e of errors) this.error(e, compact)
    for (const f of frames) this.frame(f)
  }

  private frame(escaped: Buffer): void {
    const hex = '7e' + escaped.toString('hex') + '7e'
    const p = parseFrame(escaped, { lenient: this.lenient })
    if (!p.ok) return this.error(p.error, hex)
    const { header, body, checksumOk } = p.value
    if (header.packet === null) {
      const m = decodeBody(header, body)
      if (!m.ok) return this.error(m.error, hex)
      this.emit(messageToJson(m.value, checksumOk))
      return
    }
    // A fragment: print it as it came, then feed the reassembler.
    this.emit(messageToJson({ ...header, body: { raw: body.toString('hex') } } as Message, checksumOk))
    const r = this.reassembler.push(header, body, this.now++)
    if (r.status === 'rejected') return this.error(r.error, hex)
    if (r.status === 'duplicate') return
    const key = `${r.set.phone}/${r.set.msgId}/${r.set.total}/${r.set.firstSerial}`
    if (!checksumOk) this.tainted.add(key)
    if (r.status !== 'complete') return
    const ok = !this.tainted.delete(key)
    const m = decodeBody(r.header, r.body)
    if (!m.ok) return this.error(m.error, r.body.toString('hex'))
    this.emit({ ...messageToJson(m.value, ok), reassembled: true })
  }

  private error(e: CodecError, hex: string): void {
    this.failures++
    this.emit({ error: { code: e.code, message: e.message }, hex })
  }
}
