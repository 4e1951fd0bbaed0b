/**
 * `jt808 encode`: the inverse of `jt808 decode` — the same JSON in, frames as hex out.
 * Feeding decode's output back in reproduces the input frames.
 */
import { createInterface } from 'node:readline'
import { encodeBody, encodeFrameWithBody, encodeSubpackets, headerOf, MAX_PACKET_BODY, messageFromJson } from '../../../protocol/index.js'
import { encodeMessage809, messageFromJson809, type EncryptionKeys } from '../../../protocol/jt809/index.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { parseKeys, parseProtocol } from './decode.js'

const USAGE = `usage: jt808 encode [--protocol 808|809] [--keys M1,IA1,IC1] [JSON ...]

Encodes messages given as JSON (the form "jt808 decode" prints) — as arguments, or on stdin,
one object per line — and prints each frame as hex, one per line. A body longer than one frame
holds (1023 bytes) is split into subpackets, one line each. Lines that are decode's own
reports pass through: an error line prints its "hex" again, a "reassembled": true line prints
nothing (its fragments are on the lines before it). A line that cannot be encoded prints
{"error":{"code":...,"message":...},"input":...}; the exit status is then 1.
  msgId "0x0200" (or a number), version 2011|2013|2019 (default 2013), phone, serial,
  encryption, packet {"total","index"}, body (by message; {"raw":"<hex>"} for any id)
JT/T 809: an object with "protocol": 809 (or any object with --protocol 809) — msgId, edition
2011|2019 (default 2011), sn, gnssCentreId, versionFlag, encryptFlag, encryptKey, time, body;
--keys M1,IA1,IC1 encrypts bodies whose encryptFlag is 1.`

export const encodeCommand: Command = {
  name: 'encode',
  summary: 'encode JSON messages (as decode prints them) to hex frames',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const inputs: string[] = []
    let protocol: 808 | 809 | undefined
    let keys: EncryptionKeys | undefined
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]
      if (a === '--protocol') protocol = parseProtocol(argv[++i])
      else if (a === '--keys') keys = parseKeys(argv[++i])
      else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`)
      else inputs.push(a)
    }
    let failures = 0
    const out = (s: string) => io.stdout.write(s + '\n')
    const line = (text: string): void => {
      if (text.trim() === '') return
      const r = encodeLine(text, { protocol, keys })
      if (r.ok) r.frames.forEach(out)
      else {
        failures++
        out(JSON.stringify({ error: r.error, input: text }))
      }
    }
    if (inputs.length > 0) inputs.forEach(line)
    else for await (const l of createInterface({ input: io.stdin, crlfDelay: Infinity })) line(l)
    return failures > 0 ? 1 : 0
  },
}

type LineResult = { ok: true; frames: string[] } | { ok: false; error: { code: string; message: string } }

export function encodeLine(text: string, options: { protocol?: 808 | 809; keys?: EncryptionKeys } = {}): LineResult {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    return { ok: false, error: { code: 'BAD_FIELD', message: `not JSON: ${(e as Error).message}` } }
  }
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    if (o.reassembled === true) return { ok: true, frames: [] }
    if (o.error !== undefined && typeof o.hex === 'string') return { ok: true, frames: [o.hex] }
  }
  if (options.protocol === 809 || (options.protocol === undefined && typeof v === 'object' && v !== null && (v as Record<string, unknown>).protocol === 809)) {
    const m809 = messageFromJson809(v)
    if (!m809.ok) return { ok: false, error: m809.error }
    const frame809 = encodeMessage809(m809.value, { keys: options.keys })
    return frame809.ok ? { ok: true, frames: [frame809.value.toString('hex')] } : { ok: false, error: frame809.error }
  }
  const m = messageFromJson(v)
  if (!m.ok) return { ok: false, error: m.error }
  const body = encodeBody(m.value)
  if (!body.ok) return { ok: false, error: body.error }
  const header = headerOf(m.value)
  if (body.value.length > MAX_PACKET_BODY && header.packet === null) {
    const parts = encodeSubpackets(header, body.value)
    return parts.ok ? { ok: true, frames: parts.value.frames.map((f) => f.toString('hex')) } : { ok: false, error: parts.error }
  }
  const frame = encodeFrameWithBody(header, body.value)
  return frame.ok ? { ok: true, frames: [frame.value.toString('hex')] } : { ok: false, error: frame.error }
}
