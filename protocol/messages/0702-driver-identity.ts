/**
 * 0x0702 driver identity report (IC card inserted / removed).
 *   2013: status BYTE (1 inserted, 2 removed), time BCD[6]; when inserted: read result BYTE;
 *         when read OK (0): name (BYTE length + STRING), qualification no. STRING[20],
 *         issuer (BYTE length + STRING), valid until BCD[4] (YYYYMMDD)
 *   2019: as 2013, plus the driver's ID number STRING[20] after `validUntil`
 *   2011: name (BYTE length + STRING), ID number STRING[20], qualification no. STRING[40],
 *         issuer (BYTE length + STRING) — recognised by its exact fit; sets header.version 2011
 */
import type { BodyReader, HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { bcdTimeDigits, readBcdTime } from '../time.js'

export interface DriverIdentity extends HasAsSent {
  /** 1 card inserted (on duty), 2 card removed (off duty); absent in 2011 bodies. */
  status?: number
  /** ISO 8601 +08:00, or the BCD digits when not a valid time. */
  time?: string
  /** 0 ok, 1 key authentication failed, 2 card locked, 3 card pulled out, 4 checksum error */
  readResult?: number
  driverName?: string
  qualificationNo?: string
  issuer?: string
  /** "YYYY-MM-DD", or the 8 BCD digits when not a valid date. */
  validUntil?: string
  /** 2019 (and 2011) only. */
  idNumber?: string
}

export const DriverCardStatus = { INSERTED: 1, REMOVED: 2 } as const

export const driverIdentity: BodyCodec<DriverIdentity> = {
  decode(r, h) {
    const body: DriverIdentity = {}
    if (h.version !== 2019 && fits2011(r.buf.subarray(r.offset, r.end))) {
      h.version = 2011
      body.driverName = r.prefixedText('driverName', body)
      body.idNumber = r.fixedText(20, 'idNumber', body)
      body.qualificationNo = r.fixedText(40, 'qualificationNo', body)
      body.issuer = r.prefixedText('issuer', body)
      return body
    }
    body.status = r.u8('status')
    body.time = readBcdTime(r.bytes(6, 'time'), 0).text
    if (body.status !== DriverCardStatus.INSERTED || r.remaining === 0) return body
    body.readResult = r.u8('read result')
    if (body.readResult !== 0) return body
    body.driverName = r.prefixedText('driverName', body)
    body.qualificationNo = r.fixedText(20, 'qualificationNo', body)
    body.issuer = r.prefixedText('issuer', body)
    body.validUntil = readDate(r)
    if (h.version === 2019) body.idNumber = r.fixedText(20, 'idNumber', body)
    return body
  },
  encode(w, b, h) {
    if (h.version === 2011) {
      w.prefixedText(b.driverName ?? '', 'driverName', b)
      w.fixedText(b.idNumber ?? '', 20, 'idNumber', b)
      w.fixedText(b.qualificationNo ?? '', 40, 'qualificationNo', b)
      w.prefixedText(b.issuer ?? '', 'issuer', b)
      return
    }
    if (b.status === undefined || b.time === undefined) throw new CodecFault('BAD_FIELD', 'status and time are required')
    w.u8(b.status).bcd(bcdTimeDigits(b.time), 6)
    if (b.readResult === undefined) return
    w.u8(b.readResult)
    if (b.readResult !== 0) return
    w.prefixedText(b.driverName ?? '', 'driverName', b)
    w.fixedText(b.qualificationNo ?? '', 20, 'qualificationNo', b)
    w.prefixedText(b.issuer ?? '', 'issuer', b)
    w.bcd(dateDigits(b.validUntil ?? '00000000'), 4)
    if (h.version === 2019) w.fixedText(b.idNumber ?? '', 20, 'idNumber', b)
  },
}

/** A 2011 body starts with the name length, never with status 1/2 + a time, and fits exactly. */
function fits2011(b: Buffer): boolean {
  if (b.length < 63 || b[0] === 1 || b[0] === 2) return false
  const issuerAt = 1 + b[0] + 60
  return issuerAt < b.length && issuerAt + 1 + b[issuerAt] === b.length
}

function readDate(r: BodyReader): string {
  const d = r.bcd(4, 'valid until')
  const iso = `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`
  // Only a real calendar date becomes ISO; anything else (devices send 00000000) stays as digits.
  const ms = /^\d{8}$/.test(d) ? Date.parse(`${iso}T00:00:00Z`) : NaN
  return !Number.isNaN(ms) && new Date(ms).toISOString().startsWith(iso) ? iso : d
}

function dateDigits(text: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  if (m) return m[1] + m[2] + m[3]
  if (/^[0-9a-fA-F]{8}$/.test(text)) return text
  throw new CodecFault('BAD_FIELD', `validUntil "${text}" is not YYYY-MM-DD`)
}
