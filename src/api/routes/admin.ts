/**
 * Registry and reference-data upkeep: retiring a vehicle (it leaves the active lists; its
 * positions, waybills and anomalies stay reachable), changing and deleting geofences, correcting
 * a waybill's fields while it is still `created` (each correction kept: who, when, what), and
 * the bulk waybill import `jt808 import waybills` uses when a server holds the embedded database.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { canonicalPhone, parseWaybill, type GeofenceGeometry, type GeofenceKind, type Waybill, type WaybillInput } from '../../domain.js'
import type { WaybillCorrection } from '../../store/admin.js'
import { nodeChannel } from '../../state/port.js'
import { confine, principalOf, visible } from '../access.js'
import { ApiError, notFound, validationFailed } from '../errors.js'
import { bboxOf, geometryProblems } from '../geo.js'
import { iso, presentVehicle } from '../present.js'
import { errorResponse, plateColorSchema, plateParams, vehicleSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { geofenceSchema, geometrySchema, presentGeofence } from './geofences.js'
import { assertOwnVehicles, presentWaybill, waybillInputSchema, waybillSchema, waybillStore } from './waybills.js'

const MAX_WAYBILL_IMPORT = 10_000

const retiredVehicleSchema = { type: 'object', properties: { vehicle: vehicleSchema, retiredAt: { type: ['string', 'null'], format: 'date-time' } } } as const

const correctionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    by: { type: ['string', 'null'], description: 'token id' },
    changes: { type: 'object', additionalProperties: { type: 'object', properties: { from: {}, to: {} } }, description: 'field → {from, to}' },
  },
} as const

const KINDS = ['bridge', 'tunnel', 'key-segment', 'speed-zone'] as const
const geofenceIdParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } } } as const
const waybillNoParams = { type: 'object', required: ['waybillNo'], properties: { waybillNo: { type: 'string', minLength: 1, maxLength: 50 } } } as const

interface GeofencePatch {
  name?: string
  kind?: GeofenceKind
  roadClass?: 'highway' | 'other' | null
  speedLimit?: number | null
  geometry?: GeofenceGeometry
  bufferMeters?: number | null
}

/** The fields a correction compares (status and history are the lifecycle's, not the submitter's). */
function inputFields(w: WaybillInput | Waybill): Record<string, unknown> {
  const { status: _s, createdAt: _c, updatedAt: _u, statusHistory: _h, ...input } = w as Waybill
  return input
}

