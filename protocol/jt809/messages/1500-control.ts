/**
 * 0x1500 UP_CTRL_MSG / 0x9500 DOWN_CTRL_MSG: vehicle monitoring commands through the lower platform.
 * DATA by DATA_TYPE ("[2019 source]" = SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD naming the request):
 *   0x9501 listen-in request      MONITOR_TEL BYTE[20]           0x1501 reply  [2019 source,] RESULT BYTE
 *   0x9502 photo request          LENS_ID BYTE, SIZE_TYPE BYTE
 *   0x1502 photo reply            [2019 source,] PHOTO_RSP_FLAG BYTE, position (position.ts), LENS_ID BYTE,
 *                                 PHOTO_LEN DWORD, SIZE_TYPE BYTE, TYPE BYTE, PHOTO BYTE[PHOTO_LEN]
 *   0x9503 text to the vehicle    MSG_SEQUENCE DWORD, MSG_PRIORITY BYTE, MSG_LENGTH DWORD, MSG_CONTENT GBK
 *   0x1503 its reply              2011: MSG_ID DWORD, RESULT BYTE;  2019: source, RESULT BYTE
 *   0x9504 tachograph data request  [2019: START_TIME, END_TIME UINT64,] COMMAND_TYPE BYTE, parameters (hex)
 *   0x1504 its reply              [2019 source,] COMMAND_TYPE BYTE, TRAVELDATA_LENGTH DWORD, TRAVELDATA (hex)
 *   0x9505 emergency access       AUTHENTICATION_CODE BCD[10], ACCESS_POINT_NAME[20], USERNAME[49],
 *                                 PASSWORD[22], SERVER_IP[32], TCP_PORT WORD, UDP_PORT WORD, END_TIME UINT64
 *   0x1505 its reply              [2019 source,] RESULT BYTE
 * (0x1502 2019 layout checked on a captured photo reply, fixtures/jt809-frames.json.)
 */
import type { HasAsSent } from '../../bytes.js'
import { fields, hex, num, type BodyCodec809, type Field, type HasDeclared } from '../body.js'
import { envelope, type Envelope } from '../envelope.js'
import type { SourceRef } from './1200-exchange.js'
import { readPosition, writePosition, type Position } from './position.js'

export interface ListenRequest extends HasAsSent {
  monitorTel: string
}

export interface ControlResult extends SourceRef {
  result: number
}

export interface PhotoRequest {
  lensId: number
  /** 1 320×240, 2 640×480, 3 800×600, 4 1024×768, 5 176×144, 6 352×288, 7 704×288, 8 704×576 */
  sizeType: number
}

export interface PhotoReply extends SourceRef, HasDeclared {
  /** 0 not supported, 1 done, 2 done later, 3 vehicle offline, 4 lens unusable, 5 other, 9 … as sent */
  photoRspFlag: number
  position: Position
  lensId: number
  sizeType: number
  /** 1 JPEG, 2 GIF, 3 TIFF, 4 PNG */
  type: number
  /** the image (hex) */
  photo: string
}

export interface TextRequest extends HasAsSent, HasDeclared {
  msgSequence: number
  /** 0 urgent, 1 normal */
  priority: number
  content: string
}

export interface TextReply extends SourceRef {
  /** 2011: the MSG_SEQUENCE of 0x9503 */
  msgId?: number
  /** 0 sent, 1 failed */
  result: number
}

export interface TachographRequest {
  startTime?: number
  endTime?: number
  commandType: number
  /** parameters after COMMAND_TYPE (hex) */
  params: string
}

export interface TachographReply extends SourceRef, HasDeclared {
  commandType: number
  data: string
}

export interface EmergencyAccess extends HasAsSent {
  authCode: string
  accessPointName: string
  username: string
  password: string
  serverIp: string
  tcpPort: number
  udpPort: number
  endTime: number
}

const SOURCE: Field<SourceRef>[] = [
  ['u16', 'sourceDataType'],
  ['u32', 'sourceMsgSn'],
]
const withSource = <T extends SourceRef>(list: Field<T>[]): Field<T>[] => [...(SOURCE as Field<T>[]), ...list]

