/**
 * JT/T 809 platforms as data (migrations/008_platforms.ts): lower platforms that log in to us and
 * superior platforms we forward to, and each superior's durable forwarding position over the
 * positions table (what went up last: received_at, then vehicle and device time to break ties).
 */
import { canonicalPlate, type CommittedPosition, type PlateColor } from '../domain.js'
import { iso, num, toMs } from './convert.js'
import { rowToPosition } from './positions.js'
import type { Sql } from './sql.js'

export type PlatformRole = 'lower' | 'superior'
export type PlatformEdition = 2011 | 2019

/** M1/IA1/IC1 of the link, and the ENCRYPT_KEY we put in headers we encrypt (both directions use the same constants). */
export interface PlatformEncryption {
  m1: number
  ia1: number
  ic1: number
  key: number
}

export interface PlatformVehicleRef {
  plate: string
  plateColor: PlateColor
}

export interface Platform {
  id: number
  role: PlatformRole
  name: string
  /** MSG_GNSSCENTERID: the lower platform's access code (role lower), ours toward the superior (role superior) */
  accessCode: number
  userId: number
  edition: PlatformEdition
  /** null: bodies are sent in clear (encrypted ones received are still decrypted when keys are set) */
  encryption: PlatformEncryption | null
  /** lower: source addresses allowed to log in (empty: any) */
  allowedAddresses: string[]
  /** lower: licences it may report for (empty: none); superior: enterprises whose vehicles are forwarded */
  enterpriseLicences: string[]
  /** superior: vehicles forwarded besides those of enterpriseLicences */
  vehicles: PlatformVehicleRef[]
  /** lower: a plate the registry does not know is enrolled ("reported by platform X") or refused and counted */
  unknownVehicles: 'enrol' | 'refuse'
  /** superior: where its main link listens */
  host: string | null
  port: number | null
  enabled: boolean
  createdAt: number
  updatedAt: number
}

/** What a new platform needs: a lower one the password's hash, a superior one the password itself. */
export type NewPlatform = Omit<Platform, 'id' | 'createdAt' | 'updatedAt'> & { passwordHash: string | null; password: string | null }
export type PlatformPatch = Partial<Omit<NewPlatform, 'role'>>

export interface ForwardCursor {
  receivedAt: number
  vehicleId: number
  deviceTime: number
}

/** A vehicle as a lower platform's positions need it. */
export interface PlatformVehicle {
  id: number
  plate: string
  plateColor: PlateColor
  enterpriseLicenseNo: string | null
  /** the lower platform that enrolled it (policy "enrol"), else null */
  reportedByPlatform: number | null
}

/** 查岗: a post query sent to a lower platform and what came back. */
export interface PostQuery {
  id: number
  platformId: number
  /** out: we asked a lower platform; in: a superior asked us (an operator answers through the API) */
  direction: 'out' | 'in'
  infoId: number
  /** MSG_SN of the 0x9300 (ours when out, the superior's when in: a 2019 answer names it) */
  msgSn: number
  objectType: number
  objectId: string
  question: string
  /** API token id of the supervisor who asked */
  askedBy: string | null
  sentAt: number
  deadlineAt: number
  answeredAt: number | null
  answer: string | null
  responder: string | null
  responderTel: string | null
}

export type NewPostQuery = Omit<PostQuery, 'id' | 'answeredAt' | 'answer' | 'responder' | 'responderTel'>

/** 督办: a supervision request about an anomaly and the lower platform's reply (0 handling, 1 done, 2 not handled, 3 other). */
export interface Supervision {
  id: number
  platformId: number
  anomalyId: string
  supervisionId: number
  sentAt: number
  repliedAt: number | null
  result: number | null
}

/** A waybill as a lower platform reported it. */
export interface PlatformWaybill {
  id: number
  platformId: number
  /** 0x120D (reported) or 0x120B (answer to our 0x920B) */
  dataType: number
  plate: string
  plateColor: PlateColor
  vehicleId: number | null
  receivedAt: number
  /** EWAYBILL_INFO as received */
  text: string
  /** what the text was read as: a JSON object, key:=value pairs, or neither (kept as text only) */
  format: 'json' | 'pairs' | 'text'
  /** the waybill it became (stored in waybills, used for matching), else null */
  waybillNo: string | null
  /** why it did not (field errors), null when it did or was not structured */
  errors: Array<{ field: string; message: string }> | null
}

/**
 * One item a superior is to receive: an anomaly (0x1402), a waybill version (0x120D), or the end of
 * an anomaly's handling (0x1403 / 0x1412 with the result).
 */
export interface OutboxItem {
  kind: 'anomaly' | 'waybill' | 'handling'
  /** anomaly id / waybill number / anomaly id */
  ref: string
  /** '' for an anomaly (sent once); the waybill's changed_at (ms); the handling step's id */
  version: string
}

