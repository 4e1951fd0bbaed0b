/**
 * 0x1400 UP_WARN_MSG / 0x9400 DOWN_WARN_MSG: alarm exchange. The vehicle prefix is there in 2011
 * only; 2019 bodies name the vehicle themselves. DATA by DATA_TYPE:
 *   0x1401 supervision (督办) reply  SUPERVISION_ID DWORD, RESULT BYTE (0 handling, 1 done, 2 not handled, 3 other)
 *   0x1402 alarm report   2011: WARN_SRC BYTE, WARN_TYPE WORD, WARN_TIME UINT64, INFO_ID DWORD,
 *                               INFO_LENGTH DWORD, INFO_CONTENT GBK
 *                         2019: SOURCE_PLATFORM_ID BYTE[11], WARN_TYPE WORD, WARN_TIME, START_TIME,
 *                               END_TIME UINT64, VEHICLE_NO BYTE[21], VEHICLE_COLOR BYTE,
 *                               DESTINATION_PLATFORM_ID BYTE[11], DRV_LINE_ID DWORD, INFO_LENGTH DWORD, INFO_CONTENT
 *   0x1403 2011: UP_WARN_MSG_ADPT_TODO_INFO, alarm handling result  INFO_ID DWORD (the 0x1402's),
 *               RESULT BYTE (0 handling, 1 handled, 2 not handled, 3 to be handled later)
 *          2019: UP_WARN_MSG_INFORM_TIPS, an alarm forecast / running tip in the 0x1402 layout
 *   0x1412 (2019) UP_WARN_MSG_ADPT_TODO_INFO, alarm handling result  SOURCE_DATA_TYPE WORD,
 *               SOURCE_MSG_SN DWORD (the alarm message it answers for), RESULT BYTE (as 2011 0x1403)
 *   0x9401 supervision request (督办)  WARN_SRC BYTE, WARN_TYPE WORD, WARN_TIME UINT64, SUPERVISION_ID DWORD,
 *                         SUPERVISION_ENDTIME UINT64, SUPERVISION_LEVEL BYTE, SUPERVISOR BYTE[16],
 *                         SUPERVISOR_TEL BYTE[20], SUPERVISOR_EMAIL BYTE[32]
 *   0x9402 alarm forecast, 0x9403 real-time alarm notice
 *                         2011: WARN_SRC BYTE, WARN_TYPE WORD, WARN_TIME UINT64, WARN_LENGTH DWORD, WARN_CONTENT
 *                         2019: SOURCE_PLATFORM_ID[11], WARN_TYPE WORD, START_TIME, END_TIME UINT64,
 *                               VEHICLE_NO[21], VEHICLE_COLOR, DESTINATION_PLATFORM_ID[11], DRV_LINE_ID DWORD,
 *                               WARN_LENGTH DWORD, WARN_CONTENT
 *   2019 0x9402/0x9403 carry the 0x1402 layout (WARN_LENGTH, WARN_CONTENT for INFO_*).
 * Captured 2019 frames (fixtures/jt809-frames.json) show both the three-time layout above and one
 * without WARN_TIME (START_TIME, END_TIME only) from another platform: the one whose INFO_LENGTH
 * accounts for the bytes present is read (the standard's when neither does), the short one counted
 * as quirk alarmLayout. Times are UTC seconds as the standard says (that platform sends
 * milliseconds: the number is kept as sent).
 *   2019 0x1401: SUPERVISION_ID DWORD, SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD, RESULT BYTE, as
 * a captured frame has it (11 bytes).
 */
import type { HasAsSent } from '../../bytes.js'
import { fields, type BodyCodec809, type Field, type HasDeclared } from '../body.js'
import { envelope, type Envelope } from '../envelope.js'

export interface SupervisionReply {
  supervisionId: number
  /** 2019 */
  sourceDataType?: number
  sourceMsgSn?: number
  result: number
}

/** 0x1402 (and 0x1403 in 2019). WARN_TYPE per the standard's table (0x0001 overspeed, 0x0002 fatigue …). */
export interface AlarmReport extends HasAsSent, HasDeclared {
  /** 2011: 1 terminal, 2 enterprise platform, 3 government platform, 9 other */
  warnSrc?: number
  /** 2019 */
  sourcePlatformId?: string
  warnType: number
  /** UTC seconds; absent from the short 2019 layout */
  warnTime?: number
  /** 2011 */
  infoId?: number
  /** 2019 */
  startTime?: number
  endTime?: number
  plate?: string
  plateColor?: number
  destinationPlatformId?: string
  drvLineId?: number
  content: string
}

/** 2011 0x1403: the handling result of the alarm reported (0x1402) with this INFO_ID. */
export interface AlarmHandled {
  infoId: number
  result: number
}

/** 2019 0x1412: the handling result of the alarm message named by its type and MSG_SN. */
export interface AlarmHandledSource {
  sourceDataType: number
  sourceMsgSn: number
  result: number
}

export interface SupervisionRequest extends HasAsSent {
  warnSrc: number
  warnType: number
  warnTime: number
  supervisionId: number
  /** UTC seconds */
  supervisionEndTime: number
  /** 0 urgent, 1 normal */
  supervisionLevel: number
  supervisor: string
  supervisorTel: string
  supervisorEmail: string
}

export interface AlarmNotice extends HasAsSent, HasDeclared {
  warnSrc?: number
  sourcePlatformId?: string
  warnType: number
  /** absent from the short 2019 layout */
  warnTime?: number
  /** 2019 */
  startTime?: number
  endTime?: number
  plate?: string
  plateColor?: number
  destinationPlatformId?: string
  drvLineId?: number
  content: string
}

