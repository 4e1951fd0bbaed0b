/**
 * The storage port. One implementation over the Sql seam, composed by openStore (src/store/index.ts)
 * from one query module per area, with two drivers: a PostgreSQL/TimescaleDB server, or embedded
 * PGlite. No module outside src/store writes SQL. The port is split by concern; Store is their
 * union. Other layers import the store's types from here, never from a query module.
 */
import type { AdminStore } from './admin.js'
import type { AttachmentStore } from './attachments.js'
import type { MatcherStateStore } from './matcher-state.js'
import type { Page } from './paging.js'
import type { PlatformInfoStore } from './platform-info.js'
import type { PlatformStore } from './platforms.js'
import type {
  AlarmTransition,
  Anomaly,
  AnomalyStatus,
  AnomalyType,
  DriverCardEvent,
  Geofence,
  MediaRecord,
  NewGeofence,
  NewVehicle,
  PositionRecord,
  QueuedCommand,
  RawFrame,
  SessionEvent,
  Severity,
  Terminal,
  Vehicle,
  Waybill,
  WaybillInput,
  WaybillStatus,
  WaybillStatusChange,
} from '../domain.js'

export interface TerminalWithVehicle {
  terminal: Terminal
  vehicle: Vehicle | null
}

export interface MigrationReport {
  applied: string[]
  alreadyApplied: string[]
  timescale: boolean
}

export interface MaintenanceStore {
  /** Runs pending migrations (idempotent); records them in schema_migrations. */
  migrate(): Promise<MigrationReport>
  /** True when TimescaleDB is present (hypertables); false: native daily partitions. */
  readonly timescale: boolean
  /** Plain PostgreSQL: creates daily partitions covering [now - 1 day, now + daysAhead]. No-op on TimescaleDB. */
  ensurePartitions(now: number, daysAhead?: number): Promise<string[]>
  /** Drops data older than the configured retention (partitions, or Timescale policies). Returns what was dropped. */
  applyRetention(now: number): Promise<string[]>
  /** TimescaleDB: recomputes positions_hourly where it is stale below its refresh policy's window (src/store/hourly.ts). No-op otherwise. */
  refreshHourlyBacklog(now: number): Promise<void>
  ping(): Promise<void>
  close(): Promise<void>
}

export interface InsertPositionsResult {
  /** rows newly stored */
  inserted: number
  /** rows already present (same vehicle and device time): a retransmission, still acknowledged */
  duplicates: number
  /** Indexes into the batch of the duplicate rows (empty when duplicates = 0). */
  duplicateIndexes: number[]
}

/** One hour of one vehicle (TimescaleDB continuous aggregate, or a view on plain PostgreSQL). */
export interface HourlyVehicleStats {
  vehicleId: number
  /** start of the hour, UTC ms */
  bucket: number
  points: number
  /** odometer difference within the hour (item 0x01), null when no point carried mileage */
  distanceKm: number | null
  maxSpeed: number
}

export interface PositionStore {
  /** Stores a batch in one transaction, deduplicating on (vehicle, device time). Throws on database errors. */
  insertPositions(batch: PositionRecord[]): Promise<InsertPositionsResult>
  /** Ordered by device time; `everySeconds` keeps at most one point per bucket (downsampling). */
  track(vehicleId: number, from: number, to: number, options?: { everySeconds?: number; limit?: number }): Promise<PositionRecord[]>
  countPositions(vehicleId?: number): Promise<number>
  /** Hourly per-vehicle figures with bucket in [from, to). */
  hourlyStats(vehicleId: number, from: number, to: number): Promise<HourlyVehicleStats[]>
}

