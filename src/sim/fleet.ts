/**
 * The simulated fleet: who terminal i is (phone, plate, terminal id, home city, carrier,
 * drivers). Pure function of (seed, index), so `jt808 simulate --emit-vehicles` can print the
 * registry rows that `jt808 import vehicles` loads before a run in `registry` mode.
 */
import type { NewVehicle } from '../domain.js'
import { CITIES, type City } from './cities.js'
import { Prng } from './prng.js'

export interface SimDriver {
  name: string
  /** 从业资格证号, an..19 */
  qualificationNo: string
  /** 18-character resident ID number */
  idNumber: string
  issuer: string
  /** YYYY-MM-DD */
  validUntil: string
}

export interface FleetMember {
  index: number
  /** 12 digits (2013) or 20 digits (2019) */
  phone: string
  plate: string
  /** 2 = yellow: hazmat trucks */
  plateColor: number
  terminalId: string
  home: City
  /** GB/T 2260 province and city codes for 0x0100 */
  province: number
  city: number
  enterpriseLicenseNo: string
  enterpriseName: string
  transportCertNo: string
  /** The driver and escort a waybill would name. */
  drivers: [SimDriver, SimDriver]
  /** A driver on no waybill: inserted by a driver-card swap injection. */
  stranger: SimDriver
}

export interface FleetOptions {
  seed: number
  version: 2013 | 2019
  /** Leading digits of every phone (default "0139"): the terminal index fills the rest. */
  phonePrefix?: string
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '胡', '朱', '高', '林', '何', '郭', '马', '罗']
const GIVEN = ['伟', '强', '磊', '军', '勇', '杰', '涛', '明', '超', '刚', '平', '辉', '鹏', '华', '飞', '斌', '波', '建国', '志强', '海峰']
/** Vehicles per simulated carrier. */
const FLEET_PER_CARRIER = 50

export function phoneOf(index: number, version: 2013 | 2019, prefix = '0139'): string {
  const digits = version === 2019 ? 20 : 12
  const tail = String(index)
  if (prefix.length + tail.length > digits) throw new RangeError(`terminal ${index} does not fit a ${digits}-digit phone with prefix ${prefix}`)
  return prefix + tail.padStart(digits - prefix.length, '0')
}

export function fleetMember(index: number, options: FleetOptions): FleetMember {
  const rng = Prng.forTerminal(options.seed ^ 0x5eed, index)
  const home = rng.pick(CITIES)
  // Unique per index: 5 characters from the index (a letter replaces the first digit past 99,999).
  const n = String(index % 100_000).padStart(5, '0')
  const serialPart = index < 100_000 ? n : String.fromCharCode(65 + (Math.floor(index / 100_000) % 26)) + n.slice(1)
  const carrier = Math.floor(index / FLEET_PER_CARRIER)
  const driver = (k: number): SimDriver => {
    const d = Prng.forTerminal(options.seed ^ 0xd71e, index * 4 + k)
    const year = 1965 + d.int(0, 35)
    const birth = `${year}${String(d.int(1, 12)).padStart(2, '0')}${String(d.int(1, 28)).padStart(2, '0')}`
    const id17 = `${home.province}${String(d.int(100, 9999)).padStart(4, '0')}${birth}${String(d.int(0, 999)).padStart(3, '0')}`
    return {
      name: d.pick(SURNAMES) + d.pick(GIVEN),
      qualificationNo: `${home.province}${String(d.int(0, 10 ** 9 - 1)).padStart(9, '0')}${String(index).padStart(6, '0')}`.slice(0, 17),
      idNumber: id17 + idChecksum(id17),
      issuer: `${home.name} road transport authority`,
      validUntil: `20${d.int(27, 32)}-${String(d.int(1, 12)).padStart(2, '0')}-${String(d.int(1, 28)).padStart(2, '0')}`,
    }
  }
  return {
    index,
    phone: phoneOf(index, options.version, options.phonePrefix),
    plate: `${home.plateProvince}${home.plateLetter}${serialPart}`,
    plateColor: 2,
    terminalId: ('S' + String(index).padStart(6, '0')).slice(-7),
    home,
    province: home.province,
    city: home.province * 100 + 1,
    enterpriseLicenseNo: `${home.province}SIM${String(carrier).padStart(7, '0')}`.slice(0, 12),
    enterpriseName: `${home.name} hazmat carrier ${carrier}`,
    transportCertNo: `${home.province}${String(index).padStart(10, '0')}`.slice(0, 12),
    drivers: [driver(0), driver(1)],
    stranger: driver(2),
  }
}

/** The registry row for a member (what `jt808 import vehicles` reads). */
export function vehicleOf(m: FleetMember): NewVehicle {
  return {
    plate: m.plate,
    plateColor: m.plateColor,
    terminalPhone: m.phone,
    terminalId: m.terminalId,
    enterpriseLicenseNo: m.enterpriseLicenseNo,
    enterpriseName: m.enterpriseName,
    transportCertNo: m.transportCertNo,
    transportCertValidUntil: '2030-12-31',
    businessScope: ['2.1', '3', '8'],
  }
}

/** GB 11643 check character of an 18-character ID number. */
function idChecksum(id17: string): string {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(id17[i]) * w[i]
  return '10X98765432'[sum % 11]
}
