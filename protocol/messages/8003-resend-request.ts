/**
 * Re-request of missing subpackets:
 *   0x8003 (platform → terminal): original serial WORD, count BYTE (2013) / WORD (2019), ids WORD[]
 *   0x0005 (terminal → platform, 2019): original serial WORD, count WORD, ids WORD[]
 * The ids are the subpacket indexes (1-based) still missing.
 */
import { CodecFault } from '../errors.js'
import type { BodyReader, BodyWriter } from '../bytes.js'
import type { BodyCodec } from '../message.js'

export interface ResendRequest {
  /** Serial of the first subpacket of the set. */
  originalSerial: number
  packetIds: number[]
}

function read(r: BodyReader, wordCount: boolean): ResendRequest {
  const originalSerial = r.u16('original serial')
  const count = wordCount ? r.u16('count') : r.u8('count')
  const packetIds: number[] = []
  for (let i = 0; i < count; i++) packetIds.push(r.u16('packet id'))
  return { originalSerial, packetIds }
}

function write(w: BodyWriter, b: ResendRequest, wordCount: boolean): void {
  const n = b.packetIds.length
  if (n > (wordCount ? 0xffff : 0xff)) throw new CodecFault('BAD_FIELD', `${n} packet ids do not fit the count field`)
  w.u16(b.originalSerial)
  if (wordCount) w.u16(n)
  else w.u8(n)
  for (const id of b.packetIds) w.u16(id)
}

export const resendRequest: BodyCodec<ResendRequest> = {
  decode: (r, h) => read(r, h.version === 2019),
  encode: (w, b, h) => write(w, b, h.version === 2019),
}

/** 0x0005 exists only in 2019 and always counts with a WORD. */
export const terminalResendRequest: BodyCodec<ResendRequest> = {
  decode: (r) => read(r, true),
  encode: (w, b) => write(w, b, true),
}
