/**
 * Electronic waybills: create (the 29-field JSON, field errors from the matcher's validation),
 * read, list with a cursor, lifecycle moves, the signed QR code, and the roadside verification
 * of a scanned code.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { canTransition, newWaybill, parseWaybill, WAYBILL_FIELDS, WAYBILL_STATUSES, type Vehicle, type Waybill, type WaybillStatus } from '../../domain.js'
import type { WaybillStore } from '../../store/port.js'
import { assertOwnLicence, confine, principalOf, scopedLicenceFilter, visible, visibleOrNull } from '../access.js'
import { ApiError, validationFailed } from '../errors.js'
import { iso, presentVehicle } from '../present.js'
import { canonicalJson, qrPng, qrSvg, qrText, type QrPayload, type SignedQr } from '../qr.js'
import { errorResponse, licenceSchema, plateColorSchema, plateSchema, timeRangeQuery, vehicleSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { liveStateOf, liveStateSchema } from './live.js'
import { timeRange } from './vehicles.js'

/** The store with the waybill area (src/store/waybills.ts). */
export const waybillStore = (ctx: ApiContext) => ctx.deps.store as ApiContext['deps']['store'] & WaybillStore

const goodsSchema = {
  type: 'object',
  properties: {
    unNumber: { type: 'string', description: 'UN number, 4 digits (n4, GB 12268)' },
    name: { type: 'string', description: 'an..256' },
    hazardClass: { type: 'string', description: 'class or division, e.g. "3", "2.1" (an..4)' },
    packingGroup: { type: 'string', description: 'an..17' },
    specification: { type: 'string', description: 'an..35' },
    quantity: { type: ['number', 'string'], description: 'n..9,2' },
    unit: { type: 'string', description: '"t" (tonnes, default) or "m3"' },
  },
} as const

const TEXT_DOCS: Record<string, string> = {
  waybillNo: 'an..50',
  issueDate: 'yyyy-mm-dd',
  loadingDate: 'yyyymmdd (yyyy-mm-dd accepted)',
  expectedArrivalDate: 'yyyymmdd (yyyy-mm-dd accepted)',
  carrierLicenseNo: 'an12',
  transportCertNo: 'an12',
  trailerTransportCertNo: 'an12',
  driverQualificationNo: 'an..19',
  escortQualificationNo: 'an..19',
  plate: 'an..35',
}

/**
 * Documents the 29 fields. Validation is the matcher's parseWaybill (the table's formats, every
 * problem with its field), so this schema only describes: it accepts any object.
 */
export const waybillInputSchema = {
  type: 'object',
  description: 'The 29-field electronic waybill (seed 001 table); all field errors are reported at once.',
  additionalProperties: true,
  properties: {
    ...Object.fromEntries(WAYBILL_FIELDS.map((f) => [f, { type: 'string', ...(TEXT_DOCS[f] ? { description: TEXT_DOCS[f] } : {}) }])),
    plateColor: plateColorSchema,
    goods: { type: 'array', items: goodsSchema },
    loadingPoint: { type: 'array', items: { type: 'number' }, description: '[lon, lat]' },
    destinationPoint: { type: 'array', items: { type: 'number' }, description: '[lon, lat]' },
    plannedRoute: { type: 'object', description: 'GeoJSON LineString', additionalProperties: true },
    corridorKm: { type: 'number', description: 'allowed distance from plannedRoute, km' },
  },
}

export const waybillSchema = {
  ...waybillInputSchema,
  description: 'A stored waybill: the submitted fields, its status and the history of status changes',
  properties: {
    ...waybillInputSchema.properties,
    status: { type: 'string', enum: WAYBILL_STATUSES },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    statusHistory: {
      type: 'array',
      items: { type: 'object', properties: { status: { type: 'string' }, at: { type: 'string', format: 'date-time' }, by: { type: 'string' }, note: { type: 'string' } } },
    },
  },
}

export function presentWaybill(w: Waybill) {
  return {
    ...w,
    createdAt: iso(w.createdAt),
    updatedAt: iso(w.updatedAt),
    statusHistory: w.statusHistory.map((h) => ({ ...h, at: iso(h.at) })),
  }
}

