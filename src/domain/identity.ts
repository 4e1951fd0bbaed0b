/** Who a vehicle and a terminal are: the canonical forms every comparison and key uses. */

/** JT/T 808 / JT/T 415 plate colours. Hazmat trucks are yellow (2). */
export type PlateColor = number

/**
 * The one form in which plates are compared: Unicode NFKC (full-width Ａ１ → A1, the ideographic
 * space → a space), every whitespace and the middle-dot separator (浙A·12345) removed, upper case.
 * "浙b 82002", "浙Ｂ８２００２" and "浙B82002" are the same plate. Stored beside the display form
 * (vehicles.plate_key, waybills.plate) and used by every comparison: registry, scope, waybills, matcher.
 */
export function canonicalPlate(plate: string): string {
  return plate
    .normalize('NFKC')
    .replace(/[\s\u00b7\u2022\u30fb\u2027]+/gu, '')
    .toUpperCase()
}

export const samePlate = (a: string, b: string): boolean => canonicalPlate(a) === canonicalPlate(b)

/** A vehicle's identity: its canonical plate (canonicalPlate: "京a 12345" = "京A12345") and colour. */
export function plateKey(plate: string, plateColor: number): string {
  return `${canonicalPlate(plate)}|${plateColor}`
}

/** Terminal key used for sessions, the registry and stored rows: the phone without its BCD left padding. */
export function canonicalPhone(phone: string): string {
  const s = phone.replace(/^0+/, '')
  return s === '' ? '0' : s
}

/** The identity a position brings along: the vehicle a session reports for, or a waybill's vehicle. */
export interface VehicleRef {
  id: number
  plate: string
  plateColor: PlateColor
  enterpriseLicenseNo: string | null
}
