/**
 * What JT/T 809 platforms tell each other beyond positions (migrations/011): vehicle registrations
 * (0x1201) and static information (0x9601 / 0x1601) per platform and vehicle, the latest of each
 * kept; the alarm reports a lower platform sent (0x1402) by MSG_SN and INFO_ID, so a handling result
 * (0x1403 / 0x1412) finds its anomaly, and those results; alarm notices received (0x9402, 0x9403, a
 * 2019 0x1403 forecast). And the registry's terminal of a vehicle, which our own 0x1201 describes.
 */
import { fromJson, iso, num, numOrNull, toMs, toMsOrNull } from './convert.js'
import type { Sql } from './sql.js'

/** A lower platform's 0x1201: the terminal a vehicle carries, as that platform knows it. */
export interface PlatformRegistration {
  platformId: number
  vehicleId: number
  plate: string
  plateColor: number
  /** PLATFORM_ID: the platform's own code (11 characters) */
  platformCode: string
  /** PRODUCER_ID: the terminal's manufacturer */
  producerId: string
  /** TERMINAL_MODEL_TYPE */
  model: string
  /** 2019 only */
  imei: string | null
  terminalId: string
  /** TERMINAL_SIMCODE: the terminal's SIM (its 808 phone number) */
  simCode: string
  receivedAt: number
}

/** Static information of a vehicle from a lower platform (0x1601), and our request for it (0x9601). */
export interface PlatformStaticInfo {
  platformId: number
  vehicleId: number
  plate: string
  plateColor: number
  requestedAt: number | null
  requestMsgSn: number | null
  /** API token id of who asked */
  requestedBy: string | null
  /** CAR_INFO as received; null until an answer arrived */
  carInfo: string | null
  /** CAR_INFO's KEY:=value pairs (null when it holds none) */
  fields: Record<string, string> | null
  receivedAt: number | null
}

/** A lower platform's handling result of one of its alarm reports (2011 0x1403, 2019 0x1412). */
export interface PlatformAlarmResult {
  id: number
  platformId: number
  dataType: number
  /** 2011: the alarm's INFO_ID */
  infoId: number | null
  /** 2019: the MSG_SN of the alarm report it answers for */
  sourceMsgSn: number | null
  /** 0 handling, 1 handled, 2 not handled, 3 to be handled later */
  result: number
  /** the anomaly the alarm became; null when no report of that platform matched */
  anomalyId: string | null
  receivedAt: number
}

/** An alarm notice received: a superior's forecast (0x9402) or alarm (0x9403), a lower platform's 2019 forecast (0x1403). */
export interface PlatformAlarmNotice {
  id: number
  platformId: number
  dataType: number
  msgSn: number
  /** our vehicle, when the notice names one the registry knows */
  vehicleId: number | null
  plate: string
  plateColor: number
  /** the vehicle's enterprise (who may see the notice) */
  enterpriseLicenseNo: string | null
  warnSrc: number | null
  warnType: number
  warnTime: number | null
  startTime: number | null
  endTime: number | null
  sourcePlatformId: string | null
  content: string
  receivedAt: number
}

/** The registry's vehicle with the terminal it declares (our 0x1201). */
export interface VehicleTerminal {
  vehicleId: number
  plate: string
  plateColor: number
  phone: string | null
  terminalId: string | null
  manufacturer: string | null
  model: string | null
  imei: string | null
}