export interface PlatformStore {
  /** A superior: also builds positions_received if missing (ensureForwardingIndex). */
  createPlatform(p: NewPlatform, at: number): Promise<Platform>
  /** null when there is no such platform */
  updatePlatform(id: number, patch: PlatformPatch, at: number): Promise<Platform | null>
  deletePlatform(id: number): Promise<boolean>
  getPlatform(id: number): Promise<Platform | null>
  listPlatforms(role?: PlatformRole): Promise<Platform[]>
  /** A lower platform by its access code, with its password hash (login). */
  findLowerPlatform(accessCode: number): Promise<(Platform & { passwordHash: string }) | null>
  /** A superior platform with the password we log in with (the link client only). */
  superiorCredentials(id: number): Promise<{ password: string } | null>

  /** The registry's vehicle by plate and colour (null when unknown). */
  findPlatformVehicle(plate: string, plateColor: PlateColor): Promise<PlatformVehicle | null>
  /** Enrols an unknown vehicle as reported by this platform (an existing one is returned as it is). */
  enrolPlatformVehicle(plate: string, plateColor: PlateColor, platformId: number): Promise<PlatformVehicle>

  createPostQuery(q: NewPostQuery): Promise<PostQuery>
  /** Records the first answer to a query of this platform (by INFO_ID in 2011, by our MSG_SN in 2019); null when none matches. */
  answerPostQuery(
    platformId: number,
    match: { infoId?: number; msgSn?: number },
    answer: { at: number; content: string; responder: string | null; responderTel: string | null },
  ): Promise<PostQuery | null>
  /** Newest first. */
  listPostQueries(filter?: { platformId?: number; direction?: 'out' | 'in'; unanswered?: boolean; limit?: number }): Promise<PostQuery[]>
  getPostQuery(id: number): Promise<PostQuery | null>
  /** An operator's answer to a superior's query (once: null when answered already or not incoming). */
  answerIncomingPostQuery(id: number, answer: { at: number; content: string; responder: string | null; responderTel: string | null }): Promise<PostQuery | null>

  createSupervision(s: Omit<Supervision, 'id' | 'repliedAt' | 'result'>): Promise<Supervision>
  /** Records a 0x1401 reply (the latest wins); null when no such request was sent to this platform. */
  replySupervision(platformId: number, supervisionId: number, result: number, at: number): Promise<Supervision | null>
  listSupervisions(anomalyId: string): Promise<Supervision[]>

  getForwardCursor(platformId: number): Promise<ForwardCursor | null>
  setForwardCursor(platformId: number, cursor: ForwardCursor, at: number): Promise<void>
  /**
   * Committed positions of a superior's selection received after `after`, in received order
   * (then vehicle, device time), at most `limit`. `after` null: from `since`.
   */
  positionsToForward(selection: { enterpriseLicences: string[]; vehicleIds: number[] }, after: ForwardCursor | null, since: number, limit: number): Promise<CommittedPosition[]>

  /** A waybill a lower platform reported (0x120D, or 0x120B answering our 0x920B), as received. */
  insertPlatformWaybill(w: Omit<PlatformWaybill, 'id'>): Promise<PlatformWaybill>
  /** Newest first. */
  listPlatformWaybills(filter?: { platformId?: number; vehicleId?: number; limit?: number }): Promise<PlatformWaybill[]>

  /**
   * Fills a superior's outbox: anomalies of the selection opened after marks.anomalySeq,
   * waybills of the selection changed after marks.waybillChangedAt and handling steps that end an
   * anomaly's handling (confirm, dismiss) after the handling mark, for anomalies opened since the
   * superior's start (their 0x1402 went up) (each rescanned a little behind
   * its mark: what committed late is caught, what is enqueued already is not enqueued again). The
   * marks are saved with the forwarding position (which must exist); the first scan only sets them
   * (what exists already is not sent). Returns how many rows were enqueued.
   */
  enqueueOutbox(platformId: number, selection: { enterpriseLicences: string[]; vehicleIds: number[] }, at: number): Promise<{ enqueued: number }>
  /** Unconfirmed outbox rows, oldest enqueued first (for one pass: an anomaly before its handling result). */
  pendingOutbox(platformId: number, limit: number): Promise<OutboxItem[]>
  /** The MSG_SN an item went out with (the latest sending). */
  markOutboxSent(platformId: number, item: OutboxItem, msgSn: number): Promise<void>
  /** The MSG_SN an anomaly's 0x1402 last went out with to this superior; null when never (or pruned). */
  outboxAnomalyMsgSn(platformId: number, anomalyId: string): Promise<number | null>
  confirmOutbox(platformId: number, items: OutboxItem[], at: number): Promise<void>
  /** Retention: confirmed rows older than `before`. */
  pruneOutbox(platformId: number, before: number): Promise<number>
}

