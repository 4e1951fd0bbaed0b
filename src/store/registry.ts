/**
 * RegistryStore: vehicles (by canonical plate and plate colour) and the terminals bound to them.
 * vehicles.terminal_phone is the declared binding (registry import, or the last 0x0100
 * registration); terminals.vehicle_id is the terminal's own record.
 */
import { canonicalPlate, type NewVehicle, type Terminal, type Vehicle } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso, num, numOrNull, toMsOrNull } from './convert.js'
import type { RegistryStore, TerminalWithVehicle } from './port.js'

const VEHICLE_COLUMNS = `v.id, v.plate, v.plate_color, v.terminal_phone, v.terminal_id, v.enterprise_license_no, v.enterprise_name,
  v.transport_cert_no, v.transport_cert_valid_until::text AS transport_cert_valid_until, v.business_scope, v.retired_at`

interface VehicleRow {
  id: number
  plate: string
  plate_color: number
  terminal_phone: string | null
  terminal_id: string | null
  enterprise_license_no: string | null
  enterprise_name: string | null
  transport_cert_no: string | null
  transport_cert_valid_until: string | null
  business_scope: string[] | null
  retired_at: Date | null
}

function toVehicle(r: VehicleRow): Vehicle {
  return {
    id: num(r.id),
    plate: r.plate,
    plateColor: num(r.plate_color),
    terminalPhone: r.terminal_phone,
    terminalId: r.terminal_id,
    enterpriseLicenseNo: r.enterprise_license_no,
    enterpriseName: r.enterprise_name,
    transportCertNo: r.transport_cert_no,
    transportCertValidUntil: r.transport_cert_valid_until,
    businessScope: r.business_scope ?? [],
    retiredAt: toMsOrNull(r.retired_at),
  }
}

interface TerminalRow {
  phone: string
  terminal_id: string | null
  vehicle_id: number | null
  auth_code_hash: string | null
  protocol_version: number | null
  manufacturer: string | null
  model: string | null
  imei: string | null
  firmware: string | null
  registered_at: Date | null
}

function toTerminal(r: TerminalRow): Terminal {
  return {
    phone: r.phone,
    terminalId: r.terminal_id,
    vehicleId: numOrNull(r.vehicle_id),
    authCodeHash: r.auth_code_hash,
    protocolVersion: numOrNull(r.protocol_version),
    manufacturer: r.manufacturer,
    model: r.model,
    imei: r.imei,
    firmware: r.firmware,
    registeredAt: toMsOrNull(r.registered_at),
  }
}

/** Optional NewVehicle fields: undefined keeps the stored value, null clears it. */
const OPTIONAL: Array<[keyof NewVehicle, string, string]> = [
  ['terminalPhone', 'terminal_phone', 'text'],
  ['terminalId', 'terminal_id', 'text'],
  ['enterpriseLicenseNo', 'enterprise_license_no', 'text'],
  ['enterpriseName', 'enterprise_name', 'text'],
  ['transportCertNo', 'transport_cert_no', 'text'],
  ['transportCertValidUntil', 'transport_cert_valid_until', 'date'],
  ['businessScope', 'business_scope', 'text[]'],
]

