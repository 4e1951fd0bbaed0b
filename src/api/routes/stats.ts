/**
 * Statistics for supervisors (seed 000 ch.3: corridor analysis of key bridges/tunnels, cargo flow
 * analysis). Enterprise tokens get the same figures over their own vehicles and waybills only.
 *
 *   corridors  hazmat passages through each key segment (bridge, tunnel, key-segment geofences),
 *              by hazard class of the waybill active at the passage (or counted without waybill)
 *   flows      cargo moved in a period from waybills joined with their vehicles' tracks:
 *              quantities, distance driven while the waybill was active, tonne-km
 *   quality    the assessment data-quality figures per vehicle-day or per enterprise (the
 *              matcher's qualityReport)
 *   grades     red / yellow / green of enterprises or drivers for a period (the matcher's grading)
 */
import type { FastifyInstance } from 'fastify'
import type { Vehicle } from '../../domain.js'
import { distanceKm } from '../../geo.js'
import { activeIntervals, wasActiveAt, type Waybill } from '../../domain.js'
import { qualityReport, type GroupQuality } from '../../matcher/quality.js'
import { gradeDrivers, gradeEnterprises } from '../../matcher/grading.js'
import { countPassages, passagesThrough, type Carried } from '../../matcher/passages.js'
import type { AnomalyStore, WaybillStore } from '../../store/port.js'
import { confine, scopedLicenceFilter } from '../access.js'
import { ApiError } from '../errors.js'
import { geofenceArea } from '../geo.js'
import { iso } from '../present.js'
import { licenceSchema, timeRangeQuery } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { timeRange } from './vehicles.js'

const MAX_SPAN_MS = 31 * 86_400_000
const MAX_BOX_FIXES = 500_000
const MAX_WAYBILLS = 20_000
/** track resolution for distances */
const TRACK_EVERY_S = 30