interface PlatformRow {
  id: number
  role: PlatformRole
  name: string
  access_code: string | number
  user_id: string | number
  password_hash: string | null
  edition: number
  encryption: PlatformEncryption | null
  allowed_addresses: string[]
  enterprise_licences: string[]
  vehicles: PlatformVehicleRef[]
  unknown_vehicles: 'enrol' | 'refuse'
  host: string | null
  port: number | null
  enabled: boolean
  created_at: Date | string
  updated_at: Date | string
}

const COLUMNS = `id, role, name, access_code, user_id, password_hash, edition, encryption, allowed_addresses, enterprise_licences,
  vehicles, unknown_vehicles, host, port, enabled, created_at, updated_at`

function toPlatform(r: PlatformRow): Platform {
  return {
    id: num(r.id),
    role: r.role,
    name: r.name,
    accessCode: num(r.access_code),
    userId: num(r.user_id),
    edition: num(r.edition) as PlatformEdition,
    encryption: r.encryption,
    allowedAddresses: r.allowed_addresses ?? [],
    enterpriseLicences: r.enterprise_licences ?? [],
    vehicles: r.vehicles ?? [],
    unknownVehicles: r.unknown_vehicles,
    host: r.host,
    port: r.port === null ? null : num(r.port),
    enabled: r.enabled,
    createdAt: toMs(r.created_at),
    updatedAt: toMs(r.updated_at),
  }
}

/** Column ← field, for inserts and patches (jsonb fields serialised). */
const FIELDS: Array<[keyof NewPlatform, string, (v: unknown) => unknown]> = [
  ['name', 'name', (v) => v],
  ['accessCode', 'access_code', (v) => v],
  ['userId', 'user_id', (v) => v],
  ['passwordHash', 'password_hash', (v) => v],
  ['password', 'password', (v) => v],
  ['edition', 'edition', (v) => v],
  ['encryption', 'encryption', (v) => (v === null ? null : JSON.stringify(v))],
  ['allowedAddresses', 'allowed_addresses', (v) => v],
  ['enterpriseLicences', 'enterprise_licences', (v) => v],
  ['vehicles', 'vehicles', (v) => JSON.stringify(v)],
  ['unknownVehicles', 'unknown_vehicles', (v) => v],
  ['host', 'host', (v) => v],
  ['port', 'port', (v) => v],
  ['enabled', 'enabled', (v) => v],
]

interface VehicleRow {
  id: number
  plate: string
  plate_color: number
  enterprise_license_no: string | null
  reported_by_platform: number | null
}
const VEHICLE_COLUMNS = 'id, plate, plate_color, enterprise_license_no, reported_by_platform'
const toVehicle = (r: VehicleRow): PlatformVehicle => ({
  id: num(r.id),
  plate: r.plate,
  plateColor: num(r.plate_color),
  enterpriseLicenseNo: r.enterprise_license_no,
  reportedByPlatform: r.reported_by_platform === null ? null : num(r.reported_by_platform),
})

interface PostQueryRow {
  id: string | number
  platform_id: number
  direction: 'out' | 'in'
  info_id: string | number
  msg_sn: string | number
  object_type: number
  object_id: string
  question: string
  asked_by: string | null
  sent_at: Date
  deadline_at: Date
  answered_at: Date | null
  answer: string | null
  responder: string | null
  responder_tel: string | null
}
const PQ_COLUMNS = 'id, platform_id, direction, info_id, msg_sn, object_type, object_id, question, asked_by, sent_at, deadline_at, answered_at, answer, responder, responder_tel'
const toPostQuery = (r: PostQueryRow): PostQuery => ({
  id: num(r.id),
  platformId: num(r.platform_id),
  direction: r.direction,
  infoId: num(r.info_id),
  msgSn: num(r.msg_sn),
  objectType: num(r.object_type),
  objectId: r.object_id,
  question: r.question,
  askedBy: r.asked_by,
  sentAt: toMs(r.sent_at),
  deadlineAt: toMs(r.deadline_at),
  answeredAt: r.answered_at === null ? null : toMs(r.answered_at),
  answer: r.answer,
  responder: r.responder,
  responderTel: r.responder_tel,
})

