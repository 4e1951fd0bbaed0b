/**
 * What JT/T 809 platforms said about a vehicle beyond its positions: the terminal a lower platform
 * registered for it (0x1201), its static information (0x1601; requested with 0x9601 by a
 * supervisor), and alarm notices received about it (a superior's 0x9402 / 0x9403, a lower
 * platform's 2019 0x1403 forecast). The vehicle route is scoped like every vehicle route (another
 * enterprise's vehicle looks absent); requesting and listing every notice are the supervisor's.
 */
import type { FastifyInstance } from 'fastify'
import type { PlatformAlarmNotice, PlatformRegistration, PlatformStaticInfo } from '../../store/platform-info.js'
import { ApiError, notFound } from '../errors.js'
import { iso } from '../present.js'
import { plateColorSchema, plateParams, plateSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { vehicleFor } from './vehicles.js'

const time = { type: ['string', 'null'], format: 'date-time' } as const
const hexId = (n: number) => '0x' + n.toString(16).padStart(4, '0')
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms))

const registrationSchema = {
  type: 'object',
  properties: {
    platformId: { type: 'integer' },
    platformName: { type: ['string', 'null'] },
    platformCode: { type: 'string', description: 'PLATFORM_ID the platform gave' },
    producerId: { type: 'string', description: 'PRODUCER_ID: terminal manufacturer' },
    model: { type: 'string', description: 'TERMINAL_MODEL_TYPE' },
    imei: { type: ['string', 'null'], description: '2019 only' },
    terminalId: { type: 'string' },
    simCode: { type: 'string', description: 'TERMINAL_SIMCODE: the SIM (808 phone number)' },
    receivedAt: { type: 'string', format: 'date-time' },
  },
} as const

const staticInfoSchema = {
  type: 'object',
  properties: {
    platformId: { type: 'integer' },
    platformName: { type: ['string', 'null'] },
    requestedAt: { ...time, description: 'our last 0x9601 to this platform about the vehicle' },
    requestMsgSn: { type: ['integer', 'null'] },
    requestedBy: { type: ['string', 'null'], description: 'API token id' },
    carInfo: { type: ['string', 'null'], description: 'CAR_INFO as received (0x1601); null until an answer arrived' },
    fields: { type: ['object', 'null'], additionalProperties: { type: 'string' }, description: 'its KEY:=value items (VIN, RTPN, OWERS_NAME …)' },
    receivedAt: time,
  },
} as const

const noticeSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    platformId: { type: 'integer' },
    dataType: { type: 'string', enum: ['0x9402', '0x9403', '0x1403'], description: "0x9402 a superior's alarm forecast, 0x9403 its alarm exchanged, 0x1403 a lower platform's forecast (2019)" },
    msgSn: { type: 'integer' },
    vehicleId: { type: ['integer', 'null'], description: 'our vehicle, when the registry knows the one named' },
    plate: { type: 'string' },
    plateColor: { type: 'integer' },
    warnSrc: { type: ['integer', 'null'] },
    warnType: { type: 'integer', description: 'WARN_TYPE (docs/platform-exchange.md)' },
    warnTime: time,
    startTime: time,
    endTime: time,
    sourcePlatformId: { type: ['string', 'null'] },
    content: { type: 'string' },
    receivedAt: { type: 'string', format: 'date-time' },
  },
} as const

const presentNotice = (n: PlatformAlarmNotice) => ({
  id: n.id,
  platformId: n.platformId,
  dataType: hexId(n.dataType),
  msgSn: n.msgSn,
  vehicleId: n.vehicleId,
  plate: n.plate,
  plateColor: n.plateColor,
  warnSrc: n.warnSrc,
  warnType: n.warnType,
  warnTime: isoOrNull(n.warnTime),
  startTime: isoOrNull(n.startTime),
  endTime: isoOrNull(n.endTime),
  sourcePlatformId: n.sourcePlatformId,
  content: n.content,
  receivedAt: iso(n.receivedAt),
})

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const

