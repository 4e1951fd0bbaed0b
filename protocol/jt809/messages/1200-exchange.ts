/**
 * 0x1200 UP_EXG_MSG: vehicle dynamic information exchange, lower → upper. DATA by DATA_TYPE:
 *   0x1201 register        PLATFORM_ID[11], PRODUCER_ID[11], TERMINAL_MODEL_TYPE[8], TERMINAL_ID[7],
 *                          TERMINAL_SIMCODE[12]  (a 20-byte model is accepted: 61 bytes of data)
 *                    2019: PLATFORM_ID[11], PRODUCER_ID[11], TERMINAL_MODEL_TYPE[30], IMEI[15],
 *                          TERMINAL_ID[30], TERMINAL_SIMCODE[13]
 *   0x1202 real-time position (position.ts)
 *   0x1203 history positions  GNSS_CNT BYTE, positions
 *   0x1205/0x1206 start / stop exchange ack        empty; 2019: SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD
 *   0x1207 apply for exchange  START_TIME UINT64, END_TIME UINT64;  0x1208 cancel it: empty
 *   0x1209 history request     START_TIME UINT64, END_TIME UINT64
 *   0x120A/0x120C driver       [2019 source,] DRIVER_NAME[16], DRIVER_ID[20], LICENCE[40], ORG_NAME[200] [, 2019 VALID_DATE UINT64 (0x120C)]
 *   0x120B waybill ack         [2019 source,] EWAYBILL_LENGTH DWORD, EWAYBILL_INFO GBK
 *   0x120D waybill report      EWAYBILL_LENGTH DWORD, EWAYBILL_INFO GBK
 * Layouts as in JT/T 809-2011 §4.5.3 and JT/T 809-2019; 2019 differences read from the
 * SmallChi/JT809 codec's layouts and checked on captured frames (fixtures/jt809-frames.json).
 */
import type { HasAsSent } from '../../bytes.js'
import { fields, type BodyCodec809, type Field, type HasDeclared } from '../body.js'
import { envelope, type Envelope } from '../envelope.js'
import { readPosition, writePosition, type Position } from './position.js'
import { CodecFault } from '../../errors.js'

export interface VehicleRegister extends HasAsSent {
  platformId: string
  producerId: string
  model: string
  /** 2019 only */
  imei?: string
  terminalId: string
  simCode: string
  /** 2011: the model came in 20 bytes (as in JT/T 808-2013) instead of 8. */
  wideModel?: boolean
}

export interface RealTimePosition {
  position: Position
}

export interface HistoryPositions {
  positions: Position[]
}

/** 2019 acknowledgements name the message they acknowledge. */
export interface SourceRef {
  sourceDataType?: number
  sourceMsgSn?: number
}

export interface TimeRange {
  /** UTC seconds */
  startTime: number
  endTime: number
}

export interface DriverInfo extends HasAsSent, SourceRef {
  driverName: string
  driverId: string
  licence: string
  orgName: string
  /** 2019 (0x120C): licence valid until, UTC seconds */
  validUntil?: number
}

export interface WaybillInfo extends HasAsSent, HasDeclared, SourceRef {
  /** EWAYBILL_INFO as text (GBK) */
  waybill: string
}

export type EmptyOr2019Source = SourceRef

const SOURCE: Field<SourceRef>[] = [
  ['u16', 'sourceDataType'],
  ['u32', 'sourceMsgSn'],
]

const register2011 = fields<VehicleRegister>([
  ['text', 'platformId', 11],
  ['text', 'producerId', 11],
  ['text', 'model', 8],
  ['text', 'terminalId', 7],
  ['text', 'simCode', 12],
])
const register2011Wide = fields<VehicleRegister>([
  ['text', 'platformId', 11],
  ['text', 'producerId', 11],
  ['text', 'model', 20],
  ['text', 'terminalId', 7],
  ['text', 'simCode', 12],
])
const register2019 = fields<VehicleRegister>([
  ['text', 'platformId', 11],
  ['text', 'producerId', 11],
  ['text', 'model', 30],
  ['text', 'imei', 15],
  ['text', 'terminalId', 30],
  ['text', 'simCode', 13],
])

export const vehicleRegister: BodyCodec809<VehicleRegister> = {
  decode(r, ctx) {
    if (ctx.header.edition === 2019) return register2019.decode(r, ctx)
    if (r.remaining === 61) return { ...register2011Wide.decode(r, ctx), wideModel: true }
    return register2011.decode(r, ctx)
  },
  encode(w, b, h) {
    if (h.edition === 2019) register2019.encode(w, b, h)
    else (b.wideModel ? register2011Wide : register2011).encode(w, b, h)
  },
}

export const realTimePosition: BodyCodec809<RealTimePosition> = {
  decode(r, ctx) {
    return { position: readPosition(r, ctx.header.edition) }
  },
  encode(w, b, h) {
    writePosition(w, b.position, h.edition)
  },
}

export const historyPositions: BodyCodec809<HistoryPositions> = {
  decode(r, ctx) {
    const n = r.u8('GNSS_CNT')
    const positions: Position[] = []
    for (let i = 0; i < n; i++) positions.push(readPosition(r, ctx.header.edition))
    return { positions }
  },
  encode(w, b, h) {
    if (!Array.isArray(b.positions) || b.positions.length > 255) throw new CodecFault('BAD_FIELD', 'positions must be an array of at most 255')
    w.u8(b.positions.length)
    for (const p of b.positions) writePosition(w, p, h.edition)
  },
}

export const sourceOnly2019 = fields<SourceRef>([], SOURCE)
export const timeRange = fields<TimeRange>([
  ['time', 'startTime'],
  ['time', 'endTime'],
])
export const emptySub = fields<Record<string, never>>([])
const DRIVER: Field<DriverInfo>[] = [
  ['text', 'driverName', 16],
  ['text', 'driverId', 20],
  ['text', 'licence', 40],
  ['text', 'orgName', 200],
]
export const driverInfoAck = fields<DriverInfo>(DRIVER, [...(SOURCE as Field<DriverInfo>[]), ...DRIVER, ['time', 'validUntil']])
export const driverInfoReport = fields<DriverInfo>(DRIVER, [...DRIVER, ['time', 'validUntil']])
export const waybillAck = fields<WaybillInfo>([['text32', 'waybill']], [...(SOURCE as Field<WaybillInfo>[]), ['text32', 'waybill']])
export const waybillReport = fields<WaybillInfo>([['text32', 'waybill']])

export interface UpExchangeData {
  0x1201: VehicleRegister
  0x1202: RealTimePosition
  0x1203: HistoryPositions
  0x1205: SourceRef
  0x1206: SourceRef
  0x1207: TimeRange
  0x1208: Record<string, never>
  0x1209: TimeRange
  0x120a: DriverInfo
  0x120b: WaybillInfo
  0x120c: DriverInfo
  0x120d: WaybillInfo
}

export type UpExchange = Envelope<UpExchangeData>

export const upExchange = envelope<UpExchangeData>(
  0x1200,
  {
    0x1201: vehicleRegister,
    0x1202: realTimePosition,
    0x1203: historyPositions,
    0x1205: sourceOnly2019,
    0x1206: sourceOnly2019,
    0x1207: timeRange,
    0x1208: emptySub,
    0x1209: timeRange,
    0x120a: driverInfoAck,
    0x120b: waybillAck,
    0x120c: driverInfoReport,
    0x120d: waybillReport,
  },
  'vehicle',
)
