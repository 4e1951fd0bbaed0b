/**
 * JT/T 809 message header, after the 0x5b head flag:
 *   MSG_LENGTH DWORD (whole frame, head and end flags included, unescaped), MSG_SN DWORD,
 *   MSG_ID WORD, MSG_GNSSCENTERID DWORD, VERSION_FLAG BYTE[3], ENCRYPT_FLAG BYTE, ENCRYPT_KEY DWORD
 *   = 22 bytes (2011); 2019 appends TIME UINT64 (UTC seconds of sending) = 30 bytes.
 * The version flag does not tell the editions apart in the wild; the header's shape does (see
 * editionOf).
 */

export type Edition = 2011 | 2019

export interface Header809 {
  msgId: number
  /** MSG_SN */
  sn: number
  /** MSG_GNSSCENTERID: the lower platform's access code. */
  gnssCentreId: number
  /** VERSION_FLAG as "major.minor.build" (0x01 0x02 0x0f is "1.2.15"). */
  versionFlag: string
  /** ENCRYPT_FLAG as sent: 0 plain, 1 encrypted body. */
  encryptFlag: number
  encryptKey: number
  edition: Edition
  /** 2019: UTC seconds when the message was sent. */
  time?: number
}

export const HEADER_2011 = 22
export const HEADER_2019 = 30
/** Head flag + CRC + end flag around the header and body. */
export const FRAME_OVERHEAD = 4

export function headerLength(edition: Edition): number {
  return edition === 2019 ? HEADER_2019 : HEADER_2011
}

/** 2000-01-01 and 2100-01-01 UTC: where a 2019 header's TIME falls. */
const TIME_MIN = 946_684_800
const TIME_MAX = 4_102_444_800

/**
 * 2019 when bytes 22..29 of the unescaped frame content (header + body + CRC, `length` bytes)
 * read as a plausible UTC time in seconds — a 2011 body never starts so: its first bytes are a plate, a
 * sub-business type, credentials or a verify code. Too short to hold a TIME: `hint`, else 2011.
 */
export function editionOf(buf: Uint8Array, length: number, hint?: Edition): Edition {
  if (length >= HEADER_2019 + 2) {
    const hi = ((buf[22] << 24) | (buf[23] << 16) | (buf[24] << 8) | buf[25]) >>> 0
    const lo = ((buf[26] << 24) | (buf[27] << 16) | (buf[28] << 8) | buf[29]) >>> 0
    // Seconds only: a TIME in milliseconds would read like a 2011 login's USERID of 219..955
    // followed by its password. The link's edition covers such senders.
    if (hi === 0 && lo >= TIME_MIN && lo < TIME_MAX) return 2019
    if (hint === 2019) return 2019
    return 2011
  }
  return 2011
}

/** Reads the header (the edition decided by the caller). `buf` holds at least headerLength bytes. */
export function readHeader809(buf: Buffer, edition: Edition): Header809 {
  const h: Header809 = {
    msgId: buf.readUInt16BE(8),
    sn: buf.readUInt32BE(4),
    gnssCentreId: buf.readUInt32BE(10),
    versionFlag: versionText(buf[14], buf[15], buf[16]),
    encryptFlag: buf[17],
    encryptKey: buf.readUInt32BE(18),
    edition,
  }
  if (edition === 2019) h.time = buf.readUInt32BE(22) * 0x1_0000_0000 + buf.readUInt32BE(26)
  return h
}

/** Version flag texts by their 24-bit value: a link sends the same one all day. */
const VERSION_TEXT = new Map<number, string>()

function versionText(a: number, b: number, c: number): string {
  const key = (a << 16) | (b << 8) | c
  let t = VERSION_TEXT.get(key)
  if (t === undefined) {
    t = `${a}.${b}.${c}`
    if (VERSION_TEXT.size < 1024) VERSION_TEXT.set(key, t)
  }
  return t
}

/** Writes the header at offset 0 of out for a frame of `frameLength` bytes (MSG_LENGTH). Throws RangeError on a bad field. */
export function writeHeader809(out: Buffer, h: Header809, frameLength: number): number {
  const flag = parseVersionFlag(h.versionFlag)
  if (flag === null) throw new RangeError(`versionFlag "${h.versionFlag}" is not "major.minor.build" (each 0..255)`)
  out.writeUInt32BE(frameLength >>> 0, 0)
  out.writeUInt32BE(h.sn >>> 0, 4)
  out.writeUInt16BE(h.msgId & 0xffff, 8)
  out.writeUInt32BE(h.gnssCentreId >>> 0, 10)
  out[14] = flag[0]
  out[15] = flag[1]
  out[16] = flag[2]
  out[17] = h.encryptFlag & 0xff
  out.writeUInt32BE(h.encryptKey >>> 0, 18)
  if (h.edition !== 2019) return HEADER_2011
  const t = h.time ?? 0
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`time ${t} is not a count of seconds`)
  out.writeUInt32BE(Math.floor(t / 0x1_0000_0000), 22)
  out.writeUInt32BE(t % 0x1_0000_0000, 26)
  return HEADER_2019
}

const PARSED_FLAGS = new Map<string, [number, number, number]>()

export function parseVersionFlag(text: string): [number, number, number] | null {
  const known = PARSED_FLAGS.get(text)
  if (known !== undefined) return known
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (!m) return null
  const v: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (!v.every((x) => x <= 255)) return null
  if (PARSED_FLAGS.size < 1024) PARSED_FLAGS.set(text, v)
  return v
}
