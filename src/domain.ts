/**
 * Records shared by the gateway, ingest, store, state, matcher and API. Times are UTC epoch
 * milliseconds; Beijing-time concepts (calendar day, night) are computed where they are used.
 */

/** JT/T 808 / JT/T 415 plate colours. Hazmat trucks are yellow (2). */
export type PlateColor = number

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

/**
 * The one form in which plates are compared: Unicode NFKC (full-width Ａ１ → A1, the ideographic
 * space → a space), every whitespace and the middle-dot separator (浙A·12345) removed, upper case.
 * "浙b 82002", "浙Ｂ８２００２" and "浙B82002" are the same plate. Stored beside the display form
 * (vehicles.plate_key, waybills.plate) and used by every comparison: registry, scope, waybills, matcher.
 */
export function canonicalPlate(plate: string): string {
  return plate.normalize('NFKC').replace(/[\s\u00b7\u2022\u30fb\u2027]+/gu, '').toUpperCase()
}

export const samePlate = (a: string, b: string): boolean => canonicalPlate(a) === canonicalPlate(b)

export type NewVehicle = Omit<Vehicle, 'id' | 'terminalPhone' | 'terminalId' | 'enterpriseLicenseNo' | 'enterpriseName' | 'transportCertNo' | 'transportCertValidUntil' | 'businessScope' | 'retiredAt'> &
  Partial<Omit<Vehicle, 'id' | 'plate' | 'plateColor' | 'retiredAt'>>

/** A terminal as the registry knows it (0x0100 registration binds it to a vehicle). */
export interface Terminal {
  phone: string
  terminalId: string | null
  vehicleId: number | null
  /** scrypt hash of the auth code; the code itself is never stored or logged. */
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

export type AnomalyType =
  | 'RUNNING_WITHOUT_WAYBILL'
  | 'WAYBILL_WITHOUT_POSITION'
  | 'OVERSPEED'
  | 'FATIGUE_DRIVING'
  | 'NIGHT_FATIGUE_DRIVING'
  | 'DAILY_DRIVING_EXCEEDED'
  | 'DRIVER_NOT_ON_WAYBILL'
  | 'ROUTE_DEVIATION'
  | 'POSITION_DRIFT'
  | 'TERMINAL_ALARM'
  | 'NIGHT_DRIVING_RESTRICTED'

export type Severity = 'info' | 'warning' | 'critical'

/** An anomaly as stored and as served by GET /api/v1/anomalies (times as ISO 8601 strings there). */
export interface Anomaly {
  /** stable id */
  id: string
  type: AnomalyType
  status: 'open' | 'closed'
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

export const ANOMALY_EVENTS_STREAM = 'jt808:anomaly-events'
export const COMMITTED_POSITIONS_STREAM = 'jt808:positions'
