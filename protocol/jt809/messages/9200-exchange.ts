/**
 * 0x9200 DOWN_EXG_MSG: vehicle dynamic information exchange, upper → lower. DATA by DATA_TYPE:
 *   0x9201 (2019) register reply    SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD, RESULT BYTE — the one
 *                                   0x9200 message without the vehicle prefix
 *   0x9202 position exchange        one position (position.ts)
 *   0x9203 history exchange         GNSS_CNT BYTE, positions
 *   0x9204 static vehicle info      CAR_INFO GBK to the end
 *   0x9205 start exchange request   REASON_CODE BYTE;  0x9206 stop exchange request  REASON_CODE BYTE
 *   0x9207/0x9208 apply-for-exchange replies, 0x9209 history request reply (answer to 0x1209):
 *                                   [2019: SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD,] RESULT BYTE
 *   0x920A driver information request, 0x920B waybill request: empty
 */
import type { HasAsSent } from '../../bytes.js'
import { fields, type BodyCodec809, type Field } from '../body.js'
import { envelope, type Envelope } from '../envelope.js'
import { historyPositions, realTimePosition, emptySub, type HistoryPositions, type RealTimePosition, type SourceRef } from './1200-exchange.js'

export interface RegisterReply809 {
  sourceDataType: number
  sourceMsgSn: number
  result: number
}

export interface CarInfo extends HasAsSent {
  /** CAR_INFO: "key:=value;…" text as sent */
  carInfo: string
}

export interface ExchangeReason {
  /** 0 vehicle entered the area, 1 manual, 2 emergency monitoring, 3 other */
  reasonCode: number
}

/** RESULT of 0x9207–0x9209: 0 ok, 1 no such vehicle, 2 other (see the standard per message). */
export interface ExchangeResult extends SourceRef {
  result: number
}

const SOURCE: Field<ExchangeResult>[] = [
  ['u16', 'sourceDataType'],
  ['u32', 'sourceMsgSn'],
]

export const registerReply809 = fields<RegisterReply809>([
  ['u16', 'sourceDataType'],
  ['u32', 'sourceMsgSn'],
  ['u8', 'result'],
])
export const carInfo = fields<CarInfo>([['restText', 'carInfo']])
export const exchangeReason = fields<ExchangeReason>([['u8', 'reasonCode']])
export const exchangeResult = fields<ExchangeResult>([['u8', 'result']], [...SOURCE, ['u8', 'result']])

export interface DownExchangeData {
  0x9201: RegisterReply809
  0x9202: RealTimePosition
  0x9203: HistoryPositions
  0x9204: CarInfo
  0x9205: ExchangeReason
  0x9206: ExchangeReason
  0x9207: ExchangeResult
  0x9208: ExchangeResult
  0x9209: ExchangeResult
  0x920a: Record<string, never>
  0x920b: Record<string, never>
}

export type DownExchange = Envelope<DownExchangeData>

export const downExchange: BodyCodec809<DownExchange> = envelope<DownExchangeData>(
  0x9200,
  {
    0x9201: registerReply809,
    0x9202: realTimePosition,
    0x9203: historyPositions,
    0x9204: carInfo,
    0x9205: exchangeReason,
    0x9206: exchangeReason,
    0x9207: exchangeResult,
    0x9208: exchangeResult,
    0x9209: exchangeResult,
    0x920a: emptySub,
    0x920b: emptySub,
  },
  'optional',
)
