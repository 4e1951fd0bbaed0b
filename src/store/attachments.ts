/**
 * AttachmentStore: the active-safety alarms the platform asked the terminal to upload evidence
 * for (0x9208), and the files it announced and sent. The file bytes are in the object store; a
 * row names them by object key.
 */
import type { AlarmFlag, AttachmentVariant } from '../../protocol/index.js'
import type { StoreContext } from './context.js'
import { iso, num, numOrNull, toMs, toMsOrNull } from './convert.js'

export type ActiveSafetyKind = 'adas' | 'dsm' | 'tpms' | 'bsd'
export type AttachmentAlarmState = 'instructed' | 'uploading' | 'complete' | 'failed'
export type AttachmentFileState = 'pending' | 'complete' | 'failed'

export interface AttachmentAlarm {
  /** the 32-character number the platform gave the alarm in 0x9208 */
  alarmNumber: string
  /** terminal id, alarm time, serial and kind: a retransmitted 0x0200 finds the alarm it already raised */
  alarmKey: string
  phone: string
  vehicleId: number
  plate: string
  plateColor: number
  enterpriseLicenseNo: string | null
  variant: AttachmentVariant
  kind: ActiveSafetyKind
  alarmType: number | null
  alarmLevel: number | null
  alarmId: AlarmFlag
  deviceTime: number
  expectedFiles: number
  anomalyId: string
  state: AttachmentAlarmState
  createdAt: number
  updatedAt: number
}

export interface AttachmentFile {
  id: number
  alarmNumber: string
  name: string
  /** 0 picture, 1 audio, 2 video, 3 text, 4 other (as the terminal announced it) */
  fileType: number
  size: number
  received: number
  state: AttachmentFileState
  /** 0x9212 answers with result 1 (segments to re-send) */
  rounds: number
  contentType: string | null
  sha256: string | null
  objectKey: string | null
  failure: string | null
  startedAt: number
  completedAt: number | null
}

export type NewAttachmentFile = Omit<AttachmentFile, 'id'>

export interface AttachmentStore {
  /** Inserts the alarm unless one with the same alarmKey exists; returns the stored one (compare alarmNumber to tell). */
  insertAttachmentAlarm(a: AttachmentAlarm): Promise<AttachmentAlarm>
  getAttachmentAlarm(alarmNumber: string): Promise<AttachmentAlarm | null>
  attachmentAlarmsOfAnomaly(anomalyId: string): Promise<AttachmentAlarm[]>
  setAttachmentAlarmState(alarmNumber: string, state: AttachmentAlarmState, at: number): Promise<void>
  /** Inserts or replaces the file row by (alarm number, name); returns its id. */
  saveAttachmentFile(f: NewAttachmentFile): Promise<number>
  listAttachmentFiles(alarmNumbers: string[]): Promise<AttachmentFile[]>
  getAttachmentFile(id: number): Promise<{ file: AttachmentFile; alarm: AttachmentAlarm } | null>
  /** Retention: alarms created before cutoff with their files' object keys (oldest first, at most `limit`). */
  attachmentAlarmsBefore(cutoff: number, limit: number): Promise<Array<{ alarmNumber: string; objectKeys: string[] }>>
  /** Deletes alarms and (cascading) their file rows. */
  deleteAttachmentAlarms(alarmNumbers: string[]): Promise<number>
}

interface AlarmRow {
  alarm_number: string
  alarm_key: string
  phone: string
  vehicle_id: number
  plate: string
  plate_color: number
  enterprise_license_no: string | null
  variant: AttachmentVariant
  kind: ActiveSafetyKind
  alarm_type: number | null
  alarm_level: number | null
  alarm_id: AlarmFlag | string
  device_time: Date
  expected_files: number
  anomaly_id: string
  state: AttachmentAlarmState
  created_at: Date
  updated_at: Date
}

interface FileRow {
  id: string | number
  alarm_number: string
  name: string
  file_type: number
  size: string | number
  received: string | number
  state: AttachmentFileState
  rounds: number
  content_type: string | null
  sha256: string | null
  object_key: string | null
  failure: string | null
  started_at: Date
  completed_at: Date | null
}

const ALARM_COLUMNS = `alarm_number, alarm_key, phone, vehicle_id, plate, plate_color, enterprise_license_no, variant, kind,
  alarm_type, alarm_level, alarm_id, device_time, expected_files, anomaly_id, state, created_at, updated_at`
const FILE_COLUMNS = `id, alarm_number, name, file_type, size, received, state, rounds, content_type, sha256, object_key, failure, started_at, completed_at`

function toAlarm(r: AlarmRow): AttachmentAlarm {
  return {
    alarmNumber: r.alarm_number,
    alarmKey: r.alarm_key,
    phone: r.phone,
    vehicleId: num(r.vehicle_id),
    plate: r.plate,
    plateColor: num(r.plate_color),
    enterpriseLicenseNo: r.enterprise_license_no,
    variant: r.variant,
    kind: r.kind,
    alarmType: numOrNull(r.alarm_type),
    alarmLevel: numOrNull(r.alarm_level),
    alarmId: typeof r.alarm_id === 'string' ? (JSON.parse(r.alarm_id) as AlarmFlag) : r.alarm_id,
    deviceTime: toMs(r.device_time),
    expectedFiles: num(r.expected_files),
    anomalyId: r.anomaly_id,
    state: r.state,
    createdAt: toMs(r.created_at),
    updatedAt: toMs(r.updated_at),
  }
}

