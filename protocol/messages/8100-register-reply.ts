/**
 * 0x8100 registration reply: reply serial WORD, result BYTE, auth code STRING (on success).
 * Results: 0 ok, 1 vehicle already registered, 2 no such vehicle, 3 terminal already
 * registered, 4 no such terminal.
 */
import type { HasAsSent } from '../bytes.js'
import { Layout } from '../layout.js'
import type { BodyCodec } from '../message.js'

export interface RegisterReply extends HasAsSent {
  replySerial: number
  result: number
  /** Present on success (result 0); absent when the body ends after the result. */
  authCode?: string
}

export const RegisterResult = {
  OK: 0,
  VEHICLE_ALREADY_REGISTERED: 1,
  NO_SUCH_VEHICLE: 2,
  TERMINAL_ALREADY_REGISTERED: 3,
  NO_SUCH_TERMINAL: 4,
} as const

const HEAD = new Layout<RegisterReply>([
  ['u16', 'replySerial'],
  ['u8', 'result'],
])

export const registerReply: BodyCodec<RegisterReply> = {
  decode(r) {
    const body: RegisterReply = HEAD.read(r, 'reply serial/result')
    if (r.remaining > 0) body.authCode = r.restText('authCode', body)
    return body
  },
  encode(w, b) {
    HEAD.write(w, b)
    if (b.authCode !== undefined) w.text(b.authCode, 'authCode', b)
  },
}
