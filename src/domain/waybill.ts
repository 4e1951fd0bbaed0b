/**
 * The electronic waybill of hazardous-goods road transport: the 29 fields of the pilot's table
 * (docs/rules.md, "Electronic waybill"), its validation with field-level errors, its
 * lifecycle, and when it is active for its vehicle.
 *
 * Formats: "an..N" is at most N characters (Chinese text counts one per character), "anN"
 * exactly N, "n4" four digits, "n..9,2" a number of at most 9 digits of which at most 2 are
 * decimals. Dates are accepted as yyyymmdd or yyyy-mm-dd and stored in the table's own format.
 */
import { beijingMidnight, DAY } from './time.js'

export type WaybillStatus = 'created' | 'dispatched' | 'in_transit' | 'completed' | 'cancelled'
export const WAYBILL_STATUSES: readonly WaybillStatus[] = ['created', 'dispatched', 'in_transit', 'completed', 'cancelled']

/** Quantity unit: tonnes or cubic metres (table item 29). */
export type GoodsUnit = 't' | 'm3'

export interface WaybillGoods {
  /** GB 12268 / UN number, 4 digits */
  unNumber: string
  name: string
  /** class or division, e.g. "3", "2.1", "1.1D" */
  hazardClass: string
  packingGroup: string
  specification: string
  quantity: number
  unit: GoodsUnit
}

export type LonLat = [number, number]

export interface GeoJsonLineString {
  type: 'LineString'
  coordinates: LonLat[]
}

/** The waybill as submitted (API, import, file): the table's fields plus the route extras. */
export interface WaybillInput {
  waybillNo: string
  /** yyyy-mm-dd */
  issueDate: string
  consignorName: string
  consignorPhone: string
  consigneeName: string
  consigneePhone: string
  loadingPlace: string
  /** yyyymmdd */
  loadingDate: string
  destination: string
  /** yyyymmdd */
  expectedArrivalDate: string
  carrierName: string
  carrierLicenseNo: string
  carrierPhone: string
  plate: string
  /** JT/T 415 plate colour; 2 (yellow) for hazmat trucks */
  plateColor: number
  transportCertNo: string
  trailerPlate: string
  trailerTransportCertNo: string
  driverName: string
  driverQualificationNo: string
  driverPhone: string
  escortName: string
  escortQualificationNo: string
  escortPhone: string
  goods: WaybillGoods[]
  loadingPoint?: LonLat
  destinationPoint?: LonLat
  plannedRoute?: GeoJsonLineString
  /** corridor half-width around plannedRoute, km */
  corridorKm?: number
}

export interface WaybillStatusChange {
  status: WaybillStatus
  /** UTC ms */
  at: number
  /** who made the change (token subject, "import", "terminal"…) */
  by?: string
  note?: string
}

/** A stored waybill: the input plus its lifecycle. */
export interface Waybill extends WaybillInput {
  status: WaybillStatus
  createdAt: number
  updatedAt: number
  /** oldest first; the first entry is the creation */
  statusHistory: WaybillStatusChange[]
}

export interface FieldError {
  /** JSON path of the field, e.g. "goods[1].unNumber" */
  field: string
  message: string
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] }

/** The 29 fields (goods items 24–29 are per goods entry) in table order, for CSV headers and docs. */
export const WAYBILL_FIELDS = [
  'waybillNo',
  'issueDate',
  'consignorName',
  'consignorPhone',
  'consigneeName',
  'consigneePhone',
  'loadingPlace',
  'loadingDate',
  'destination',
  'expectedArrivalDate',
  'carrierName',
  'carrierLicenseNo',
  'carrierPhone',
  'plate',
  'transportCertNo',
  'trailerPlate',
  'trailerTransportCertNo',
  'driverName',
  'driverQualificationNo',
  'driverPhone',
  'escortName',
  'escortQualificationNo',
  'escortPhone',
] as const
export const GOODS_FIELDS = ['unNumber', 'name', 'hazardClass', 'packingGroup', 'specification', 'quantity', 'unit'] as const

type TextField = (typeof WAYBILL_FIELDS)[number]
interface TextRule {
  max: number
  exact?: boolean
  required: boolean
  date?: 'iso' | 'compact'
}

/**
 * Per-field format from the table. Required: what identifies the trip, the parties, the crew
 * and the cargo (an escort is mandatory, 办法 Art. 44); phones and the trailer are optional.
 */