export interface RegistryStore {
  /** Inserts or updates by (canonical plate, plateColor); returns the registry ids in input order. */
  upsertVehicles(vehicles: NewVehicle[]): Promise<number[]>
  getVehicle(id: number): Promise<Vehicle | null>
  /** By canonical plate (any spelling of it); without a colour, the first registered of that plate. */
  findVehicle(plate: string, plateColor?: number): Promise<Vehicle | null>
  /** Every vehicle of this canonical plate, whatever its colour (a waybill's trailer names no colour). */
  findVehiclesByPlate(plate: string): Promise<Vehicle[]>
  findVehicleByTerminal(phone: string): Promise<Vehicle | null>
  /** Active vehicles (retired ones are left out; see AdminStore.retiredVehicleIds). */
  listVehicles(filter?: { enterpriseLicenseNo?: string }): Promise<Vehicle[]>
  getTerminal(phone: string): Promise<Terminal | null>
  /**
   * Each terminal known by these phones (canonical) and the vehicle it is bound to (null when
   * unbound or gone), in one query: the authentications waiting at once are looked up together.
   */
  getTerminalsWithVehicles(phones: readonly string[]): Promise<Map<string, TerminalWithVehicle>>
  /** Inserts or replaces the terminal row (registration, auth code hash, IMEI/firmware after 2019 auth). */
  saveTerminal(terminal: Terminal): Promise<void>
}

export interface EventStore {
  insertAlarmTransitions(rows: AlarmTransition[]): Promise<void>
  insertDriverCardEvent(row: DriverCardEvent): Promise<void>
  /** Online/offline events, in one statement. */
  recordSessionEvents(rows: SessionEvent[]): Promise<void>
  insertMedia(row: MediaRecord): Promise<void>
  /**
   * The first image (type 0) a terminal uploaded at or after `since`, among `mediaIds` when given
   * (a photo it was asked for: 0x8801 answered by 0x0805); null when none has arrived.
   */
  findMedia(phones: string[], since: number, mediaIds: number[] | null): Promise<MediaRecord | null>
  /** Raw-frame archive (switchable by config). */
  archiveFrames(rows: RawFrame[]): Promise<void>
  exportFrames(phone: string, from: number, to: number): AsyncIterable<RawFrame>
}

export interface CommandStore {
  enqueueCommand(cmd: QueuedCommand): Promise<void>
  /** Removes and returns the unexpired commands for a terminal, oldest first; expired ones are deleted. */
  takePendingCommands(phone: string, now: number): Promise<QueuedCommand[]>
  /** The same for many terminals in one statement, by phone (terminals with none are absent). */
  takePendingCommandsOf(phones: string[], now: number): Promise<Map<string, QueuedCommand[]>>
}

/** A role of the REST API's bearer tokens: what a caller may see and do (src/api/access.ts). */
export type Role = (typeof ROLES)[number]
export const ROLES = ['supervisor', 'enterprise', 'inspector'] as const

export interface ApiToken {
  id: string
  role: Role
  /** set for (and only for) the enterprise role: the carrier licence number it is confined to */
  enterpriseLicenseNo: string | null
  label: string | null
  createdAt: number
  revokedAt: number | null
}

export interface NewApiToken {
  id: string
  /** sha256 hex of the secret; the secret itself is never stored */
  tokenHash: string
  role: Role
  enterpriseLicenseNo: string | null
  label: string | null
  createdAt: number
}

export interface TokenStore {
  createToken(token: NewApiToken): Promise<void>
  /** Makes an unrevoked token with exactly this hash exist (the bootstrap token); an existing row keeps its role and id. */
  ensureToken(token: NewApiToken): Promise<ApiToken>
  /** Unrevoked token by hash, or null. */
  findToken(tokenHash: string): Promise<ApiToken | null>
  listTokens(): Promise<ApiToken[]>
  revokeToken(id: string, at: number): Promise<boolean>
}

export interface AuditEntry {
  at: number
  tokenId: string | null
  role: Role | null
  enterpriseLicenseNo: string | null
  method: string
  /** the route pattern, e.g. "/api/v1/waybills/:waybillNo" */
  route: string
  /** what was acted on: a plate, waybill no., anomaly id… */
  target: string | null
  status: number
  requestId: string | null
  details: Record<string, unknown>
}

export interface AuditFilter {
  tokenId?: string
  /** the route pattern, exactly ("/api/v1/tokens") */
  route?: string
  method?: string
  target?: string
  enterpriseLicenseNo?: string
  from?: number
  /** exclusive */
  to?: number
  /** entries with a smaller id only (paging: the last id of the previous page) */
  beforeId?: string
  limit?: number
}

