/**
 * Active-safety alarms (0x0200 items 0x64 ADAS, 0x65 DSM, 0x66 TPMS, 0x67 BSD), taken from
 * positions once they are committed:
 *   - each alarm becomes a TERMINAL_ALARM anomaly of its own (evidence.source "active-safety",
 *     kind, type, level; severity from the level), stored then announced on the feed like the
 *     matcher's — src/matcher/README.md documents the choice;
 *   - an alarm whose id announces attachments is remembered with a new 32-character alarm
 *     number and the terminal is sent 0x9208 (our attachment server's address, the alarm id, the
 *     number; queued for a terminal that went offline meanwhile); the files it then uploads are listed in the anomaly's evidence as they arrive.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { ActiveSafetyItem, AdasAlarm, AttachmentVariant, BsdAlarm, DsmAlarm, TpmsAlarm } from '../../protocol/index.js'
import { bcdTimeDigits } from '../../protocol/index.js'
import { ANOMALY_EVENTS_STREAM, type Anomaly, type AnomalyEvent, type CommittedPosition, type Severity } from '../domain.js'
import type { CommandOutcome, DownlinkMessage, SendCommandOptions } from '../gateway/types.js'
import type { State } from '../state/port.js'
import type { ActiveSafetyKind, AttachmentAlarm } from '../store/attachments.js'
import type { Store } from '../store/port.js'
import type { AttachmentMetrics } from './metrics.js'

export const KIND_OF_ITEM: Readonly<Record<ActiveSafetyKind, number>> = { adas: 0x64, dsm: 0x65, tpms: 0x66, bsd: 0x67 }
const KINDS = Object.keys(KIND_OF_ITEM) as ActiveSafetyKind[]

/** Alarm type names (T/JSATL12-2017 tables 4-15, 4-17, 4-20). */
const TYPE_NAMES: Readonly<Record<ActiveSafetyKind, Readonly<Record<number, string>>>> = {
  adas: {
    1: 'forward-collision',
    2: 'lane-departure',
    3: 'headway-too-close',
    4: 'pedestrian-collision',
    5: 'frequent-lane-change',
    6: 'road-sign-overlimit',
    7: 'obstacle',
    0x10: 'road-sign-recognised',
    0x11: 'active-snapshot',
  },
  dsm: { 1: 'fatigue', 2: 'phone-call', 3: 'smoking', 4: 'distraction', 5: 'driver-abnormal', 0x10: 'auto-snapshot', 0x11: 'driver-change' },
  bsd: { 1: 'rear-approach', 2: 'left-rear-approach', 3: 'right-rear-approach' },
  tpms: {},
}

export interface Commander {
  sendCommand(phone: string, message: DownlinkMessage, options?: SendCommandOptions): Promise<CommandOutcome>
}

export interface ActiveSafetyDeps {
  store: Pick<Store, 'insertAttachmentAlarm' | 'getAnomaly' | 'upsertAnomalies' | 'listAttachmentFiles' | 'attachmentAlarmsOfAnomaly'>
  state: Pick<State, 'append'>
  /** null: no gateway here (the attachment server alone): nothing is instructed */
  commander: Commander | null
  metrics: AttachmentMetrics
  logger: Logger
  /** where terminals reach the attachment server (asked at each 0x9208: the port may be chosen at listen) */
  server(): { host: string; tcpPort: number; udpPort?: number }
  variantOf(phone: string): AttachmentVariant
  now?: () => number
  /** alarms waiting to be handled; beyond it new ones are dropped and counted (default 10,000) */
  maxQueued?: number
}

interface Found {
  row: CommittedPosition
  kind: ActiveSafetyKind
  item: ActiveSafetyItem
}

export class ActiveSafetyAlarms {
  private queued = 0
  private chain: Promise<void> = Promise.resolve()
  private readonly now: () => number

  constructor(private readonly d: ActiveSafetyDeps) {
    this.now = d.now ?? Date.now
  }

