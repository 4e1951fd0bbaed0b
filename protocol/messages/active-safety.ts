/**
 * Active safety items of 0x0200 (Jiangsu T/JSATL12-2017 layouts, also used by most provinces'
 * terminals): 0x64 ADAS, 0x65 DSM (driver state), 0x66 TPMS (tyre pressure), 0x67 BSD (blind spot).
 * Every item ends with the 16-byte alarm flag the terminal later quotes in 0x1210 when it
 * uploads the attachments. The same items with the Guangdong (T/GDRTA 002-2020) 40-byte alarm id
 * (see ALARM_ID_LAYOUT) are read too, marked `alarmIdVariant: 'gdrta'`; any other length makes
 * decodeActiveSafety return null and the item stays in `unknown` as hex.
 *
 *   common head:  alarm id DWORD, flag status BYTE (0 n/a, 1 start, 2 end)
 *   ADAS (47):    type, level, front speed, front distance, deviation type, road sign type,
 *                 road sign data (BYTE each), then the common tail
 *   DSM (47):     type, level, fatigue level BYTE, reserved BYTE[4], then the common tail
 *   TPMS (41+9n): common tail, event count BYTE, events (position BYTE, type WORD,
 *                 pressure WORD kPa, temperature WORD °C, battery WORD %)
 *   BSD (41):     type BYTE, then the common tail
 *   common tail:  speed BYTE km/h, altitude WORD m, latitude DWORD, longitude DWORD (1e-6°),
 *                 time BCD[6], vehicle status WORD, alarm flag BYTE[16]
 *   alarm flag:   terminal ID BYTE[7], time BCD[6], serial BYTE, attachment count BYTE, reserved BYTE
 */
import type { Parser } from 'binary-parser'
import { BodyReader, BodyWriter, decodeFixedGbk, type HasAsSent } from '../bytes.js'
import { layout, Layout } from '../layout.js'
import { bcdTimeDigits, readBcdTime } from '../time.js'

export interface AlarmFlag extends HasAsSent {
  terminalId: string
  /** ISO 8601 +08:00 (or the BCD digits when not a valid time) */
  time: string
  /** Sequence number of alarms within the same second. */
  serial: number
  attachmentCount: number
  reserved: number
}

export interface ActiveSafetyCommon {
  alarmId: number
  /** 0 not applicable, 1 start, 2 end */
  flagStatus: number
  /** km/h */
  speed: number
  /** m */
  altitude: number
  /** degrees (unsigned, as sent / 1e6) */
  latitude: number
  longitude: number
  /** ISO 8601 +08:00 */
  time: string
  /** Bit 0 ACC, 1 left turn, 2 right turn, 3 wipers, 4 braking, 5 card inserted, 10 positioned */
  vehicleStatus: number
  alarmFlag: AlarmFlag
  /** 'gdrta' when the alarm id came in the Guangdong 40-byte layout; absent: Jiangsu (16) */
  alarmIdVariant?: AttachmentVariant
}

export interface AdasAlarm extends ActiveSafetyCommon {
  /** 1 forward collision, 2 lane departure, 3 headway, 4 pedestrian, 5 lane changes, 6 road sign, 7 obstacle, 0x10 sign recognised, 0x11 snapshot */
  alarmType: number
  alarmLevel: number
  /** km/h */
  frontSpeed: number
  /** 100 ms */
  frontDistance: number
  /** 1 left, 2 right */
  deviationType: number
  roadSignType: number
  roadSignData: number
}

export interface DsmAlarm extends ActiveSafetyCommon {
  /** 1 fatigue, 2 phone call, 3 smoking, 4 distracted, 5 driver abnormal, 0x10 snapshot, 0x11 driver change */
  alarmType: number
  alarmLevel: number
  fatigueLevel: number
  /** BYTE[4] as sent */
  reserved: string
}

export interface TyreEvent {
  position: number
  alarmType: number
  /** kPa */
  pressure: number
  /** °C */
  temperature: number
  /** % */
  battery: number
}

export interface TpmsAlarm extends ActiveSafetyCommon {
  events: TyreEvent[]
}

export interface BsdAlarm extends ActiveSafetyCommon {
  /** 1 rear approach, 2 left rear approach, 3 right rear approach */
  alarmType: number
}

export type ActiveSafetyItem = AdasAlarm | DsmAlarm | TpmsAlarm | BsdAlarm

export const ALARM_FLAG_LENGTH = 16

// ---- decode: binary-parser layouts -------------------------------------------------------------

const alarmFlagParser = layout()
  .buffer('terminalId', { length: 7 })
  .buffer('time', { length: 6 })
  .uint8('serial')
  .uint8('attachmentCount')
  .uint8('reserved')