export const listenRequest = fields<ListenRequest>([['text', 'monitorTel', 20]])
export const controlResult = fields<ControlResult>([['u8', 'result']], withSource<ControlResult>([['u8', 'result']]))
export const photoRequest = fields<PhotoRequest>([
  ['u8', 'lensId'],
  ['u8', 'sizeType'],
])
export const textRequest = fields<TextRequest>([
  ['u32', 'msgSequence'],
  ['u8', 'priority'],
  ['text32', 'content'],
])
export const textReply = fields<TextReply>(
  [
    ['u32', 'msgId'],
    ['u8', 'result'],
  ],
  withSource<TextReply>([['u8', 'result']]),
)
export const tachographRequest = fields<TachographRequest>(
  [
    ['u8', 'commandType'],
    ['restBytes', 'params'],
  ],
  [
    ['time', 'startTime'],
    ['time', 'endTime'],
    ['u8', 'commandType'],
    ['restBytes', 'params'],
  ],
)
export const tachographReply = fields<TachographReply>(
  [
    ['u8', 'commandType'],
    ['bytes32', 'data'],
  ],
  withSource<TachographReply>([
    ['u8', 'commandType'],
    ['bytes32', 'data'],
  ]),
)
export const emergencyAccess = fields<EmergencyAccess>([
  ['bcd', 'authCode', 10],
  ['text', 'accessPointName', 20],
  ['text', 'username', 49],
  ['text', 'password', 22],
  ['text', 'serverIp', 32],
  ['u16', 'tcpPort'],
  ['u16', 'udpPort'],
  ['time', 'endTime'],
])

export const photoReply: BodyCodec809<PhotoReply> = {
  decode(r, ctx) {
    const b = {} as PhotoReply
    if (ctx.header.edition === 2019) {
      b.sourceDataType = r.u16('SOURCE_DATA_TYPE')
      b.sourceMsgSn = r.u32('SOURCE_MSG_SN')
    }
    b.photoRspFlag = r.u8('PHOTO_RSP_FLAG')
    b.position = readPosition(r, ctx.header.edition)
    b.lensId = r.u8('LENS_ID')
    let n = r.u32('PHOTO_LEN')
    b.sizeType = r.u8('SIZE_TYPE')
    b.type = r.u8('TYPE')
    if (n > r.remaining) {
      ctx.quirks.push('dataLength')
      b.declared = { photo: n }
      n = r.remaining
    }
    b.photo = r.bytes(n, 'PHOTO').toString('hex')
    return b
  },
  encode(w, b, h) {
    if (h.edition === 2019) w.u16(num(b.sourceDataType ?? 0, 'sourceDataType', 0xffff)).u32(num(b.sourceMsgSn ?? 0, 'sourceMsgSn', 0xffffffff))
    w.u8(num(b.photoRspFlag, 'photoRspFlag', 0xff))
    writePosition(w, b.position, h.edition)
    const photo = hex(b.photo, 'photo')
    w.u8(num(b.lensId, 'lensId', 0xff)).u32(b.declared?.photo ?? photo.length)
    w.u8(num(b.sizeType, 'sizeType', 0xff))
      .u8(num(b.type, 'type', 0xff))
      .bytes(photo)
  },
}

export interface UpControlData {
  0x1501: ControlResult
  0x1502: PhotoReply
  0x1503: TextReply
  0x1504: TachographReply
  0x1505: ControlResult
}
export interface DownControlData {
  0x9501: ListenRequest
  0x9502: PhotoRequest
  0x9503: TextRequest
  0x9504: TachographRequest
  0x9505: EmergencyAccess
}

export type UpControl = Envelope<UpControlData>
export type DownControl = Envelope<DownControlData>

export const upControl = envelope<UpControlData>(0x1500, { 0x1501: controlResult, 0x1502: photoReply, 0x1503: textReply, 0x1504: tachographReply, 0x1505: controlResult }, 'vehicle')
export const downControl = envelope<DownControlData>(0x9500, { 0x9501: listenRequest, 0x9502: photoRequest, 0x9503: textRequest, 0x9504: tachographRequest, 0x9505: emergencyAccess }, 'vehicle')
