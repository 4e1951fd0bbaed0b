/**
 * Active safety items of 0x0200 (Jiangsu T/JSATL12-2017 layouts, also used by most provinces'
 * terminals): 0x64 ADAS, 0x65 DSM (driver state), 0x66 TPMS (tyre pressure), 0x67 BSD (blind spot).
 * Every item ends with the 16-byte alarm flag the terminal later quotes in 0x1210 when it
 * uploads the attachments. The same items with the Guangdong (T/GDRTA 002-2020) 40-byte alarm id
 * (see ALARM_ID_LAYOUT) are read too, marked `alarmIdVariant: 'gdrta'`; any other length makes
 * decodeActiveSafety return null and the item stays in `unknown` as hex. Written by hand, decode
 * beside encode: the items come with 0x0200 reports, and a hand-written reader was the faster
 * (bench/decode, "active safety").
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
import { BodyReader, BodyWriter, type HasAsSent } from '../bytes.js'
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

/**
 * The two alarm id layouts: the 0x0200 items carry either, the attachment messages (0x9208,
 * 0x1210) the one the platform works with:
 *   jsatl12 (T/JSATL12-2017, Jiangsu):   terminal ID BYTE[7],  time BCD[6], serial, count, reserved BYTE    = 16
 *   gdrta   (T/GDRTA 002-2020, Guangdong): terminal ID BYTE[30], time BCD[6], serial, count, reserved BYTE[2] = 40
 * (the Guangdong width as lucendar/jt808-common reads it: AdasHandler_Gdrta_2020.adasAlmIdLen = 40).
 */
export type AttachmentVariant = 'jsatl12' | 'gdrta'
export const ATTACHMENT_VARIANTS: readonly AttachmentVariant[] = ['jsatl12', 'gdrta']

export const ALARM_ID_LAYOUT: Readonly<Record<AttachmentVariant, { terminalId: number; reserved: 1 | 2; length: number }>> = {
  jsatl12: { terminalId: 7, reserved: 1, length: 16 },
  gdrta: { terminalId: 30, reserved: 2, length: 40 },
}

// ---- alarm id: decode and encode side by side --------------------------------------------------

export function readAlarmId(r: BodyReader, variant: AttachmentVariant): AlarmFlag {
  const l = ALARM_ID_LAYOUT[variant]
  const flag = { terminalId: '' } as AlarmFlag
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

// ---- items: decode and encode side by side -----------------------------------------------------

/** Bytes of an item before its common tail (alarm id, flag status and the type's own fields). */
const HEAD_LENGTH: Readonly<Record<number, number>> = { 0x64: 12, 0x65: 12, 0x66: 5, 0x67: 6 }
/** The common tail without its alarm id: speed, altitude, latitude, longitude, time, vehicle status. */
const TAIL_LENGTH = 19
const TYRE_EVENT_LENGTH = 9

/** The length an item of this id has with the variant's alarm id, given its bytes (TPMS counts its events); -1: none. */
function itemLength(id: number, value: Buffer, variant: AttachmentVariant): number {
  const head = HEAD_LENGTH[id]
  if (head === undefined) return -1
  const fixed = head + TAIL_LENGTH + ALARM_ID_LAYOUT[variant].length
  if (id !== 0x66) return fixed
  return fixed < value.length ? fixed + 1 + value[fixed] * TYRE_EVENT_LENGTH : -1
}

/** Typed item for a T/JSATL12 layout or the same with the Guangdong alarm id, or null (kept as hex by the caller). */
export function decodeActiveSafety(id: number, value: Buffer): ActiveSafetyItem | null {
  for (const variant of ATTACHMENT_VARIANTS) {
    if (itemLength(id, value, variant) !== value.length) continue
    const item = readItem(new BodyReader(value), id, variant)
    if (variant === 'gdrta') item.alarmIdVariant = 'gdrta'
    return item
  }
  return null
}

function readItem(r: BodyReader, id: number, variant: AttachmentVariant): ActiveSafetyItem {
  const alarmId = r.u32('alarm id')
  const flagStatus = r.u8('flag status')
  switch (id) {
    case 0x64: {
      const a = { alarmId, flagStatus, alarmType: r.u8(), alarmLevel: r.u8(), frontSpeed: r.u8(), frontDistance: r.u8(), deviationType: r.u8(), roadSignType: r.u8(), roadSignData: r.u8() }
      return readTail(r, a as AdasAlarm, variant)
    }
    case 0x65: {
      const d = { alarmId, flagStatus, alarmType: r.u8(), alarmLevel: r.u8(), fatigueLevel: r.u8(), reserved: r.bytes(4, 'reserved').toString('hex') }
      return readTail(r, d as DsmAlarm, variant)
    }
    case 0x66: {
      const t = readTail(r, { alarmId, flagStatus } as TpmsAlarm, variant)
      const count = r.u8('event count')
      t.events = []
      for (let i = 0; i < count; i++) t.events.push({ position: r.u8(), alarmType: r.u16(), pressure: r.u16(), temperature: r.u16(), battery: r.u16() })
      return t
    }
    default:
      return readTail(r, { alarmId, flagStatus, alarmType: r.u8() } as BsdAlarm, variant)
  }
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
      w.u8(d.alarmType)
        .u8(d.alarmLevel)
        .u8(d.fatigueLevel)
        .bytes(Buffer.from(d.reserved ?? '00000000', 'hex'))
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

function readTail<T extends ActiveSafetyCommon>(r: BodyReader, x: T, variant: AttachmentVariant): T {
  x.speed = r.u8('speed')
  x.altitude = r.u16('altitude')
  x.latitude = r.u32('latitude') / 1e6
  x.longitude = r.u32('longitude') / 1e6
  x.time = readBcdTime(r.bytes(6, 'time'), 0).text
  x.vehicleStatus = r.u16('vehicle status')
  x.alarmFlag = readAlarmId(r, variant)
  return x
}

function writeTail(w: BodyWriter, x: ActiveSafetyCommon): void {
  w.u8(x.speed).u16(x.altitude)
  w.u32(Math.round(x.latitude * 1e6)).u32(Math.round(x.longitude * 1e6))
  w.bcd(bcdTimeDigits(x.time), 6).u16(x.vehicleStatus)
  writeAlarmId(w, x.alarmFlag, x.alarmIdVariant ?? 'jsatl12')
}
