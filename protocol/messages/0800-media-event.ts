/**
 * 0x0800 multimedia event: media id DWORD, type BYTE (0 image, 1 audio, 2 video),
 * format BYTE (0 JPEG, 1 TIF, 2 MP3, 3 WAV, 4 WMV), event BYTE (0 platform command, 1 timed,
 * 2 robbery alarm, 3 collision/rollover, 4 door open, 5 door closed, 6 door speed change,
 * 7 distance), channel BYTE.
 */
import { Layout } from '../layout.js'

export interface MediaEvent {
  mediaId: number
  type: number
  format: number
  event: number
  channel: number
}

/** The whole 0x0800 body, and the head of 0x0801. */
export const MEDIA_HEAD = new Layout<MediaEvent>([
  ['u32', 'mediaId'],
  ['u8', 'type'],
  ['u8', 'format'],
  ['u8', 'event'],
  ['u8', 'channel'],
])

export const mediaEvent = MEDIA_HEAD.codec('media event')
