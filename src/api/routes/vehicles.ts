/** Vehicle registry import, registry + live state, track, pre-trip self-check. */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { canonicalPlate, type NewVehicle, type Vehicle } from '../../domain.js'
import { confine, scopedLicenceFilter, visible, visibleOrNull } from '../access.js'
import { ApiError, validationFailed } from '../errors.js'
import { presentPosition, presentVehicle } from '../present.js'
import { errorResponse, licenceSchema, plateColorSchema, plateParams, plateSchema, positionSchema, timeRangeQuery, vehicleInputSchema, vehicleSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { liveStateSchema } from './live.js'
import { selfCheckSchema } from './self-check.js'

const MAX_IMPORT = 10_000
const MAX_TRACK_POINTS = 100_000
const DEFAULT_TRACK_POINTS = 10_000
const MAX_TRACK_SPAN_MS = 31 * 86_400_000

type VehicleInput = Partial<Omit<Vehicle, 'id'>> & { plate: string }

/** Finds the vehicle named by the path (and ?plateColor); 404 when unknown or another enterprise's. */
export async function vehicleFor(ctx: ApiContext, request: FastifyRequest, plate: string, plateColor?: number): Promise<Vehicle> {
  return visible(request, await ctx.deps.store.findVehicle(plate, plateColor), (v) => v.enterpriseLicenseNo, `vehicle ${plate}`)
}

export function vehicleRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx.deps

  app.post<{ Body: VehicleInput | VehicleInput[] }>(
    '/vehicles',
    {
      config: { access: 'write' },
      bodyLimit: 16 << 20,
      schema: {
        tags: ['vehicles'],
        summary:
          'Import vehicles from the registry (one object or an array); upserts by plate (any spelling: "浙b 82001" is 浙B82001) and colour; 409 when the plate or terminal is another enterprise’s',
        body: { oneOf: [vehicleInputSchema, { type: 'array', minItems: 1, maxItems: MAX_IMPORT, items: vehicleInputSchema }] },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: vehicleSchema } } }, 409: errorResponse('The plate or terminal is registered to another enterprise') },
      },
    },
    async (request) => {
      const inputs = Array.isArray(request.body) ? request.body : [request.body]
      const own = confine(request)
      const fields: { field: string; message: string }[] = []
      const seen = new Map<string, number>()
      inputs.forEach((v, i) => {
        const key = `${canonicalPlate(v.plate)}/${v.plateColor ?? 2}`
        if (seen.has(key)) fields.push({ field: `body/${i}/plate`, message: `duplicates item ${seen.get(key)}` })
        seen.set(key, i)
        if (v.terminalPhone && inputs.some((o, j) => j < i && o.terminalPhone === v.terminalPhone)) fields.push({ field: `body/${i}/terminalPhone`, message: 'is used by an earlier item' })
      })
      if (fields.length) throw validationFailed('the import contains duplicates', fields)
      if (own !== null) {
        // An enterprise imports only its own vehicles, and cannot take over another enterprise's plate.
        for (const [i, v] of inputs.entries()) {
          if (v.enterpriseLicenseNo != null && v.enterpriseLicenseNo !== own) throw new ApiError('FORBIDDEN', `item ${i}: an enterprise token can only import vehicles of its own licence`)
          v.enterpriseLicenseNo = own
        }
        // A plate (in any spelling) and a terminal are registered once: taken by another carrier is a
        // conflict, worded without naming who holds it.
        const existing = await Promise.all(inputs.map((v) => store.findVehicle(v.plate, v.plateColor ?? 2)))
        existing.forEach((e, i) => {
          if (e && e.enterpriseLicenseNo !== own) throw new ApiError('CONFLICT', `item ${i}: plate ${inputs[i].plate} is already registered`, { field: `body/${i}/plate` })
        })
        for (const [i, v] of inputs.entries()) {
          if (!v.terminalPhone) continue
          const holder = await store.findVehicleByTerminal(v.terminalPhone)
          if (holder && holder.enterpriseLicenseNo !== own) throw new ApiError('CONFLICT', `item ${i}: terminal ${v.terminalPhone} is already bound to a vehicle`, { field: `body/${i}/terminalPhone` })
        }
      }
      const ids = await store.upsertVehicles(inputs.map(toNewVehicle))
      const stored = await Promise.all(ids.map((id) => store.getVehicle(id)))
      request.audit.target = inputs.length === 1 ? inputs[0].plate : `${inputs.length} vehicles`
      request.audit.details = { plates: inputs.slice(0, 100).map((v) => v.plate) }
      return { items: stored.filter((v): v is Vehicle => v !== null).map(presentVehicle) }
    },
  )

  app.post<{ Body: { items: Array<{ plate: string; plateColor?: number }> } }>(
    '/vehicles/lookup',
    {
      config: { access: 'read' },
      bodyLimit: 16 << 20,
      schema: {
        tags: ['vehicles'],
        summary: 'Many vehicles in one request (what `jt808 import` compares against): one item per plate (any spelling) and colour, null when unknown or another enterprise’s',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['items'],
          properties: {
            items: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_IMPORT,
              items: { type: 'object', additionalProperties: false, required: ['plate'], properties: { plate: plateSchema, plateColor: plateColorSchema } },
            },
          },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: { anyOf: [vehicleSchema, { type: 'null' }] } } } } },
      },
    },
    async (request) => {
      const items = []
      for (const { plate, plateColor } of request.body.items) items.push(visibleOrNull(request, await store.findVehicle(plate, plateColor), (v) => v.enterpriseLicenseNo))
      request.audit.target = `${items.length} vehicles looked up`
      return { items: items.map((v) => (v ? presentVehicle(v) : null)) }
    },
  )

  app.get<{ Querystring: { enterprise?: string; limit: number } }>(
    '/vehicles',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'List registered vehicles (an enterprise sees its own)',
        querystring: { type: 'object', additionalProperties: false, properties: { enterprise: licenceSchema, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1_000 } } },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: vehicleSchema } } } },
      },
    },
    async (request) => {
      const licence = scopedLicenceFilter(request, request.query.enterprise)
      const vehicles = await store.listVehicles(licence ? { enterpriseLicenseNo: licence } : {})
      return { items: vehicles.slice(0, request.query.limit).map(presentVehicle) }
    },
  )

  app.get<{ Params: { plate: string }; Querystring: { plateColor?: number } }>(
    '/vehicles/:plate',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'Registry record and live state (online, last position, active waybill)',
        params: plateParams,
        querystring: { type: 'object', additionalProperties: false, properties: { plateColor: plateColorSchema } },
        response: { 200: { type: 'object', properties: { vehicle: vehicleSchema, live: liveStateSchema } } },
      },
    },
    async (request) => {
      const vehicle = await vehicleFor(ctx, request, request.params.plate, request.query.plateColor)
      return { vehicle: presentVehicle(vehicle), live: await ctx.liveState(vehicle) }
    },
  )

  app.get<{ Params: { plate: string }; Querystring: { plateColor?: number; from: string; to: string; every?: number; limit: number } }>(
    '/vehicles/:plate/track',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'Positions in device-time order; `every` keeps at most one point per that many seconds',
        params: plateParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: {
            ...timeRangeQuery,
            plateColor: plateColorSchema,
            every: { type: 'integer', minimum: 1, maximum: 86_400, description: 'downsampling bucket in seconds' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_TRACK_POINTS, default: DEFAULT_TRACK_POINTS },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              plate: { type: 'string' },
              from: { type: 'string' },
              to: { type: 'string' },
              every: { type: ['integer', 'null'] },
              truncated: { type: 'boolean', description: 'true when `limit` cut the track short' },
              points: { type: 'array', items: positionSchema },
            },
          },
        },
      },
    },
    async (request) => {
      const { from, to, every, limit } = request.query
      const range = timeRange(from, to, MAX_TRACK_SPAN_MS)
      const vehicle = await vehicleFor(ctx, request, request.params.plate, request.query.plateColor)
      const points = await store.track(vehicle.id, range.from, range.to, { everySeconds: every, limit: limit + 1 })
      const truncated = points.length > limit
      return { plate: vehicle.plate, from, to, every: every ?? null, truncated, points: points.slice(0, limit).map(presentPosition) }
    },
  )

  app.get<{ Params: { plate: string }; Querystring: { plateColor?: number } }>(
    '/vehicles/:plate/self-check',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'Pre-trip self-check: terminal online and reporting, last trip complete, no open critical anomaly, certificate valid and covering the next waybill’s cargo',
        params: plateParams,
        querystring: { type: 'object', additionalProperties: false, properties: { plateColor: plateColorSchema } },
        response: { 200: selfCheckSchema },
      },
    },
    async (request) => {
      const vehicle = await vehicleFor(ctx, request, request.params.plate, request.query.plateColor)
      return ctx.selfCheck(vehicle)
    },
  )
}

