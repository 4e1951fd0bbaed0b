/**
 * Link management, main link (0x1001–0x1008, lower → upper) and sub-link (0x9001–0x9008,
 * upper → lower).
 *   0x1001 UP_CONNECT_REQ      USERID DWORD, PASSWORD BYTE[8], [2019: MSG_GNSSCENTERID DWORD,]
 *                              DOWN_LINK_IP BYTE[32], DOWN_LINK_PORT WORD
 *   0x1002 UP_CONNECT_RSP      RESULT BYTE, VERIFY_CODE DWORD
 *   0x1003 UP_DISCONNECT_REQ   USERID DWORD, PASSWORD BYTE[8]
 *   0x1004/0x1005/0x1006       empty (logout reply, link test, link test reply)
 *   0x1007 UP_DISCONNECT_INFORM  ERROR_CODE BYTE;  0x1008 UP_CLOSELINK_INFORM  REASON_CODE BYTE
 *   0x9001 DOWN_CONNECT_REQ    VERIFY_CODE DWORD;  0x9002 DOWN_CONNECT_RSP  RESULT BYTE
 *   0x9003 DOWN_DISCONNECT_REQ VERIFY_CODE DWORD;  0x9004/0x9005/0x9006 empty
 *   0x9007 DOWN_DISCONNECT_INFORM  REASON_CODE BYTE;  0x9008 DOWN_CLOSELINK_INFORM  REASON_CODE BYTE
 */
import type { HasAsSent } from '../../bytes.js'
import { fields, type BodyCodec809 } from '../body.js'

export interface LoginRequest extends HasAsSent {
  userId: number
  password: string
  /** 2019 only: the access code again. */
  gnssCentreId?: number
  downLinkIp: string
  downLinkPort: number
}

/** 0x1002 RESULT: 0 ok, 1 IP address wrong, 2 access code wrong, 3 user not registered, 4 password wrong, 5 resources short, 6 other. */
export interface LoginReply {
  result: number
  verifyCode: number
}

export interface LogoutRequest extends HasAsSent {
  userId: number
  password: string
}

export interface VerifyCode {
  verifyCode: number
}

export interface ResultCode {
  result: number
}

export interface ErrorCode {
  errorCode: number
}

export interface ReasonCode {
  reasonCode: number
}

export type EmptyBody809 = Record<string, never>

export const LoginResult = {
  OK: 0,
  BAD_IP: 1,
  BAD_ACCESS_CODE: 2,
  USER_NOT_REGISTERED: 3,
  BAD_PASSWORD: 4,
  NO_RESOURCES: 5,
  OTHER: 6,
} as const

export const loginRequest = fields<LoginRequest>(
  [
    ['u32', 'userId'],
    ['text', 'password', 8],
    ['text', 'downLinkIp', 32],
    ['u16', 'downLinkPort'],
  ],
  [
    ['u32', 'userId'],
    ['text', 'password', 8],
    ['u32', 'gnssCentreId'],
    ['text', 'downLinkIp', 32],
    ['u16', 'downLinkPort'],
  ],
)
export const loginReply = fields<LoginReply>([
  ['u8', 'result'],
  ['u32', 'verifyCode'],
])
export const logoutRequest = fields<LogoutRequest>([
  ['u32', 'userId'],
  ['text', 'password', 8],
])
export const verifyCode = fields<VerifyCode>([['u32', 'verifyCode']])
export const resultCode = fields<ResultCode>([['u8', 'result']])
export const errorCode = fields<ErrorCode>([['u8', 'errorCode']])
export const reasonCode = fields<ReasonCode>([['u8', 'reasonCode']])
export const emptyBody809: BodyCodec809<EmptyBody809> = {
  decode() {
    return {}
  },
  encode() {},
}
