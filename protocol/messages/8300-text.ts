/**
 * 0x8300 text message to the terminal.
 *   2013: flags BYTE, text STRING
 *   2019: flags BYTE, text type BYTE (1 notice, 2 service), text STRING
 * Flags (2013): bit 0 emergency, 2 display, 3 TTS, 4 advertising screen, 5 CAN fault code.
 */
import type { HasAsSent } from '../bytes.js'
import type { BodyCodec } from '../message.js'

export interface TextMessage extends HasAsSent {
  flags: number
  /** 2019 only: 1 notice, 2 service information */
  type?: number
  text: string
}

export const textMessage: BodyCodec<TextMessage> = {
  decode(r, h) {
    const body = { flags: r.u8('flags') } as TextMessage
    if (h.version === 2019) body.type = r.u8('text type')
    body.text = r.restText('text', body)
    return body
  },
  encode(w, b, h) {
    w.u8(b.flags)
    if (h.version === 2019) w.u8(b.type ?? 1)
    w.text(b.text, 'text', b)
  },
}