/** Matcher field paths ("goods[1].unNumber") as the API's ("body/goods/1/unNumber"). */
const bodyField = (field: string) => 'body' + (field ? '/' + field.replace(/\[(\d+)\]/g, '/$1').replace(/\./g, '/') : '')

async function waybillFor(ctx: ApiContext, request: FastifyRequest, waybillNo: string): Promise<Waybill> {
  return visible(request, await waybillStore(ctx).getWaybill(waybillNo), (w) => w.carrierLicenseNo, `waybill ${waybillNo}`)
}

export function qrPayloadOf(w: Waybill, signedAt: number): QrPayload {
  return {
    v: 1,
    waybillNo: w.waybillNo,
    plate: w.plate,
    plateColor: w.plateColor,
    carrierLicenseNo: w.carrierLicenseNo,
    issueDate: w.issueDate,
    goods: w.goods.map((g) => ({ unNumber: g.unNumber, name: g.name, hazardClass: g.hazardClass, quantity: g.quantity, unit: g.unit })),
    signedAt: iso(signedAt),
  }
}

/**
 * An enterprise's waybill names its own registered truck and trailer, in whatever spelling: a
 * waybill on another carrier's plate would silence that carrier's RUNNING_WITHOUT_WAYBILL and show
 * in its live state. Another carrier's plate is answered as an unregistered one (404), so the
 * refusal tells nothing about who owns what. The trailer has no colour on a waybill and matches
 * a vehicle of any colour, so every vehicle of its plate must be the caller's.
 * Every route that writes a waybill's plates calls this.
 */
export async function assertOwnVehicles(ctx: ApiContext, request: FastifyRequest, w: Pick<Waybill, 'carrierLicenseNo' | 'plate' | 'plateColor' | 'trailerPlate'>): Promise<void> {
  assertOwnLicence(request, w.carrierLicenseNo, `a waybill of carrier ${w.carrierLicenseNo}`)
  if (confine(request) === null) return
  const own = (v: Vehicle) => v.enterpriseLicenseNo
  visible(request, await ctx.deps.store.findVehicle(w.plate, w.plateColor), own, `vehicle ${w.plate}`)
  if (!w.trailerPlate) return
  const trailers = await ctx.deps.store.findVehiclesByPlate(w.trailerPlate)
  visible(request, trailers.length ? trailers : null, (vs) => (vs.every((v) => own(v) === confine(request)) ? own(vs[0]!) : null), `vehicle ${w.trailerPlate}`)
}

const noParams = { type: 'object', required: ['waybillNo'], properties: { waybillNo: { type: 'string', minLength: 1, maxLength: 50 } } } as const

