/**
 * 0x1600 UP_BASE_MSG / 0x9600 DOWN_BASE_MSG: static vehicle information.
 *   0x9601 request   empty
 *   0x1601 reply     [2019: SOURCE_DATA_TYPE WORD, SOURCE_MSG_SN DWORD,] CAR_INFO GBK to the end
 *                    ("KEY:=value;…" pairs: VIN, VEHICLE_COLOR, VEHICLE_TYPE, TRANS_TYPE, OWERS_NAME …)
 */
import type { HasAsSent } from '../../bytes.js'
import { fields } from '../body.js'
import { envelope, type Envelope } from '../envelope.js'
import type { SourceRef } from './1200-exchange.js'

export interface StaticInfo extends HasAsSent, SourceRef {
  carInfo: string
}

export const staticInfo = fields<StaticInfo>(
  [['restText', 'carInfo']],
  [
    ['u16', 'sourceDataType'],
    ['u32', 'sourceMsgSn'],
    ['restText', 'carInfo'],
  ],
)
export const staticRequest = fields<Record<string, never>>([])

export interface UpStaticData {
  0x1601: StaticInfo
}
export interface DownStaticData {
  0x9601: Record<string, never>
}

export type UpStatic = Envelope<UpStaticData>
export type DownStatic = Envelope<DownStaticData>

export const upStatic = envelope<UpStaticData>(0x1600, { 0x1601: staticInfo }, 'vehicle')
export const downStatic = envelope<DownStaticData>(0x9600, { 0x9601: staticRequest }, 'vehicle')
