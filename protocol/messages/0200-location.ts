/**
 * 0x0200 location report: 28-byte basic block, then additional items (id BYTE, length BYTE,
 * value). Standard items are typed into `extras`; anything else is kept as {id, hex}. An item
 * whose length runs past the body stops item parsing with `itemsError` — the basic position is
 * never lost. `itemOrder` keeps the wire order so re-encoding reproduces the bytes exactly.
 *
 * Hand-written rather than binary-parser: this is the hot path (bench/decode), and the basic
 * block needs the status bits to sign latitude/longitude anyway.
 */
import type { BodyReader, BodyWriter } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { BCD, bcdTimeDigits, bcdTimeText, minuteOf, SECOND_SUFFIX } from '../time.js'
import { decodeActiveSafety, encodeActiveSafety, type ActiveSafetyItem, type AdasAlarm, type BsdAlarm, type DsmAlarm, type TpmsAlarm } from './active-safety.js'

export const STATUS = {
  ACC_ON: 1 << 0,
  FIXED: 1 << 1,
  SOUTH: 1 << 2,
  WEST: 1 << 3,
} as const

export interface UnknownItem {
  /** "0xe1" */
  id: string
  hex: string
}

export interface LocationExtras {
  /** 0x01, km (DWORD 0.1 km) */
  mileage?: number
  /** 0x02, L (WORD 0.1 L) */
  fuel?: number
  /** 0x03, km/h from the tachograph (WORD 0.1 km/h) */
  recorderSpeed?: number
  /** 0x04, WORD: id of an alarm event that needs manual confirmation */
  alarmEventId?: number
  /** 0x05 (2019), BYTE[30] tyre pressures, Pa units as sent */
  tyrePressure?: number[]
  /** 0x06 (2019), WORD compartment temperature °C (signed) */
  compartmentTemperature?: number
  /** 0x11 overspeed: location type BYTE (0 none, 1 circle, 2 rectangle, 3 polygon, 4 route) [+ area id] */
  overspeed?: { locationType: number; areaId?: number }
  /** 0x12 in/out area or route: type, id, direction (0 in, 1 out) */
  areaAlarm?: { locationType: number; areaId: number; direction: number }
  /** 0x13 route driving time too short/long: route id, seconds, result (0 short, 1 long) */
  routeTime?: { routeId: number; seconds: number; result: number }
  /** 0x25 extended vehicle signal status DWORD */
  extendedSignals?: number
  /** 0x2A IO status WORD */
  ioStatus?: number
  /** 0x2B analog DWORD (bits 0-15 AD0, 16-31 AD1) */
  analog?: number
  /** 0x30 wireless signal strength BYTE */
  signalStrength?: number
  /** 0x31 GNSS satellites BYTE */
  satellites?: number
  /** 0xE0 length of the custom items that follow */
  customLength?: number
  /** 0x64 ADAS, 0x65 DSM, 0x66 TPMS, 0x67 BSD (active safety, T/JSATL12 layout) */
  adas?: AdasAlarm
  dsm?: DsmAlarm
  tpms?: TpmsAlarm
  bsd?: BsdAlarm
}

export interface Location {
  alarm: number
  status: number
  /** Degrees, negative for south (status bit 2). */
  latitude: number
  /** Degrees, negative for west (status bit 3). */
  longitude: number
  /** As sent: 1e-6 degree, unsigned. */
  latitudeRaw: number
  longitudeRaw: number
  /** m */
  altitude: number
  /** km/h */
  speed: number
  /** 0-359, degrees from north */
  direction: number
  /** ISO 8601 +08:00 (Beijing time, as sent), or the 12 BCD digits when not a valid time. */
  time: string
  /** UTC epoch ms of `time`, null when the device sent no valid time. */
  timeMs: number | null
  extras: LocationExtras
  unknown: UnknownItem[]
  /** Item ids in wire order (exact re-encoding). */
  itemOrder: number[]
  /** Set when an item's length ran past the body: parsing stopped there, the rest kept in `itemsTail`. */
  itemsError?: string
  itemsTail?: string
}

export const location: BodyCodec<Location> = {
  decode(r) {
    return readLocation(r, r.end)
  },
  encode(w, b) {
    writeLocation(w, b)
  },
}

