/**
 * The vehicle position carried by 0x1202, 0x1203, 0x1502, 0x9202, 0x9203.
 *   2011 — the 36-byte GNSS_DATA: ENCRYPT BYTE, DATE (day BYTE, month BYTE, year WORD),
 *          TIME (hour, minute, second BYTE), LON DWORD, LAT DWORD (1e-6 degree), VEC1 WORD
 *          (satellite speed km/h), VEC2 WORD (recorder speed km/h), VEC3 DWORD (mileage km),
 *          DIRECTION WORD, ALTITUDE WORD (m), STATE DWORD, ALARM DWORD (JT/T 808 bits).
 *   2019 — ENCRYPT BYTE, GNSS_DATA length DWORD + a JT/T 808 0x0200 body, then three
 *          (PLATFORM_ID BYTE[11], ALARM DWORD) pairs: the platforms that judged the alarms.
 * The 0x0200 body goes through the 808 codec (protocol/messages/0200-location.ts); one it cannot
 * read stays as hex.
 */
import { BodyWriter, type BodyReader, type HasAsSent } from '../../bytes.js'
import { CodecFault } from '../../errors.js'
import { readLocationAt, writeLocation, type Location } from '../../messages/0200-location.js'
import { num, str, type RawBody } from '../body.js'
import type { Edition } from '../header.js'
import { readFixedText, writeFixedText } from '../text.js'

export interface Position2011 {
  edition: 2011
  /** ENCRYPT: 1 when lon/lat are encrypted by the sender (not undone here). */
  encrypt: number
  /** Beijing time as sent, "YYYY-MM-DDTHH:MM:SS+08:00" (fields out of range kept as digits). */
  time: string
  /** UTC epoch ms of `time`, null when not a valid time. */
  timeMs: number | null
  /** Degrees (east), from 1e-6 degree units. */
  longitude: number
  latitude: number
  /** VEC1, km/h */
  speed: number
  /** VEC2, km/h from the tachograph */
  recorderSpeed: number
  /** VEC3, km */
  mileage: number
  direction: number
  altitude: number
  state: number
  alarm: number
}

export interface PlatformAlarm extends HasAsSent {
  platformId: string
  alarm: number
}

export interface Position2019 {
  edition: 2019
  encrypt: number
  /** The JT/T 808 0x0200 body; {raw} when the 808 codec cannot read it. */
  gnss: Location | RawBody
  /** Exactly three, in wire order. */
  platforms: PlatformAlarm[]
}

export type Position = Position2011 | Position2019

export const POSITION_2011_SIZE = 36

const TIME_RE = /^(\d{4,5})-(\d{2,3})-(\d{2,3})T(\d{2,3}):(\d{2,3}):(\d{2,3})\+08:00$/

export function readPosition(r: BodyReader, edition: Edition): Position {
  return edition === 2019 ? read2019(r) : read2011(r)
}

export function writePosition(w: BodyWriter, p: Position, edition: Edition): void {
  if (p.edition !== edition) throw new CodecFault('BAD_FIELD', `a ${p.edition} position in a ${edition} message`)
  if (p.edition === 2019) write2019(w, p)
  else write2011(w, p)
}

