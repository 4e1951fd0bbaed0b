/**
 * 0x1300 UP_PLATFORM_MSG / 0x9300 DOWN_PLATFORM_MSG: messages between platforms (no vehicle
 * prefix). DATA by DATA_TYPE:
 *   0x9301 post query (查岗)     2011: OBJECT_TYPE BYTE, OBJECT_ID BYTE[12], INFO_ID DWORD,
 *                                     INFO_LENGTH DWORD, INFO_CONTENT GBK
 *                               2019: OBJECT_TYPE BYTE, OBJECT_ID BYTE[20], ANSWER_TIME BYTE (minutes),
 *                                     INFO_ID DWORD, INFO_LENGTH DWORD, INFO_CONTENT
 *   0x1301 post query answer    2011: OBJECT_TYPE, OBJECT_ID[12], INFO_ID, INFO_LENGTH, INFO_CONTENT
 *                               2019: OBJECT_TYPE, RESPONDER[16], RESPONDER_TEL[20], OBJECT_ID[20],
 *                                     SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD, INFO_LENGTH, INFO_CONTENT
 *   0x9302 information to a platform   OBJECT_TYPE, OBJECT_ID[12], INFO_ID, INFO_LENGTH, INFO_CONTENT
 *   0x1302 its acknowledgement  2011: INFO_ID DWORD; 2019: SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD
 * OBJECT_TYPE: 0 the lower platform's duty post, 1 an enterprise, 2 an operator; OBJECT_ID its id
 * (0x9301 2019 layout checked on a captured frame, fixtures/jt809-frames.json).
 */
import type { HasAsSent } from '../../bytes.js'
import { fields, type HasDeclared } from '../body.js'
import { envelope, type Envelope } from '../envelope.js'
import type { SourceRef } from './1200-exchange.js'

export interface PostQuery extends HasAsSent, HasDeclared {
  objectType: number
  objectId: string
  /** 2019: minutes allowed to answer */
  answerMinutes?: number
  infoId: number
  /** the question */
  content: string
}

export interface PostQueryAnswer extends HasAsSent, HasDeclared, SourceRef {
  objectType: number
  /** 2019 */
  responder?: string
  responderTel?: string
  objectId: string
  /** 2011: the INFO_ID of the query */
  infoId?: number
  /** the answer */
  content: string
}

export interface PlatformInfo extends HasAsSent, HasDeclared {
  objectType: number
  objectId: string
  infoId: number
  content: string
}

export interface PlatformInfoAck extends SourceRef {
  /** 2011 */
  infoId?: number
}

export const postQuery = fields<PostQuery>(
  [
    ['u8', 'objectType'],
    ['text', 'objectId', 12],
    ['u32', 'infoId'],
    ['text32', 'content'],
  ],
  [
    ['u8', 'objectType'],
    ['text', 'objectId', 20],
    ['u8', 'answerMinutes'],
    ['u32', 'infoId'],
    ['text32', 'content'],
  ],
)
export const postQueryAnswer = fields<PostQueryAnswer>(
  [
    ['u8', 'objectType'],
    ['text', 'objectId', 12],
    ['u32', 'infoId'],
    ['text32', 'content'],
  ],
  [
    ['u8', 'objectType'],
    ['text', 'responder', 16],
    ['text', 'responderTel', 20],
    ['text', 'objectId', 20],
    ['u16', 'sourceDataType'],
    ['u32', 'sourceMsgSn'],
    ['text32', 'content'],
  ],
)
export const platformInfo = fields<PlatformInfo>([
  ['u8', 'objectType'],
  ['text', 'objectId', 12],
  ['u32', 'infoId'],
  ['text32', 'content'],
])
export const platformInfoAck = fields<PlatformInfoAck>(
  [['u32', 'infoId']],
  [
    ['u16', 'sourceDataType'],
    ['u32', 'sourceMsgSn'],
  ],
)

export interface UpPlatformData {
  0x1301: PostQueryAnswer
  0x1302: PlatformInfoAck
}
export interface DownPlatformData {
  0x9301: PostQuery
  0x9302: PlatformInfo
}

export type UpPlatform = Envelope<UpPlatformData>
export type DownPlatform = Envelope<DownPlatformData>

export const upPlatform = envelope<UpPlatformData>(0x1300, { 0x1301: postQueryAnswer, 0x1302: platformInfoAck }, 'none')
export const downPlatform = envelope<DownPlatformData>(0x9300, { 0x9301: postQuery, 0x9302: platformInfo }, 'none')