// Per-frame calls go through local aliases: when the code runs through tsx (as `jt808 serve`
// does), every call to an imported function is a property read through an export getter.
const minuteAt = minuteOf
const timeTextAt = bcdTimeText
const bcdValue = BCD
const secondSuffix = SECOND_SUFFIX

/** Reads a location block ending at `end` (a 0x0704 item or the 0x0201 tail end before the body end). */
export function readLocation(r: BodyReader, end: number): Location {
  const loc = readLocationAt(r.buf, r.offset, end)
  r.offset = end
  return loc
}

/** The location block in bytes [o, end) of buf. Throws CodecFault (TRUNCATED) below 28 bytes. */
export function readLocationAt(buf: Buffer, o: number, end: number): Location {
  if (end - o < 28) throw new CodecFault('TRUNCATED', `location block of ${end - o} bytes, need 28`)
  const status = u32(buf, o + 4)
  const latitudeRaw = u32(buf, o + 8)
  const longitudeRaw = u32(buf, o + 12)
  // Time: the minute from the cache, the seconds added here (one lookup, no date arithmetic).
  const minute = minuteAt(buf, o + 22)
  const sec = bcdValue[buf[o + 27]]
  const valid = minute !== null && sec >= 0 && sec <= 59
  const loc: Location = {
    alarm: u32(buf, o),
    status,
    latitude: (status & STATUS.SOUTH ? -latitudeRaw : latitudeRaw) / 1e6,
    longitude: (status & STATUS.WEST ? -longitudeRaw : longitudeRaw) / 1e6,
    latitudeRaw,
    longitudeRaw,
    altitude: (u16(buf, o + 16) << 16) >> 16,
    speed: u16(buf, o + 18) / 10,
    direction: u16(buf, o + 20),
    time: valid ? minute.text + secondSuffix[sec] : timeTextAt(buf, o + 22, null),
    timeMs: valid ? minute.ms + sec * 1000 : null,
    extras: {},
    unknown: [],
    itemOrder: [],
  }
  let p = o + 28
  const gen = nextGeneration()
  let items = 0
  const ids = (end - p) >> 1 > ORDER.length ? new Uint8Array((end - p) >> 1) : ORDER
  while (p < end) {
    if (end - p < 2) {
      loc.itemsError = `item header truncated at location offset ${p - o}`
      break
    }
    const id = buf[p]
    const len = buf[p + 1]
    if (p + 2 + len > end) {
      loc.itemsError = `item 0x${id.toString(16).padStart(2, '0')} declares ${len} bytes, ${end - p - 2} remain`
      break
    }
    const repeat = SEEN[id] === gen
    SEEN[id] = gen
    ids[items++] = id
    const at = p + 2
    p = at + len
    if (!repeat) {
      // The items nearly every report carries, without a call; the rest through readItem.
      if (id === 0x01 && len === 4) {
        loc.extras.mileage = u32(buf, at) / 10
        continue
      }
      if (id === 0x30 && len === 1) {
        loc.extras.signalStrength = buf[at]
        continue
      }
      if (id === 0x31 && len === 1) {
        loc.extras.satellites = buf[at]
        continue
      }
      if (readItem(loc, id, buf, at, len)) continue
    }
    loc.unknown.push({ id: itemIdText(id), hex: buf.toString('hex', at, p) })
  }
  if (p < end) loc.itemsTail = buf.toString('hex', p, end)
  if (items > 0) {
    // An array of exactly this size (pushing onto [] would reserve 17 slots per report).
    const order = new Array<number>(items)
    for (let k = 0; k < items; k++) order[k] = ids[k]
    loc.itemOrder = order
  }
  return loc
}

/** Big-endian reads without Buffer's argument checks: callers have checked the bounds. */
function u32(b: Buffer, o: number): number {
  return b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3])
}
function u16(b: Buffer, o: number): number {
  return (b[o] << 8) | b[o + 1]
}

/** Item ids of the location being read, in wire order (an item takes ≥ 2 bytes: a 65,535-byte 0x0704 item fits). */
const ORDER = new Uint8Array(32768)

