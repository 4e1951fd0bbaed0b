/**
 * CAR_INFO, the text of static vehicle information (JT/T 809 0x1601, 0x9204): `KEY:=value` items
 * separated by `;`, an unknown item left empty after `:=`. The keys are the standard's for freight
 * vehicles (跨域车辆静态信息, 货运), filled from our registry and the vehicle's current waybill:
 *
 *   VIN               车牌号 the plate (the standard's name for it)
 *   VEHICLE_COLOR     车辆颜色 (JT/T 415 body colour): not in our registry, empty
 *   VEHICLE_TYPE      车辆类型 (JT/T 415 5.4.9): not in our registry, empty
 *   TRANS_TYPE        运输行业编码 (JT/T 415 5.2.1): not in our registry, empty
 *   VEHICLE_NATIONALITY 车籍地 (GB/T 2260 area code): not in our registry, empty
 *   RTPN              道路运输证号 the vehicle's transport certificate
 *   OWERS_NAME        业户名称 the enterprise's name
 *   RTOLN             经营许可证号 the enterprise's licence number
 *   VEHICLE_ORIG_ID   车辆原编号 our registry id
 *   DG_TYPE           危险品货物分类 the hazard classes the certificate allows (businessScope), "、"-separated
 *   DRIVER_INFO       驾驶员 name,qualification,phone (current waybill)
 *   GUARDS_INFO       押运员 name,qualification,phone (current waybill)
 *   TRAILER_VIN       挂车车牌号 (current waybill)
 *   CARGO_NAME        货物品名, "、"-separated (current waybill)
 *   CARGO_TONNAGE     货物吨位, the goods given in t (current waybill)
 *   TRANSPORT_ORIGIN / TRANSPORT_DES  运输出发地 / 目的地 (current waybill)
 *   TSSL              运输起止时间: loading and expected arrival day, UTC seconds of 00:00 Beijing time, "|"-separated
 *
 * A value loses the separators the format has no escape for (`;` becomes `,`, `:=` becomes `:`).
 */
import type { Vehicle } from '../domain.js'
import { beijingMidnight } from '../domain/time.js'
import type { Waybill } from '../domain/waybill.js'

const clean = (v: string | number | null | undefined): string =>
  v === null || v === undefined
    ? ''
    : String(v)
        .replace(/;/g, ',')
        .replace(/:=/g, ':')
        .replace(/[\r\n]+/g, ' ')
        .trim()

const person = (name: string, qualification: string, phone: string) => (name ? [name, qualification, phone].map(clean).join(',') : '')

/** The CAR_INFO text of a vehicle (and its current waybill, when it has one). */
export function carInfoText(v: Pick<Vehicle, 'id' | 'plate' | 'transportCertNo' | 'enterpriseName' | 'enterpriseLicenseNo' | 'businessScope'>, w: Waybill | null): string {
  const tonnes = w ? w.goods.filter((g) => g.unit === 't').reduce((sum, g) => sum + g.quantity, 0) : 0
  const from = w ? beijingMidnight(w.loadingDate) : null
  const to = w ? beijingMidnight(w.expectedArrivalDate) : null
  const items: Array<[string, string | number | null]> = [
    ['VIN', v.plate],
    ['VEHICLE_COLOR', ''],
    ['VEHICLE_TYPE', ''],
    ['TRANS_TYPE', ''],
    ['VEHICLE_NATIONALITY', ''],
    ['RTPN', v.transportCertNo],
    ['OWERS_NAME', v.enterpriseName],
    ['RTOLN', v.enterpriseLicenseNo],
    ['VEHICLE_ORIG_ID', v.id],
    ['DG_TYPE', v.businessScope.join('、')],
    ['DRIVER_INFO', w ? person(w.driverName, w.driverQualificationNo, w.driverPhone) : ''],
    ['GUARDS_INFO', w ? person(w.escortName, w.escortQualificationNo, w.escortPhone) : ''],
    ['TRAILER_VIN', w?.trailerPlate ?? ''],
    ['CARGO_NAME', w ? w.goods.map((g) => clean(g.name)).join('、') : ''],
    ['CARGO_TONNAGE', tonnes > 0 ? Number(tonnes.toFixed(3)) : ''],
    ['TRANSPORT_ORIGIN', w?.loadingPlace ?? ''],
    ['TRANSPORT_DES', w?.destination ?? ''],
    ['TSSL', from !== null && to !== null ? `${from / 1000}|${to / 1000}` : ''],
  ]
  return items.map(([k, value]) => `${k}:=${clean(value)}`).join(';')
}

/** The KEY:=value items of a CAR_INFO text (the last of a repeated key wins); null when it has none. */
export function parseCarInfo(text: string): Record<string, string> | null {
  const out: Record<string, string> = {}
  let any = false
  for (const item of text.split(/[;\n]/)) {
    const at = item.indexOf(':=')
    if (at <= 0) continue
    const key = item.slice(0, at).trim()
    if (!key) continue
    out[key] = item.slice(at + 2).trim()
    any = true
  }
  return any ? out : null
}
