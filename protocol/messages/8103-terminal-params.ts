/**
 * Terminal parameters:
 *   0x8103 set parameters:          count BYTE, items
 *   0x0104 query parameters reply:  reply serial WORD, count BYTE, items
 *   item: id DWORD, length BYTE, value
 * Parameters with a known type and the length that type implies are typed (numbers for
 * BYTE/WORD/DWORD, text for STRING); anything else is kept as {id, hex} and round-trips.
 * Types from JT/T 808-2013 table 12 / 2019 table 13.
 */
import type { BodyReader, BodyWriter } from '../bytes.js'
import { decodeGbk, encodeGbk } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'

type ParamType = 'byte' | 'word' | 'dword' | 'string'

export interface TerminalParam {
  /** Parameter id (DWORD). */
  id: number
  /** Name from PARAMS, on decode (ignored on encode). */
  name?: string
  /** BYTE / WORD / DWORD parameters. */
  value?: number
  /** STRING parameters (GBK). */
  text?: string
  /** Anything not typed here, bytes as sent. */
  hex?: string
}

export interface SetParams {
  params: TerminalParam[]
  /** Count byte as sent, when it differs from params.length. */
  declaredCount?: number
}

export interface ParamsReply extends SetParams {
  replySerial: number
}

/** Known parameters: name and type. */
export const PARAMS: ReadonlyMap<number, { name: string; type: ParamType }> = new Map(
  (
    [
      [0x0001, 'heartbeatInterval', 'dword'],
      [0x0002, 'tcpReplyTimeout', 'dword'],
      [0x0003, 'tcpRetransmits', 'dword'],
      [0x0004, 'udpReplyTimeout', 'dword'],
      [0x0005, 'udpRetransmits', 'dword'],
      [0x0006, 'smsReplyTimeout', 'dword'],
      [0x0007, 'smsRetransmits', 'dword'],
      [0x0010, 'apn', 'string'],
      [0x0011, 'dialUser', 'string'],
      [0x0012, 'dialPassword', 'string'],
      [0x0013, 'serverAddress', 'string'],
      [0x0014, 'backupApn', 'string'],
      [0x0015, 'backupDialUser', 'string'],
      [0x0016, 'backupDialPassword', 'string'],
      [0x0017, 'backupServerAddress', 'string'],
      [0x0018, 'serverTcpPort', 'dword'],
      [0x0019, 'serverUdpPort', 'dword'],
      [0x001a, 'icCardServerAddress', 'string'],
      [0x001b, 'icCardServerTcpPort', 'dword'],
      [0x001c, 'icCardServerUdpPort', 'dword'],
      [0x001d, 'icCardBackupServerAddress', 'string'],
      [0x0020, 'reportStrategy', 'dword'],
      [0x0021, 'reportScheme', 'dword'],
      [0x0022, 'driverAbsentReportInterval', 'dword'],
      [0x0023, 'slaveServerApn', 'string'],
      [0x0024, 'slaveServerDialUser', 'string'],
      [0x0025, 'slaveServerDialPassword', 'string'],
      [0x0026, 'slaveServerAddress', 'string'],
      [0x0027, 'sleepReportInterval', 'dword'],
      [0x0028, 'emergencyReportInterval', 'dword'],
      [0x0029, 'defaultReportInterval', 'dword'],
      [0x002c, 'defaultReportDistance', 'dword'],
      [0x002d, 'driverAbsentReportDistance', 'dword'],
      [0x002e, 'sleepReportDistance', 'dword'],
      [0x002f, 'emergencyReportDistance', 'dword'],
      [0x0030, 'cornerRetransmitAngle', 'dword'],
      [0x0031, 'geofenceRadius', 'word'],
      [0x0040, 'platformPhone', 'string'],
      [0x0041, 'resetPhone', 'string'],
      [0x0042, 'factoryResetPhone', 'string'],
      [0x0043, 'platformSmsPhone', 'string'],
      [0x0044, 'smsAlarmPhone', 'string'],
      [0x0045, 'answerStrategy', 'dword'],
      [0x0046, 'maxCallDuration', 'dword'],
      [0x0047, 'monthlyCallDuration', 'dword'],
      [0x0048, 'monitorPhone', 'string'],
      [0x0049, 'privilegedSmsPhone', 'string'],
      [0x0050, 'alarmMask', 'dword'],
      [0x0051, 'alarmSmsSwitch', 'dword'],
      [0x0052, 'alarmPhotoSwitch', 'dword'],
      [0x0053, 'alarmPhotoStoreFlags', 'dword'],
      [0x0054, 'keyFlags', 'dword'],
      [0x0055, 'maxSpeed', 'dword'],
      [0x0056, 'overspeedDuration', 'dword'],
      [0x0057, 'continuousDrivingLimit', 'dword'],
      [0x0058, 'dailyDrivingLimit', 'dword'],
      [0x0059, 'minimumRest', 'dword'],
      [0x005a, 'maxParking', 'dword'],
      [0x005b, 'overspeedWarningDelta', 'word'],
      [0x005c, 'fatigueWarningDelta', 'word'],
      [0x005d, 'collisionAlarmSettings', 'word'],
      [0x005e, 'rolloverAlarmAngle', 'word'],
      [0x0064, 'timedPhotoControl', 'dword'],
      [0x0065, 'distancePhotoControl', 'dword'],
      [0x0070, 'imageQuality', 'dword'],
      [0x0071, 'brightness', 'dword'],
      [0x0072, 'contrast', 'dword'],
      [0x0073, 'saturation', 'dword'],
      [0x0074, 'chroma', 'dword'],
      [0x0080, 'odometer', 'dword'],
      [0x0081, 'provinceId', 'word'],
      [0x0082, 'cityId', 'word'],
      [0x0083, 'plate', 'string'],
      [0x0084, 'plateColor', 'byte'],
      [0x0090, 'gnssMode', 'byte'],
      [0x0091, 'gnssBaudRate', 'byte'],
      [0x0092, 'gnssOutputFrequency', 'byte'],
      [0x0093, 'gnssSampleFrequency', 'dword'],
      [0x0094, 'gnssUploadMode', 'byte'],
      [0x0095, 'gnssUploadSetting', 'dword'],
      [0x0100, 'canChannel1Interval', 'dword'],
      [0x0101, 'canChannel1UploadInterval', 'word'],
      [0x0102, 'canChannel2Interval', 'dword'],
      [0x0103, 'canChannel2UploadInterval', 'word'],
    ] as const
  ).map(([id, name, type]) => [id, { name, type }]),
)