/** Item ids seen in the location being read: SEEN[id] === the read's generation (no per-read allocation). */
const SEEN = new Uint32Array(256)
let generation = 0
function nextGeneration(): number {
  generation = (generation + 1) >>> 0
  if (generation === 0) {
    SEEN.fill(0)
    generation = 1
  }
  return generation
}

/** Decodes a standard item into loc.extras; false when the id is not standard or its length is not the standard one. */
function readItem(loc: Location, id: number, b: Buffer, at: number, len: number): boolean {
  const x = loc.extras
  switch (id) {
    case 0x01:
      if (len !== 4) return false
      x.mileage = u32(b, at) / 10
      return true
    case 0x02:
      if (len !== 2) return false
      x.fuel = u16(b, at) / 10
      return true
    case 0x03:
      if (len !== 2) return false
      x.recorderSpeed = u16(b, at) / 10
      return true
    case 0x04:
      if (len !== 2) return false
      x.alarmEventId = u16(b, at)
      return true
    case 0x05:
      if (len !== 30) return false
      x.tyrePressure = Array.from(b.subarray(at, at + 30))
      return true
    case 0x06:
      if (len !== 2) return false
      x.compartmentTemperature = (u16(b, at) << 16) >> 16
      return true
    case 0x11:
      if (len === 1 && b[at] === 0) x.overspeed = { locationType: 0 }
      else if (len === 5) x.overspeed = { locationType: b[at], areaId: u32(b, at + 1) }
      else return false
      return true
    case 0x12:
      if (len !== 6) return false
      x.areaAlarm = { locationType: b[at], areaId: u32(b, at + 1), direction: b[at + 5] }
      return true
    case 0x13:
      if (len !== 7) return false
      x.routeTime = { routeId: u32(b, at), seconds: u16(b, at + 4), result: b[at + 6] }
      return true
    case 0x25:
      if (len !== 4) return false
      x.extendedSignals = u32(b, at)
      return true
    case 0x2a:
      if (len !== 2) return false
      x.ioStatus = u16(b, at)
      return true
    case 0x2b:
      if (len !== 4) return false
      x.analog = u32(b, at)
      return true
    case 0x30:
      if (len !== 1) return false
      x.signalStrength = b[at]
      return true
    case 0x31:
      if (len !== 1) return false
      x.satellites = b[at]
      return true
    case 0xe0:
      if (len !== 1) return false
      x.customLength = b[at]
      return true
    case 0x64:
    case 0x65:
    case 0x66:
    case 0x67: {
      const item = decodeActiveSafety(id, b.subarray(at, at + len))
      if (item === null) return false
      ;(x as Record<string, ActiveSafetyItem>)[ACTIVE_SAFETY_KEYS[id - 0x64]] = item
      return true
    }
    default:
      return false
  }
}

const ACTIVE_SAFETY_KEYS = ['adas', 'dsm', 'tpms', 'bsd'] as const

function itemIdText(id: number): string {
  return '0x' + id.toString(16).padStart(2, '0')
}

export function writeLocation(w: BodyWriter, loc: Location): void {
  const latRaw = loc.latitudeRaw ?? Math.round(Math.abs(loc.latitude) * 1e6)
  const lonRaw = loc.longitudeRaw ?? Math.round(Math.abs(loc.longitude) * 1e6)
  w.u32(loc.alarm).u32(loc.status).u32(latRaw).u32(lonRaw)
  w.u16(loc.altitude & 0xffff)
    .u16(Math.round(loc.speed * 10))
    .u16(loc.direction)
  w.bcd(bcdTimeDigits(loc.time), 6)
  // Decoding makes the first occurrence of an id typed when it can be, and every later one unknown;
  // replaying itemOrder under the same rule reproduces the wire order exactly.
  const unknown = new Map<number, UnknownItem[]>()
  for (const u of loc.unknown ?? []) {
    const id = parseInt(u.id, 16)
    const list = unknown.get(id)
    if (list) list.push(u)
    else unknown.set(id, [u])
  }
  const seen = new Set<number>()
  for (const id of loc.itemOrder ?? []) {
    const first = !seen.has(id)
    seen.add(id)
    if (first && hasExtra(loc.extras, id)) writeItem(w, id, loc.extras)
    else {
      const u = unknown.get(id)?.shift()
      if (u) writeRawItem(w, id, Buffer.from(u.hex, 'hex'))
    }
  }
  // Typed extras and unknown items not named in itemOrder (a hand-built location) follow.
  for (const [id, key] of EXTRA_IDS) if (!seen.has(id) && loc.extras?.[key] !== undefined) writeItem(w, id, loc.extras)
  // Leftover unknown items go out in their array order.
  const left = new Set<UnknownItem>()
  for (const rest of unknown.values()) for (const u of rest) left.add(u)
  for (const u of loc.unknown ?? []) if (left.has(u)) writeRawItem(w, parseInt(u.id, 16), Buffer.from(u.hex, 'hex'))
  if (loc.itemsTail) w.bytes(Buffer.from(loc.itemsTail, 'hex'))
}