function toFile(r: FileRow): AttachmentFile {
  return {
    id: num(r.id),
    alarmNumber: r.alarm_number,
    name: r.name,
    fileType: num(r.file_type),
    size: num(r.size),
    received: num(r.received),
    state: r.state,
    rounds: num(r.rounds),
    contentType: r.content_type,
    sha256: r.sha256,
    objectKey: r.object_key,
    failure: r.failure,
    startedAt: toMs(r.started_at),
    completedAt: toMsOrNull(r.completed_at),
  }
}

export function attachmentQueries(ctx: StoreContext): AttachmentStore {
  const { sql } = ctx
  const byNumber = async (alarmNumber: string) => {
    const { rows } = await sql.query<AlarmRow>(`SELECT ${ALARM_COLUMNS} FROM attachment_alarms WHERE alarm_number = $1`, [alarmNumber])
    return rows.length ? toAlarm(rows[0]) : null
  }
  return {
    async insertAttachmentAlarm(a) {
      const { rows } = await sql.query<AlarmRow>(
        `INSERT INTO attachment_alarms (${ALARM_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (alarm_key) DO NOTHING RETURNING ${ALARM_COLUMNS}`,
        [
          a.alarmNumber,
          a.alarmKey,
          a.phone,
          a.vehicleId,
          a.plate,
          a.plateColor,
          a.enterpriseLicenseNo,
          a.variant,
          a.kind,
          a.alarmType,
          a.alarmLevel,
          JSON.stringify(a.alarmId),
          iso(a.deviceTime),
          a.expectedFiles,
          a.anomalyId,
          a.state,
          iso(a.createdAt),
          iso(a.updatedAt),
        ],
      )
      if (rows.length) return toAlarm(rows[0])
      const existing = await sql.query<AlarmRow>(`SELECT ${ALARM_COLUMNS} FROM attachment_alarms WHERE alarm_key = $1`, [a.alarmKey])
      return toAlarm(existing.rows[0])
    },

    getAttachmentAlarm: byNumber,

    async attachmentAlarmsOfAnomaly(anomalyId) {
      const { rows } = await sql.query<AlarmRow>(`SELECT ${ALARM_COLUMNS} FROM attachment_alarms WHERE anomaly_id = $1 ORDER BY created_at, alarm_number`, [anomalyId])
      return rows.map(toAlarm)
    },

    async setAttachmentAlarmState(alarmNumber, state, at) {
      await sql.query(`UPDATE attachment_alarms SET state = $2, updated_at = $3 WHERE alarm_number = $1`, [alarmNumber, state, iso(at)])
    },

    async saveAttachmentFile(f) {
      const { rows } = await sql.query<{ id: string | number }>(
        `INSERT INTO attachment_files (alarm_number, name, file_type, size, received, state, rounds, content_type, sha256, object_key, failure, started_at, completed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (alarm_number, name) DO UPDATE SET file_type = EXCLUDED.file_type, size = EXCLUDED.size, received = EXCLUDED.received,
           state = EXCLUDED.state, rounds = EXCLUDED.rounds, content_type = EXCLUDED.content_type, sha256 = EXCLUDED.sha256,
           object_key = EXCLUDED.object_key, failure = EXCLUDED.failure, completed_at = EXCLUDED.completed_at
         RETURNING id`,
        [
          f.alarmNumber,
          f.name,
          f.fileType,
          f.size,
          f.received,
          f.state,
          f.rounds,
          f.contentType,
          f.sha256,
          f.objectKey,
          f.failure,
          iso(f.startedAt),
          f.completedAt === null ? null : iso(f.completedAt),
        ],
      )
      return num(rows[0].id)
    },

    async listAttachmentFiles(alarmNumbers) {
      if (alarmNumbers.length === 0) return []
      const { rows } = await sql.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM attachment_files WHERE alarm_number = ANY($1::text[]) ORDER BY id`, [alarmNumbers])
      return rows.map(toFile)
    },

    async getAttachmentFile(id) {
      if (!Number.isSafeInteger(id)) return null
      const { rows } = await sql.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM attachment_files WHERE id = $1`, [id])
      if (!rows.length) return null
      const file = toFile(rows[0])
      const alarm = await byNumber(file.alarmNumber)
      return alarm ? { file, alarm } : null
    },

    async attachmentAlarmsBefore(cutoff, limit) {
      const { rows } = await sql.query<{ alarm_number: string; keys: string[] | null }>(
        `SELECT a.alarm_number, array_remove(array_agg(f.object_key), NULL) AS keys
           FROM (SELECT alarm_number, created_at FROM attachment_alarms WHERE created_at < $1 ORDER BY created_at LIMIT $2) a
           LEFT JOIN attachment_files f ON f.alarm_number = a.alarm_number
          GROUP BY a.alarm_number, a.created_at ORDER BY a.created_at`,
        [iso(cutoff), limit],
      )
      return rows.map((r) => ({ alarmNumber: r.alarm_number, objectKeys: r.keys ?? [] }))
    },

    async deleteAttachmentAlarms(alarmNumbers) {
      if (alarmNumbers.length === 0) return 0
      const r = await sql.query(`DELETE FROM attachment_alarms WHERE alarm_number = ANY($1::text[])`, [alarmNumbers])
      return r.rowCount
    },
  }
}