function read2011(r: BodyReader): Position2011 {
  if (r.remaining < POSITION_2011_SIZE) r.bytes(POSITION_2011_SIZE, 'GNSS_DATA') // throws TRUNCATED
  // Read in place (no subarray per position).
  const b = r.buf
  const o = r.offset
  r.offset += POSITION_2011_SIZE
  const day = b[o + 1],
    month = b[o + 2],
    year = (b[o + 3] << 8) | b[o + 4],
    hour = b[o + 5],
    minute = b[o + 6],
    second = b[o + 7]
  const time = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}+08:00`
  const valid = month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month) && hour < 24 && minute < 60 && second < 60
  return {
    edition: 2011,
    encrypt: b[o],
    time,
    timeMs: valid ? Date.UTC(year, month - 1, day, hour - 8, minute, second) : null,
    longitude: b.readUInt32BE(o + 8) / 1e6,
    latitude: b.readUInt32BE(o + 12) / 1e6,
    speed: b.readUInt16BE(o + 16),
    recorderSpeed: b.readUInt16BE(o + 18),
    mileage: b.readUInt32BE(o + 20),
    direction: b.readUInt16BE(o + 24),
    altitude: b.readUInt16BE(o + 26),
    state: b.readUInt32BE(o + 28),
    alarm: b.readUInt32BE(o + 32),
  }
}

function write2011(w: BodyWriter, p: Position2011): void {
  const m = TIME_RE.exec(str(p.time, 'time'))
  if (!m) throw new CodecFault('BAD_FIELD', `time "${p.time}" is not YYYY-MM-DDTHH:MM:SS+08:00`)
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number)
  w.u8(num(p.encrypt, 'encrypt', 0xff))
    .u8(num(day, 'day', 0xff))
    .u8(num(month, 'month', 0xff))
    .u16(num(year, 'year', 0xffff))
  w.u8(num(hour, 'hour', 0xff))
    .u8(num(minute, 'minute', 0xff))
    .u8(num(second, 'second', 0xff))
  w.u32(degrees(p.longitude, 'longitude')).u32(degrees(p.latitude, 'latitude'))
  w.u16(num(p.speed, 'speed', 0xffff))
    .u16(num(p.recorderSpeed, 'recorderSpeed', 0xffff))
    .u32(num(p.mileage, 'mileage', 0xffffffff))
  w.u16(num(p.direction, 'direction', 0xffff)).u16(num(p.altitude, 'altitude', 0xffff))
  w.u32(num(p.state, 'state', 0xffffffff)).u32(num(p.alarm, 'alarm', 0xffffffff))
}

function read2019(r: BodyReader): Position2019 {
  const encrypt = r.u8('ENCRYPT')
  const n = r.u32('GNSS_DATA length')
  // 3 × (11 + 4) bytes of platform alarms follow the 0x0200 body.
  if (n > r.remaining - 45) {
    throw new CodecFault('TRUNCATED', `GNSS_DATA of ${n} bytes, ${r.remaining} left with the platform alarms`)
  }
  const start = r.offset
  r.bytes(n, 'GNSS_DATA')
  let gnss: Location | RawBody
  try {
    gnss = readLocationAt(r.buf, start, start + n)
  } catch {
    gnss = { raw: r.buf.toString('hex', start, start + n) }
  }
  const platforms: PlatformAlarm[] = []
  for (let i = 0; i < 3; i++) {
    const holder = {}
    const platformId = readFixedText(r, 11, 'platformId', holder)
    platforms.push({ platformId, alarm: r.u32('alarm'), ...holder })
  }
  return { edition: 2019, encrypt, gnss, platforms }
}

function write2019(w: BodyWriter, p: Position2019): void {
  w.u8(num(p.encrypt, 'encrypt', 0xff))
  const inner = new BodyWriter(64)
  if ('raw' in p.gnss) inner.bytes(Buffer.from(p.gnss.raw, 'hex'))
  else writeLocation(inner, p.gnss)
  const gnss = inner.finish()
  w.u32(gnss.length).bytes(gnss)
  if (!Array.isArray(p.platforms) || p.platforms.length !== 3) throw new CodecFault('BAD_FIELD', 'platforms must hold three {platformId, alarm}')
  for (const a of p.platforms) {
    writeFixedText(w, str(a.platformId, 'platformId'), 11, 'platformId', a)
    w.u32(num(a.alarm, 'alarm', 0xffffffff))
  }
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

function degrees(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CodecFault('BAD_FIELD', `${key} must be a number of degrees`)
  return num(Math.round(v * 1e6), key, 0xffffffff)
}

/** Two-digit texts 00..99 (the fields of a time), longer numbers padded. */
const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'))

function pad(n: number, width: number): string {
  return width === 2 && n < 100 ? TWO[n] : String(n).padStart(width, '0')
}