const EXTRA_IDS: Array<[number, keyof LocationExtras]> = [
  [0x01, 'mileage'],
  [0x02, 'fuel'],
  [0x03, 'recorderSpeed'],
  [0x04, 'alarmEventId'],
  [0x05, 'tyrePressure'],
  [0x06, 'compartmentTemperature'],
  [0x11, 'overspeed'],
  [0x12, 'areaAlarm'],
  [0x13, 'routeTime'],
  [0x25, 'extendedSignals'],
  [0x2a, 'ioStatus'],
  [0x2b, 'analog'],
  [0x30, 'signalStrength'],
  [0x31, 'satellites'],
  [0x64, 'adas'],
  [0x65, 'dsm'],
  [0x66, 'tpms'],
  [0x67, 'bsd'],
  [0xe0, 'customLength'],
]
const KEY_OF = new Map(EXTRA_IDS)

function hasExtra(x: LocationExtras, id: number): boolean {
  const key = KEY_OF.get(id)
  return key !== undefined && x[key] !== undefined
}

function writeRawItem(w: BodyWriter, id: number, value: Buffer): void {
  if (value.length > 255) throw new CodecFault('BAD_FIELD', `item 0x${id.toString(16)} longer than 255 bytes`)
  w.u8(id).u8(value.length).bytes(value)
}

function writeItem(w: BodyWriter, id: number, x: LocationExtras): void {
  w.u8(id)
  switch (id) {
    case 0x01:
      w.u8(4).u32(Math.round((x.mileage as number) * 10))
      return
    case 0x02:
      w.u8(2).u16(Math.round((x.fuel as number) * 10))
      return
    case 0x03:
      w.u8(2).u16(Math.round((x.recorderSpeed as number) * 10))
      return
    case 0x04:
      w.u8(2).u16(x.alarmEventId as number)
      return
    case 0x05:
      w.u8(30).bytes(Uint8Array.from(x.tyrePressure as number[]))
      return
    case 0x06:
      w.u8(2).u16((x.compartmentTemperature as number) & 0xffff)
      return
    case 0x11: {
      const o = x.overspeed as { locationType: number; areaId?: number }
      if (o.areaId === undefined) w.u8(1).u8(o.locationType)
      else w.u8(5).u8(o.locationType).u32(o.areaId)
      return
    }
    case 0x12: {
      const a = x.areaAlarm as { locationType: number; areaId: number; direction: number }
      w.u8(6).u8(a.locationType).u32(a.areaId).u8(a.direction)
      return
    }
    case 0x13: {
      const t = x.routeTime as { routeId: number; seconds: number; result: number }
      w.u8(7).u32(t.routeId).u16(t.seconds).u8(t.result)
      return
    }
    case 0x25:
      w.u8(4).u32(x.extendedSignals as number)
      return
    case 0x2a:
      w.u8(2).u16(x.ioStatus as number)
      return
    case 0x2b:
      w.u8(4).u32(x.analog as number)
      return
    case 0x30:
      w.u8(1).u8(x.signalStrength as number)
      return
    case 0x31:
      w.u8(1).u8(x.satellites as number)
      return
    case 0xe0:
      w.u8(1).u8(x.customLength as number)
      return
    case 0x64:
    case 0x65:
    case 0x66:
    case 0x67: {
      const v = encodeActiveSafety(id, x[ACTIVE_SAFETY_KEYS[id - 0x64]] as ActiveSafetyItem)
      w.u8(v.length).bytes(v)
      return
    }
  }
}
