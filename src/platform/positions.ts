/**
 * JT/T 809 positions ⇄ our committed positions.
 *
 * In: a 0x1202/0x1203 position becomes a row for the ingest queue, like a terminal's fix; it
 * remembers its source: sourceMsgId 0x1202 / 0x1203 and extras.platform (the lower platform's
 * access code). 2019 positions carry a JT/T 808 0x0200 body: its items are kept as a terminal's
 * are; the platforms' alarm judgements (PLATFORM_ID/ALARM ×3) go to extras.platformAlarms when set.
 * 2011: VEC2 (tachograph speed) goes to extras.recorderSpeed.
 *
 * Out: a committed position becomes the edition's 809 position for 0x1202/0x1203.
 */
import type { Location } from '../../protocol/index.js'
import type { Position, Position2011, Position2019 } from '../../protocol/jt809/index.js'
import type { CommittedPosition, PositionRecord } from '../domain.js'

type PlatformVehicle = Pick<import('../store/platforms.js').PlatformVehicle, 'id' | 'plate' | 'plateColor' | 'enterpriseLicenseNo'>

/** null when the position has no valid device time (counted by the caller) or is still ciphertext. */
export function toCommitted(p: Position, v: PlatformVehicle, accessCode: number, msgId: 0x1202 | 0x1203, receivedAt: number): CommittedPosition | null {
  const base = {
    vehicleId: v.id,
    receivedAt,
    blindArea: msgId === 0x1203,
    sourceMsgId: msgId,
    phone: '',
    plate: v.plate,
    plateColor: v.plateColor,
    enterpriseLicenseNo: v.enterpriseLicenseNo,
    alarmTransition: null,
  }
  if (p.edition === 2011) {
    if (p.timeMs === null) return null
    return {
      ...base,
      deviceTime: p.timeMs,
      latitude: p.latitude,
      longitude: p.longitude,
      altitude: p.altitude,
      speed: p.speed,
      direction: p.direction,
      alarm: p.alarm >>> 0,
      status: p.state >>> 0,
      mileage: p.mileage,
      extras: { platform: accessCode, recorderSpeed: p.recorderSpeed, ...(p.encrypt ? { coordinatesEncrypted: true } : {}) },
    }
  }
  if ('raw' in p.gnss) return null
  const loc = p.gnss
  if (loc.timeMs === null) return null
  const { mileage, ...rest } = loc.extras
  const extras: Record<string, unknown> = { ...rest, platform: accessCode }
  if (loc.unknown.length) extras.unknown = loc.unknown
  const judged = p.platforms.filter((a) => a.alarm !== 0 || a.platformId !== '')
  if (judged.length) extras.platformAlarms = judged.map((a) => ({ platformId: a.platformId, alarm: a.alarm }))
  return {
    ...base,
    deviceTime: loc.timeMs,
    latitude: loc.latitude,
    longitude: loc.longitude,
    altitude: loc.altitude,
    speed: loc.speed,
    direction: loc.direction,
    alarm: loc.alarm >>> 0,
    status: loc.status >>> 0,
    mileage: mileage ?? null,
    extras,
  }
}

/** Beijing time as the 809/808 codecs write it: "YYYY-MM-DDTHH:MM:SS+08:00". */
export function beijingIso(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00'
}

/** A committed position as the edition's 809 position (forwarding upward). */
export function toPosition809(r: PositionRecord, edition: 2011 | 2019): Position {
  const time = beijingIso(r.deviceTime)
  if (edition === 2011) {
    const recorder = r.extras.recorderSpeed
    const p: Position2011 = {
      edition: 2011,
      encrypt: 0,
      time,
      timeMs: r.deviceTime,
      longitude: Math.abs(r.longitude),
      latitude: Math.abs(r.latitude),
      speed: clamp(Math.round(r.speed), 0xffff),
      recorderSpeed: clamp(Math.round(typeof recorder === 'number' ? recorder : r.speed), 0xffff),
      mileage: clamp(Math.round(r.mileage ?? 0), 0xffffffff),
      direction: clamp(r.direction, 0xffff),
      altitude: clamp(r.altitude, 0xffff),
      state: r.status >>> 0,
      alarm: r.alarm >>> 0,
    }
    return p
  }
  const gnss: Location = {
    alarm: r.alarm >>> 0,
    status: r.status >>> 0,
    latitude: r.latitude,
    longitude: r.longitude,
    latitudeRaw: Math.round(Math.abs(r.latitude) * 1e6),
    longitudeRaw: Math.round(Math.abs(r.longitude) * 1e6),
    altitude: r.altitude,
    speed: r.speed,
    direction: r.direction,
    time,
    timeMs: r.deviceTime,
    extras: r.mileage !== null ? { mileage: r.mileage } : {},
    unknown: [],
    itemOrder: r.mileage !== null ? [0x01] : [],
  }
  const p: Position2019 = { edition: 2019, encrypt: 0, gnss, platforms: [0, 1, 2].map(() => ({ platformId: '', alarm: 0 })) }
  return p
}

function clamp(n: number, max: number): number {
  return Math.min(Math.max(0, Math.trunc(n)), max)
}