export function registryQueries(ctx: StoreContext): RegistryStore {
  const { sql } = ctx
  return {
    async upsertVehicles(vehicles) {
      if (!vehicles.length) return []
      return sql.transaction(async (tx) => {
        const ids: number[] = []
        for (const v of vehicles) {
          const given = OPTIONAL.filter(([k]) => v[k] !== undefined)
          // The vehicle is its canonical plate and colour; the display form stays as first registered.
          const cols = ['plate', 'plate_key', 'plate_color', ...given.map(([, c]) => c)]
          const params: unknown[] = [v.plate, canonicalPlate(v.plate), v.plateColor, ...given.map(([k]) => (k === 'businessScope' ? (v[k] ?? []) : v[k]))]
          const values = cols.map((_, i) => (i < 3 ? `$${i + 1}` : `$${i + 1}::${given[i - 3]![2]}`))
          const updates = [...given.map(([, c]) => `${c} = EXCLUDED.${c}`), 'updated_at = now()']
          const { rows } = await tx.query<{ id: number }>(
            `INSERT INTO vehicles (${cols.join(', ')}) VALUES (${values.join(', ')})
             ON CONFLICT (plate_key, plate_color) DO UPDATE SET ${updates.join(', ')} RETURNING id`,
            params,
          )
          ids.push(num(rows[0]!.id))
        }
        return ids
      })
    },

    async getVehicle(id) {
      const { rows } = await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles v WHERE v.id = $1`, [id])
      return rows[0] ? toVehicle(rows[0]) : null
    },

    async findVehicle(plate, plateColor) {
      const key = canonicalPlate(plate)
      const { rows } =
        plateColor === undefined
          ? await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles v WHERE v.plate_key = $1 ORDER BY v.id LIMIT 1`, [key])
          : await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles v WHERE v.plate_key = $1 AND v.plate_color = $2`, [key, plateColor])
      return rows[0] ? toVehicle(rows[0]) : null
    },

    async findVehiclesByPlate(plate) {
      const { rows } = await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles v WHERE v.plate_key = $1 ORDER BY v.id`, [canonicalPlate(plate)])
      return rows.map(toVehicle)
    },

    async findVehicleByTerminal(phone) {
      // The terminal's own binding wins over a vehicle row that merely declares the phone.
      const { rows } = await sql.query<VehicleRow>(
        `SELECT ${VEHICLE_COLUMNS} FROM vehicles v
          WHERE v.id = (SELECT vehicle_id FROM terminals WHERE phone = $1)
             OR v.terminal_phone = $1
          ORDER BY (v.id = (SELECT vehicle_id FROM terminals WHERE phone = $1)) DESC NULLS LAST, v.updated_at DESC
          LIMIT 1`,
        [phone],
      )
      return rows[0] ? toVehicle(rows[0]) : null
    },

    async listVehicles(filter = {}) {
      const { rows } =
        filter.enterpriseLicenseNo === undefined
          ? await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles v WHERE v.retired_at IS NULL ORDER BY v.id`)
          : await sql.query<VehicleRow>(`SELECT ${VEHICLE_COLUMNS} FROM vehicles v WHERE v.retired_at IS NULL AND v.enterprise_license_no = $1 ORDER BY v.id`, [filter.enterpriseLicenseNo])
      return rows.map(toVehicle)
    },

    async getTerminalsWithVehicles(phones) {
      // One round trip for what a batch of authentications needs (a reconnect storm is thousands a second).
      const found = new Map<string, TerminalWithVehicle>()
      if (!phones.length) return found
      const { rows } = await sql.query<TerminalRow & { [K in keyof VehicleRow as `v_${K}`]: VehicleRow[K] | null }>(
        `SELECT t.phone, t.terminal_id, t.vehicle_id, t.auth_code_hash, t.protocol_version, t.manufacturer, t.model, t.imei, t.firmware, t.registered_at,
                v.id AS v_id, v.plate AS v_plate, v.plate_color AS v_plate_color, v.terminal_phone AS v_terminal_phone, v.terminal_id AS v_terminal_id,
                v.enterprise_license_no AS v_enterprise_license_no, v.enterprise_name AS v_enterprise_name, v.transport_cert_no AS v_transport_cert_no,
                v.transport_cert_valid_until::text AS v_transport_cert_valid_until, v.business_scope AS v_business_scope, v.retired_at AS v_retired_at
           FROM terminals t LEFT JOIN vehicles v ON v.id = t.vehicle_id
          WHERE t.phone = ANY($1::text[])`,
        [[...new Set(phones)]],
      )
      for (const r of rows) {
        const vehicle =
          r.v_id === null
            ? null
            : toVehicle({
                id: r.v_id,
                plate: r.v_plate!,
                plate_color: r.v_plate_color!,
                terminal_phone: r.v_terminal_phone,
                terminal_id: r.v_terminal_id,
                enterprise_license_no: r.v_enterprise_license_no,
                enterprise_name: r.v_enterprise_name,
                transport_cert_no: r.v_transport_cert_no,
                transport_cert_valid_until: r.v_transport_cert_valid_until,
                business_scope: r.v_business_scope,
                retired_at: r.v_retired_at,
              })
        const terminal = toTerminal(r)
        found.set(terminal.phone, { terminal, vehicle })
      }
      return found
    },

    async getTerminal(phone) {
      const { rows } = await sql.query<TerminalRow>(
        `SELECT phone, terminal_id, vehicle_id, auth_code_hash, protocol_version, manufacturer, model, imei, firmware, registered_at
           FROM terminals WHERE phone = $1`,
        [phone],
      )
      return rows[0] ? toTerminal(rows[0]) : null
    },

    async saveTerminal(t) {
      await sql.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO terminals (phone, terminal_id, vehicle_id, auth_code_hash, protocol_version, manufacturer, model, imei, firmware, registered_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
           ON CONFLICT (phone) DO UPDATE SET terminal_id = EXCLUDED.terminal_id, vehicle_id = EXCLUDED.vehicle_id,
             auth_code_hash = EXCLUDED.auth_code_hash, protocol_version = EXCLUDED.protocol_version,
             manufacturer = EXCLUDED.manufacturer, model = EXCLUDED.model, imei = EXCLUDED.imei,
             firmware = EXCLUDED.firmware, registered_at = EXCLUDED.registered_at, updated_at = now()`,
          [t.phone, t.terminalId, t.vehicleId, t.authCodeHash, t.protocolVersion, t.manufacturer, t.model, t.imei, t.firmware, t.registeredAt === null ? null : iso(t.registeredAt)],
        )
        if (t.vehicleId !== null) {
          // Keep Vehicle.terminalPhone in step with the registration; a terminal moved to another vehicle leaves the old one.
          await tx.query(`UPDATE vehicles SET terminal_phone = NULL, updated_at = now() WHERE terminal_phone = $1 AND id <> $2`, [t.phone, t.vehicleId])
          await tx.query(`UPDATE vehicles SET terminal_phone = $1, terminal_id = COALESCE($2, terminal_id), updated_at = now() WHERE id = $3`, [t.phone, t.terminalId, t.vehicleId])
        }
      })
    },
  }
}
