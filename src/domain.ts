/**
 * The domain every layer imports: records shared by the gateway, ingest, store, state, matcher and
 * API, the canonical forms of plates and terminal phones, the electronic waybill (domain/waybill.ts)
 * and Beijing-time calendar arithmetic (domain/time.ts). Times are UTC epoch milliseconds.
 */
export * from './domain/identity.js'
export * from './domain/time.js'
export * from './domain/waybill.js'

import type { PlateColor } from './domain/identity.js'

export interface Vehicle {
  /** Registry id (positions reference it). */
  id: number
  plate: string
  plateColor: PlateColor
  terminalPhone: string | null
  terminalId: string | null
  enterpriseLicenseNo: string | null
  enterpriseName: string | null
  transportCertNo: string | null
  /** yyyy-mm-dd */
  transportCertValidUntil: string | null
  /** Hazard classes the transport certificate allows, e.g. ["2.1", "3"]. */
  businessScope: string[]
  /** When the vehicle was retired (its terminal is refused until it is reinstated); null or absent: in service. */
  retiredAt?: number | null
}

export type NewVehicle = Omit<
  Vehicle,
  'id' | 'terminalPhone' | 'terminalId' | 'enterpriseLicenseNo' | 'enterpriseName' | 'transportCertNo' | 'transportCertValidUntil' | 'businessScope' | 'retiredAt'
> &
  Partial<Omit<Vehicle, 'id' | 'plate' | 'plateColor' | 'retiredAt'>>

/** A terminal as the registry knows it (0x0100 registration binds it to a vehicle). */
export interface Terminal {
  phone: string
  terminalId: string | null
  vehicleId: number | null
  /** salted hash of the auth code (auth-code.ts); the code itself is never stored or logged. */
  authCodeHash: string | null
  protocolVersion: number | null
  manufacturer: string | null
  model: string | null
  imei: string | null
  firmware: string | null
  registeredAt: number | null
}

/** One stored fix: from 0x0200, each item of a 0x0704 batch, or a 0x0201 answer. */
export interface PositionRecord {
  vehicleId: number
  /** Device time (from the BCD field), UTC ms. Positions without a valid time are not stored. */
  deviceTime: number
  receivedAt: number
  latitude: number
  longitude: number
  altitude: number
  /** km/h */
  speed: number
  direction: number
  alarm: number
  status: number
  /** km from item 0x01, null when absent */
  mileage: number | null
  /** The remaining items (extras minus mileage, unknown items), as stored in jsonb. */
  extras: Record<string, unknown>
  /** Came in a 0x0704 batch of type 1 (blind-area data uploaded after a coverage gap). */
  blindArea: boolean
  /** 0x0200, 0x0704 or 0x0201 */
  sourceMsgId: number
}

/** A position as published to the matcher after commit: the record plus who it belongs to. */
export interface CommittedPosition extends PositionRecord {
  phone: string
  plate: string
  plateColor: PlateColor
  enterpriseLicenseNo: string | null
  /** alarm bits this real-time report changed (recorded by a consumer once it committed; not a column) */
  alarmTransition?: AlarmTransition | null
}

export interface AlarmTransition {
  vehicleId: number
  deviceTime: number
  /** bits that turned on / off relative to the previous report */
  raised: number
  cleared: number
  alarm: number
}

export interface DriverCardEvent {
  vehicleId: number
  phone: string
  /** 1 inserted, 2 removed (0x0702 status) */
  status: number
  time: number
  readResult: number | null
  driverName: string | null
  qualificationNo: string | null
  issuer: string | null
  validUntil: string | null
  idNumber: string | null
}

export interface SessionEvent {
  phone: string
  vehicleId: number | null
  nodeId: string
  address: string
  kind: 'online' | 'offline'
  at: number
  reason?: string
}

export interface MediaRecord {
  phone: string
  vehicleId: number | null
  mediaId: number
  type: number
  format: number
  event: number
  channel: number
  /** the 0x0200 block carried with the media, as JSON */
  location: Record<string, unknown> | null
  data: Buffer
  receivedAt: number
}