export interface AuditStore {
  appendAudit(entry: AuditEntry): Promise<void>
  /** Newest first. */
  listAudit(filter?: AuditFilter): Promise<(AuditEntry & { id: string })[]>
}

export type HandlingAction = 'notify' | 'rectify' | 'confirm' | 'dismiss'

export interface HandlingEntry {
  id: string
  anomalyId: string
  action: HandlingAction
  note: string | null
  tokenId: string | null
  role: Role | null
  enterpriseLicenseNo: string | null
  at: number
}

export type NewHandlingEntry = Omit<HandlingEntry, 'id'>

export type ApplyHandlingResult = { ok: true; entry: HandlingEntry } | { ok: false; current: HandlingAction | null }

/** The handling history of anomalies: notify → rectify → confirm | dismiss. */
export interface HandlingStore {
  /**
   * Appends a handling step if `canApply(current)` accepts the anomaly's current handling state;
   * the check and the append are atomic, so two concurrent steps cannot both pass.
   */
  applyHandling(entry: NewHandlingEntry, canApply: (current: HandlingAction | null) => boolean): Promise<ApplyHandlingResult>
  /** Oldest first. */
  listHandling(anomalyId: string): Promise<HandlingEntry[]>
  /** The last action per anomaly id (ids without history are absent). */
  handlingStates(anomalyIds: string[]): Promise<Map<string, HandlingAction>>
}

export interface BoxFix {
  vehicleId: number
  deviceTime: number
  longitude: number
  latitude: number
}

/** Key road segments and speed-limit zones. */
export interface GeofenceStore {
  createGeofence(geofence: NewGeofence, at: number): Promise<Geofence>
  listGeofences(): Promise<Geofence[]>
  getGeofence(id: number): Promise<Geofence | null>
  /** Replaces every field but id and createdAt; null when unknown. */
  updateGeofence(id: number, geofence: NewGeofence): Promise<Geofence | null>
  deleteGeofence(id: number): Promise<boolean>
  /**
   * Valid-looking fixes inside a bounding box in [from, to], by vehicle then device time (the
   * corridor statistics' pre-filter; the exact geofence test is done by the caller).
   */
  positionsInBox(bbox: [number, number, number, number], from: number, to: number, limit: number): Promise<BoxFix[]>
}

/** Small platform settings, such as the SM2 key pair that signs waybill QR codes. */
export interface SettingStore {
  getSetting<T>(key: string): Promise<T | null>
  /** Stores value under key unless one is there already; returns whichever is stored (first writer wins). */
  putSettingIfAbsent<T>(key: string, value: T): Promise<T>
}

/** What the REST API keeps for itself (tables from migrations/003_api.ts). */
export interface ApiStore extends TokenStore, AuditStore, HandlingStore, GeofenceStore, SettingStore {}

export interface WaybillFilter {
  plate?: string
  plateColor?: number
  status?: WaybillStatus | WaybillStatus[]
  /** the carrier (enterprise scope) */
  carrierLicenseNo?: string
  /** activity window [loading 00:00, arrival 24:00] overlapping [from, to] (ms) */
  from?: number
  to?: number
  cursor?: string | null
  /** default 100, at most 1000 */
  limit?: number
}

export type WaybillPage = Page<Waybill>

export interface WaybillChange {
  waybill: Waybill
  /** database clock of the write (ms), for change polling */
  changedAt: number
}

export interface TerminalWaybillReport {
  phone: string
  vehicleId: number | null
  receivedAt: number
  /** the 0x0701 body as decoded */
  body: unknown
}