export function waybillRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: Record<string, unknown> }>(
    '/waybills',
    {
      config: { access: 'write' },
      bodyLimit: 2 << 20,
      schema: {
        tags: ['waybills'],
        summary: 'Create a waybill (status "created")',
        body: waybillInputSchema,
        response: { 201: waybillSchema, 409: errorResponse('A waybill with this number exists') },
      },
    },
    async (request, reply) => {
      const parsed = parseWaybill(request.body)
      if (!parsed.ok)
        throw validationFailed(
          `invalid waybill: ${parsed.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
          parsed.errors.map((e) => ({ field: bodyField(e.field), message: e.message })),
        )
      const input = parsed.value
      request.audit.target = input.waybillNo
      await assertOwnVehicles(ctx, request, input)
      const w = newWaybill(input, ctx.now(), principalOf(request).tokenId)
      if (!(await waybillStore(ctx).insertWaybill(w))) throw new ApiError('CONFLICT', `waybill ${input.waybillNo} exists`)
      reply.status(201)
      return presentWaybill(w)
    },
  )

  app.get<{ Params: { waybillNo: string } }>(
    '/waybills/:waybillNo',
    { config: { access: 'read' }, schema: { tags: ['waybills'], summary: 'One waybill with its status history', params: noParams, response: { 200: waybillSchema } } },
    async (request) => presentWaybill(await waybillFor(ctx, request, request.params.waybillNo)),
  )

  app.post<{ Body: { waybillNos: string[] } }>(
    '/waybills/lookup',
    {
      config: { access: 'read' },
      bodyLimit: 16 << 20,
      schema: {
        tags: ['waybills'],
        summary: 'Many waybills in one request (what `jt808 import` compares against): one item per number, null when unknown or another carrier’s',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['waybillNos'],
          properties: { waybillNos: { type: 'array', minItems: 1, maxItems: 10_000, items: noParams.properties.waybillNo } },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: { anyOf: [waybillSchema, { type: 'null' }] } } } } },
      },
    },
    async (request) => {
      const items = []
      for (const no of request.body.waybillNos) items.push(visibleOrNull(request, await waybillStore(ctx).getWaybill(no), (w) => w.carrierLicenseNo))
      request.audit.target = `${items.length} waybills looked up`
      return { items: items.map((w) => (w ? presentWaybill(w) : null)) }
    },
  )

  app.get<{ Querystring: { plate?: string; plateColor?: number; status?: WaybillStatus[]; enterprise?: string; from?: string; to?: string; cursor?: string; limit: number } }>(
    '/waybills',
    {
      config: { access: 'read' },
      schema: {
        tags: ['waybills'],
        summary: 'Waybills, newest first; `from`/`to` select those whose activity window overlaps the range',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            plate: plateSchema,
            plateColor: plateColorSchema,
            status: { type: 'array', items: { type: 'string', enum: WAYBILL_STATUSES } },
            enterprise: { ...licenceSchema, description: 'carrier licence number (enterprise tokens: their own)' },
            ...timeRangeQuery,
            cursor: { type: 'string', pattern: '^[0-9]{1,18}$', description: 'nextCursor of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: waybillSchema }, nextCursor: { type: ['string', 'null'] } } } },
      },
    },
    async (request) => {
      const q = request.query
      const range = q.from !== undefined && q.to !== undefined ? timeRange(q.from, q.to) : { from: q.from && Date.parse(q.from), to: q.to && Date.parse(q.to) }
      const page = await waybillStore(ctx).listWaybills({
        plate: q.plate,
        plateColor: q.plateColor,
        status: q.status?.length ? q.status : undefined,
        carrierLicenseNo: scopedLicenceFilter(request, q.enterprise),
        from: range.from || undefined,
        to: range.to || undefined,
        cursor: q.cursor ?? null,
        limit: q.limit,
      })
      return { items: page.items.map(presentWaybill), nextCursor: page.nextCursor }
    },
  )

  app.patch<{ Params: { waybillNo: string }; Body: { status: WaybillStatus; note?: string } }>(
    '/waybills/:waybillNo',
    {
      config: { access: 'write' },
      schema: {
        tags: ['waybills'],
        summary: 'Lifecycle move: created → dispatched → in_transit → completed, or cancelled (409 when not allowed)',
        params: noParams,
        body: { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', enum: WAYBILL_STATUSES }, note: { type: 'string', maxLength: 500 } } },
        response: { 200: waybillSchema, 409: errorResponse('The move is not allowed from the current status') },
      },
    },
    async (request) => {
      const { waybillNo } = request.params
      const { status, note } = request.body
      request.audit.target = waybillNo
      request.audit.details = { status }
      const w = await waybillFor(ctx, request, waybillNo)
      if (!canTransition(w.status, status)) throw new ApiError('CONFLICT', `waybill ${waybillNo} cannot move from ${w.status} to ${status}`, { from: w.status, to: status })
      const moved = await waybillStore(ctx).updateWaybillStatus(waybillNo, w.status, { status, at: ctx.now(), by: principalOf(request).tokenId, ...(note ? { note } : {}) })
      if (!moved) throw new ApiError('CONFLICT', `waybill ${waybillNo} changed meanwhile; read it again`, { from: w.status, to: status })
      return presentWaybill(moved)
    },
  )

  app.get<{ Params: { waybillNo: string }; Querystring: { format: 'json' | 'svg' | 'png' } }>(
    '/waybills/:waybillNo/qrcode',
    {
      config: { access: 'read' },
      schema: {
        tags: ['waybills'],
        summary: 'The waybill’s QR code signed with the platform’s SM2 key: JSON (payload, signature, text, svg), or the image itself',
        params: noParams,
        querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['json', 'svg', 'png'], default: 'json' } } },
        response: {
          200: {
            type: 'object',
            description: 'format=json; format=svg answers image/svg+xml, format=png image/png',
            properties: {
              alg: { type: 'string' },
              kid: { type: 'string' },
              publicKey: { type: 'string', description: 'SM2 public key (uncompressed, hex)' },
              payload: { type: 'object', additionalProperties: true },
              sig: { type: 'string' },
              text: { type: 'string', description: 'what the QR image encodes (give it to POST /waybills/verify as "qr")' },
              svg: { type: 'string' },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const w = await waybillFor(ctx, request, request.params.waybillNo)
      const signed = await ctx.qr.sign(qrPayloadOf(w, ctx.now()))
      const text = qrText(signed)
      const format = request.query.format
      if (format === 'png') return reply.type('image/png').send(await qrPng(text))
      const svg = await qrSvg(text)
      if (format === 'svg') return reply.type('image/svg+xml').send(svg)
      const { publicKey } = await ctx.qr.publicKey()
      return { ...signed, publicKey, text, svg }
    },
  )

  app.post<{ Body: { qr?: string } & Partial<SignedQr> }>(
    '/waybills/verify',
    {
      config: { access: 'read' },
      schema: {
        tags: ['waybills'],
        summary: 'Roadside check: verify a scanned QR code and return the waybill with the vehicle’s live state',
        body: {
          type: 'object',
          description: 'either {"qr": "<the scanned text>"} or the signed object itself {"alg","kid","payload","sig"}',
          properties: {
            qr: { type: 'string', minLength: 2, maxLength: 8192 },
            alg: { type: 'string' },
            kid: { type: 'string' },
            payload: { type: 'object', additionalProperties: true },
            sig: { type: 'string', maxLength: 256 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              valid: { type: 'boolean' },
              signedAt: { type: 'string' },
              matchesCurrent: { type: 'boolean', description: 'false when the waybill changed after the code was signed' },
              differences: { type: 'array', items: { type: 'string' } },
              active: { type: 'boolean', description: 'the waybill is active for its vehicle now' },
              waybill: waybillSchema,
              vehicle: { anyOf: [vehicleSchema, { type: 'null' }] },
              live: { anyOf: [liveStateSchema, { type: 'null' }] },
            },
          },
          422: errorResponse('The code is not validly signed by this platform (tampered, or another key)'),
        },
      },
    },
    async (request) => {
      const b = request.body
      let scanned: unknown = b
      if (typeof b.qr === 'string') {
        try {
          scanned = JSON.parse(b.qr)
        } catch {
          throw new ApiError('SIGNATURE_INVALID', 'the scanned text is not a waybill code')
        }
      } else if (!b.payload || !b.sig) throw validationFailed('give "qr" or "payload" with "sig"', [{ field: 'body/qr', message: 'is required (or payload and sig)' }])
      const verified = await ctx.qr.verify(scanned)
      if (!verified.ok) throw new ApiError('SIGNATURE_INVALID', `rejected: ${verified.reason}`)
      const p = verified.payload
      request.audit.target = p.waybillNo
      const w = await waybillFor(ctx, request, p.waybillNo)
      const current = qrPayloadOf(w, Date.parse(p.signedAt))
      const differences = (['plate', 'plateColor', 'carrierLicenseNo', 'issueDate'] as const).filter((k) => current[k] !== p[k]).map(String)
      if (canonicalJson(current.goods) !== canonicalJson(p.goods)) differences.push('goods')
      const vehicle = await ctx.deps.store.findVehicle(w.plate, w.plateColor)
      const visible = vehicle && (confine(request) === null || vehicle.enterpriseLicenseNo === confine(request))
      const live = visible ? await liveStateOf(ctx, vehicle) : null
      const active = live?.activeWaybill?.waybillNo === w.waybillNo
      return { valid: true, signedAt: p.signedAt, matchesCurrent: differences.length === 0, differences, active, waybill: presentWaybill(w), vehicle: visible ? presentVehicle(vehicle) : null, live }
    },
  )
}