const TEXT_RULES: Record<TextField, TextRule> = {
  waybillNo: { max: 50, required: true },
  issueDate: { max: 10, required: true, date: 'iso' },
  consignorName: { max: 100, required: true },
  consignorPhone: { max: 18, required: false },
  consigneeName: { max: 100, required: true },
  consigneePhone: { max: 18, required: false },
  loadingPlace: { max: 256, required: true },
  loadingDate: { max: 8, required: true, date: 'compact' },
  destination: { max: 100, required: true },
  expectedArrivalDate: { max: 8, required: true, date: 'compact' },
  carrierName: { max: 100, required: true },
  carrierLicenseNo: { max: 12, exact: true, required: true },
  carrierPhone: { max: 18, required: false },
  plate: { max: 35, required: true },
  transportCertNo: { max: 12, exact: true, required: true },
  trailerPlate: { max: 35, required: false },
  trailerTransportCertNo: { max: 12, exact: true, required: false },
  driverName: { max: 256, required: true },
  driverQualificationNo: { max: 19, required: true },
  driverPhone: { max: 18, required: false },
  escortName: { max: 256, required: true },
  escortQualificationNo: { max: 19, required: true },
  escortPhone: { max: 18, required: false },
}

const PHONE = /^[0-9+\-() ]*$/
const HAZARD_CLASS = /^[1-9](\.[1-6][A-SN]?)?$/
const CHINA_LON: [number, number] = [73.55, 135.0834]
const CHINA_LAT: [number, number] = [3.85, 53.55]
export const MAX_ROUTE_POINTS = 10_000

/** Characters, not UTF-16 units: a name in CJK extension B still counts once. */
function charLength(s: string): number {
  let n = 0
  for (const _ of s) n++
  return n
}

function normalizeDate(raw: string, kind: 'iso' | 'compact'): string | null {
  const ms = beijingMidnight(raw)
  if (ms === null) return null
  const d = raw.replace(/-/g, '')
  return kind === 'compact' ? d : `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`
}

/**
 * Validates and normalises a waybill from JSON (API body, NDJSON line, or the result of
 * waybillFromFlat). Every problem is reported, each with its field.
 */
export function parseWaybill(input: unknown): ParseResult<WaybillInput> {
  const errors: FieldError[] = []
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ field: '', message: 'expected a JSON object' }] }
  }
  const src = input as Record<string, unknown>
  const out: Record<string, unknown> = {}

  for (const field of WAYBILL_FIELDS) {
    const rule = TEXT_RULES[field]
    const raw = src[field]
    if (raw === undefined || raw === null || raw === '') {
      if (rule.required) errors.push({ field, message: 'is required' })
      out[field] = ''
      continue
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      errors.push({ field, message: 'must be a string' })
      continue
    }
    const text = String(raw).trim()
    if (rule.date) {
      const d = normalizeDate(text, rule.date)
      if (d === null) errors.push({ field, message: `must be a date (${rule.date === 'iso' ? 'yyyy-mm-dd' : 'yyyymmdd'})` })
      out[field] = d ?? text
      continue
    }
    const len = charLength(text)
    if (rule.exact && len !== rule.max) errors.push({ field, message: `must be exactly ${rule.max} characters (an${rule.max}), got ${len}` })
    else if (len > rule.max) errors.push({ field, message: `must be at most ${rule.max} characters (an..${rule.max}), got ${len}` })
    if (field.endsWith('Phone') && !PHONE.test(text)) errors.push({ field, message: 'must be a phone number (digits, +, -, spaces, parentheses)' })
    if (rule.exact && /\s/.test(text)) errors.push({ field, message: 'must not contain spaces' })
    out[field] = text
  }

  if (out.trailerPlate && !out.trailerTransportCertNo) {
    errors.push({ field: 'trailerTransportCertNo', message: 'is required when trailerPlate is given' })
  }
  const loading = typeof out.loadingDate === 'string' ? beijingMidnight(out.loadingDate) : null
  const arrival = typeof out.expectedArrivalDate === 'string' ? beijingMidnight(out.expectedArrivalDate) : null
  if (loading !== null && arrival !== null && arrival < loading) {
    errors.push({ field: 'expectedArrivalDate', message: 'must not be before loadingDate' })
  }

  // plateColor: JT/T 415 colour code, default yellow (2).
  if (src.plateColor === undefined || src.plateColor === null || src.plateColor === '') out.plateColor = 2
  else {
    const c = typeof src.plateColor === 'string' && /^\d+$/.test(src.plateColor.trim()) ? Number(src.plateColor) : src.plateColor
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 255) errors.push({ field: 'plateColor', message: 'must be an integer 0..255 (JT/T 415 colour; 2 = yellow)' })
    out.plateColor = c
  }

  out.goods = parseGoods(src.goods, errors)

  for (const key of ['loadingPoint', 'destinationPoint'] as const) {
    if (src[key] === undefined || src[key] === null) continue
    const p = parseLonLat(src[key])
    if (!p) errors.push({ field: key, message: `must be [longitude, latitude] within ${CHINA_LON.join('..')}, ${CHINA_LAT.join('..')}` })
    else out[key] = p
  }

  if (src.plannedRoute !== undefined && src.plannedRoute !== null) {
    const route = parseLineString(src.plannedRoute, errors)
    if (route) out.plannedRoute = route
  }
  if (src.corridorKm !== undefined && src.corridorKm !== null && src.corridorKm !== '') {
    const k = typeof src.corridorKm === 'string' ? Number(src.corridorKm) : src.corridorKm
    if (typeof k !== 'number' || !Number.isFinite(k) || k <= 0 || k > 100) errors.push({ field: 'corridorKm', message: 'must be a number of km in (0, 100]' })
    else out.corridorKm = k
  }

  for (const key of Object.keys(src)) {
    if (!KNOWN_KEYS.has(key)) errors.push({ field: key, message: 'is not a waybill field' })
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: out as unknown as WaybillInput }
}

