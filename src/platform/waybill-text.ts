/**
 * EWAYBILL_INFO (0x120B / 0x120D) ↔ our electronic waybill (src/matcher/waybill.ts, the 29 fields).
 * JT/T 809 defines the waybill only as GBK text, so what a lower platform sends is kept as
 * received, and read as one of:
 *   json   a JSON object with our field names (what we send up: waybillToText)
 *   pairs  "field:=value;field:=value…" (the 809 CAR_INFO style), our field names, goods as
 *          goods[i].field or one set of plain goods columns (as a CSV row: waybillFromFlat)
 *   text   anything else: kept as text only
 * A json or pairs waybill is validated like one from the API; its plate and colour, when given,
 * must be the message's vehicle (absent: the message's). One that validates is used for matching.
 */
import { canonicalPlate } from '../domain.js'
import { parseWaybill, waybillFromFlat, type FieldError, type WaybillInput } from '../domain.js'

export type WaybillTextFormat = 'json' | 'pairs' | 'text'

export interface WaybillText {
  format: WaybillTextFormat
  /** the waybill when the text validated, else null */
  waybill: WaybillInput | null
  /** why it did not (json / pairs), empty for plain text */
  errors: FieldError[]
}

/** Reads EWAYBILL_INFO for the vehicle the message names. */
export function readWaybillText(text: string, vehicle: { plate: string; plateColor: number }): WaybillText {
  const t = text.replace(/\0+$/, '').trim()
  let raw: Record<string, unknown>
  let format: WaybillTextFormat
  if (t.startsWith('{')) {
    format = 'json'
    try {
      const v: unknown = JSON.parse(t)
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return { format, waybill: null, errors: [{ field: '', message: 'not a JSON object' }] }
      raw = { ...(v as Record<string, unknown>) }
    } catch (err) {
      return { format, waybill: null, errors: [{ field: '', message: `not JSON: ${(err as Error).message}` }] }
    }
  } else if (t.includes(':=')) {
    format = 'pairs'
    const flat: Record<string, string> = {}
    for (const part of t.split(/[;\n]/)) {
      const at = part.indexOf(':=')
      if (at <= 0) continue
      flat[part.slice(0, at).trim()] = part.slice(at + 2).trim()
    }
    raw = waybillFromFlat(flat)
  } else return { format: 'text', waybill: null, errors: [] }

  const errors: FieldError[] = []
  if (raw.plate === undefined || raw.plate === '') raw.plate = vehicle.plate
  else if (typeof raw.plate !== 'string' || canonicalPlate(raw.plate) !== canonicalPlate(vehicle.plate)) errors.push({ field: 'plate', message: `is not the message's vehicle ${vehicle.plate}` })
  if (raw.plateColor === undefined || raw.plateColor === '') raw.plateColor = vehicle.plateColor
  else if (Number(raw.plateColor) !== vehicle.plateColor) errors.push({ field: 'plateColor', message: `is not the message's colour ${vehicle.plateColor}` })
  const parsed = parseWaybill(raw)
  if (!parsed.ok) errors.push(...parsed.errors)
  return errors.length || !parsed.ok ? { format, waybill: null, errors } : { format, waybill: parsed.value, errors: [] }
}

/** Above this the planned route is left out of the text we send (a frame stays well under the link's maximum). */
const MAX_TEXT_BYTES = 60_000

/** EWAYBILL_INFO for a waybill we send up: its fields as JSON (readWaybillText reads it back). */
export function waybillToText(w: WaybillInput): string {
  const { status: _s, createdAt: _c, updatedAt: _u, statusHistory: _h, ...input } = w as WaybillInput & Record<string, unknown>
  const text = JSON.stringify(input)
  if (Buffer.byteLength(text) <= MAX_TEXT_BYTES || !input.plannedRoute) return text
  const { plannedRoute: _r, ...withoutRoute } = input
  return JSON.stringify(withoutRoute)
}