  /** The ingest queue's 'committed' rows: finds active-safety items and handles them in order. */
  onCommitted(rows: readonly CommittedPosition[]): void {
    if (!this.d.commander) return
    const found: Found[] = []
    for (const row of rows) {
      if (row.blindArea) continue // history: its alarms are over, the terminal no longer holds their files
      for (const kind of KINDS) {
        const item = row.extras[kind] as ActiveSafetyItem | undefined
        if (item && typeof item === 'object' && item.alarmFlag) found.push({ row, kind, item })
      }
    }
    if (!found.length) return
    const max = this.d.maxQueued ?? 10_000
    if (this.queued + found.length > max) {
      this.d.metrics.instructionOutcomes.inc({ status: 'dropped' }, found.length)
      return
    }
    this.queued += found.length
    this.chain = this.chain.then(async () => {
      for (const f of found) {
        try {
          await this.handle(f)
        } catch (err) {
          this.d.logger.error({ err, phone: f.row.phone, kind: f.kind }, 'active-safety alarm not handled')
        } finally {
          this.queued--
        }
      }
    })
  }

  /** Resolves when everything handed over so far is handled (tests, shutdown). */
  idle(): Promise<void> {
    return this.chain
  }

  private async handle({ row, kind, item }: Found): Promise<void> {
    if (item.flagStatus === 2) return // the end of an alarm already reported at its start
    const flag = item.alarmFlag
    const anomalyId = `AS-${row.phone}-${bcdTimeDigits(flag.time)}-${flag.serial}-${kind}`
    const at = Number.isFinite(Date.parse(item.time)) ? Date.parse(item.time) : row.deviceTime
    const anomaly: Anomaly = {
      id: anomalyId,
      type: 'TERMINAL_ALARM',
      status: 'closed',
      severity: severityOf(kind, item),
      vehicleId: row.vehicleId,
      plate: row.plate,
      plateColor: row.plateColor,
      waybillNo: null,
      enterpriseLicenseNo: row.enterpriseLicenseNo,
      startedAt: at,
      endedAt: at,
      lastSeenAt: at,
      evidence: evidenceOf(kind, item, row),
    }
    if (flag.attachmentCount > 0) {
      const alarm: AttachmentAlarm = {
        alarmNumber: randomUUID().replace(/-/g, ''),
        alarmKey: anomalyId,
        phone: row.phone,
        vehicleId: row.vehicleId,
        plate: row.plate,
        plateColor: row.plateColor,
        enterpriseLicenseNo: row.enterpriseLicenseNo,
        // the layout the terminal itself used for the alarm id, else the configured one
        variant: item.alarmIdVariant ?? this.d.variantOf(row.phone),
        kind,
        alarmType: 'alarmType' in item ? item.alarmType : null,
        alarmLevel: 'alarmLevel' in item ? item.alarmLevel : null,
        alarmId: flag,
        deviceTime: at,
        expectedFiles: flag.attachmentCount,
        anomalyId,
        state: 'instructed',
        createdAt: this.now(),
        updatedAt: this.now(),
      }
      const stored = await this.d.store.insertAttachmentAlarm(alarm)
      if (stored.alarmNumber !== alarm.alarmNumber) return // a retransmitted report: instructed already
      anomaly.evidence.attachments = []
      await this.publish(anomaly, 'anomaly.opened')
      this.instruct(stored)
      return
    }
    if (await this.d.store.getAnomaly(anomalyId)) return
    await this.publish(anomaly, 'anomaly.opened')
  }