const KNOWN_KEYS = new Set<string>([...WAYBILL_FIELDS, 'plateColor', 'goods', 'loadingPoint', 'destinationPoint', 'plannedRoute', 'corridorKm'])

function parseGoods(raw: unknown, errors: FieldError[]): WaybillGoods[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    errors.push({ field: 'goods', message: 'must be a non-empty array of goods' })
    return []
  }
  if (raw.length > 100) {
    errors.push({ field: 'goods', message: 'at most 100 goods entries' })
    return []
  }
  return raw.map((g, i) => parseOneGoods(g, `goods[${i}]`, errors))
}

function parseOneGoods(raw: unknown, at: string, errors: FieldError[]): WaybillGoods {
  const g = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
  if (typeof raw !== 'object' || raw === null) errors.push({ field: at, message: 'must be an object' })
  const text = (key: string, max: number, required: boolean): string => {
    const v = g[key]
    if (v === undefined || v === null || v === '') {
      if (required) errors.push({ field: `${at}.${key}`, message: 'is required' })
      return ''
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      errors.push({ field: `${at}.${key}`, message: 'must be a string' })
      return ''
    }
    const s = String(v).trim()
    if (charLength(s) > max) errors.push({ field: `${at}.${key}`, message: `must be at most ${max} characters (an..${max})` })
    return s
  }
  const unNumber = text('unNumber', 4, true)
  if (unNumber && !/^\d{4}$/.test(unNumber)) errors.push({ field: `${at}.unNumber`, message: 'must be 4 digits (n4, GB 12268)' })
  const name = text('name', 256, true)
  const hazardClass = text('hazardClass', 4, true)
  if (hazardClass && !HAZARD_CLASS.test(hazardClass)) errors.push({ field: `${at}.hazardClass`, message: 'must be a class or division such as "3", "2.1", "1.1D" (an..4)' })
  const packingGroup = text('packingGroup', 17, false)
  const specification = text('specification', 35, false)
  const quantity = parseQuantity(g.quantity, `${at}.quantity`, errors)
  let unit: GoodsUnit = 't'
  if (g.unit !== undefined && g.unit !== null && g.unit !== '') {
    const u = UNIT_ALIASES[String(g.unit).trim().toLowerCase()]
    if (!u) errors.push({ field: `${at}.unit`, message: 'must be "t" (tonnes) or "m3" (cubic metres)' })
    else unit = u
  }
  for (const key of Object.keys(g)) {
    if (!(GOODS_FIELDS as readonly string[]).includes(key)) errors.push({ field: `${at}.${key}`, message: 'is not a goods field' })
  }
  return { unNumber, name, hazardClass, packingGroup, specification, quantity, unit }
}

const UNIT_ALIASES: Record<string, GoodsUnit> = { t: 't', tonne: 't', tonnes: 't', 吨: 't', m3: 'm3', 'm³': 'm3', 立方米: 'm3' }

function parseQuantity(raw: unknown, field: string, errors: FieldError[]): number {
  if (raw === undefined || raw === null || raw === '') {
    errors.push({ field, message: 'is required' })
    return 0
  }
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : ''
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text)
  if (!m) {
    errors.push({ field, message: 'must be a positive number (n..9,2)' })
    return 0
  }
  const intDigits = m[1].replace(/^0+(?=\d)/, '').length
  const decDigits = (m[2] ?? '').replace(/0+$/, '').length
  if (decDigits > 2) errors.push({ field, message: 'at most 2 decimals (n..9,2)' })
  else if (intDigits + 2 > 9) errors.push({ field, message: 'at most 7 integer digits (n..9,2)' })
  const n = Number(text)
  if (n <= 0) errors.push({ field, message: 'must be greater than 0' })
  return n
}

