/**
 * 0x8801 take a photo now (摄像头立即拍摄命令) and its reply 0x0805 (摄像头立即拍摄命令应答),
 * the same in JT/T 808-2013 §8.55–8.56 and 808-2019:
 *   0x8801  channel id BYTE (> 0), command WORD (0 stop, 0xFFFF record video, else that many
 *           photos), interval / recording time WORD (s; 0 the shortest interval / until stopped),
 *           save flag BYTE (1 save on the terminal, 0 upload in real time), resolution BYTE
 *           (1 320×240, 2 640×480, 3 800×600, 4 1024×768, 5 176×144, 6 352×288, 7 704×288,
 *           8 704×576), quality BYTE (1–10, 1 the least loss), brightness BYTE (0–255),
 *           contrast BYTE (0–127), saturation BYTE (0–127), chroma BYTE (0–255)
 *   0x0805  reply serial WORD, result BYTE (0 done, 1 failed, 2 channel not supported), then
 *           the media count WORD and the media ids DWORD[count] (meaningful when result is 0)
 * Checked against the standard's tables as published in open 808 codecs (the code corpus of the
 * `search` tool: e.g. toggery/jt808 B8801Codec, baichangda/MyFramework CameraTakePhotoCmdResponse).
 * A 0x0805 that ends after the result (some terminals, when it is not 0) decodes without mediaIds.
 */
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'

export interface CameraCommand {
  channel: number
  /** 0 stop, 0xffff video, else the number of photos */
  command: number
  /** seconds between photos, or the recording time */
  interval: number
  /** 1 saved on the terminal, 0 uploaded in real time (0x0801) */
  save: number
  resolution: number
  quality: number
  brightness: number
  contrast: number
  saturation: number
  chroma: number
}

export interface CameraReply {
  replySerial: number
  /** 0 done, 1 failed, 2 channel not supported */
  result: number
  /** the media ids the photos will be uploaded under (0x0801); absent when the body ends after the result */
  mediaIds?: number[]
}

const BYTES = ['channel', 'save', 'resolution', 'quality', 'brightness', 'contrast', 'saturation', 'chroma'] as const

function byte(b: CameraCommand, field: (typeof BYTES)[number]): number {
  const v = b[field]
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new CodecFault('BAD_FIELD', `${field} ${v} is not a BYTE`)
  return v
}

function word(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new CodecFault('BAD_FIELD', `${field} ${v} is not a WORD`)
  return v
}

export const cameraCommand: BodyCodec<CameraCommand> = {
  decode(r) {
    return {
      channel: r.u8('channel id'),
      command: r.u16('command'),
      interval: r.u16('interval'),
      save: r.u8('save flag'),
      resolution: r.u8('resolution'),
      quality: r.u8('quality'),
      brightness: r.u8('brightness'),
      contrast: r.u8('contrast'),
      saturation: r.u8('saturation'),
      chroma: r.u8('chroma'),
    }
  },
  encode(w, b) {
    w.u8(byte(b, 'channel')).u16(word(b.command, 'command')).u16(word(b.interval, 'interval'))
    for (const f of BYTES.slice(1)) w.u8(byte(b, f))
  },
}

export const cameraReply: BodyCodec<CameraReply> = {
  decode(r) {
    const body: CameraReply = { replySerial: r.u16('reply serial'), result: r.u8('result') }
    if (r.remaining === 0) return body
    const count = r.u16('media count')
    body.mediaIds = []
    for (let i = 0; i < count; i++) body.mediaIds.push(r.u32('media id'))
    return body
  },
  encode(w, b) {
    w.u16(word(b.replySerial, 'replySerial'))
    if (!Number.isInteger(b.result) || b.result < 0 || b.result > 0xff) throw new CodecFault('BAD_FIELD', `result ${b.result} is not a BYTE`)
    w.u8(b.result)
    if (b.mediaIds === undefined) return
    w.u16(word(b.mediaIds.length, 'media count'))
    for (const id of b.mediaIds) {
      if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new CodecFault('BAD_FIELD', `media id ${id} is not a DWORD`)
      w.u32(id)
    }
  },
}