function tail(p: Parser): Parser {
  return p
    .uint8('speed')
    .uint16('altitude')
    .uint32('latitude')
    .uint32('longitude')
    .buffer('time', { length: 6 })
    .uint16('vehicleStatus')
    .nest('alarmFlag', { type: alarmFlagParser })
}

interface RawFlag {
  terminalId: Buffer
  time: Buffer
  serial: number
  attachmentCount: number
  reserved: number
}
type Raw<T> = Omit<T, 'time' | 'alarmFlag' | 'reserved'> & { time: Buffer; alarmFlag: RawFlag; reserved?: Buffer }

const ADAS = new Layout<Raw<AdasAlarm>>(
  tail(
    layout()
      .uint32('alarmId')
      .uint8('flagStatus')
      .uint8('alarmType')
      .uint8('alarmLevel')
      .uint8('frontSpeed')
      .uint8('frontDistance')
      .uint8('deviationType')
      .uint8('roadSignType')
      .uint8('roadSignData'),
  ),
)
const DSM = new Layout<Raw<DsmAlarm>>(
  tail(layout().uint32('alarmId').uint8('flagStatus').uint8('alarmType').uint8('alarmLevel').uint8('fatigueLevel').buffer('reserved', { length: 4 })),
)
const TPMS_HEAD = new Layout<Raw<TpmsAlarm>>(tail(layout().uint32('alarmId').uint8('flagStatus')))
const BSD = new Layout<Raw<BsdAlarm>>(tail(layout().uint32('alarmId').uint8('flagStatus').uint8('alarmType')))
const TYRE_EVENT = new Layout<TyreEvent>(layout().uint8('position').uint16('alarmType').uint16('pressure').uint16('temperature').uint16('battery'))

/** Extra bytes of the Guangdong alarm id over the Jiangsu one. */
const GD_EXTRA = 40 - ALARM_FLAG_LENGTH

/** Typed item for a T/JSATL12 layout or the same with the Guangdong alarm id, or null (kept as hex by the caller). */
export function decodeActiveSafety(id: number, value: Buffer): ActiveSafetyItem | null {
  const js = decodeJiangsu(id, value)
  if (js !== null) return js
  // Guangdong: the alarm id ends the common tail; read the item with a Jiangsu-sized id in its place
  const flagEnd = id === 0x66 ? TPMS_HEAD.size + GD_EXTRA : value.length
  if (flagEnd > value.length || flagEnd < 40) return null
  const shaped = Buffer.concat([value.subarray(0, flagEnd - 40), Buffer.alloc(ALARM_FLAG_LENGTH), value.subarray(flagEnd)])
  const item = decodeJiangsu(id, shaped)
  if (item === null) return null
  const r = new BodyReader(value, flagEnd - 40, flagEnd)
  item.alarmFlag = readAlarmId(r, 'gdrta')
  item.alarmIdVariant = 'gdrta'
  return item
}

function decodeJiangsu(id: number, value: Buffer): ActiveSafetyItem | null {
  switch (id) {
    case 0x64:
      return value.length === ADAS.size ? finish(ADAS.parse(value)) : null
    case 0x65:
      return value.length === DSM.size ? finish(DSM.parse(value)) : null
    case 0x66: {
      const head = TPMS_HEAD.size
      if (value.length < head + 1) return null
      const count = value[head]
      if (value.length !== head + 1 + count * TYRE_EVENT.size) return null
      const item = finish(TPMS_HEAD.parse(value)) as TpmsAlarm
      item.events = []
      for (let i = 0; i < count; i++) item.events.push(TYRE_EVENT.parse(value.subarray(head + 1 + i * TYRE_EVENT.size)))
      return item
    }
    case 0x67:
      return value.length === BSD.size ? finish(BSD.parse(value)) : null
    default:
      return null
  }
}

/** Turns the parsed buffers into text: degrees, ISO times, the flag's terminal ID. */
function finish<T extends ActiveSafetyCommon>(raw: Raw<T>): T {
  const item = raw as unknown as T & { reserved?: unknown }
  item.latitude = raw.latitude / 1e6
  item.longitude = raw.longitude / 1e6
  item.time = readBcdTime(raw.time, 0).text
  item.alarmFlag = readAlarmFlagFrom(raw.alarmFlag)
  if (raw.reserved) item.reserved = raw.reserved.toString('hex')
  return item
}

function readAlarmFlagFrom(raw: RawFlag): AlarmFlag {
  const flag: AlarmFlag = {
    terminalId: decodeFixedGbk(raw.terminalId),
    time: readBcdTime(raw.time, 0).text,
    serial: raw.serial,
    attachmentCount: raw.attachmentCount,
    reserved: raw.reserved,
  }
  const canonical = new BodyWriter(7).fixedText(flag.terminalId, 7, 'terminalId', {}).finish()
  if (!canonical.equals(raw.terminalId)) flag.asSent = { terminalId: raw.terminalId.toString('hex') }
  return flag
}