function parseLonLat(raw: unknown): LonLat | null {
  if (!Array.isArray(raw) || raw.length !== 2) return null
  const [lon, lat] = raw
  if (typeof lon !== 'number' || typeof lat !== 'number') return null
  if (!(lon >= CHINA_LON[0] && lon <= CHINA_LON[1] && lat >= CHINA_LAT[0] && lat <= CHINA_LAT[1])) return null
  return [lon, lat]
}

function parseLineString(raw: unknown, errors: FieldError[]): GeoJsonLineString | null {
  const r = raw as { type?: unknown; coordinates?: unknown }
  if (typeof raw !== 'object' || raw === null || r.type !== 'LineString' || !Array.isArray(r.coordinates)) {
    errors.push({ field: 'plannedRoute', message: 'must be a GeoJSON LineString {"type":"LineString","coordinates":[[lon,lat],...]}' })
    return null
  }
  if (r.coordinates.length < 2 || r.coordinates.length > MAX_ROUTE_POINTS) {
    errors.push({ field: 'plannedRoute.coordinates', message: `must hold 2..${MAX_ROUTE_POINTS} positions` })
    return null
  }
  const coords: LonLat[] = []
  for (let i = 0; i < r.coordinates.length; i++) {
    const p = parseLonLat(Array.isArray(r.coordinates[i]) ? (r.coordinates[i] as unknown[]).slice(0, 2) : r.coordinates[i])
    if (!p) {
      errors.push({ field: `plannedRoute.coordinates[${i}]`, message: 'must be [longitude, latitude] within China' })
      return null
    }
    coords.push(p)
  }
  return { type: 'LineString', coordinates: coords }
}

/**
 * Builds the JSON shape from a flat record (a CSV row): goods either as a JSON array in a
 * "goods" column, as "goods[i].field" / "goods.i.field" columns, or as one set of plain goods
 * columns (unNumber, goodsName or name, hazardClass, packingGroup, specification, quantity,
 * unit). loadingPoint/destinationPoint as "lon,lat"; plannedRoute as GeoJSON text. Feed the
 * result to parseWaybill; a malformed JSON cell becomes a field error there.
 */
export function waybillFromFlat(row: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const goods: Record<string, unknown>[] = []
  const plainGoods: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(row)) {
    if (value === undefined || value === '') continue
    const indexed = /^goods(?:\[(\d+)\]|\.(\d+))\.(\w+)$/.exec(key)
    if (indexed) {
      const i = Number(indexed[1] ?? indexed[2])
      if (i < 100) (goods[i] ??= {})[indexed[3]] = value
      continue
    }
    if (key === 'goods') {
      out.goods = parseJsonCell(value)
      continue
    }
    if (key === 'goodsName' || (key === 'name' && !('goodsName' in row))) {
      plainGoods.name = value
      continue
    }
    if ((GOODS_FIELDS as readonly string[]).includes(key)) {
      plainGoods[key] = value
      continue
    }
    if (key === 'loadingPoint' || key === 'destinationPoint') {
      const parts = value
        .split(/[,;\s]+/)
        .filter(Boolean)
        .map(Number)
      out[key] = parts.length === 2 ? parts : value
      continue
    }
    if (key === 'plannedRoute') {
      out[key] = parseJsonCell(value)
      continue
    }
    out[key] = value
  }
  if (out.goods === undefined) {
    const list = goods.filter(Boolean)
    if (Object.keys(plainGoods).length) list.unshift(plainGoods)
    if (list.length) out.goods = list
  }
  return out
}

