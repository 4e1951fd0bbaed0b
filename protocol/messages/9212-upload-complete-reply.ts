/**
 * 0x9212 file upload complete reply (T/JSATL12-2017 §4.5.5, same in T/GDRTA 002-2020), the
 * answer to 0x1212:
 *   name length BYTE, name STRING, file type BYTE, result BYTE (0 complete, 1 re-send),
 *   segment count BYTE, then per missing segment: offset DWORD, length DWORD
 */
import type { HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'

export interface MissingSegment {
  offset: number
  length: number
}

export interface UploadCompleteReply extends HasAsSent {
  name: string
  fileType: number
  /** 0 the file is complete, 1 the segments listed must be re-sent */
  result: number
  missing: MissingSegment[]
}

export const MAX_MISSING_SEGMENTS = 255

export const uploadCompleteReply: BodyCodec<UploadCompleteReply> = {
  decode(r) {
    const body = {} as UploadCompleteReply
    body.name = r.prefixedText('name', body)
    body.fileType = r.u8('file type')
    body.result = r.u8('result')
    const count = r.u8('segment count')
    body.missing = []
    for (let i = 0; i < count; i++) body.missing.push({ offset: r.u32('segment offset'), length: r.u32('segment length') })
    return body
  },
  encode(w, b) {
    if (b.missing.length > MAX_MISSING_SEGMENTS) throw new CodecFault('BAD_FIELD', `${b.missing.length} segments do not fit a BYTE count`)
    w.prefixedText(b.name, 'name', b).u8(b.fileType).u8(b.result).u8(b.missing.length)
    for (const s of b.missing) w.u32(s.offset).u32(s.length)
  },
}
