/**
 * 0x0801 multimedia data upload: the 0x0800 fields (media id, type, format, event, channel),
 * the 28-byte basic location of the moment of capture, then the media bytes. Usually sent as
 * subpackets: reassemble first (protocol/reassembler.ts), then decode.
 */
import type { BodyCodec } from '../message.js'
import { readLocation, writeLocation, type Location } from './0200-location.js'
import { MEDIA_HEAD, type MediaEvent } from './0800-media-event.js'

export interface MediaData extends MediaEvent {
  /** Basic position (no additional items). */
  location: Location
  /** Media bytes (JPEG, ...) as hex. */
  data: string
}

const BASIC_LOCATION = 28

export const mediaData: BodyCodec<MediaData> = {
  decode(r) {
    const body = MEDIA_HEAD.read(r, 'media head') as MediaData
    body.location = readLocation(r, Math.min(r.offset + BASIC_LOCATION, r.end))
    body.data = r.rest().toString('hex')
    return body
  },
  encode(w, b) {
    MEDIA_HEAD.write(w, b)
    writeLocation(w, b.location)
    w.bytes(Buffer.from(b.data, 'hex'))
  },
}
