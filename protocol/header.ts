/**
 * Message header, 2011/2013 and 2019.
 *   2011/2013: msgId WORD, props WORD, phone BCD[6], serial WORD, [total WORD, index WORD]
 *   2019:      msgId WORD, props WORD, version BYTE, phone BCD[10], serial WORD, [total, index]
 * props: bits 0-9 body length, 10-12 encryption, 13 subpackage, 14 version flag, 15 reserved.
 */
import { bcdToString } from './bytes.js'
import { ok, type CodecError, type Result } from './errors.js'

export type ProtocolVersion = 2011 | 2013 | 2019

export interface PacketInfo {
  total: number
  index: number
}

export interface Header {
  msgId: number
  /** 2011 only where the body tells it apart (0x0100), else 2013; 2019 by header layout. */
  version: ProtocolVersion
  /** The 2019 header's protocol version byte (1 in JT/T 808-2019); absent before 2019. */
  protocolVersion?: number
  /** All BCD digits as sent: 12 (2011/2013) or 20 (2019). */
  phone: string
  serial: number
  /** Encryption bits 10-12 (bit 10 = RSA). */
  encryption: number
  packet: PacketInfo | null
  /** Bit 14 as sent: some 2013 devices set it, some 2019 devices do not. Kept for exact re-encoding. */
  versionFlag: boolean
  /** Bit 15 as sent (reserved). */
  reservedBit: boolean
  /**
   * Lenient decoding only, and only when the header's body length (bits 0-9) disagrees with the
   * bytes present: what it declared. The body is then the bytes present; encoding writes their
   * true length.
   */
  declaredBodyLength?: number
}

export interface ParsedHeader {
  header: Header
  headerLength: number
  bodyLength: number
}

/**
 * Parses the header of an unescaped frame (checksum byte excluded from `length`). The version is
 * chosen by which layout makes the declared body length match the bytes present: this is robust
 * to a wrong bit 14 in either direction. `versionHint` (what this connection spoke before) breaks
 * the tie when neither layout matches.
 */
export function parseHeader(buf: Buffer, length: number, versionHint?: ProtocolVersion): Result<ParsedHeader> {
  const h = readHeader(buf, length, versionHint)
  if ('code' in h) return { ok: false, error: h }
  return ok({ header: h, headerLength: headerLength(h), bodyLength: length - headerLength(h) })
}

// Per-frame calls go through local aliases: when the code runs through tsx (as `jt808 serve`
// does), every call to an imported function is a property read through an export getter.
const bcdDigits = bcdToString

/**
 * parseHeader without the Result wrapper (the decodeFrame hot path): a Header, or the error.
 * `lenient`: a body length that fits neither layout is taken from the bytes present instead of
 * failing with LENGTH_MISMATCH (some devices send a wrong one), and noted in declaredBodyLength.
 */
export function readHeader(buf: Uint8Array, length: number, versionHint?: ProtocolVersion, lenient = false): Header | CodecError {
  if (length < 12) return { code: 'TRUNCATED', message: `frame of ${length} bytes is shorter than the smallest header` }
  const props = (buf[2] << 8) | buf[3]
  const bodyLength = props & 0x3ff
  const subpackage = (props & 0x2000) !== 0
  const versionFlag = (props & 0x4000) !== 0
  const pkt = subpackage ? 4 : 0
  const fits2013 = 12 + pkt + bodyLength === length
  const fits2019 = 17 + pkt + bodyLength === length
  // Exactly one layout fits (they differ by 5 bytes): that is the version, whatever bit 14 says.
  let is2019 = fits2019
  if (!fits2013 && !fits2019) {
    // Neither fits: bit 14 (or what the connection spoke before) is all that tells the layout.
    const want = versionFlag || versionHint === 2019 ? 17 : 12
    if (!lenient) return { code: 'LENGTH_MISMATCH', message: `header declares a body of ${bodyLength} bytes, frame carries ${length - want - pkt}` }
    if (length < want + pkt) return { code: 'TRUNCATED', message: `frame of ${length} bytes is shorter than its ${want + pkt}-byte header` }
    is2019 = want === 17
  }
  const phoneAt = is2019 ? 5 : 4
  const serialAt = is2019 ? 15 : 10
  const header: Header = {
    msgId: (buf[0] << 8) | buf[1],
    version: is2019 ? 2019 : 2013,
    phone: bcdDigits(buf, phoneAt, is2019 ? 10 : 6),
    serial: (buf[serialAt] << 8) | buf[serialAt + 1],
    encryption: (props >> 10) & 0x7,
    packet: subpackage ? { total: (buf[serialAt + 2] << 8) | buf[serialAt + 3], index: (buf[serialAt + 4] << 8) | buf[serialAt + 5] } : null,
    versionFlag,
    reservedBit: (props & 0x8000) !== 0,
  }
  if (is2019) header.protocolVersion = buf[4]
  if (!fits2013 && !fits2019) header.declaredBodyLength = bodyLength
  return header
}

export function headerLength(h: Pick<Header, 'version' | 'packet'>): number {
  return (h.version === 2019 ? 17 : 12) + (h.packet ? 4 : 0)
}

/** Writes the header for a body of bodyLength bytes at offset 0; returns the header length. */
export function writeHeader(out: Buffer, h: Header, bodyLength: number): number {
  if (bodyLength > 0x3ff) throw new RangeError(`body of ${bodyLength} bytes exceeds 1023: send it as subpackets`)
  const is2019 = h.version === 2019
  let props = bodyLength | ((h.encryption & 0x7) << 10)
  if (h.packet) props |= 0x2000
  if (h.versionFlag) props |= 0x4000
  if (h.reservedBit) props |= 0x8000
  out.writeUInt16BE(h.msgId, 0)
  out.writeUInt16BE(props, 2)
  let o = 4
  if (is2019) out[o++] = h.protocolVersion ?? 1
  const digits = is2019 ? 20 : 12
  const phone = h.phone.padStart(digits, '0')
  if (phone.length !== digits || !/^[0-9a-fA-F]+$/.test(phone)) throw new RangeError(`phone "${h.phone}" does not fit BCD[${digits / 2}]`)
  out.write(phone, o, 'hex')
  o += digits / 2
  out.writeUInt16BE(h.serial & 0xffff, o)
  o += 2
  if (h.packet) {
    out.writeUInt16BE(h.packet.total, o)
    out.writeUInt16BE(h.packet.index, o + 2)
    o += 4
  }
  return o
}
