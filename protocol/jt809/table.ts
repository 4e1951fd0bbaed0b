/**
 * The JT/T 809 message table: one entry per MSG_ID, the one place an id is added, giving its
 * JT/T 809 name and its codec (decode and encode both go through it). CODECS_809, BodyMap809,
 * KnownMsgId809 and MSG_NAMES_809 follow from it. Sub-business types live in each family's
 * envelope (messages/<id>-*.ts).
 */
import type { BodyCodec809 } from './body.js'
import { emptyBody809, errorCode, loginReply, loginRequest, logoutRequest, reasonCode, resultCode, verifyCode } from './messages/link.js'
import { upExchange } from './messages/1200-exchange.js'
import { downExchange } from './messages/9200-exchange.js'
import { downPlatform, upPlatform } from './messages/1300-platform.js'
import { downWarn, upWarn } from './messages/1400-warn.js'
import { downControl, upControl } from './messages/1500-control.js'
import { downStatic, upStatic } from './messages/1600-static.js'

interface Entry809 {
  /** Symbolic name (JT/T 809), e.g. for metrics labels and logs. */
  name: string
  codec: BodyCodec809<unknown>
}

export const MESSAGES_809 = {
  0x1001: { name: 'UP_CONNECT_REQ', codec: loginRequest },
  0x1002: { name: 'UP_CONNECT_RSP', codec: loginReply },
  0x1003: { name: 'UP_DISCONNECT_REQ', codec: logoutRequest },
  0x1004: { name: 'UP_DISCONNECT_RSP', codec: emptyBody809 },
  0x1005: { name: 'UP_LINKTEST_REQ', codec: emptyBody809 },
  0x1006: { name: 'UP_LINKTEST_RSP', codec: emptyBody809 },
  0x1007: { name: 'UP_DISCONNECT_INFORM', codec: errorCode },
  0x1008: { name: 'UP_CLOSELINK_INFORM', codec: reasonCode },
  0x9001: { name: 'DOWN_CONNECT_REQ', codec: verifyCode },
  0x9002: { name: 'DOWN_CONNECT_RSP', codec: resultCode },
  0x9003: { name: 'DOWN_DISCONNECT_REQ', codec: verifyCode },
  0x9004: { name: 'DOWN_DISCONNECT_RSP', codec: emptyBody809 },
  0x9005: { name: 'DOWN_LINKTEST_REQ', codec: emptyBody809 },
  0x9006: { name: 'DOWN_LINKTEST_RSP', codec: emptyBody809 },
  0x9007: { name: 'DOWN_DISCONNECT_INFORM', codec: reasonCode },
  0x9008: { name: 'DOWN_CLOSELINK_INFORM', codec: reasonCode },
  0x1200: { name: 'UP_EXG_MSG', codec: upExchange },
  0x9200: { name: 'DOWN_EXG_MSG', codec: downExchange },
  0x1300: { name: 'UP_PLATFORM_MSG', codec: upPlatform },
  0x9300: { name: 'DOWN_PLATFORM_MSG', codec: downPlatform },
  0x1400: { name: 'UP_WARN_MSG', codec: upWarn },
  0x9400: { name: 'DOWN_WARN_MSG', codec: downWarn },
  0x1500: { name: 'UP_CTRL_MSG', codec: upControl },
  0x9500: { name: 'DOWN_CTRL_MSG', codec: downControl },
  0x1600: { name: 'UP_BASE_MSG', codec: upStatic },
  0x9600: { name: 'DOWN_BASE_MSG', codec: downStatic },
} satisfies Readonly<Record<number, Entry809>>

export type KnownMsgId809 = keyof typeof MESSAGES_809

/** The body type a codec decodes to and encodes from. */
type BodyOf<C> = C extends BodyCodec809<infer B> ? B : never

/** Each MSG_ID's body type, from its codec. */
export type BodyMap809 = { [K in KnownMsgId809]: BodyOf<(typeof MESSAGES_809)[K]['codec']> }

const ENTRIES = Object.entries(MESSAGES_809 as Readonly<Record<number, Entry809>>)

export const CODECS_809 = Object.fromEntries(ENTRIES.map(([id, e]) => [id, e.codec])) as { [K in KnownMsgId809]: BodyCodec809<BodyMap809[K]> }

/** Symbolic names of the ids in the table (JT/T 809 names), e.g. for metrics labels and logs. */
export const MSG_NAMES_809 = Object.fromEntries(ENTRIES.map(([id, e]) => [id, e.name])) as { [K in KnownMsgId809]: string }

export function isKnownMsgId809(id: number): id is KnownMsgId809 {
  return Object.hasOwn(MESSAGES_809, id)
}
