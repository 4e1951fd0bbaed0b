/**
 * The storage port. One implementation (SqlStore in src/store/store.ts) over the Sql seam, with
 * two drivers: a PostgreSQL/TimescaleDB server, or embedded PGlite. No module outside src/store
 * writes SQL. The port is split by concern; Store is their union.
 */
import type { ApiStore } from './auth.js'
import type { AdminStore } from './admin.js'
import type { AnomalyStore } from './anomalies.js'
import type { AttachmentStore } from './attachments.js'
import type { WaybillStore } from './waybills.js'
import type {
  AlarmTransition,
  DriverCardEvent,
  MediaRecord,
  NewVehicle,
  PositionRecord,
  QueuedCommand,
  RawFrame,
  SessionEvent,
  Terminal,
  Vehicle,
} from '../domain.js'

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
  /** The terminal and the vehicle it is bound to (null when unbound or gone), in one query: authentication. */
  getTerminalWithVehicle(phone: string): Promise<{ terminal: Terminal; vehicle: Vehicle | null } | null>
  /** Inserts or replaces the terminal row (registration, auth code hash, IMEI/firmware after 2019 auth). */
  saveTerminal(terminal: Terminal): Promise<void>
}

export interface EventStore {
  insertAlarmTransitions(rows: AlarmTransition[]): Promise<void>
  insertDriverCardEvent(row: DriverCardEvent): Promise<void>
  /** Online/offline events, in one statement. */
  recordSessionEvents(rows: SessionEvent[]): Promise<void>
  insertMedia(row: MediaRecord): Promise<void>
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

export type { AnomalyStore } from './anomalies.js'
export type { WaybillStore } from './waybills.js'
export type { AttachmentStore } from './attachments.js'

export type { AdminStore } from './admin.js'

export interface Store extends MaintenanceStore, PositionStore, RegistryStore, EventStore, CommandStore, ApiStore, WaybillStore, AnomalyStore, AdminStore, AttachmentStore {}