const WIDTH: Record<Exclude<ParamType, 'string'>, number> = { byte: 1, word: 2, dword: 4 }

function readParams(r: BodyReader, into: SetParams): void {
  const count = r.u8('parameter count')
  let n = 0
  // Devices sometimes miscount: read what is there, keep the count as sent.
  while (n < count && r.remaining > 0) {
    into.params.push(readParam(r))
    n++
  }
  if (n !== count) into.declaredCount = count
}

function readParam(r: BodyReader): TerminalParam {
  const id = r.u32('parameter id')
  const len = r.u8('parameter length')
  const value = r.bytes(len, `parameter 0x${id.toString(16).padStart(4, '0')}`)
  const known = PARAMS.get(id)
  if (known === undefined) return { id, hex: value.toString('hex') }
  if (known.type === 'string') {
    const text = decodeGbk(value)
    return encodeGbk(text).equals(value) ? { id, name: known.name, text } : { id, name: known.name, hex: value.toString('hex') }
  }
  if (len !== WIDTH[known.type]) return { id, name: known.name, hex: value.toString('hex') }
  return { id, name: known.name, value: len === 4 ? value.readUInt32BE(0) : len === 2 ? value.readUInt16BE(0) : value[0] }
}

function writeParams(w: BodyWriter, b: SetParams): void {
  if (b.params.length > 255) throw new CodecFault('BAD_FIELD', `${b.params.length} parameters do not fit one message`)
  w.u8(b.declaredCount ?? b.params.length)
  for (const p of b.params) writeParam(w, p)
}

function writeParam(w: BodyWriter, p: TerminalParam): void {
  w.u32(p.id)
  let value: Buffer
  if (p.hex !== undefined) value = Buffer.from(p.hex, 'hex')
  else if (p.text !== undefined) value = encodeGbk(p.text)
  else if (p.value !== undefined) {
    const type = PARAMS.get(p.id)?.type ?? 'dword'
    const width = type === 'string' ? 4 : WIDTH[type]
    value = Buffer.alloc(width)
    value.writeUIntBE(p.value, 0, width)
  } else throw new CodecFault('BAD_FIELD', `parameter 0x${p.id.toString(16)} has no value, text or hex`)
  w.prefixed(value, `parameter 0x${p.id.toString(16)}`)
}

export const setParams: BodyCodec<SetParams> = {
  decode(r) {
    const body: SetParams = { params: [] }
    readParams(r, body)
    return body
  },
  encode: writeParams,
}

export const paramsReply: BodyCodec<ParamsReply> = {
  decode(r) {
    const body: ParamsReply = { replySerial: r.u16('reply serial'), params: [] }
    readParams(r, body)
    return body
  },
  encode(w, b) {
    w.u16(b.replySerial)
    writeParams(w, b)
  },
}

/** The typed value of a parameter by id, or undefined (for code that reads a 0x0104 reply). */
export function paramValue(params: TerminalParam[], id: number): number | string | undefined {
  const p = params.find((x) => x.id === id)
  return p?.value ?? p?.text
}