export interface PlatformInfoStore {
  /** Latest wins, per platform and vehicle. */
  upsertPlatformRegistration(r: PlatformRegistration): Promise<void>
  /** A vehicle's registrations, one per platform, newest first. */
  listPlatformRegistrations(vehicleId: number): Promise<PlatformRegistration[]>
  /** Our 0x9601 (the previous answer stays until a new one arrives). */
  recordStaticInfoRequest(r: { platformId: number; vehicleId: number; plate: string; plateColor: number; at: number; msgSn: number; by: string | null }): Promise<void>
  /** A 0x1601 (answer or not), latest wins. */
  recordStaticInfo(r: { platformId: number; vehicleId: number; plate: string; plateColor: number; carInfo: string; fields: Record<string, string> | null; at: number }): Promise<void>
  /** Per platform, newest first. */
  listPlatformStaticInfo(vehicleId: number): Promise<PlatformStaticInfo[]>
  /** One 0x1402 received (a re-sent one too): its MSG_SN and INFO_ID → its anomaly. */
  recordPlatformAlarmRef(r: { platformId: number; msgSn: number; infoId: number | null; anomalyId: string; at: number }): Promise<void>
  /** The anomaly of the platform's latest alarm report with this INFO_ID (2011) or MSG_SN (2019). */
  findPlatformAlarm(platformId: number, match: { infoId: number } | { msgSn: number }): Promise<string | null>
  insertPlatformAlarmResult(r: Omit<PlatformAlarmResult, 'id'>): Promise<PlatformAlarmResult>
  /** Oldest first. */
  listPlatformAlarmResults(anomalyId: string): Promise<PlatformAlarmResult[]>
  insertPlatformAlarmNotice(n: Omit<PlatformAlarmNotice, 'id'>): Promise<PlatformAlarmNotice>
  /** Newest first; `enterpriseLicenseNo`: only that enterprise's vehicles'. */
  listPlatformAlarmNotices(filter?: { platformId?: number; vehicleId?: number; enterpriseLicenseNo?: string; limit?: number }): Promise<PlatformAlarmNotice[]>
  vehicleTerminal(vehicleId: number): Promise<VehicleTerminal | null>
}

interface RegistrationRow {
  platform_id: number
  vehicle_id: number
  plate: string
  plate_color: number
  platform_code: string
  producer_id: string
  model: string
  imei: string | null
  terminal_id: string
  sim_code: string
  received_at: Date
}
const REG_COLUMNS = 'platform_id, vehicle_id, plate, plate_color, platform_code, producer_id, model, imei, terminal_id, sim_code, received_at'
const toRegistration = (r: RegistrationRow): PlatformRegistration => ({
  platformId: num(r.platform_id),
  vehicleId: num(r.vehicle_id),
  plate: r.plate,
  plateColor: num(r.plate_color),
  platformCode: r.platform_code,
  producerId: r.producer_id,
  model: r.model,
  imei: r.imei,
  terminalId: r.terminal_id,
  simCode: r.sim_code,
  receivedAt: toMs(r.received_at),
})

interface StaticRow {
  platform_id: number
  vehicle_id: number
  plate: string
  plate_color: number
  requested_at: Date | null
  request_msg_sn: string | number | null
  requested_by: string | null
  car_info: string | null
  fields: unknown
  received_at: Date | null
}
const STATIC_COLUMNS = 'platform_id, vehicle_id, plate, plate_color, requested_at, request_msg_sn, requested_by, car_info, fields, received_at'
const toStatic = (r: StaticRow): PlatformStaticInfo => ({
  platformId: num(r.platform_id),
  vehicleId: num(r.vehicle_id),
  plate: r.plate,
  plateColor: num(r.plate_color),
  requestedAt: toMsOrNull(r.requested_at),
  requestMsgSn: numOrNull(r.request_msg_sn),
  requestedBy: r.requested_by,
  carInfo: r.car_info,
  fields: r.fields === null ? null : fromJson<Record<string, string>>(r.fields),
  receivedAt: toMsOrNull(r.received_at),
})

interface ResultRow {
  id: string | number
  platform_id: number
  data_type: number
  info_id: string | number | null
  source_msg_sn: string | number | null
  result: number
  anomaly_id: string | null
  received_at: Date
}
const RESULT_COLUMNS = 'id, platform_id, data_type, info_id, source_msg_sn, result, anomaly_id, received_at'
const toResult = (r: ResultRow): PlatformAlarmResult => ({
  id: num(r.id),
  platformId: num(r.platform_id),
  dataType: num(r.data_type),
  infoId: numOrNull(r.info_id),
  sourceMsgSn: numOrNull(r.source_msg_sn),
  result: num(r.result),
  anomalyId: r.anomaly_id,
  receivedAt: toMs(r.received_at),
})

interface NoticeRow {
  id: string | number
  platform_id: number
  data_type: number
  msg_sn: string | number
  vehicle_id: number | null
  plate: string
  plate_color: number
  enterprise_license_no: string | null
  warn_src: number | null
  warn_type: number
  warn_time: Date | null
  start_time: Date | null
  end_time: Date | null
  source_platform_id: string | null
  content: string
  received_at: Date
}
const NOTICE_COLUMNS =
  'id, platform_id, data_type, msg_sn, vehicle_id, plate, plate_color, enterprise_license_no, warn_src, warn_type, warn_time, start_time, end_time, source_platform_id, content, received_at'