interface SupervisionRow {
  id: string | number
  platform_id: number
  anomaly_id: string
  supervision_id: string | number
  sent_at: Date
  replied_at: Date | null
  result: number | null
}
interface PlatformWaybillRow {
  id: string | number
  platform_id: number
  data_type: number
  plate: string
  plate_color: number
  vehicle_id: number | null
  received_at: Date
  text: string
  format: PlatformWaybill['format']
  waybill_no: string | null
  errors: PlatformWaybill['errors'] | string | null
}
const PW_COLUMNS = 'id, platform_id, data_type, plate, plate_color, vehicle_id, received_at, text, format, waybill_no, errors'
const toPlatformWaybill = (r: PlatformWaybillRow): PlatformWaybill => ({
  id: num(r.id),
  platformId: num(r.platform_id),
  dataType: num(r.data_type),
  plate: r.plate,
  plateColor: num(r.plate_color),
  vehicleId: r.vehicle_id === null ? null : num(r.vehicle_id),
  receivedAt: toMs(r.received_at),
  text: r.text,
  format: r.format,
  waybillNo: r.waybill_no,
  errors: typeof r.errors === 'string' ? (JSON.parse(r.errors) as PlatformWaybill['errors']) : r.errors,
})

/** How far behind its mark the outbox scan looks again: anomaly seq numbers, waybill change time (ms). */
const OUTBOX_SEQ_SLACK = 200
const OUTBOX_CHANGE_SLACK_MS = 10_000
/** rows per scan: above the seq slack, so a scan always reaches past its mark */
const OUTBOX_SCAN = 1_000

const SV_COLUMNS = 'id, platform_id, anomaly_id, supervision_id, sent_at, replied_at, result'
const toSupervision = (r: SupervisionRow): Supervision => ({
  id: num(r.id),
  platformId: num(r.platform_id),
  anomalyId: r.anomaly_id,
  supervisionId: num(r.supervision_id),
  sentAt: toMs(r.sent_at),
  repliedAt: r.replied_at === null ? null : toMs(r.replied_at),
  result: r.result === null ? null : num(r.result),
})

/**
 * positions_received: positions in received order, for a superior's backlog (positionsToForward).
 * It costs every position insert, so it exists only once a superior platform does (migration 010,
 * createPlatform). Removing the last superior leaves it (DROP INDEX by hand wins the insert cost
 * back; the next superior added builds it again). Building it takes a lock that holds
 * position inserts back while the existing rows are indexed (CONCURRENTLY is not available on a
 * partitioned table or a hypertable).
 */
export async function ensureForwardingIndex(sql: Pick<Sql, 'query'>): Promise<void> {
  await sql.query(`CREATE INDEX IF NOT EXISTS positions_received ON positions (received_at, vehicle_id, device_time)`)
}

/**
 * The handling part of an outbox pass: steps that end an anomaly's handling (confirm, dismiss) of
 * the selection, for anomalies above the superior's anomaly floor (whose 0x1402 it was sent), after
 * the handling mark (rescanned OUTBOX_SEQ_SLACK ids behind it, never behind its floor). Its marks
 * start at the first pass that finds them unset (011 added them to superiors that existed).
 */
async function enqueueHandling(sql: Pick<Sql, 'query'>, platformId: number, sel: { enterpriseLicences: string[]; vehicleIds: number[] }, anomalyFloor: number, at: number): Promise<number> {
  const { rows: m } = await sql.query<{ outbox_handling_id: string | number | null; outbox_handling_floor: string | number | null }>(
    `SELECT outbox_handling_id, outbox_handling_floor FROM platform_forwarding WHERE platform_id = $1`,
    [platformId],
  )
  const topId = async () => {
    const { rows } = await sql.query<{ i: string | number | null }>(`SELECT max(id) AS i FROM anomaly_handling`)
    return rows[0]?.i == null ? 0 : num(rows[0].i)
  }
  if (m[0]?.outbox_handling_id == null || m[0].outbox_handling_floor == null) {
    const top = await topId()
    await sql.query(`UPDATE platform_forwarding SET outbox_handling_id = $2, outbox_handling_floor = $2 WHERE platform_id = $1`, [platformId, top])
    return 0
  }
  const mark = num(m[0].outbox_handling_id)
  const from = Math.max(mark - OUTBOX_SEQ_SLACK, num(m[0].outbox_handling_floor))
  const { rows: steps } = await sql.query<{ id: string | number; anomaly_id: string }>(
    `SELECT h.id, h.anomaly_id FROM anomaly_handling h JOIN anomalies a ON a.id = h.anomaly_id
      WHERE h.id > $1 AND h.action IN ('confirm', 'dismiss') AND a.seq > $5
        AND (a.enterprise_license_no = ANY($2::text[]) OR a.vehicle_id = ANY($3::int4[]))
      ORDER BY h.id LIMIT $4`,
    [from, sel.enterpriseLicences, sel.vehicleIds, OUTBOX_SCAN, anomalyFloor],
  )
  const newMark = steps.length === OUTBOX_SCAN ? num(steps[steps.length - 1]!.id) : Math.max(mark, await topId())
  let enqueued = 0
  if (steps.length) {
    const r = await sql.query(
      `INSERT INTO platform_outbox (platform_id, kind, ref, version, enqueued_at)
       SELECT $1, 'handling', r, v, $4 FROM unnest($2::text[], $3::text[]) AS x (r, v)
       ON CONFLICT DO NOTHING`,
      [platformId, steps.map((s) => s.anomaly_id), steps.map((s) => String(num(s.id))), iso(at)],
    )
    enqueued = r.rowCount
  }
  await sql.query(`UPDATE platform_forwarding SET outbox_handling_id = $2 WHERE platform_id = $1`, [platformId, newMark])
  return enqueued
}

