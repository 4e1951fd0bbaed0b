/**
 * 0x8800 multimedia upload reply: media id DWORD, then (when packets must be re-sent)
 * count BYTE and the subpacket indexes WORD[]. A bare media id means everything arrived.
 */
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'

export interface MediaReply {
  mediaId: number
  /** Subpacket indexes to re-send; absent when the body is the media id alone. */
  packetIds?: number[]
}

export const mediaReply: BodyCodec<MediaReply> = {
  decode(r) {
    const body: MediaReply = { mediaId: r.u32('media id') }
    if (r.remaining === 0) return body
    const count = r.u8('count')
    body.packetIds = []
    for (let i = 0; i < count; i++) body.packetIds.push(r.u16('packet id'))
    return body
  },
  encode(w, b) {
    w.u32(b.mediaId)
    if (b.packetIds === undefined) return
    if (b.packetIds.length > 255) throw new CodecFault('BAD_FIELD', `${b.packetIds.length} packet ids do not fit a BYTE count`)
    w.u8(b.packetIds.length)
    for (const id of b.packetIds) w.u16(id)
  },
}