function toNewVehicle(v: VehicleInput): NewVehicle {
  return {
    plate: v.plate,
    plateColor: v.plateColor ?? 2,
    terminalPhone: v.terminalPhone ?? null,
    terminalId: v.terminalId ?? null,
    enterpriseLicenseNo: v.enterpriseLicenseNo ?? null,
    enterpriseName: v.enterpriseName ?? null,
    transportCertNo: v.transportCertNo ?? null,
    transportCertValidUntil: v.transportCertValidUntil ?? null,
    businessScope: v.businessScope ?? [],
  }
}

/** Parses ?from&to (ISO 8601), checks order and span; 400 with field errors otherwise. */
export function timeRange(from: string | undefined, to: string | undefined, maxSpanMs?: number): { from: number; to: number } {
  const f = from === undefined ? NaN : Date.parse(from)
  const t = to === undefined ? NaN : Date.parse(to)
  const fields = []
  if (from !== undefined && Number.isNaN(f)) fields.push({ field: 'query/from', message: 'must be an ISO 8601 time' })
  if (to !== undefined && Number.isNaN(t)) fields.push({ field: 'query/to', message: 'must be an ISO 8601 time' })
  if (!fields.length && f >= t) fields.push({ field: 'query/to', message: 'must be after from' })
  if (!fields.length && maxSpanMs !== undefined && t - f > maxSpanMs) fields.push({ field: 'query/to', message: `the range may span at most ${Math.round(maxSpanMs / 86_400_000)} days` })
  if (fields.length) throw validationFailed('invalid time range', fields)
  return { from: f, to: t }
}