const ALARM_FLAG = new Layout<RawFlag>(alarmFlagParser)

/** Reads a 16-byte alarm flag from a body (0x1210). */
export function readAlarmFlag(bytes: Buffer): AlarmFlag {
  return readAlarmFlagFrom(ALARM_FLAG.parse(bytes))
}

/**
 * The two alarm id layouts the attachment messages (0x9208, 0x1210) carry:
 *   jsatl12 (T/JSATL12-2017, Jiangsu):   terminal ID BYTE[7],  time BCD[6], serial, count, reserved BYTE    = 16
 *   gdrta   (T/GDRTA 002-2020, Guangdong): terminal ID BYTE[30], time BCD[6], serial, count, reserved BYTE[2] = 40
 * (the Guangdong width as lucendar/jt808-common reads it: AdasHandler_Gdrta_2020.adasAlmIdLen = 40).
 * The 0x0200 items above are read in the Jiangsu layout only.
 */
export type AttachmentVariant = 'jsatl12' | 'gdrta'
export const ATTACHMENT_VARIANTS: readonly AttachmentVariant[] = ['jsatl12', 'gdrta']

export const ALARM_ID_LAYOUT: Readonly<Record<AttachmentVariant, { terminalId: number; reserved: 1 | 2; length: number }>> = {
  jsatl12: { terminalId: 7, reserved: 1, length: 16 },
  gdrta: { terminalId: 30, reserved: 2, length: 40 },
}

/** Reads an alarm id of the given layout (0x9208, 0x1210). */
export function readAlarmId(r: BodyReader, variant: AttachmentVariant): AlarmFlag {
  const l = ALARM_ID_LAYOUT[variant]
  const flag = {} as AlarmFlag
  flag.terminalId = r.fixedText(l.terminalId, 'terminalId', flag)
  flag.time = readBcdTime(r.bytes(6, 'alarm time'), 0).text
  flag.serial = r.u8('alarm serial')
  flag.attachmentCount = r.u8('attachment count')
  flag.reserved = l.reserved === 1 ? r.u8('reserved') : r.u16('reserved')
  return flag
}

export function writeAlarmId(w: BodyWriter, f: AlarmFlag, variant: AttachmentVariant): void {
  const l = ALARM_ID_LAYOUT[variant]
  w.fixedText(f.terminalId, l.terminalId, 'terminalId', f)
  w.bcd(bcdTimeDigits(f.time), 6)
  w.u8(f.serial).u8(f.attachmentCount)
  if (l.reserved === 1) w.u8(f.reserved ?? 0)
  else w.u16(f.reserved ?? 0)
}

// ---- encode -------------------------------------------------------------------------------------

export function writeAlarmFlag(w: BodyWriter, f: AlarmFlag): void {
  w.fixedText(f.terminalId, 7, 'terminalId', f)
  w.bcd(bcdTimeDigits(f.time), 6)
  w.u8(f.serial).u8(f.attachmentCount).u8(f.reserved ?? 0)
}

function writeTail(w: BodyWriter, x: ActiveSafetyCommon): void {
  w.u8(x.speed).u16(x.altitude)
  w.u32(Math.round(x.latitude * 1e6)).u32(Math.round(x.longitude * 1e6))
  w.bcd(bcdTimeDigits(x.time), 6).u16(x.vehicleStatus)
  if (x.alarmIdVariant === 'gdrta') writeAlarmId(w, x.alarmFlag, 'gdrta')
  else writeAlarmFlag(w, x.alarmFlag)
}

export function encodeActiveSafety(id: number, item: ActiveSafetyItem): Buffer {
  const w = new BodyWriter(64)
  w.u32(item.alarmId).u8(item.flagStatus)
  switch (id) {
    case 0x64: {
      const a = item as AdasAlarm
      w.u8(a.alarmType).u8(a.alarmLevel).u8(a.frontSpeed).u8(a.frontDistance)
      w.u8(a.deviationType).u8(a.roadSignType).u8(a.roadSignData)
      writeTail(w, a)
      break
    }
    case 0x65: {
      const d = item as DsmAlarm
      w.u8(d.alarmType).u8(d.alarmLevel).u8(d.fatigueLevel).bytes(Buffer.from(d.reserved ?? '00000000', 'hex'))
      writeTail(w, d)
      break
    }
    case 0x66: {
      const t = item as TpmsAlarm
      writeTail(w, t)
      w.u8(t.events.length)
      for (const e of t.events) w.u8(e.position).u16(e.alarmType).u16(e.pressure).u16(e.temperature).u16(e.battery)
      break
    }
    case 0x67:
      w.u8((item as BsdAlarm).alarmType)
      writeTail(w, item)
      break
  }
  return w.finish()
}
