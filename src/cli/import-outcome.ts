/**
 * What importing one record would do to what is stored: create it, leave it unchanged (the same
 * content again), or conflict with it (stored with other values). Pure: the import command reads
 * the stored record and writes; a second path (e.g. through the API) can classify the same way.
 */
import type { NewVehicle, Vehicle, Waybill, WaybillInput } from '../domain.js'

export type ImportOutcome = 'created' | 'unchanged' | 'conflicting' | 'updated'

export interface Classified {
  outcome: 'created' | 'unchanged' | 'conflicting'
  /** the stored fields the record would change (conflicting only) */
  fields: string[]
}

/** A vehicle import gives some fields; the ones it leaves out keep their stored values, so only the given ones are compared. */
export function classifyVehicle(given: NewVehicle, stored: Vehicle | null): Classified {
  if (!stored) return { outcome: 'created', fields: [] }
  const fields: string[] = []
  for (const [key, value] of Object.entries(given) as Array<[keyof NewVehicle, unknown]>) {
    if (key === 'plate' || key === 'plateColor' || value === undefined) continue
    if (!sameValue(value, stored[key as keyof Vehicle], key === 'businessScope')) fields.push(key)
  }
  return { outcome: fields.length ? 'conflicting' : 'unchanged', fields }
}

/** A waybill import gives the whole waybill: every input field is compared (status and history are the platform's). */
export function classifyWaybill(given: WaybillInput, stored: Waybill | null): Classified {
  if (!stored) return { outcome: 'created', fields: [] }
  const { status: _s, createdAt: _c, updatedAt: _u, statusHistory: _h, ...storedInput } = stored
  const keys = new Set([...Object.keys(given), ...Object.keys(storedInput)])
  const fields = [...keys].filter((k) => !sameValue((given as unknown as Record<string, unknown>)[k], (storedInput as Record<string, unknown>)[k], false)).sort()
  return { outcome: fields.length ? 'conflicting' : 'unchanged', fields }
}

function sameValue(a: unknown, b: unknown, asSet: boolean): boolean {
  if (asSet && Array.isArray(a) && Array.isArray(b)) return canonical([...a].sort()) === canonical([...b].sort())
  return canonical(a) === canonical(b)
}

/** JSON with sorted keys; undefined, null and "" are all "not given". */
function canonical(value: unknown): string {
  if (value === undefined || value === null || value === '') return 'null'
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((k) => canonical((value as Record<string, unknown>)[k]) !== 'null')
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value)
}