const REPORT_TAIL: Field<AlarmReport>[] = [
  ['text', 'plate', 21],
  ['u8', 'plateColor'],
  ['text', 'destinationPlatformId', 11],
  ['u32', 'drvLineId'],
  ['text32', 'content'],
]
const REPORT_2019 = fields<AlarmReport>([['text', 'sourcePlatformId', 11], ['u16', 'warnType'], ['time', 'warnTime'], ['time', 'startTime'], ['time', 'endTime'], ...REPORT_TAIL])
const REPORT_2019_SHORT = fields<AlarmReport>([['text', 'sourcePlatformId', 11], ['u16', 'warnType'], ['time', 'startTime'], ['time', 'endTime'], ...REPORT_TAIL])

/** Bytes from WARN_TYPE's end to INFO_LENGTH: three or two times, plate, colour, platform, line. */
const TO_LENGTH = { standard: 24 + 37, short: 16 + 37 }

/** Whether the layout whose INFO_LENGTH sits `skip` bytes after WARN_TYPE accounts for the data. */
function accounts(buf: Buffer, at: number, end: number, skip: number): boolean {
  const o = at + skip
  return o + 4 <= end && o + 4 + buf.readUInt32BE(o) === end
}

/** The 2019 alarm layout (0x1402, 0x1403, 0x9402, 0x9403): the standard one or the short one, by the lengths. */
const alarm2019: BodyCodec809<AlarmReport> = {
  decode(r, ctx) {
    const afterType = r.offset + 13
    const short = !accounts(r.buf, afterType, r.end, TO_LENGTH.standard) && accounts(r.buf, afterType, r.end, TO_LENGTH.short)
    if (!short) return REPORT_2019.decode(r, ctx)
    ctx.quirks.push('alarmLayout')
    return REPORT_2019_SHORT.decode(r, ctx)
  },
  encode(w, b, h) {
    ;(b.warnTime === undefined ? REPORT_2019_SHORT : REPORT_2019).encode(w, b, h)
  },
}

/** One codec per edition. */
function byEdition<T>(e2011: BodyCodec809<T>, e2019: BodyCodec809<T>): BodyCodec809<T> {
  return {
    decode: (r, ctx) => (ctx.header.edition === 2019 ? e2019 : e2011).decode(r, ctx),
    encode: (w, b, h) => (h.edition === 2019 ? e2019 : e2011).encode(w, b, h),
  }
}

export const supervisionReply = fields<SupervisionReply>(
  [
    ['u32', 'supervisionId'],
    ['u8', 'result'],
  ],
  [
    ['u32', 'supervisionId'],
    ['u16', 'sourceDataType'],
    ['u32', 'sourceMsgSn'],
    ['u8', 'result'],
  ],
)
export const alarmReport = byEdition(
  fields<AlarmReport>([
    ['u8', 'warnSrc'],
    ['u16', 'warnType'],
    ['time', 'warnTime'],
    ['u32', 'infoId'],
    ['text32', 'content'],
  ]),
  alarm2019,
)
export const alarmHandled = byEdition<AlarmHandled | AlarmReport>(
  fields<AlarmHandled>([
    ['u32', 'infoId'],
    ['u8', 'result'],
  ]) as BodyCodec809<AlarmHandled | AlarmReport>,
  alarm2019 as BodyCodec809<AlarmHandled | AlarmReport>,
)
export const alarmHandledSource = fields<AlarmHandledSource>([
  ['u16', 'sourceDataType'],
  ['u32', 'sourceMsgSn'],
  ['u8', 'result'],
])
export const supervisionRequest = fields<SupervisionRequest>([
  ['u8', 'warnSrc'],
  ['u16', 'warnType'],
  ['time', 'warnTime'],
  ['u32', 'supervisionId'],
  ['time', 'supervisionEndTime'],
  ['u8', 'supervisionLevel'],
  ['text', 'supervisor', 16],
  ['text', 'supervisorTel', 20],
  ['text', 'supervisorEmail', 32],
])
export const alarmNotice = byEdition<AlarmNotice>(
  fields<AlarmNotice>([
    ['u8', 'warnSrc'],
    ['u16', 'warnType'],
    ['time', 'warnTime'],
    ['text32', 'content'],
  ]),
  alarm2019 as BodyCodec809<AlarmNotice>,
)

export interface UpWarnData {
  0x1401: SupervisionReply
  0x1402: AlarmReport
  /** 2011: AlarmHandled (handling result); 2019: an alarm forecast / running tip in the AlarmReport layout */
  0x1403: AlarmHandled | AlarmReport
  /** 2019 handling result */
  0x1412: AlarmHandledSource
}
export interface DownWarnData {
  0x9401: SupervisionRequest
  0x9402: AlarmNotice
  0x9403: AlarmNotice
}

export type UpWarn = Envelope<UpWarnData>
export type DownWarn = Envelope<DownWarnData>

export const upWarn = envelope<UpWarnData>(0x1400, { 0x1401: supervisionReply, 0x1402: alarmReport, 0x1403: alarmHandled, 0x1412: alarmHandledSource }, 'optional')
export const downWarn = envelope<DownWarnData>(0x9400, { 0x9401: supervisionRequest, 0x9402: alarmNotice, 0x9403: alarmNotice }, 'optional')