/** JSON with object keys sorted: a stored (jsonb) value and a parsed one compare equal when they are. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  return JSON.stringify(v) ?? 'null'
}

export function diffWaybill(before: WaybillInput, after: WaybillInput): WaybillCorrection['changes'] {
  const a = inputFields(before)
  const b = inputFields(after)
  const changes: WaybillCorrection['changes'] = {}
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (stableJson(a[key] ?? null) !== stableJson(b[key] ?? null)) changes[key] = { from: a[key] ?? null, to: b[key] ?? null }
  }
  return changes
}

export function adminRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx.deps

  async function vehicleFor(request: FastifyRequest, plate: string, plateColor?: number) {
    return visible(request, await store.findVehicle(plate, plateColor), (v) => v.enterpriseLicenseNo, `vehicle ${plate}`)
  }

  /** A retired vehicle's terminal online now is closed by the node holding it (and refused when it comes back). */
  async function disconnect(request: FastifyRequest, phone: string): Promise<void> {
    try {
      const session = await ctx.deps.state.getSession(phone)
      if (session) await ctx.deps.state.publish(nodeChannel(session.nodeId), { kind: 'disconnect', phone, reason: 'vehicle_retired' })
    } catch (err) {
      // Redis unreachable: the retirement stands; the terminal is refused at its next authentication.
      request.log.warn({ err, phone }, 'could not disconnect the retired vehicle’s terminal')
    }
  }

  for (const action of ['retire', 'reinstate'] as const) {
    app.post<{ Params: { plate: string }; Querystring: { plateColor?: number } }>(
      `/vehicles/:plate/${action}`,
      {
        config: { access: 'write' },
        schema: {
          tags: ['vehicles'],
          summary:
            action === 'retire' ? 'Retire a vehicle: it leaves the active lists and statistics; its positions, waybills and anomalies stay reachable' : 'Put a retired vehicle back into service',
          params: plateParams,
          querystring: { type: 'object', additionalProperties: false, properties: { plateColor: plateColorSchema } },
          response: { 200: retiredVehicleSchema },
        },
      },
      async (request) => {
        const v = await vehicleFor(request, request.params.plate, request.query.plateColor)
        request.audit.target = v.plate
        request.audit.details = { vehicleId: v.id, action }
        const at = action === 'retire' ? (v.retiredAt ?? ctx.now()) : null
        await store.setVehicleRetired(v.id, at)
        if (action === 'retire' && v.terminalPhone) await disconnect(request, canonicalPhone(v.terminalPhone))
        return { vehicle: presentVehicle({ ...v, retiredAt: at }), retiredAt: at === null ? null : iso(at) }
      },
    )
  }

  app.get<{ Querystring: { limit: number } }>(
    '/retired-vehicles',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'Retired vehicles, newest retirement first (an enterprise sees its own)',
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 } } },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: retiredVehicleSchema } } } },
      },
    },
    async (request) => {
      const own = confine(request)
      const ids = (await store.retiredVehicleIds(own === null ? {} : { enterpriseLicenseNo: own })).slice(0, request.query.limit)
      const retired = await store.vehicleRetirements(ids)
      const items = []
      for (const id of ids) {
        const v = await store.getVehicle(id)
        if (v) items.push({ vehicle: presentVehicle(v), retiredAt: iso(retired.get(id) ?? 0) })
      }
      return { items }
    },
  )

  app.patch<{ Params: { id: number }; Body: GeofencePatch }>(
    '/geofences/:id',
    {
      config: { access: 'supervisor' },
      bodyLimit: 4 << 20,
      schema: {
        tags: ['geofences'],
        summary: 'Change a geofence (any of its fields); the matcher picks it up at its next geofence reload',
        params: geofenceIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            kind: { type: 'string', enum: KINDS },
            roadClass: { type: ['string', 'null'], enum: ['highway', 'other', null] },
            speedLimit: { type: ['integer', 'null'], minimum: 5, maximum: 200 },
            geometry: geometrySchema,
            bufferMeters: { type: ['integer', 'null'], minimum: 1, maximum: 10_000 },
          },
        },
        response: { 200: geofenceSchema },
      },
    },
    async (request) => {
      const { id } = request.params
      request.audit.target = `geofence ${id}`
      const g = await store.getGeofence(id)
      if (!g) throw notFound(`geofence ${id}`)
      const b = request.body
      const next = {
        name: b.name ?? g.name,
        kind: b.kind ?? g.kind,
        roadClass: b.roadClass !== undefined ? b.roadClass : g.roadClass,
        speedLimit: b.speedLimit !== undefined ? b.speedLimit : g.speedLimit,
        geometry: b.geometry ?? g.geometry,
        bufferMeters: b.bufferMeters !== undefined ? b.bufferMeters : g.bufferMeters,
      }
      const problems = geometryProblems(next.geometry, next.bufferMeters)
      if (next.kind === 'speed-zone' && !next.speedLimit && !next.roadClass) problems.push({ field: 'body/speedLimit', message: 'a speed zone needs a speedLimit or a roadClass' })
      if (problems.length) throw validationFailed('invalid geofence', problems)
      const bufferMeters = next.geometry.type === 'LineString' ? next.bufferMeters : null
      const updated = await store.updateGeofence(id, { ...next, bufferMeters, bbox: bboxOf(next.geometry, bufferMeters) })
      if (!updated) throw notFound(`geofence ${id}`)
      request.audit.details = { changed: Object.keys(b) }
      return presentGeofence(updated)
    },
  )

  app.delete<{ Params: { id: number } }>(
    '/geofences/:id',
    {
      config: { access: 'supervisor' },
      schema: { tags: ['geofences'], summary: 'Delete a geofence', params: geofenceIdParams, response: { 200: geofenceSchema } },
    },
    async (request) => {
      const { id } = request.params
      request.audit.target = `geofence ${id}`
      const g = await store.getGeofence(id)
      if (!g || !(await store.deleteGeofence(id))) throw notFound(`geofence ${id}`)
      request.audit.details = { name: g.name, kind: g.kind }
      return presentGeofence(g)
    },
  )

  app.post<{ Params: { waybillNo: string }; Body: { fields: Record<string, unknown>; note?: string } }>(
    '/waybills/:waybillNo/corrections',
    {
      config: { access: 'write' },
      bodyLimit: 2 << 20,
      schema: {
        tags: ['waybills'],
        summary: 'Correct a waybill’s fields while it is still `created` (409 afterwards); every correction is kept with who, when and what changed',
        params: waybillNoParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['fields'],
          properties: { fields: { ...waybillInputSchema, minProperties: 1, description: 'the fields to change (the rest keep their value); waybillNo cannot change' } },
        },
        response: {
          200: { type: 'object', properties: { waybill: waybillSchema, correction: { ...correctionSchema, type: ['object', 'null'] } } },
          409: errorResponse('The waybill is no longer `created`'),
        },
      },
    },
    async (request) => {
      const { waybillNo } = request.params
      request.audit.target = waybillNo
      const current = visible(request, await waybillStore(ctx).getWaybill(waybillNo), (w) => w.carrierLicenseNo, `waybill ${waybillNo}`)
      const fields = request.body.fields
      if (fields.waybillNo !== undefined && fields.waybillNo !== waybillNo)
        throw validationFailed('the waybill number cannot be corrected', [{ field: 'body/fields/waybillNo', message: 'cannot change' }])
      const parsed = parseWaybill({ ...inputFields(current), ...fields, waybillNo })
      if (!parsed.ok)
        throw validationFailed(
          `invalid waybill: ${parsed.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
          parsed.errors.map((e) => ({ field: 'body/fields' + (e.field ? '/' + e.field.replace(/\[(\d+)\]/g, '/$1').replace(/\./g, '/') : ''), message: e.message })),
        )
      const input = parsed.value
      const own = confine(request)
      if (own !== null) {
        // An enterprise keeps its waybills on its own licence and its own trucks.
        if (input.carrierLicenseNo !== own)
          throw validationFailed('an enterprise token can only keep its own carrier licence', [{ field: 'body/fields/carrierLicenseNo', message: 'must be the token’s licence' }])
      }
      await assertOwnVehicles(ctx, request, input)
      const result = await store.correctWaybill(waybillNo, input, ctx.now(), principalOf(request).tokenId, (before) => diffWaybill(before, input))
      if (!result.ok && result.reason === 'not-found') throw notFound(`waybill ${waybillNo}`)
      if (!result.ok)
        throw new ApiError('CONFLICT', `waybill ${waybillNo} is ${result.reason === 'not-created' ? result.status : 'changed'}: only a created waybill can be corrected`, {
          status: result.reason === 'not-created' ? result.status : null,
        })
      request.audit.details = { changed: result.correction ? Object.keys(result.correction.changes) : [] }
      return { waybill: presentWaybill(result.waybill), correction: result.correction ? { ...result.correction, at: iso(result.correction.at) } : null }
    },
  )

  app.get<{ Params: { waybillNo: string } }>(
    '/waybills/:waybillNo/corrections',
    {
      config: { access: 'read' },
      schema: {
        tags: ['waybills'],
        summary: 'The corrections made to a waybill, oldest first',
        params: waybillNoParams,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: correctionSchema } } } },
      },
    },
    async (request) => {
      const { waybillNo } = request.params
      const w = visible(request, await waybillStore(ctx).getWaybill(waybillNo), (x) => x.carrierLicenseNo, `waybill ${waybillNo}`)
      return { items: (await store.listWaybillCorrections(waybillNo)).map((c) => ({ id: c.id, at: iso(c.at), by: c.by, changes: c.changes })) }
    },
  )

  app.post<{ Body: { items: unknown[] } }>(
    '/waybills/import',
    {
      config: { access: 'supervisor' },
      bodyLimit: 64 << 20,
      schema: {
        tags: ['waybills'],
        summary: 'Bulk import (what `jt808 import waybills` sends to a running server): all valid → one transaction, new ones created, existing ones updated; any invalid → nothing',
        body: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', minItems: 1, maxItems: MAX_WAYBILL_IMPORT, items: { type: 'object' } } } },
        response: { 200: { type: 'object', properties: { inserted: { type: 'integer' }, updated: { type: 'integer' } } } },
      },
    },
    async (request) => {
      const fields: { field: string; message: string }[] = []
      const inputs: WaybillInput[] = []
      request.body.items.forEach((item, i) => {
        const p = parseWaybill(item)
        if (p.ok) inputs.push(p.value)
        else for (const e of p.errors) fields.push({ field: `body/items/${i}${e.field ? '/' + e.field : ''}`, message: e.message })
      })
      if (fields.length) throw validationFailed(`${fields.length} field error${fields.length > 1 ? 's' : ''}: nothing imported`, fields)
      const r = await waybillStore(ctx).upsertWaybills(inputs, { at: ctx.now(), by: principalOf(request).tokenId })
      request.audit.target = `${inputs.length} waybills`
      request.audit.details = { waybills: inputs.slice(0, 100).map((w) => w.waybillNo), ...r }
      return r
    },
  )
}
