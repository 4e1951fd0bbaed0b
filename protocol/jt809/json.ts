/**
 * The JSON form of a JT/T 809 message (what `jt808 decode` prints for an 809 frame and `jt808
 * encode` reads back): "protocol": 809 first, ids as "0x1200" strings (msgId, and dataType inside
 * envelopes), the header fields, then the body as decoded. Frame details kept for exact
 * re-encoding (trailing, stray, unescaped, bodyEncrypted) appear only when present.
 */
import { fail, ok, type Result } from '../errors.js'
import type { Message809, OutgoingMessage809 } from './codec.js'
import type { Quirk } from './body.js'
import { parseVersionFlag, type Header809 } from './header.js'

export type JsonObject809 = Record<string, unknown>

const hexId = (id: number): string => '0x' + id.toString(16).padStart(4, '0')

export function messageToJson809(m: Message809, crcOk: boolean, quirks: readonly Quirk[] = []): JsonObject809 {
  const out: JsonObject809 = {
    protocol: 809,
    msgId: hexId(m.msgId),
    edition: m.edition,
    sn: m.sn,
    gnssCentreId: m.gnssCentreId,
    versionFlag: m.versionFlag,
    encryptFlag: m.encryptFlag,
    encryptKey: m.encryptKey,
  }
  if (m.time !== undefined) out.time = m.time
  out.crcOk = crcOk
  if (quirks.length > 0) out.quirks = [...quirks]
  out.body = bodyToJson(m.body)
  if (m.trailing) out.trailing = m.trailing
  if (m.stray) out.stray = m.stray
  if (m.unescaped) out.unescaped = true
  if (m.bodyEncrypted) out.bodyEncrypted = true
  return out
}

function bodyToJson(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !('dataType' in body)) return body
  const b = body as JsonObject809
  const out: JsonObject809 = typeof b.dataType === 'number' ? { ...b, dataType: hexId(b.dataType) } : { ...b }
  // 2019 acknowledgements name the sub-business type they answer: shown as an id too.
  const data = b.data as JsonObject809 | undefined
  if (typeof data === 'object' && data !== null && typeof data.sourceDataType === 'number') out.data = { ...data, sourceDataType: hexId(data.sourceDataType) }
  return out
}

/** The inverse of messageToJson809 (numeric ids accepted too); checks the header fields. */
export function messageFromJson809(v: unknown): Result<OutgoingMessage809> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('BAD_FIELD', 'expected a JSON object')
  const o = v as JsonObject809
  const msgId = parseId(o.msgId)
  if (msgId === null || msgId > 0xffff) return fail('BAD_FIELD', `msgId ${JSON.stringify(o.msgId)} is not a message id`)
  const edition = o.edition ?? 2011
  if (edition !== 2011 && edition !== 2019) return fail('BAD_FIELD', `edition ${JSON.stringify(o.edition)} is not 2011 or 2019`)
  const h: Partial<Header809> & { msgId: number } = { msgId, edition }
  for (const [key, max] of [
    ['sn', 0xffffffff],
    ['gnssCentreId', 0xffffffff],
    ['encryptFlag', 0xff],
    ['encryptKey', 0xffffffff],
    ['time', Number.MAX_SAFE_INTEGER],
  ] as const) {
    const x = o[key]
    if (x === undefined) continue
    if (!isInt(x, max)) return fail('BAD_FIELD', `${key} must be an integer 0..${max}`)
    h[key] = x
  }
  if (o.versionFlag !== undefined) {
    if (typeof o.versionFlag !== 'string' || parseVersionFlag(o.versionFlag) === null) return fail('BAD_FIELD', 'versionFlag must be "major.minor.build"')
    h.versionFlag = o.versionFlag
  }
  if (typeof o.body !== 'object' || o.body === null) return fail('BAD_FIELD', 'body must be an object')
  let body = o.body as JsonObject809
  if ('dataType' in body) {
    const dataType = parseId(body.dataType)
    if (dataType === null || dataType > 0xffff) return fail('BAD_FIELD', `dataType ${JSON.stringify(body.dataType)} is not a sub-business type`)
    body = { ...body, dataType }
    const data = body.data as JsonObject809 | undefined
    if (typeof data === 'object' && data !== null && data.sourceDataType !== undefined) {
      const sourceDataType = parseId(data.sourceDataType)
      if (sourceDataType === null || sourceDataType > 0xffff) return fail('BAD_FIELD', `sourceDataType ${JSON.stringify(data.sourceDataType)} is not a sub-business type`)
      body.data = { ...data, sourceDataType }
    }
  }
  const m = { ...h, body } as OutgoingMessage809
  if (typeof o.trailing === 'string') m.trailing = o.trailing
  if (typeof o.stray === 'string') m.stray = o.stray
  if (o.unescaped === true) m.unescaped = true
  if (o.bodyEncrypted === true) m.bodyEncrypted = true
  return ok(m)
}

function parseId(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : null
  if (typeof v !== 'string') return null
  const m = /^0x([0-9a-fA-F]{1,8})$/.exec(v.trim())
  return m ? parseInt(m[1], 16) : null
}

function isInt(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
}
