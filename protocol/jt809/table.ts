/**
 * The JT/T 809 message table: one entry per MSG_ID, used by both decode and encode. BodyMap809
 * gives each id its body type; CODECS_809 its codec. Sub-business types live in each family's
 * envelope (messages/<id>-*.ts).
 */
import type { BodyCodec809 } from './body.js'
import {
  emptyBody809,
  errorCode,
  loginReply,
  loginRequest,
  logoutRequest,
  reasonCode,
  resultCode,
  verifyCode,
  type EmptyBody809,
  type ErrorCode,
  type LoginReply,
  type LoginRequest,
  type LogoutRequest,
  type ReasonCode,
  type ResultCode,
  type VerifyCode,
} from './messages/link.js'
import { upExchange, type UpExchange } from './messages/1200-exchange.js'
import { downExchange, type DownExchange } from './messages/9200-exchange.js'
import { downPlatform, upPlatform, type DownPlatform, type UpPlatform } from './messages/1300-platform.js'
import { downWarn, upWarn, type DownWarn, type UpWarn } from './messages/1400-warn.js'
import { downControl, upControl, type DownControl, type UpControl } from './messages/1500-control.js'
import { downStatic, upStatic, type DownStatic, type UpStatic } from './messages/1600-static.js'

export interface BodyMap809 {
  0x1001: LoginRequest
  0x1002: LoginReply
  0x1003: LogoutRequest
  0x1004: EmptyBody809
  0x1005: EmptyBody809
  0x1006: EmptyBody809
  0x1007: ErrorCode
  0x1008: ReasonCode
  0x9001: VerifyCode
  0x9002: ResultCode
  0x9003: VerifyCode
  0x9004: EmptyBody809
  0x9005: EmptyBody809
  0x9006: EmptyBody809
  0x9007: ReasonCode
  0x9008: ReasonCode
  0x1200: UpExchange
  0x9200: DownExchange
  0x1300: UpPlatform
  0x9300: DownPlatform
  0x1400: UpWarn
  0x9400: DownWarn
  0x1500: UpControl
  0x9500: DownControl
  0x1600: UpStatic
  0x9600: DownStatic
}

export type KnownMsgId809 = keyof BodyMap809

export const CODECS_809: { [K in KnownMsgId809]: BodyCodec809<BodyMap809[K]> } = {
  0x1001: loginRequest,
  0x1002: loginReply,
  0x1003: logoutRequest,
  0x1004: emptyBody809,
  0x1005: emptyBody809,
  0x1006: emptyBody809,
  0x1007: errorCode,
  0x1008: reasonCode,
  0x9001: verifyCode,
  0x9002: resultCode,
  0x9003: verifyCode,
  0x9004: emptyBody809,
  0x9005: emptyBody809,
  0x9006: emptyBody809,
  0x9007: reasonCode,
  0x9008: reasonCode,
  0x1200: upExchange,
  0x9200: downExchange,
  0x1300: upPlatform,
  0x9300: downPlatform,
  0x1400: upWarn,
  0x9400: downWarn,
  0x1500: upControl,
  0x9500: downControl,
  0x1600: upStatic,
  0x9600: downStatic,
}

export function isKnownMsgId809(id: number): id is KnownMsgId809 {
  return Object.prototype.hasOwnProperty.call(CODECS_809, id)
}

/** Symbolic names of the ids in the table (JT/T 809 names), e.g. for metrics labels and logs. */
export const MSG_NAMES_809: { [K in KnownMsgId809]: string } = {
  0x1001: 'UP_CONNECT_REQ',
  0x1002: 'UP_CONNECT_RSP',
  0x1003: 'UP_DISCONNECT_REQ',
  0x1004: 'UP_DISCONNECT_RSP',
  0x1005: 'UP_LINKTEST_REQ',
  0x1006: 'UP_LINKTEST_RSP',
  0x1007: 'UP_DISCONNECT_INFORM',
  0x1008: 'UP_CLOSELINK_INFORM',
  0x9001: 'DOWN_CONNECT_REQ',
  0x9002: 'DOWN_CONNECT_RSP',
  0x9003: 'DOWN_DISCONNECT_REQ',
  0x9004: 'DOWN_DISCONNECT_RSP',
  0x9005: 'DOWN_LINKTEST_REQ',
  0x9006: 'DOWN_LINKTEST_RSP',
  0x9007: 'DOWN_DISCONNECT_INFORM',
  0x9008: 'DOWN_CLOSELINK_INFORM',
  0x1200: 'UP_EXG_MSG',
  0x9200: 'DOWN_EXG_MSG',
  0x1300: 'UP_PLATFORM_MSG',
  0x9300: 'DOWN_PLATFORM_MSG',
  0x1400: 'UP_WARN_MSG',
  0x9400: 'DOWN_WARN_MSG',
  0x1500: 'UP_CTRL_MSG',
  0x9500: 'DOWN_CTRL_MSG',
  0x1600: 'UP_BASE_MSG',
  0x9600: 'DOWN_BASE_MSG',
}
