/** 0x0001 terminal general reply, 0x8001 platform general reply, 0x0002 heartbeat, 0x0003 logout. */
import type { BodyCodec } from '../message.js'

/** Result codes: 0 ok, 1 failure, 2 message wrong, 3 not supported, 4 alarm confirmed (0x8001 only). */
export interface GeneralReply {
  replySerial: number
  replyId: number
  result: number
}

export const generalReply: BodyCodec<GeneralReply> = {
  decode(r) {
    return { replySerial: r.u16('reply serial'), replyId: r.u16('reply id'), result: r.u8('result') }
  },
  encode(w, b) {
    w.u16(b.replySerial).u16(b.replyId).u8(b.result)
  },
}

export type EmptyBody = Record<string, never>

export const emptyBody: BodyCodec<EmptyBody> = {
  decode() {
    return {}
  },
  encode() {},
}

export const ReplyResult = {
  OK: 0,
  FAILURE: 1,
  MESSAGE_ERROR: 2,
  UNSUPPORTED: 3,
  ALARM_CONFIRMED: 4,
} as const