export function platformQueries(sql: Sql): PlatformStore {
  return {
    async createPlatform(p, at) {
      const cols = ['role', 'created_at', 'updated_at']
      const params: unknown[] = [p.role, iso(at), iso(at)]
      for (const [field, col, conv] of FIELDS) {
        cols.push(col)
        params.push(conv(p[field]))
      }
      const { rows } = await sql.query<PlatformRow>(`INSERT INTO platforms (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${COLUMNS}`, params)
      if (p.role === 'superior') await ensureForwardingIndex(sql)
      return toPlatform(rows[0]!)
    },

    async updatePlatform(id, patch, at) {
      const sets = ['updated_at = $2']
      const params: unknown[] = [id, iso(at)]
      for (const [field, col, conv] of FIELDS) {
        if (!(field in patch) || patch[field as keyof PlatformPatch] === undefined) continue
        params.push(conv(patch[field as keyof PlatformPatch]))
        sets.push(`${col} = $${params.length}`)
      }
      const { rows } = await sql.query<PlatformRow>(`UPDATE platforms SET ${sets.join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`, params)
      return rows[0] ? toPlatform(rows[0]) : null
    },

    async deletePlatform(id) {
      const { rowCount } = await sql.query(`DELETE FROM platforms WHERE id = $1`, [id])
      return rowCount > 0
    },

    async getPlatform(id) {
      const { rows } = await sql.query<PlatformRow>(`SELECT ${COLUMNS} FROM platforms WHERE id = $1`, [id])
      return rows[0] ? toPlatform(rows[0]) : null
    },

    async listPlatforms(role) {
      const { rows } = role
        ? await sql.query<PlatformRow>(`SELECT ${COLUMNS} FROM platforms WHERE role = $1 ORDER BY id`, [role])
        : await sql.query<PlatformRow>(`SELECT ${COLUMNS} FROM platforms ORDER BY id`)
      return rows.map(toPlatform)
    },

    async findLowerPlatform(accessCode) {
      const { rows } = await sql.query<PlatformRow>(`SELECT ${COLUMNS} FROM platforms WHERE role = 'lower' AND access_code = $1`, [accessCode])
      const r = rows[0]
      return r?.password_hash ? { ...toPlatform(r), passwordHash: r.password_hash } : null
    },

    async superiorCredentials(id) {
      const { rows } = await sql.query<{ password: string | null }>(`SELECT password FROM platforms WHERE id = $1 AND role = 'superior'`, [id])
      return rows[0]?.password ? { password: rows[0].password } : null
    },

    async findPlatformVehicle(plate, plateColor) {
      const { rows } = await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles WHERE plate_key = $1 AND plate_color = $2`, [canonicalPlate(plate), plateColor])
      return rows[0] ? toVehicle(rows[0]) : null
    },

    async enrolPlatformVehicle(plate, plateColor, platformId) {
      await sql.query(`INSERT INTO vehicles (plate, plate_key, plate_color, reported_by_platform) VALUES ($1, $2, $3, $4) ON CONFLICT (plate_key, plate_color) DO NOTHING`, [
        plate,
        canonicalPlate(plate),
        plateColor,
        platformId,
      ])
      const { rows } = await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles WHERE plate_key = $1 AND plate_color = $2`, [canonicalPlate(plate), plateColor])
      return toVehicle(rows[0]!)
    },

    async createPostQuery(q) {
      const { rows } = await sql.query<PostQueryRow>(
        `INSERT INTO platform_post_queries (platform_id, direction, info_id, msg_sn, object_type, object_id, question, asked_by, sent_at, deadline_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${PQ_COLUMNS}`,
        [q.platformId, q.direction, q.infoId, q.msgSn, q.objectType, q.objectId, q.question, q.askedBy, iso(q.sentAt), iso(q.deadlineAt)],
      )
      return toPostQuery(rows[0]!)
    },

    async answerPostQuery(platformId, match, a) {
      const by = match.infoId !== undefined ? 'info_id' : 'msg_sn'
      const key = match.infoId ?? match.msgSn
      if (key === undefined) return null
      const { rows } = await sql.query<PostQueryRow>(
        `UPDATE platform_post_queries SET answered_at = $3, answer = $4, responder = $5, responder_tel = $6
          WHERE id = (SELECT id FROM platform_post_queries WHERE platform_id = $1 AND direction = 'out' AND ${by} = $2 AND answered_at IS NULL ORDER BY id DESC LIMIT 1)
          RETURNING ${PQ_COLUMNS}`,
        [platformId, key, iso(a.at), a.content, a.responder, a.responderTel],
      )
      return rows[0] ? toPostQuery(rows[0]) : null
    },

    async listPostQueries(filter = {}) {
      const where: string[] = []
      const params: unknown[] = []
      if (filter.platformId !== undefined) {
        params.push(filter.platformId)
        where.push(`platform_id = $${params.length}`)
      }
      if (filter.direction) {
        params.push(filter.direction)
        where.push(`direction = $${params.length}`)
      }
      if (filter.unanswered) where.push('answered_at IS NULL')
      params.push(Math.min(filter.limit ?? 100, 1000))
      const { rows } = await sql.query<PostQueryRow>(
        `SELECT ${PQ_COLUMNS} FROM platform_post_queries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      )
      return rows.map(toPostQuery)
    },

    async createSupervision(s) {
      const { rows } = await sql.query<SupervisionRow>(`INSERT INTO platform_supervisions (platform_id, anomaly_id, supervision_id, sent_at) VALUES ($1, $2, $3, $4) RETURNING ${SV_COLUMNS}`, [
        s.platformId,
        s.anomalyId,
        s.supervisionId,
        iso(s.sentAt),
      ])
      return toSupervision(rows[0]!)
    },

    async replySupervision(platformId, supervisionId, result, at) {
      const { rows } = await sql.query<SupervisionRow>(`UPDATE platform_supervisions SET result = $3, replied_at = $4 WHERE platform_id = $1 AND supervision_id = $2 RETURNING ${SV_COLUMNS}`, [
        platformId,
        supervisionId,
        result,
        iso(at),
      ])
      return rows[0] ? toSupervision(rows[0]) : null
    },

    async listSupervisions(anomalyId) {
      const { rows } = await sql.query<SupervisionRow>(`SELECT ${SV_COLUMNS} FROM platform_supervisions WHERE anomaly_id = $1 ORDER BY id`, [anomalyId])
      return rows.map(toSupervision)
    },

    async getPostQuery(id) {
      const { rows } = await sql.query<PostQueryRow>(`SELECT ${PQ_COLUMNS} FROM platform_post_queries WHERE id = $1`, [id])
      return rows[0] ? toPostQuery(rows[0]) : null
    },

    async answerIncomingPostQuery(id, a) {
      const { rows } = await sql.query<PostQueryRow>(
        `UPDATE platform_post_queries SET answered_at = $2, answer = $3, responder = $4, responder_tel = $5
          WHERE id = $1 AND direction = 'in' AND answered_at IS NULL RETURNING ${PQ_COLUMNS}`,
        [id, iso(a.at), a.content, a.responder, a.responderTel],
      )
      return rows[0] ? toPostQuery(rows[0]) : null
    },

    async getForwardCursor(platformId) {
      const { rows } = await sql.query<{ received_at: Date; vehicle_id: number; device_time: Date }>(`SELECT received_at, vehicle_id, device_time FROM platform_forwarding WHERE platform_id = $1`, [
        platformId,
      ])
      const r = rows[0]
      return r ? { receivedAt: toMs(r.received_at), vehicleId: num(r.vehicle_id), deviceTime: toMs(r.device_time) } : null
    },

    async setForwardCursor(platformId, c, at) {
      // never backwards: two writers (real time and backlog) may race
      await sql.query(
        `INSERT INTO platform_forwarding (platform_id, received_at, vehicle_id, device_time, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (platform_id) DO UPDATE SET received_at = EXCLUDED.received_at, vehicle_id = EXCLUDED.vehicle_id,
           device_time = EXCLUDED.device_time, updated_at = EXCLUDED.updated_at
         WHERE (platform_forwarding.received_at, platform_forwarding.vehicle_id, platform_forwarding.device_time)
             < (EXCLUDED.received_at, EXCLUDED.vehicle_id, EXCLUDED.device_time)`,
        [platformId, iso(c.receivedAt), c.vehicleId, iso(c.deviceTime), iso(at)],
      )
    },

    async positionsToForward(sel, after, since, limit) {
      // Positions in received order through their index (009), the selection checked per row: a
      // join that starts from the vehicles reads every position of the selection and sorts them
      // all for each page. Scanned in chunks until `limit` selected rows or the end.
      const scan = Math.max(1000, limit * 2)
      const out: CommittedPosition[] = []
      let cursor = after
      for (;;) {
        const params: unknown[] = [sel.enterpriseLicences, sel.vehicleIds, scan]
        let where: string
        if (cursor) {
          params.push(iso(cursor.receivedAt), cursor.vehicleId, iso(cursor.deviceTime))
          where = `(p.received_at, p.vehicle_id, p.device_time) > ($4::timestamptz, $5::int4, $6::timestamptz)`
        } else {
          params.push(iso(since))
          where = `p.received_at >= $4::timestamptz`
        }
        const { rows } = await sql.query<
          Parameters<typeof rowToPosition>[0] & { plate: string; plate_color: number; enterprise_license_no: string | null; terminal_phone: string | null; selected: boolean | null }
        >(
          `SELECT p.vehicle_id, p.device_time, p.received_at, p.lat, p.lon, p.altitude, p.speed, p.direction, p.alarm, p.status, p.mileage,
                  p.extras, p.blind_area, p.source_msg_id, v.plate, v.plate_color, v.enterprise_license_no, v.terminal_phone,
                  (v.enterprise_license_no = ANY($1::text[]) OR v.id = ANY($2::int4[])) AS selected
             FROM (SELECT * FROM positions p WHERE ${where} ORDER BY p.received_at, p.vehicle_id, p.device_time LIMIT $3) p
             LEFT JOIN vehicles v ON v.id = p.vehicle_id
            ORDER BY p.received_at, p.vehicle_id, p.device_time`,
          params,
        )
        for (const r of rows) {
          if (r.selected !== true) continue
          out.push({ ...rowToPosition(r), phone: r.terminal_phone ?? '', plate: r.plate, plateColor: num(r.plate_color), enterpriseLicenseNo: r.enterprise_license_no })
          if (out.length >= limit) return out
        }
        if (rows.length < scan) return out
        const last = rows[rows.length - 1]!
        const p = rowToPosition(last)
        cursor = { receivedAt: p.receivedAt, vehicleId: p.vehicleId, deviceTime: p.deviceTime }
      }
    },
    async insertPlatformWaybill(w) {
      const { rows } = await sql.query<PlatformWaybillRow>(
        `INSERT INTO platform_waybills (platform_id, data_type, plate, plate_color, vehicle_id, received_at, text, format, waybill_no, errors)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) RETURNING ${PW_COLUMNS}`,
        [w.platformId, w.dataType, w.plate, w.plateColor, w.vehicleId, iso(w.receivedAt), w.text, w.format, w.waybillNo, w.errors === null ? null : JSON.stringify(w.errors)],
      )
      return toPlatformWaybill(rows[0]!)
    },

    async listPlatformWaybills(filter = {}) {
      const where: string[] = []
      const params: unknown[] = []
      if (filter.platformId !== undefined) {
        params.push(filter.platformId)
        where.push(`platform_id = $${params.length}`)
      }
      if (filter.vehicleId !== undefined) {
        params.push(filter.vehicleId)
        where.push(`vehicle_id = $${params.length}`)
      }
      params.push(Math.min(filter.limit ?? 100, 1000))
      const { rows } = await sql.query<PlatformWaybillRow>(
        `SELECT ${PW_COLUMNS} FROM platform_waybills ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      )
      return rows.map(toPlatformWaybill)
    },

    async enqueueOutbox(platformId, sel, at) {
      const { rows: m } = await sql.query<{
        outbox_anomaly_seq: string | number | null
        outbox_waybill_changed_at: Date | null
        outbox_anomaly_floor: string | number | null
        outbox_waybill_floor: Date | null
      }>(`SELECT outbox_anomaly_seq, outbox_waybill_changed_at, outbox_anomaly_floor, outbox_waybill_floor FROM platform_forwarding WHERE platform_id = $1`, [platformId])
      if (!m[0]) return { enqueued: 0 }
      if (m[0].outbox_anomaly_seq === null || m[0].outbox_waybill_changed_at === null || m[0].outbox_anomaly_floor === null || m[0].outbox_waybill_floor === null) {
        // first scan for this superior: what exists already is not sent, what comes from now on is
        const { rows } = await sql.query<{ s: string | number | null }>(`SELECT max(seq) AS s FROM anomalies`)
        const top = rows[0]?.s == null ? 0 : num(rows[0].s)
        // waybills.changed_at is the database clock: so is the waybill mark
        await sql.query(
          `UPDATE platform_forwarding SET outbox_anomaly_seq = $2, outbox_anomaly_floor = $2,
             outbox_waybill_changed_at = date_trunc('milliseconds', clock_timestamp()), outbox_waybill_floor = date_trunc('milliseconds', clock_timestamp())
           WHERE platform_id = $1`,
          [platformId, top],
        )
        await enqueueHandling(sql, platformId, sel, top, at)
        return { enqueued: 0 }
      }
      const anomalyFloor = num(m[0].outbox_anomaly_floor)
      const handling = await enqueueHandling(sql, platformId, sel, anomalyFloor, at)
      const seq = num(m[0].outbox_anomaly_seq)
      const changed = toMs(m[0].outbox_waybill_changed_at)
      const seqFrom = Math.max(seq - OUTBOX_SEQ_SLACK, num(m[0].outbox_anomaly_floor))
      const changedFrom = Math.max(changed - OUTBOX_CHANGE_SLACK_MS, toMs(m[0].outbox_waybill_floor))
      const { rows: anomalies } = await sql.query<{ id: string; seq: string | number }>(
        `SELECT id, seq FROM anomalies
          WHERE seq > $1 AND (enterprise_license_no = ANY($2::text[]) OR vehicle_id = ANY($3::int4[]))
          ORDER BY seq LIMIT $4`,
        [seqFrom, sel.enterpriseLicences, sel.vehicleIds, OUTBOX_SCAN],
      )
      // the scan's end: the last row read when the page was full, else everything up to the newest seq seen
      const { rows: top } = await sql.query<{ s: string | number | null }>(`SELECT max(seq) AS s FROM anomalies`)
      const newSeq = anomalies.length === OUTBOX_SCAN ? num(anomalies[anomalies.length - 1]!.seq) : Math.max(seq, top[0]?.s == null ? 0 : num(top[0].s))
      const { rows: waybills } = await sql.query<{ waybill_no: string; changed_at: Date }>(
        `SELECT w.waybill_no, w.changed_at FROM waybills w
          WHERE w.changed_at > $1
            AND (w.carrier_license_no = ANY($2::text[])
                 OR EXISTS (SELECT 1 FROM vehicles v WHERE v.plate_key = w.plate AND v.plate_color = w.plate_color
                             AND (v.id = ANY($3::int4[]) OR v.enterprise_license_no = ANY($2::text[]))))
          ORDER BY w.changed_at LIMIT $4`,
        [iso(changedFrom), sel.enterpriseLicences, sel.vehicleIds, OUTBOX_SCAN],
      )
      let newChanged = changed
      for (const w of waybills) newChanged = Math.max(newChanged, toMs(w.changed_at))
      const items: OutboxItem[] = [
        ...anomalies.map((a) => ({ kind: 'anomaly' as const, ref: a.id, version: '' })),
        ...waybills.map((w) => ({ kind: 'waybill' as const, ref: w.waybill_no, version: String(toMs(w.changed_at)) })),
      ]
      let enqueued = 0
      if (items.length) {
        const r = await sql.query(
          `INSERT INTO platform_outbox (platform_id, kind, ref, version, enqueued_at)
           SELECT $1, k, r, v, $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS x (k, r, v)
           ON CONFLICT DO NOTHING`,
          [platformId, items.map((i) => i.kind), items.map((i) => i.ref), items.map((i) => i.version), iso(at)],
        )
        enqueued = r.rowCount
      }
      await sql.query(`UPDATE platform_forwarding SET outbox_anomaly_seq = $2, outbox_waybill_changed_at = $3 WHERE platform_id = $1`, [platformId, newSeq, iso(newChanged)])
      return { enqueued: enqueued + handling }
    },

    async pendingOutbox(platformId, limit) {
      const { rows } = await sql.query<{ kind: OutboxItem['kind']; ref: string; version: string }>(
        `SELECT kind, ref, version FROM platform_outbox WHERE platform_id = $1 AND confirmed_at IS NULL ORDER BY enqueued_at, kind, ref, version LIMIT $2`,
        [platformId, limit],
      )
      return rows.map((r) => ({ kind: r.kind, ref: r.ref, version: r.version }))
    },

    async markOutboxSent(platformId, item, msgSn) {
      await sql.query(`UPDATE platform_outbox SET msg_sn = $5 WHERE platform_id = $1 AND kind = $2 AND ref = $3 AND version = $4`, [platformId, item.kind, item.ref, item.version, msgSn])
    },

    async outboxAnomalyMsgSn(platformId, anomalyId) {
      const { rows } = await sql.query<{ msg_sn: string | number | null }>(`SELECT msg_sn FROM platform_outbox WHERE platform_id = $1 AND kind = 'anomaly' AND ref = $2 AND version = ''`, [
        platformId,
        anomalyId,
      ])
      return rows[0]?.msg_sn == null ? null : num(rows[0].msg_sn)
    },

    async confirmOutbox(platformId, items, at) {
      if (!items.length) return
      await sql.query(
        `UPDATE platform_outbox o SET confirmed_at = $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS x (k, r, v)
          WHERE o.platform_id = $1 AND o.kind = x.k AND o.ref = x.r AND o.version = x.v AND o.confirmed_at IS NULL`,
        [platformId, items.map((i) => i.kind), items.map((i) => i.ref), items.map((i) => i.version), iso(at)],
      )
    },

    async pruneOutbox(platformId, before) {
      const r = await sql.query(`DELETE FROM platform_outbox WHERE platform_id = $1 AND confirmed_at < $2`, [platformId, iso(before)])
      return r.rowCount
    },
  }
}
