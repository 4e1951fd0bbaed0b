/** 0x0201 location query reply (to the empty 0x8201): reply serial WORD, then a 0x0200 body. */
import type { BodyCodec } from '../message.js'
import { readLocation, writeLocation, type Location } from './0200-location.js'

export interface LocationReply {
  replySerial: number
  location: Location
}

export const locationReply: BodyCodec<LocationReply> = {
  decode(r) {
    const replySerial = r.u16('reply serial')
    return { replySerial, location: readLocation(r, r.end) }
  },
  encode(w, b) {
    w.u16(b.replySerial)
    writeLocation(w, b.location)
  },
}
