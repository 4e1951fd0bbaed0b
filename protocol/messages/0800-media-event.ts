/**
 * 0x0800 multimedia event: media id DWORD, type BYTE (0 image, 1 audio, 2 video),
 * format BYTE (0 JPEG, 1 TIF, 2 MP3, 3 WAV, 4 WMV), event BYTE (0 platform command, 1 timed,
 * 2 robbery alarm, 3 collision/rollover, 4 door open, 5 door closed, 6 door speed change,
 * 7 distance), channel BYTE.
 */
import { layout, Layout } from '../layout.js'
import type { BodyCodec } from '../message.js'
import type { BodyWriter } from '../bytes.js'

export interface MediaEvent {
  mediaId: number
  type: number
  format: number
  event: number
  channel: number
}

export const MEDIA_HEAD = new Layout<MediaEvent>(
  layout().uint32('mediaId').uint8('type').uint8('format').uint8('event').uint8('channel'),
)

export function writeMediaHead(w: BodyWriter, b: MediaEvent): void {
  w.u32(b.mediaId).u8(b.type).u8(b.format).u8(b.event).u8(b.channel)
}

export const mediaEvent: BodyCodec<MediaEvent> = {
  decode: (r) => MEDIA_HEAD.read(r, 'media event'),
  encode: writeMediaHead,
}