  /**
   * 0x9208 to the terminal; its answer is awaited in the background (counted). A terminal that
   * is offline (it reported, then lost its link before the alarm was handled) gets it from the
   * queued-command path after its next authentication, within the offline-command TTL
   * (offlineCommandTtlSeconds), like any other command: the terminal still holds the files.
   */
  private instruct(alarm: AttachmentAlarm): void {
    this.d.metrics.alarmsInstructed.inc()
    const server = this.d.server()
    const body = {
      variant: alarm.variant,
      serverHost: server.host,
      tcpPort: server.tcpPort,
      udpPort: server.udpPort ?? 0,
      alarmFlag: alarm.alarmId,
      alarmNumber: alarm.alarmNumber,
    }
    this.d.commander?.sendCommand(alarm.phone, { msgId: 0x9208, body }, { queueIfOffline: true }).then(
      (o: CommandOutcome) => this.d.metrics.instructionOutcomes.inc({ status: o.status }),
      (err: unknown) => {
        this.d.metrics.instructionOutcomes.inc({ status: 'error' })
        this.d.logger.warn({ err, phone: alarm.phone }, '0x9208 not sent')
      },
    )
  }

  /**
   * A file of the alarm was stored: its anomaly's evidence lists the alarm's stored files. In
   * the same order as the rest, so two files finishing together cannot overwrite each other's
   * listing, and idle() (shutdown) waits for it.
   */
  fileStored(alarm: AttachmentAlarm): Promise<void> {
    const done = this.chain.then(() => this.listFiles(alarm))
    this.chain = done.catch((err: unknown) => this.d.logger.error({ err, alarm: alarm.alarmNumber }, 'anomaly evidence not updated'))
    return done
  }

  private async listFiles(alarm: AttachmentAlarm): Promise<void> {
    const a = await this.d.store.getAnomaly(alarm.anomalyId)
    if (!a) return
    const files = await this.d.store.listAttachmentFiles([alarm.alarmNumber])
    a.evidence = {
      ...a.evidence,
      attachments: files
        .filter((f) => f.state === 'complete')
        .map((f) => ({ id: String(f.id), name: f.name, fileType: f.fileType, contentType: f.contentType, size: f.size, sha256: f.sha256, href: `/api/v1/attachments/${f.id}` })),
    }
    await this.publish(a, 'anomaly.updated')
  }

  private async publish(a: Anomaly, event: AnomalyEvent['event']): Promise<void> {
    await this.d.store.upsertAnomalies([a])
    await this.d.state.append<AnomalyEvent>(ANOMALY_EVENTS_STREAM, { event, anomaly: a, at: this.now() })
  }
}

function severityOf(kind: ActiveSafetyKind, item: ActiveSafetyItem): Severity {
  if (kind === 'tpms' || kind === 'bsd') return 'warning'
  const typed = item as AdasAlarm | DsmAlarm
  if (typed.alarmType >= 0x10) return 'info' // snapshots and driver changes: events, not alarms
  return typed.alarmLevel >= 2 ? 'critical' : 'warning'
}

function evidenceOf(kind: ActiveSafetyKind, item: ActiveSafetyItem, row: CommittedPosition): Record<string, unknown> {
  const e: Record<string, unknown> = {
    source: 'active-safety',
    kind,
    alarmId: { terminalId: item.alarmFlag.terminalId, time: item.alarmFlag.time, serial: item.alarmFlag.serial, attachmentCount: item.alarmFlag.attachmentCount },
    speed: item.speed,
    latitude: item.latitude,
    longitude: item.longitude,
    time: item.time,
    phone: row.phone,
  }
  if (kind === 'tpms') e.events = (item as TpmsAlarm).events
  else {
    const typed = item as AdasAlarm | DsmAlarm | BsdAlarm
    e.alarmType = typed.alarmType
    e.name = TYPE_NAMES[kind][typed.alarmType] ?? `type-0x${typed.alarmType.toString(16)}`
    if ('alarmLevel' in typed) e.level = typed.alarmLevel
    if (kind === 'dsm') {
      const d = item as DsmAlarm
      e.fatigueLevel = d.fatigueLevel
      // evidence the fatigue rules can weigh: the terminal saw the driver tired
      if (d.alarmType === 1) e.fatigue = true
    }
  }
  return e
}