export interface WaybillStore {
  /** Inserts a new waybill with its history; false (nothing written) when the number exists. */
  insertWaybill(w: Waybill): Promise<boolean>
  /**
   * Bulk import, all or nothing: new numbers are created ("created", or `status` walked through
   * the lifecycle), existing ones get their fields replaced and keep their status and history.
   */
  upsertWaybills(inputs: WaybillInput[], opts?: { at?: number; by?: string; status?: WaybillStatus }): Promise<{ inserted: number; updated: number }>
  getWaybill(waybillNo: string): Promise<Waybill | null>
  /** Newest first (stable order); nextCursor null on the last page. */
  listWaybills(filter?: WaybillFilter): Promise<WaybillPage>
  /**
   * Moves the status if it is still `from` (compare-and-set) and records the change. Returns the
   * updated waybill, or null when it does not exist or its status changed meanwhile. Whether
   * from → to is allowed is the caller's business (transitionWaybill).
   */
  updateWaybillStatus(waybillNo: string, from: WaybillStatus, change: WaybillStatusChange): Promise<Waybill | null>
  /** Waybills written since `sinceMs` (database clock), oldest change first: how the matcher hears of changes from any process. */
  waybillChangesSince(sinceMs: number, limit?: number): Promise<WaybillChange[]>
  /** Waybills whose window reaches past `at` that are or were dispatched: the matcher's start-up load. */
  waybillsInEffect(at: number): Promise<Waybill[]>
  /** The waybill (as plate or trailer) active for the vehicle at `at`: dispatched or in transit, window ± grace. */
  activeWaybillFor(plate: string, plateColor: number, at: number, graceMs?: number): Promise<Waybill | null>
  /** The vehicle's latest trip: its newest waybill in transit or completed whose window started before `before`. */
  lastWaybillFor(plate: string, plateColor: number, before: number): Promise<Waybill | null>
  insertWaybillReport(r: TerminalWaybillReport): Promise<void>
  listWaybillReports(vehicleId: number, from: number, to: number): Promise<TerminalWaybillReport[]>
  /** Retention: deletes waybills whose window ended and that were last changed before cutoff, and older reports. */
  deleteWaybillsBefore(cutoff: number): Promise<number>
}

export interface AnomalyFilter {
  type?: AnomalyType | AnomalyType[]
  status?: AnomalyStatus
  severity?: Severity | Severity[]
  plate?: string
  plateColor?: number
  vehicleId?: number
  enterpriseLicenseNo?: string
  waybillNo?: string
  /** anomalies whose [startedAt, endedAt or still open] overlaps [from, to] (ms) */
  from?: number
  to?: number
  cursor?: string | null
  /** default 100, at most 1000 */
  limit?: number
}

export type AnomalyPage = Page<Anomaly>

/** Anomalies per vehicle, waybill and type in a period (grading). Refuted ones are left out. */
export interface AnomalyCount {
  vehicleId: number
  plate: string
  plateColor: number
  enterpriseLicenseNo: string | null
  waybillNo: string | null
  type: AnomalyType
  severity: Severity
  count: number
}

export interface AnomalyStore {
  /** Inserts or updates each anomaly by id (one statement; ids must be distinct within a call). */
  upsertAnomalies(rows: Anomaly[]): Promise<void>
  getAnomaly(id: string): Promise<Anomaly | null>
  listAnomalies(filter?: AnomalyFilter): Promise<AnomalyPage>
  /**
   * Open anomalies, optionally of some vehicles only (the matcher restores them at start), or of
   * the vehicles of one partition (vehicle id mod parts; partition 0 also takes vehicle ids <= 0).
   */
  openAnomalies(vehicleIds?: number[], partition?: { part: number; parts: number }): Promise<Anomaly[]>
  anomalyCounts(filter: { from: number; to: number; enterpriseLicenseNo?: string; vehicleIds?: number[] }): Promise<AnomalyCount[]>
  /** Retention: deletes closed anomalies that ended before cutoff. */
  deleteAnomaliesBefore(cutoff: number): Promise<number>
}

export type { AttachmentStore } from './attachments.js'
export type { MatcherCheckpoint, MatcherStateStore } from './matcher-state.js'

export type { AdminStore } from './admin.js'

export type { PlatformStore } from './platforms.js'

export interface Store
  extends MaintenanceStore,
    PositionStore,
    RegistryStore,
    EventStore,
    CommandStore,
    ApiStore,
    WaybillStore,
    AnomalyStore,
    AdminStore,
    AttachmentStore,
    MatcherStateStore,
    PlatformStore,
    PlatformInfoStore {}