export interface RawFrame {
  phone: string
  receivedAt: number
  /** "127.0.0.1:50123" */
  connection: string
  /** escaped frame with delimiters, as received */
  frame: Buffer
}

/** A downlink command waiting for an offline terminal. */
export interface QueuedCommand {
  id: string
  phone: string
  msgId: number
  /** the OutgoingMessage body, JSON */
  body: unknown
  createdAt: number
  expiresAt: number
}

/**
 * Every anomaly type, once: the API's enums and every per-type table (Record<AnomalyType, …>:
 * rule switches, severities, grading weights) derive from this list.
 */
export const ANOMALY_TYPES = [
  'RUNNING_WITHOUT_WAYBILL',
  'WAYBILL_WITHOUT_POSITION',
  'OVERSPEED',
  'FATIGUE_DRIVING',
  'NIGHT_FATIGUE_DRIVING',
  'DAILY_DRIVING_EXCEEDED',
  'DRIVER_NOT_ON_WAYBILL',
  'ROUTE_DEVIATION',
  'POSITION_DRIFT',
  'TERMINAL_ALARM',
  'NIGHT_DRIVING_RESTRICTED',
] as const
export type AnomalyType = (typeof ANOMALY_TYPES)[number]

export const SEVERITIES = ['info', 'warning', 'critical'] as const
export type Severity = (typeof SEVERITIES)[number]

export const ANOMALY_STATUSES = ['open', 'closed'] as const
export type AnomalyStatus = (typeof ANOMALY_STATUSES)[number]

/** An anomaly as stored and as served by GET /api/v1/anomalies (times as ISO 8601 strings there). */
export interface Anomaly {
  /** stable id */
  id: string
  type: AnomalyType
  status: AnomalyStatus
  severity: Severity
  vehicleId: number
  plate: string
  plateColor: PlateColor
  waybillNo: string | null
  enterpriseLicenseNo: string | null
  startedAt: number
  endedAt: number | null
  lastSeenAt: number
  evidence: Record<string, unknown>
  /** set when late (blind-area) data shortened or closed it */
  resolvedByLateData?: boolean
}

export type AnomalyEventKind = 'anomaly.opened' | 'anomaly.updated' | 'anomaly.closed'

/** One entry of the live feed. Appended to the state stream ANOMALY_EVENTS_STREAM after the anomaly is stored. */
export interface AnomalyEvent {
  event: AnomalyEventKind
  anomaly: Anomaly
  /** when the matcher emitted it (ms) */
  at: number
}

/** GeoJSON geometries a geofence may have: an area, or a road line widened by bufferMeters. */
export type GeofenceGeometry = { type: 'Polygon'; coordinates: number[][][] } | { type: 'LineString'; coordinates: number[][] }

export type GeofenceKind = 'bridge' | 'tunnel' | 'key-segment' | 'speed-zone'

/** A key road segment or speed-limit zone, as stored (migrations/003_api.ts) and served by /geofences. */
export interface Geofence {
  id: number
  name: string
  kind: GeofenceKind
  /** 'highway' (80 km/h for hazmat) or 'other' (60 km/h); null: not a road-class marking */
  roadClass: 'highway' | 'other' | null
  /** km/h; a per-geofence limit that wins over the road class */
  speedLimit: number | null
  geometry: GeofenceGeometry
  /** half-width of a LineString corridor; null for polygons */
  bufferMeters: number | null
  /** [minLon, minLat, maxLon, maxLat], buffer included: the cheap pre-filter */
  bbox: [number, number, number, number]
  createdAt: number
}

export type NewGeofence = Omit<Geofence, 'id' | 'createdAt'>

export const ANOMALY_EVENTS_STREAM = 'jt808:anomaly-events'
export const COMMITTED_POSITIONS_STREAM = 'jt808:positions'