export function platformInfoRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx.deps

  app.get<{ Params: { plate: string }; Querystring: { plateColor?: number } }>(
    '/vehicles/:plate/platform-info',
    {
      config: { access: 'read' },
      schema: {
        tags: ['platforms'],
        summary:
          'What JT/T 809 platforms said about the vehicle: its terminal as each lower platform registered it (0x1201), its static information (0x1601), alarm notices received about it (0x9402, 0x9403, 0x1403)',
        params: plateParams,
        querystring: { type: 'object', additionalProperties: false, properties: { plateColor: plateColorSchema } },
        response: {
          200: {
            type: 'object',
            properties: {
              plate: { type: 'string' },
              plateColor: { type: 'integer' },
              registrations: { type: 'array', items: registrationSchema, description: 'one per platform, the latest it sent' },
              staticInfo: { type: 'array', items: staticInfoSchema, description: 'one per platform: the latest answer and request' },
              alarmNotices: { type: 'array', items: noticeSchema, description: 'newest first, at most 100' },
            },
          },
        },
      },
    },
    async (request) => {
      const v = await vehicleFor(ctx, request, request.params.plate, request.query.plateColor)
      const [registrations, statics, notices, platforms] = await Promise.all([
        store.listPlatformRegistrations(v.id),
        store.listPlatformStaticInfo(v.id),
        store.listPlatformAlarmNotices({ vehicleId: v.id, limit: 100 }),
        store.listPlatforms(),
      ])
      const names = new Map(platforms.map((p) => [p.id, p.name]))
      const name = (id: number) => names.get(id) ?? null
      return {
        plate: v.plate,
        plateColor: v.plateColor,
        registrations: registrations.map((r: PlatformRegistration) => ({
          platformId: r.platformId,
          platformName: name(r.platformId),
          platformCode: r.platformCode,
          producerId: r.producerId,
          model: r.model,
          imei: r.imei,
          terminalId: r.terminalId,
          simCode: r.simCode,
          receivedAt: iso(r.receivedAt),
        })),
        staticInfo: statics.map((i: PlatformStaticInfo) => ({
          platformId: i.platformId,
          platformName: name(i.platformId),
          requestedAt: isoOrNull(i.requestedAt),
          requestMsgSn: i.requestMsgSn,
          requestedBy: i.requestedBy,
          carInfo: i.carInfo,
          fields: i.fields,
          receivedAt: isoOrNull(i.receivedAt),
        })),
        alarmNotices: notices.map(presentNotice),
      }
    },
  )

  app.post<{ Params: { id: number }; Body: { plate: string; plateColor: number } }>(
    '/platforms/:id/static-info-requests',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: "Ask a logged-in lower platform for a vehicle's static information (0x9601); its 0x1601 answer appears in GET /vehicles/{plate}/platform-info",
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['plate', 'plateColor'],
          properties: { plate: plateSchema, plateColor: plateColorSchema },
        },
        response: { 202: { type: 'object', properties: { platformId: { type: 'integer' }, vehicleId: { type: 'integer' }, msgSn: { type: 'integer' } } } },
      },
    },
    async (request, reply) => {
      const p = await store.getPlatform(request.params.id)
      if (p?.role !== 'lower') throw notFound(`lower platform ${request.params.id}`)
      const v = await store.findPlatformVehicle(request.body.plate, request.body.plateColor)
      if (!v) throw notFound(`vehicle ${request.body.plate}`)
      request.audit.target = `platform ${p.id}`
      request.audit.details = { plate: v.plate, plateColor: v.plateColor }
      const msgSn = (await ctx.deps.platforms?.requestStaticInfo?.(p.id, v, request.principal?.tokenId ?? null)) ?? null
      if (msgSn === null) throw new ApiError('CONFLICT', `platform ${p.id} is not logged in`)
      request.audit.details.msgSn = msgSn
      reply.status(202)
      return { platformId: p.id, vehicleId: v.id, msgSn }
    },
  )

  app.get<{ Querystring: { platform?: number; limit?: number } }>(
    '/platforms/alarm-notices',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: "Alarm notices received, newest first: superiors' 0x9402 forecasts and 0x9403 alarms, lower platforms' 2019 0x1403 forecasts (those of an unknown vehicle too)",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { platform: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: noticeSchema } } } },
      },
    },
    async (request) => {
      const items = await store.listPlatformAlarmNotices({ platformId: request.query.platform, limit: request.query.limit })
      return { items: items.map(presentNotice) }
    },
  )
}