function parseJsonCell(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

// ---------------------------------------------------------------- lifecycle

const TRANSITIONS: Record<WaybillStatus, readonly WaybillStatus[]> = {
  created: ['dispatched', 'cancelled'],
  dispatched: ['in_transit', 'cancelled'],
  in_transit: ['completed', 'cancelled'],
  completed: [],
  cancelled: [],
}

export function canTransition(from: WaybillStatus, to: WaybillStatus): boolean {
  return TRANSITIONS[from].includes(to)
}

export function isWaybillStatus(s: unknown): s is WaybillStatus {
  return typeof s === 'string' && (WAYBILL_STATUSES as readonly string[]).includes(s)
}

export class InvalidTransitionError extends Error {
  readonly code = 'INVALID_TRANSITION'
  constructor(
    readonly from: WaybillStatus,
    readonly to: WaybillStatus,
  ) {
    super(`waybill cannot move from ${from} to ${to}${TRANSITIONS[from].length ? ` (allowed: ${TRANSITIONS[from].join(', ')})` : ` (${from} is final)`}`)
    this.name = 'InvalidTransitionError'
  }
}

/** A new waybill in status "created" (or another initial status, e.g. an import of dispatched ones). */
export function newWaybill(input: WaybillInput, at: number, by?: string, status: WaybillStatus = 'created'): Waybill {
  const history: WaybillStatusChange[] = [{ status: 'created', at, ...(by ? { by } : {}) }]
  // An import may bring waybills that are already further on: walk the chain so history stays legal.
  const path = pathTo(status)
  if (!path) throw new InvalidTransitionError('created', status)
  for (const s of path) history.push({ status: s, at, ...(by ? { by } : {}) })
  return { ...input, status, createdAt: at, updatedAt: at, statusHistory: history }
}

function pathTo(target: WaybillStatus): WaybillStatus[] | null {
  switch (target) {
    case 'created':
      return []
    case 'dispatched':
      return ['dispatched']
    case 'in_transit':
      return ['dispatched', 'in_transit']
    case 'completed':
      return ['dispatched', 'in_transit', 'completed']
    case 'cancelled':
      return ['cancelled']
  }
}

/** Returns the waybill moved to `to`; throws InvalidTransitionError for a move the lifecycle forbids. */
export function transitionWaybill(w: Waybill, to: WaybillStatus, at: number, by?: string, note?: string): Waybill {
  if (!canTransition(w.status, to)) throw new InvalidTransitionError(w.status, to)
  const change: WaybillStatusChange = { status: to, at, ...(by ? { by } : {}), ...(note ? { note } : {}) }
  return { ...w, status: to, updatedAt: at, statusHistory: [...w.statusHistory, change] }
}

// ---------------------------------------------------------------- activity

/** [loading date 00:00, expected arrival 24:00] Beijing time, widened by graceMs on both sides. */
export function activityWindow(w: Pick<WaybillInput, 'loadingDate' | 'expectedArrivalDate'>, graceMs = 0): [number, number] | null {
  const from = beijingMidnight(w.loadingDate)
  const to = beijingMidnight(w.expectedArrivalDate)
  if (from === null || to === null) return null
  return [from - graceMs, to + DAY + graceMs]
}

/** Active now: dispatched or in transit, and `at` inside the (widened) window. */
export function isActive(w: Pick<Waybill, 'status' | 'loadingDate' | 'expectedArrivalDate'>, at: number, graceMs = 0): boolean {
  if (w.status !== 'dispatched' && w.status !== 'in_transit') return false
  const win = activityWindow(w, graceMs)
  return win !== null && at >= win[0] && at <= win[1]
}

/**
 * The intervals during which the waybill was active, from its status history: from the moment
 * it was dispatched until it was completed or cancelled, clipped to the widened window. Used
 * to judge late (blind-area) data against the waybill as it stood at the time.
 */
export function activeIntervals(w: Pick<Waybill, 'status' | 'loadingDate' | 'expectedArrivalDate' | 'statusHistory'>, graceMs = 0): Array<[number, number]> {
  const win = activityWindow(w, graceMs)
  if (!win) return []
  const out: Array<[number, number]> = []
  let since: number | null = null
  for (const change of w.statusHistory) {
    const on = change.status === 'dispatched' || change.status === 'in_transit'
    if (on && since === null) since = change.at
    else if (!on && since !== null && change.status !== 'created') {
      out.push([since, change.at])
      since = null
    }
  }
  if (since !== null) out.push([since, Infinity])
  const clipped: Array<[number, number]> = []
  for (const [a, b] of out) {
    const s = Math.max(a, win[0]),
      e = Math.min(b, win[1])
    if (e > s) clipped.push([s, e])
  }
  return clipped
}

/** Active at `at` as it stood then (status history), not as it stands now. */
export function wasActiveAt(w: Pick<Waybill, 'status' | 'loadingDate' | 'expectedArrivalDate' | 'statusHistory'>, at: number, graceMs = 0): boolean {
  for (const [a, b] of activeIntervals(w, graceMs)) if (at >= a && at <= b) return true
  return false
}

/** Qualification numbers compared the same way. */
export function normalizeQualification(q: string | null | undefined): string {
  return (q ?? '').replace(/\s+/g, '').toUpperCase()
}
