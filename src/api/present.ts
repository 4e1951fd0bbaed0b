/**
 * Records as the API shows them: epoch-ms times become ISO 8601 strings, internal ids that mean
 * nothing to a caller are kept where they help (vehicle id in the registry view).
 */
import type { Anomaly, AnomalyStatus, CommittedPosition, PositionRecord, Vehicle } from '../domain.js'

export const isoOrNull = (t: number | null | undefined): string | null => (t === null || t === undefined || !Number.isFinite(t) ? null : new Date(t).toISOString())
export const iso = (t: number): string => new Date(t).toISOString()

export interface ApiAnomaly {
  id: string
  type: string
  status: AnomalyStatus
  severity: string
  plate: string
  plateColor: number
  waybillNo: string | null
  enterpriseLicenseNo: string | null
  startedAt: string
  endedAt: string | null
  lastSeenAt: string
  evidence: Record<string, unknown>
  resolvedByLateData: boolean
}

export function presentAnomaly(a: Anomaly): ApiAnomaly {
  return {
    id: a.id,
    type: a.type,
    status: a.status,
    severity: a.severity,
    plate: a.plate,
    plateColor: a.plateColor,
    waybillNo: a.waybillNo,
    enterpriseLicenseNo: a.enterpriseLicenseNo,
    startedAt: iso(a.startedAt),
    endedAt: isoOrNull(a.endedAt),
    lastSeenAt: iso(a.lastSeenAt),
    evidence: a.evidence ?? {},
    resolvedByLateData: a.resolvedByLateData === true,
  }
}

/** A fix as the API shows it: the record's values with ISO times; ids, extras and the source message stay internal. */
export type ApiPosition = Pick<PositionRecord, 'latitude' | 'longitude' | 'altitude' | 'speed' | 'direction' | 'alarm' | 'status' | 'mileage' | 'blindArea'> & {
  deviceTime: string
  receivedAt: string
}

/** Fields are copied one by one so a CommittedPosition's plate, phone and licence never reach a response by accident. */
export function presentPosition(p: PositionRecord | CommittedPosition): ApiPosition {
  return {
    deviceTime: iso(p.deviceTime),
    receivedAt: iso(p.receivedAt),
    latitude: p.latitude,
    longitude: p.longitude,
    altitude: p.altitude,
    speed: p.speed,
    direction: p.direction,
    alarm: p.alarm,
    status: p.status,
    mileage: p.mileage,
    blindArea: p.blindArea,
  }
}

/** The waybill a vehicle is on now, as the live views show it. */
export interface ApiActiveWaybill {
  waybillNo: string
  status: string
  loadingDate: string
  expectedArrivalDate: string
  destination: string
}

/** The live half of a vehicle view: session, last fix, active waybill. */
export interface ApiLiveState {
  online: boolean
  session: { nodeId: string; since: string | null; address: string } | null
  lastPosition: ApiPosition | null
  activeWaybill: ApiActiveWaybill | null
}

export function presentVehicle(v: Vehicle) {
  return {
    id: v.id,
    plate: v.plate,
    plateColor: v.plateColor,
    terminalPhone: v.terminalPhone,
    terminalId: v.terminalId,
    enterpriseLicenseNo: v.enterpriseLicenseNo,
    enterpriseName: v.enterpriseName,
    transportCertNo: v.transportCertNo,
    transportCertValidUntil: v.transportCertValidUntil,
    businessScope: v.businessScope ?? [],
    retiredAt: isoOrNull(v.retiredAt),
  }
}
