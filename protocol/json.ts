/**
 * The JSON form of a message used by `jt808 decode` / `jt808 encode` (issue 2 §3) and anything
 * else that shows messages to people: ids as "0x0200" strings, header fields first, and header
 * details that are usually implied (bit 14, bit 15, the 2019 version byte) present only when
 * they differ from what the version implies — so the common case prints exactly the contract's
 * keys and every frame still re-encodes to its bytes.
 */
import type { Message, OutgoingMessage } from './codec.js'
import { fail, ok, type Result } from './errors.js'
import type { Header, ProtocolVersion } from './header.js'

export type JsonObject = Record<string, unknown>

export function msgIdText(id: number): string {
  return '0x' + id.toString(16).padStart(4, '0')
}

/** A message as the CLI prints it. */
export function messageToJson(m: Message, checksumOk: boolean): JsonObject {
  const out: JsonObject = {
    msgId: msgIdText(m.msgId),
    version: m.version,
    phone: m.phone,
    serial: m.serial,
    encryption: m.encryption,
    packet: m.packet,
    checksumOk,
    body: bodyToJson(m.msgId, m.body),
  }
  if (m.versionFlag !== (m.version === 2019)) out.versionFlag = m.versionFlag
  if (m.reservedBit) out.reservedBit = true
  if (m.version === 2019 && m.protocolVersion !== undefined && m.protocolVersion !== 1) out.protocolVersion = m.protocolVersion
  if (m.trailing) out.trailing = m.trailing
  if (m.declaredBodyLength !== undefined) out.declaredBodyLength = m.declaredBodyLength
  return out
}

/** The inverse of messageToJson (also accepts numeric ids); checks the header fields. */
export function messageFromJson(v: unknown): Result<OutgoingMessage> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('BAD_FIELD', 'expected a JSON object')
  const o = v as JsonObject
  const msgId = parseId(o.msgId)
  if (msgId === null || msgId > 0xffff) return fail('BAD_FIELD', `msgId ${JSON.stringify(o.msgId)} is not a message id`)
  const version = o.version ?? 2013
  if (version !== 2011 && version !== 2013 && version !== 2019) return fail('BAD_FIELD', `version ${JSON.stringify(o.version)} is not 2011, 2013 or 2019`)
  if (typeof o.phone !== 'string' || !/^[0-9a-fA-F]{1,20}$/.test(o.phone)) return fail('BAD_FIELD', 'phone must be a string of BCD digits')
  const serial = o.serial ?? 0
  if (!isInt(serial, 0xffff)) return fail('BAD_FIELD', 'serial must be 0..65535')
  if (typeof o.body !== 'object' || o.body === null) return fail('BAD_FIELD', 'body must be an object')
  const header: Partial<Header> & { msgId: number; phone: string; serial: number } = { msgId, version: version as ProtocolVersion, phone: o.phone, serial }
  if (o.encryption !== undefined) {
    if (!isInt(o.encryption, 7)) return fail('BAD_FIELD', 'encryption must be 0..7')
    header.encryption = o.encryption
  }
  if (o.packet !== undefined && o.packet !== null) {
    const p = o.packet as JsonObject
    if (!isInt(p.total, 0xffff) || !isInt(p.index, 0xffff)) return fail('BAD_FIELD', 'packet must be {"total": n, "index": i}')
    header.packet = { total: p.total, index: p.index }
  }
  if (typeof o.versionFlag === 'boolean') header.versionFlag = o.versionFlag
  if (typeof o.reservedBit === 'boolean') header.reservedBit = o.reservedBit
  if (isInt(o.protocolVersion, 0xff)) header.protocolVersion = o.protocolVersion
  const body = bodyFromJson(msgId, o.body as JsonObject)
  if (!body.ok) return body
  const m = { ...header, body: body.value } as OutgoingMessage
  if (typeof o.trailing === 'string') m.trailing = o.trailing
  return ok(m)
}

function bodyToJson(msgId: number, body: unknown): unknown {
  if (typeof body !== 'object' || body === null || 'raw' in body) return body
  const b = body as JsonObject
  if ((msgId === 0x0001 || msgId === 0x8001) && typeof b.replyId === 'number') return { ...b, replyId: msgIdText(b.replyId) }
  if ((msgId === 0x8103 || msgId === 0x0104) && Array.isArray(b.params)) {
    return { ...b, params: (b.params as JsonObject[]).map((p) => ({ ...p, id: msgIdText(p.id as number) })) }
  }
  return body
}

function bodyFromJson(msgId: number, b: JsonObject): Result<unknown> {
  if ('raw' in b) return ok(b)
  if ((msgId === 0x0001 || msgId === 0x8001) && b.replyId !== undefined) {
    const replyId = parseId(b.replyId)
    if (replyId === null) return fail('BAD_FIELD', `replyId ${JSON.stringify(b.replyId)} is not a message id`)
    return ok({ ...b, replyId })
  }
  if ((msgId === 0x8103 || msgId === 0x0104) && Array.isArray(b.params)) {
    const params: JsonObject[] = []
    for (const p of b.params as JsonObject[]) {
      const id = parseId(p?.id)
      if (id === null) return fail('BAD_FIELD', `parameter id ${JSON.stringify(p?.id)} is not a number`)
      params.push({ ...p, id })
    }
    return ok({ ...b, params })
  }
  return ok(b)
}

function parseId(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : null
  if (typeof v !== 'string') return null
  const m = /^0x([0-9a-fA-F]{1,8})$/.exec(v.trim())
  return m ? parseInt(m[1], 16) : null
}

function isInt(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
}