const toNotice = (r: NoticeRow): PlatformAlarmNotice => ({
  id: num(r.id),
  platformId: num(r.platform_id),
  dataType: num(r.data_type),
  msgSn: num(r.msg_sn),
  vehicleId: numOrNull(r.vehicle_id),
  plate: r.plate,
  plateColor: num(r.plate_color),
  enterpriseLicenseNo: r.enterprise_license_no,
  warnSrc: numOrNull(r.warn_src),
  warnType: num(r.warn_type),
  warnTime: toMsOrNull(r.warn_time),
  startTime: toMsOrNull(r.start_time),
  endTime: toMsOrNull(r.end_time),
  sourcePlatformId: r.source_platform_id,
  content: r.content,
  receivedAt: toMs(r.received_at),
})

const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms))

export function platformInfoQueries(sql: Sql): PlatformInfoStore {
  return {
    async upsertPlatformRegistration(r) {
      await sql.query(
        `INSERT INTO platform_vehicle_registrations (${REG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (platform_id, vehicle_id) DO UPDATE SET plate = EXCLUDED.plate, plate_color = EXCLUDED.plate_color,
           platform_code = EXCLUDED.platform_code, producer_id = EXCLUDED.producer_id, model = EXCLUDED.model, imei = EXCLUDED.imei,
           terminal_id = EXCLUDED.terminal_id, sim_code = EXCLUDED.sim_code, received_at = EXCLUDED.received_at`,
        [r.platformId, r.vehicleId, r.plate, r.plateColor, r.platformCode, r.producerId, r.model, r.imei, r.terminalId, r.simCode, iso(r.receivedAt)],
      )
    },

    async listPlatformRegistrations(vehicleId) {
      const { rows } = await sql.query<RegistrationRow>(`SELECT ${REG_COLUMNS} FROM platform_vehicle_registrations WHERE vehicle_id = $1 ORDER BY received_at DESC`, [vehicleId])
      return rows.map(toRegistration)
    },

    async recordStaticInfoRequest(r) {
      await sql.query(
        `INSERT INTO platform_static_info (platform_id, vehicle_id, plate, plate_color, requested_at, request_msg_sn, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (platform_id, vehicle_id) DO UPDATE SET requested_at = EXCLUDED.requested_at, request_msg_sn = EXCLUDED.request_msg_sn, requested_by = EXCLUDED.requested_by`,
        [r.platformId, r.vehicleId, r.plate, r.plateColor, iso(r.at), r.msgSn, r.by],
      )
    },

    async recordStaticInfo(r) {
      await sql.query(
        `INSERT INTO platform_static_info (platform_id, vehicle_id, plate, plate_color, car_info, fields, received_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
         ON CONFLICT (platform_id, vehicle_id) DO UPDATE SET plate = EXCLUDED.plate, plate_color = EXCLUDED.plate_color, car_info = EXCLUDED.car_info,
           fields = EXCLUDED.fields, received_at = EXCLUDED.received_at`,
        [r.platformId, r.vehicleId, r.plate, r.plateColor, r.carInfo, r.fields === null ? null : JSON.stringify(r.fields), iso(r.at)],
      )
    },

    async listPlatformStaticInfo(vehicleId) {
      const { rows } = await sql.query<StaticRow>(`SELECT ${STATIC_COLUMNS} FROM platform_static_info WHERE vehicle_id = $1 ORDER BY greatest(received_at, requested_at) DESC NULLS LAST`, [vehicleId])
      return rows.map(toStatic)
    },

    async recordPlatformAlarmRef(r) {
      await sql.query(`INSERT INTO platform_alarm_refs (platform_id, msg_sn, info_id, anomaly_id, received_at) VALUES ($1, $2, $3, $4, $5)`, [r.platformId, r.msgSn, r.infoId, r.anomalyId, iso(r.at)])
    },

    async findPlatformAlarm(platformId, match) {
      // MSG_SN restarts with every link: the latest report under that number is the one meant
      const { rows } =
        'infoId' in match
          ? await sql.query<{ anomaly_id: string }>(`SELECT anomaly_id FROM platform_alarm_refs WHERE platform_id = $1 AND info_id = $2 ORDER BY id DESC LIMIT 1`, [platformId, match.infoId])
          : await sql.query<{ anomaly_id: string }>(`SELECT anomaly_id FROM platform_alarm_refs WHERE platform_id = $1 AND msg_sn = $2 ORDER BY id DESC LIMIT 1`, [platformId, match.msgSn])
      return rows[0]?.anomaly_id ?? null
    },

    async insertPlatformAlarmResult(r) {
      const { rows } = await sql.query<ResultRow>(
        `INSERT INTO platform_alarm_results (platform_id, data_type, info_id, source_msg_sn, result, anomaly_id, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${RESULT_COLUMNS}`,
        [r.platformId, r.dataType, r.infoId, r.sourceMsgSn, r.result, r.anomalyId, iso(r.receivedAt)],
      )
      return toResult(rows[0]!)
    },

    async listPlatformAlarmResults(anomalyId) {
      const { rows } = await sql.query<ResultRow>(`SELECT ${RESULT_COLUMNS} FROM platform_alarm_results WHERE anomaly_id = $1 ORDER BY id`, [anomalyId])
      return rows.map(toResult)
    },

    async insertPlatformAlarmNotice(n) {
      const { rows } = await sql.query<NoticeRow>(
        `INSERT INTO platform_alarm_notices (platform_id, data_type, msg_sn, vehicle_id, plate, plate_color, enterprise_license_no, warn_src, warn_type, warn_time,
           start_time, end_time, source_platform_id, content, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ${NOTICE_COLUMNS}`,
        [
          n.platformId,
          n.dataType,
          n.msgSn,
          n.vehicleId,
          n.plate,
          n.plateColor,
          n.enterpriseLicenseNo,
          n.warnSrc,
          n.warnType,
          isoOrNull(n.warnTime),
          isoOrNull(n.startTime),
          isoOrNull(n.endTime),
          n.sourcePlatformId,
          n.content,
          iso(n.receivedAt),
        ],
      )
      return toNotice(rows[0]!)
    },

    async listPlatformAlarmNotices(filter = {}) {
      const where: string[] = []
      const params: unknown[] = []
      const add = (cond: string, v: unknown) => {
        params.push(v)
        where.push(cond.replace('?', `$${params.length}`))
      }
      if (filter.platformId !== undefined) add('platform_id = ?', filter.platformId)
      if (filter.vehicleId !== undefined) add('vehicle_id = ?', filter.vehicleId)
      if (filter.enterpriseLicenseNo !== undefined) add('enterprise_license_no = ?', filter.enterpriseLicenseNo)
      params.push(Math.min(filter.limit ?? 100, 1000))
      const { rows } = await sql.query<NoticeRow>(
        `SELECT ${NOTICE_COLUMNS} FROM platform_alarm_notices ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      )
      return rows.map(toNotice)
    },

    async vehicleTerminal(vehicleId) {
      // the declared binding first (registry import or the last 0x0100), else a terminal that names the vehicle
      const { rows } = await sql.query<{
        id: number
        plate: string
        plate_color: number
        phone: string | null
        terminal_id: string | null
        v_terminal_id: string | null
        manufacturer: string | null
        model: string | null
        imei: string | null
      }>(
        `SELECT v.id, v.plate, v.plate_color, coalesce(t.phone, v.terminal_phone) AS phone, t.terminal_id, v.terminal_id AS v_terminal_id, t.manufacturer, t.model, t.imei
           FROM vehicles v
           LEFT JOIN LATERAL (SELECT * FROM terminals t WHERE t.phone = v.terminal_phone OR t.vehicle_id = v.id
                               ORDER BY (t.phone = v.terminal_phone) DESC NULLS LAST, t.registered_at DESC NULLS LAST LIMIT 1) t ON true
          WHERE v.id = $1`,
        [vehicleId],
      )
      const r = rows[0]
      if (!r) return null
      return {
        vehicleId: num(r.id),
        plate: r.plate,
        plateColor: num(r.plate_color),
        phone: r.phone,
        terminalId: r.terminal_id ?? r.v_terminal_id,
        manufacturer: r.manufacturer,
        model: r.model,
        imei: r.imei,
      }
    },
  }
}