export function statsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const store = () => ctx.deps.store as ApiContext['deps']['store'] & WaybillStore

  app.get<{ Querystring: { from: string; to: string; enterprise?: string } }>(
    '/stats/corridors',
    {
      config: { access: 'read' },
      schema: {
        tags: ['stats'],
        summary: 'Hazmat passages per key road segment (bridges, tunnels, key segments), by hazard class',
        querystring: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { ...timeRangeQuery, enterprise: licenceSchema } },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              segments: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    geofenceId: { type: 'integer' },
                    name: { type: 'string' },
                    kind: { type: 'string' },
                    passages: { type: 'integer' },
                    vehicles: { type: 'integer' },
                    byHazardClass: { type: 'object', additionalProperties: { type: 'integer' } },
                    withoutWaybill: { type: 'integer' },
                    truncated: { type: 'boolean' },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const { from, to } = timeRange(request.query.from, request.query.to, MAX_SPAN_MS)
      const licence = scopedLicenceFilter(request, request.query.enterprise) ?? null
      const vehicles = new Map<number, Vehicle | null>()
      const vehicleOf = async (id: number) => {
        if (!vehicles.has(id)) vehicles.set(id, await ctx.deps.store.getVehicle(id))
        return vehicles.get(id)!
      }
      // The waybill active at a past moment, as its status history stood then (not its status now).
      const grace = ctx.deps.config.waybillGraceMs ?? 0
      const candidates = new Map<number, Waybill[]>()
      const waybillAt = async (v: Vehicle, t: number): Promise<Waybill | null> => {
        if (!candidates.has(v.id)) {
          const page = await store().listWaybills({ plate: v.plate, plateColor: v.plateColor, from: from - grace, to: to + grace, limit: 1000 })
          candidates.set(v.id, page.items)
        }
        return candidates.get(v.id)!.find((w) => wasActiveAt(w, t, grace)) ?? null
      }
      const fences = (await ctx.deps.store.listGeofences()).filter((g) => g.kind !== 'speed-zone')
      const segments = []
      for (const g of fences) {
        const area = geofenceArea(g)
        const fixes = area ? await ctx.deps.store.positionsInBox(g.bbox, from, to, MAX_BOX_FIXES) : []
        const carried: Carried[] = []
        for (const p of area ? passagesThrough(area, fixes) : []) {
          const v = await vehicleOf(p.vehicleId)
          if (!v || (licence !== null && v.enterpriseLicenseNo !== licence)) continue
          const w = await waybillAt(v, p.at)
          carried.push({ vehicleId: v.id, hazardClasses: w ? w.goods.map((x) => x.hazardClass) : null })
        }
        segments.push({ geofenceId: g.id, name: g.name, kind: g.kind, ...countPassages(carried), truncated: fixes.length >= MAX_BOX_FIXES })
      }
      return { from: iso(from), to: iso(to), segments }
    },
  )

  app.get<{ Querystring: { from: string; to: string; groupBy: 'unNumber' | 'hazardClass' | 'destination'; enterprise?: string } }>(
    '/stats/flows',
    {
      config: { access: 'read' },
      schema: {
        tags: ['stats'],
        summary: 'Cargo flow from waybills joined with tracks: quantity, distance and tonne-km per UN number, hazard class or destination',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { ...timeRangeQuery, groupBy: { type: 'string', enum: ['unNumber', 'hazardClass', 'destination'], default: 'hazardClass' }, enterprise: licenceSchema },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              groupBy: { type: 'string' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    key: { type: 'string' },
                    names: { type: 'array', items: { type: 'string' } },
                    waybills: { type: 'integer' },
                    tonnes: { type: 'number' },
                    cubicMetres: { type: 'number' },
                    distanceKm: { type: 'number', description: 'driven while the waybills were active, inside the range' },
                    tonneKm: { type: 'number' },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const q = request.query
      const { from, to } = timeRange(q.from, q.to, MAX_SPAN_MS)
      const licence = scopedLicenceFilter(request, q.enterprise) ?? confine(request) ?? undefined
      const waybills: Waybill[] = []
      let cursor: string | null = null
      do {
        const page = await store().listWaybills({ from, to, status: ['dispatched', 'in_transit', 'completed'], carrierLicenseNo: licence, cursor, limit: 1000 })
        waybills.push(...page.items)
        cursor = page.nextCursor
        if (waybills.length > MAX_WAYBILLS)
          throw new ApiError('VALIDATION_FAILED', `more than ${MAX_WAYBILLS} waybills in the range: narrow it`, { fields: [{ field: 'query/to', message: 'range too wide' }] })
      } while (cursor)

      type Group = { key: string; names: Set<string>; waybills: Set<string>; tonnes: number; cubicMetres: number; distanceKm: number; tonneKm: number }
      const groups = new Map<string, Group>()
      for (const w of waybills) {
        const km = await distanceDrivenKm(ctx, w, from, to)
        for (const g of w.goods) {
          const key = q.groupBy === 'unNumber' ? g.unNumber : q.groupBy === 'hazardClass' ? g.hazardClass : w.destination
          const grp = groups.get(key) ?? { key, names: new Set(), waybills: new Set(), tonnes: 0, cubicMetres: 0, distanceKm: 0, tonneKm: 0 }
          groups.set(key, grp)
          grp.names.add(q.groupBy === 'destination' ? w.destination : g.name)
          if (!grp.waybills.has(w.waybillNo)) grp.distanceKm += km
          grp.waybills.add(w.waybillNo)
          if (g.unit === 'm3') grp.cubicMetres += g.quantity
          else {
            grp.tonnes += g.quantity
            grp.tonneKm += g.quantity * km
          }
        }
      }
      const r2 = (n: number) => Math.round(n * 100) / 100
      const items = [...groups.values()]
        .map((g) => ({
          key: g.key,
          names: [...g.names].slice(0, 20),
          waybills: g.waybills.size,
          tonnes: r2(g.tonnes),
          cubicMetres: r2(g.cubicMetres),
          distanceKm: r2(g.distanceKm),
          tonneKm: r2(g.tonneKm),
        }))
        .sort((a, b) => b.tonneKm - a.tonneKm || b.tonnes - a.tonnes || a.key.localeCompare(b.key))
      return { from: iso(from), to: iso(to), groupBy: q.groupBy, items }
    },
  )
  app.get<{ Querystring: { from: string; to: string; groupBy: 'vehicle' | 'enterprise'; enterprise?: string } }>(
    '/stats/quality',
    {
      config: { access: 'read' },
      schema: {
        tags: ['stats'],
        summary: 'Data quality (online, track completeness, valid-data and drift rates, with pass lines) per vehicle-day or per enterprise',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { ...timeRangeQuery, groupBy: { type: 'string', enum: ['vehicle', 'enterprise'], default: 'enterprise' }, enterprise: licenceSchema },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'string', description: 'first Beijing day' },
              to: { type: 'string', description: 'last Beijing day' },
              groupBy: { type: 'string' },
              items: { type: 'array', items: { type: 'object', additionalProperties: true } },
            },
          },
        },
      },
    },
    async (request) => {
      const q = request.query
      const { from, to } = timeRange(q.from, q.to, MAX_SPAN_MS)
      const licence = scopedLicenceFilter(request, q.enterprise)
      const report = await qualityReport(ctx.deps.store, { from, to, ...(licence ? { enterpriseLicenseNo: licence } : {}) })
      if (q.groupBy === 'enterprise') return { from: report.from, to: report.to, groupBy: q.groupBy, items: report.enterprises }
      const vehicles = new Map((await ctx.deps.store.listVehicles(licence ? { enterpriseLicenseNo: licence } : {})).map((v) => [v.id, v]))
      const items = report.vehicles.map((r) => {
        const v = vehicles.get(r.vehicleId)
        return { plate: v?.plate ?? null, plateColor: v?.plateColor ?? null, enterpriseLicenseNo: v?.enterpriseLicenseNo ?? null, ...r }
      })
      return { from: report.from, to: report.to, groupBy: q.groupBy, items }
    },
  )

  app.get<{ Querystring: { period: string; kind: 'enterprise' | 'driver'; quality?: boolean; enterprise?: string } }>(
    '/stats/grades',
    {
      config: { access: 'read' },
      schema: {
        tags: ['stats'],
        summary: 'Red / yellow / green grades of enterprises or drivers for a period, with their score and reasons',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['period'],
          properties: {
            period: { type: 'string', maxLength: 21, description: '"2025-03" (Beijing month), "2025" (year) or "2025-03-01/2025-03-15" (Beijing days, inclusive)' },
            kind: { type: 'string', enum: ['enterprise', 'driver'], default: 'enterprise' },
            quality: { type: 'boolean', description: 'enterprises: include data-quality penalties (reads every track of the period; slower)' },
            enterprise: licenceSchema,
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              period: { type: 'string' },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              kind: { type: 'string' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    subject: { type: 'string', description: 'licence number, or driver qualification number' },
                    grade: { type: 'string', enum: ['red', 'yellow', 'green'] },
                    score: { type: 'number' },
                    units: { type: 'number', description: 'vehicles (enterprise) or trips (driver)' },
                    anomalies: { type: 'integer' },
                    byType: { type: 'object', additionalProperties: { type: 'integer' } },
                    reasons: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const q = request.query
      const range = parsePeriod(q.period)
      if (!range) throw new ApiError('VALIDATION_FAILED', 'invalid period', { fields: [{ field: 'query/period', message: 'must be yyyy-mm, yyyy, or yyyy-mm-dd/yyyy-mm-dd' }] })
      if (range.to - range.from > 366 * 86_400_000) throw new ApiError('VALIDATION_FAILED', 'period too long', { fields: [{ field: 'query/period', message: 'at most one year' }] })
      const licence = scopedLicenceFilter(request, q.enterprise)
      const source = ctx.deps.store as ApiContext['deps']['store'] & WaybillStore & AnomalyStore
      let items
      if (q.kind === 'driver') items = await gradeDrivers(source, { from: range.from, to: range.to, ...(licence ? { carrierLicenseNo: licence } : {}) })
      else {
        let quality: Map<string, GroupQuality> | undefined
        if (q.quality) {
          if (range.to - range.from > MAX_SPAN_MS)
            throw new ApiError('VALIDATION_FAILED', 'quality penalties need a period of at most 31 days', { fields: [{ field: 'query/quality', message: 'period too long for quality' }] })
          const report = await qualityReport(ctx.deps.store, { from: range.from, to: range.to, ...(licence ? { enterpriseLicenseNo: licence } : {}) })
          quality = new Map(report.enterprises.filter((e) => e.day === null && e.enterpriseLicenseNo).map((e) => [e.enterpriseLicenseNo!, e]))
        }
        items = await gradeEnterprises(source, { from: range.from, to: range.to, ...(licence ? { enterpriseLicenseNo: licence } : {}) }, undefined, quality)
      }
      return { period: q.period, from: iso(range.from), to: iso(range.to), kind: q.kind, items }
    },
  )
}

const BEIJING_MS = 8 * 3_600_000

/** "2025-03" (a Beijing month), "2025" (a year), or "2025-03-01/2025-03-15" (Beijing days, inclusive) → [from, to) in ms. */
export function parsePeriod(period: string): { from: number; to: number } | null {
  let m = /^(\d{4})-(\d{2})$/.exec(period)
  if (m) {
    const y = Number(m[1])
    const mo = Number(m[2])
    if (mo < 1 || mo > 12) return null
    return { from: Date.UTC(y, mo - 1, 1) - BEIJING_MS, to: Date.UTC(y, mo, 1) - BEIJING_MS }
  }
  m = /^(\d{4})$/.exec(period)
  if (m) return { from: Date.UTC(Number(m[1]), 0, 1) - BEIJING_MS, to: Date.UTC(Number(m[1]) + 1, 0, 1) - BEIJING_MS }
  m = /^(\d{4}-\d{2}-\d{2})\/(\d{4}-\d{2}-\d{2})$/.exec(period)
  if (m) {
    const a = Date.parse(`${m[1]}T00:00:00+08:00`)
    const b = Date.parse(`${m[2]}T00:00:00+08:00`) + 86_400_000
    if (Number.isNaN(a) || Number.isNaN(b) || b <= a) return null
    return { from: a, to: b }
  }
  return null
}

/** Distance the waybill's vehicle drove while the waybill was active, within [from, to]. */
async function distanceDrivenKm(ctx: ApiContext, w: Waybill, from: number, to: number): Promise<number> {
  const v = await ctx.deps.store.findVehicle(w.plate, w.plateColor)
  if (!v) return 0
  let km = 0
  for (const [a, b] of activeIntervals(w)) {
    const s = Math.max(a, from)
    const e = Math.min(b, to)
    if (e <= s) continue
    const track = await ctx.deps.store.track(v.id, s, e, { everySeconds: TRACK_EVERY_S, limit: 200_000 })
    for (let i = 1; i < track.length; i++) km += distanceKm(track[i - 1].latitude, track[i - 1].longitude, track[i].latitude, track[i].longitude)
  }
  return km
}
