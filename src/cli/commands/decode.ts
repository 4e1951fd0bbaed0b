/**
 * `jt808 decode`: hex frames in, one JSON object per frame out (NDJSON). The contract other
 * tools rely on is issue 2 §3; protocol/json.ts holds the JSON form.
 */
import { createInterface } from 'node:readline'
import { decodeBody, Deframer, messageToJson, parseFrame, Reassembler, type CodecError, type Message } from '../../../protocol/index.js'
import { decodeFrame809, Deframer809, messageToJson809, type Edition, type EncryptionKeys } from '../../../protocol/jt809/index.js'
import { UsageError, type CliIO, type Command } from '../command.js'

const USAGE = `usage: jt808 decode [--lenient] [--protocol 808|809] [--keys M1,IA1,IC1] [--edition 2011|2019] [HEX ...]

Decodes JT/T 808 frames given as hex — as arguments, or on stdin, one or more frames per line
(whitespace ignored; a frame given without its 0x7e delimiters is accepted too). Prints one JSON
object per frame (NDJSON):
  {"msgId":"0x0200","version":2013,"phone":"012345678900","serial":126,"encryption":0,
   "packet":null,"checksumOk":true,"body":{...}}
  {"error":{"code":"BAD_CHECKSUM","message":"..."},"hex":"7e...7e"}
Subpackets print as raw fragments; when a set completes, one more line carries the reassembled
message with "reassembled": true. Exit status 1 when any frame failed to decode.

  --lenient   accept a wrong checksum (checksumOk: false), stray 0x7d bytes, and with a right
              checksum a header body length other than the body's ("declaredBodyLength": n)

JT/T 809 frames (0x5b … 0x5d) are recognised by their first byte, or all input is taken as 809
with --protocol 809. They print as {"protocol":809,"msgId":"0x1200","edition":2019,"sn":…,
"gnssCentreId":…,"versionFlag":"1.0.0","encryptFlag":0,"encryptKey":0,"time":…,"crcOk":true,
"quirks":[…],"body":{…}} (quirks only when there are some).
  --keys M1,IA1,IC1   the link's encryption constants: encrypted 809 bodies are decrypted
  --edition 2011|2019 the link's edition, used only when a header's shape cannot tell`

export const decodeCommand: Command = {
  name: 'decode',
  summary: 'decode hex JT/T 808 and 809 frames to NDJSON',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    let lenient = false
    let protocol: 808 | 809 | undefined
    let keys: EncryptionKeys | undefined
    let edition: Edition | undefined
    const inputs: string[] = []
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]
      if (a === '--lenient') lenient = true
      else if (a === '--protocol') protocol = parseProtocol(argv[++i])
      else if (a === '--keys') keys = parseKeys(argv[++i])
      else if (a === '--edition') {
        const e = argv[++i]
        if (e !== '2011' && e !== '2019') throw new UsageError('--edition is 2011 or 2019')
        edition = Number(e) as Edition
      } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`)
      else inputs.push(a)
    }
    const emit = (obj: Record<string, unknown>) => io.stdout.write(JSON.stringify(obj) + '\n')
    const decoder = new LineDecoder(lenient, emit)
    const decoder809 = new LineDecoder809({ lenient, keys, edition }, emit)
    const line = (text: string): void => {
      const compact = text.replace(/\s+/g, '')
      if (protocol === 809 || (protocol === undefined && /^5b/i.test(compact))) decoder809.line(compact)
      else decoder.line(text)
    }
    if (inputs.length > 0) for (const l of inputs) line(l)
    else for await (const l of createInterface({ input: io.stdin, crlfDelay: Infinity })) line(l)
    return decoder.failures + decoder809.failures > 0 ? 1 : 0
  },
}

export function parseProtocol(v: string | undefined): 808 | 809 {
  if (v !== '808' && v !== '809') throw new UsageError('--protocol is 808 or 809')
  return Number(v) as 808 | 809
}

export function parseKeys(v: string | undefined): EncryptionKeys {
  const parts = (v ?? '').split(',').map((x) => Number(x.trim()))
  if (parts.length !== 3 || !parts.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) throw new UsageError('--keys is M1,IA1,IC1 (three integers)')
  return { m1: parts[0], ia1: parts[1], ic1: parts[2] }
}

/** Decodes lines of hex holding JT/T 809 frames (a frame given without its 0x5b/0x5d flags is accepted too). */
export class LineDecoder809 {
  failures = 0

  constructor(
    private readonly options: { lenient: boolean; keys?: EncryptionKeys; edition?: Edition },
    private readonly emit: (obj: Record<string, unknown>) => void,
  ) {}

  line(compact: string): void {
    if (compact === '') return
    if (!/^([0-9a-fA-F]{2})+$/.test(compact)) return this.error({ code: 'BAD_FIELD', message: 'not an even number of hex digits' }, compact)
    let bytes = Buffer.from(compact, 'hex')
    if (bytes[0] !== 0x5b) bytes = Buffer.concat([Buffer.from([0x5b]), bytes, Buffer.from([0x5d])])
    const found: { content: Buffer; unescaped: boolean }[] = []
    const errors: CodecError[] = []
    const deframer = new Deframer809({
      maxFrameLength: 4 * 1024 * 1024,
      onFrame: (c, info) => found.push({ content: Buffer.from(c), unescaped: info.unescaped }),
      onError: (e) => errors.push(e),
    })
    deframer.push(bytes)
    if (deframer.buffered > 0) errors.push({ code: 'TRUNCATED', message: `frame of ${deframer.buffered} bytes without its 0x5d` })
    for (const e of errors) this.error(e, compact)
    for (const f of found) {
      const hex = '5b' + f.content.toString('hex') + '5d'
      const r = decodeFrame809(f.content, { ...this.options, unescaped: f.unescaped })
      if (!r.ok) this.error(r.error, hex)
      else this.emit(messageToJson809(r.value.message, r.value.crcOk, r.value.quirks))
    }
  }

  private error(e: CodecError, hex: string): void {
    this.failures++
    this.emit({ error: { code: e.code, message: e.message }, hex })
  }
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
