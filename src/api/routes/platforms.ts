/**
 * JT/T 809 platforms (supervisor only, every write audited): lower platforms that log in to us and
 * superiors we forward to, as data; changes apply without a restart (the running links are
 * reconciled at once). Secrets never leave: a lower platform's password is stored hashed, a
 * superior's is kept for logging in and never returned. GET /platforms/links: the state of every link.
 */
import type { FastifyInstance } from 'fastify'
import { newPlatform, platformPatch, PlatformInputError, type PlatformChange, type PlatformInput } from '../../platform/admin.js'
import type { NotSent } from '../../platform/cluster.js'
import type { Platform, PlatformWaybill, PostQuery } from '../../store/platforms.js'
import { ApiError, notFound, validationFailed } from '../errors.js'
import { errorResponse } from '../schemas.js'
import { iso } from '../present.js'
import type { ApiContext } from '../context.js'

const u32 = { type: 'integer', minimum: 0, maximum: 4294967295 } as const
const encryptionSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['m1', 'ia1', 'ic1', 'key'],
  properties: { m1: u32, ia1: u32, ic1: u32, key: u32 },
  description: 'M1/IA1/IC1 of the link and the ENCRYPT_KEY we send; null: bodies in clear',
} as const
const vehicleRef = {
  type: 'object',
  additionalProperties: false,
  required: ['plate', 'plateColor'],
  properties: { plate: { type: 'string', minLength: 1, maxLength: 20 }, plateColor: { type: 'integer', minimum: 0, maximum: 255 } },
} as const

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  accessCode: { ...u32, description: 'MSG_GNSSCENTERID: the lower platform access code (lower), ours toward the superior (superior)' },
  userId: u32,
  password: { type: 'string', minLength: 1, maxLength: 8, description: 'stored hashed for a lower platform; kept (never returned) for a superior' },
  edition: { type: 'integer', enum: [2011, 2019] },
  encryption: encryptionSchema,
  allowedAddresses: { type: 'array', maxItems: 100, items: { type: 'string' }, description: 'lower: source IPs allowed to log in (empty: any)' },
  enterpriseLicences: { type: 'array', maxItems: 10_000, items: { type: 'string', minLength: 1 }, description: 'lower: licences it may report for; superior: enterprises forwarded' },
  vehicles: { type: 'array', maxItems: 100_000, items: vehicleRef, description: 'superior: vehicles forwarded besides those of enterpriseLicences' },
  unknownVehicles: { type: 'string', enum: ['enrol', 'refuse'], description: 'lower: a plate the registry does not know' },
  host: { type: ['string', 'null'], maxLength: 255 },
  port: { type: ['integer', 'null'], minimum: 1, maximum: 65535 },
  enabled: { type: 'boolean' },
} as const

const platformSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    role: { type: 'string', enum: ['lower', 'superior'] },
    ...fields,
    encryption: { type: ['object', 'null'], properties: encryptionSchema.properties },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const

const platformWaybillSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    platformId: { type: 'integer' },
    dataType: { type: 'string', enum: ['0x120b', '0x120d'], description: '0x120d reported by the platform, 0x120b its answer to our 0x920B request' },
    plate: { type: 'string' },
    plateColor: { type: 'integer' },
    vehicleId: { type: ['integer', 'null'] },
    receivedAt: { type: 'string', format: 'date-time' },
    text: { type: 'string', description: 'EWAYBILL_INFO as received' },
    format: { type: 'string', enum: ['json', 'pairs', 'text'], description: 'json object / field:=value pairs with our field names, or plain text (kept as text only)' },
    waybillNo: { type: ['string', 'null'], description: 'the waybill it became (used for matching), null when it did not parse or validate' },
    errors: { type: ['array', 'null'], items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
  },
} as const

const presentWaybill = (w: PlatformWaybill) => ({ ...w, dataType: '0x' + w.dataType.toString(16).padStart(4, '0'), receivedAt: iso(w.receivedAt) })

const present = (p: Platform) => ({ ...p, createdAt: iso(p.createdAt), updatedAt: iso(p.updatedAt) })

const postQuerySchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    platformId: { type: 'integer' },
    direction: { type: 'string', enum: ['out', 'in'], description: 'out: we asked a lower platform; in: a superior asked us' },
    infoId: { type: 'integer' },
    objectType: { type: 'integer' },
    objectId: { type: 'string' },
    question: { type: 'string' },
    askedBy: { type: ['string', 'null'] },
    sentAt: { type: 'string', format: 'date-time' },
    deadlineAt: { type: 'string', format: 'date-time' },
    answeredAt: { type: ['string', 'null'], format: 'date-time' },
    answer: { type: ['string', 'null'] },
    responder: { type: ['string', 'null'] },
    responderTel: { type: ['string', 'null'] },
    delayMs: { type: ['integer', 'null'], description: 'answer time minus sending time' },
    overdue: { type: 'boolean', description: 'unanswered past its deadline, or answered after it' },
  },
} as const

const presentQuery = (q: PostQuery, now: number) => ({
  id: q.id,
  platformId: q.platformId,
  direction: q.direction,
  infoId: q.infoId,
  objectType: q.objectType,
  objectId: q.objectId,
  question: q.question,
  askedBy: q.askedBy,
  sentAt: iso(q.sentAt),
  deadlineAt: iso(q.deadlineAt),
  answeredAt: q.answeredAt === null ? null : iso(q.answeredAt),
  answer: q.answer,
  responder: q.responder,
  responderTel: q.responderTel,
  delayMs: q.answeredAt === null ? null : q.answeredAt - q.sentAt,
  overdue: q.answeredAt === null ? now > q.deadlineAt : q.answeredAt > q.deadlineAt,
})

/**
 * An action toward a platform that was not sent, said in the error body: 409 when no gateway
 * process holds the platform's link (details.reason "not-logged-in"), 503 when the process holding
 * it did not answer (details.reason "holder-unreachable"; with several workers, one restarting).
 */
export function notSent(reason: NotSent, what: string): ApiError {
  return reason === 'not-logged-in'
    ? new ApiError('CONFLICT', `${what} is not logged in to any gateway process`, { reason: 'not-logged-in' })
    : new ApiError('NOT_AVAILABLE', `the gateway process holding ${what}'s link did not answer; try again`, { reason: 'holder-unreachable' })
}

const isNotSent = <T>(r: T | NotSent): r is NotSent => r === 'not-logged-in' || r === 'unreachable'

const notSentResponses = {
  409: errorResponse('No gateway process holds the platform link (details.reason "not-logged-in")'),
  503: errorResponse('The gateway process holding the link did not answer (details.reason "holder-unreachable")'),
}

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const

function inputError(e: unknown): never {
  if (e instanceof PlatformInputError)
    throw validationFailed(
      'invalid platform',
      e.problems.map((p) => ({ field: `body/${p.field}`, message: p.message })),
    )
  throw e
}

export function platformRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx.deps
  const reload = () => ctx.deps.platforms?.reload() ?? Promise.resolve()

  app.get(
    '/platforms',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: 'JT/T 809 platforms: lower ones that log in to us, superiors we forward to',
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: platformSchema } } } },
      },
    },
    async () => ({ items: (await store.listPlatforms()).map(present) }),
  )

  app.post<{ Body: PlatformInput }>(
    '/platforms',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: 'Add a lower or superior platform (applied at once)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['role', 'name', 'accessCode', 'userId', 'password'],
          properties: { role: { type: 'string', enum: ['lower', 'superior'] }, ...fields },
        },
        response: { 201: platformSchema },
      },
    },
    async (request, reply) => {
      let input: ReturnType<typeof newPlatform>
      try {
        input = newPlatform(request.body)
      } catch (e) {
        inputError(e)
      }
      if (input.role === 'lower' && (await store.findLowerPlatform(input.accessCode))) throw new ApiError('CONFLICT', `a lower platform with access code ${input.accessCode} exists`)
      const p = await store.createPlatform(input, ctx.now())
      request.audit.target = `platform ${p.id}`
      request.audit.details = { role: p.role, name: p.name, accessCode: p.accessCode }
      await reload()
      reply.status(201)
      return present(p)
    },
  )

  app.patch<{ Params: { id: number }; Body: PlatformChange }>(
    '/platforms/:id',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: 'Change a platform (a lower one logged in is logged out to log in under the new settings)',
        params: idParams,
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: fields },
        response: { 200: platformSchema },
      },
    },
    async (request) => {
      const existing = await store.getPlatform(request.params.id)
      if (!existing) throw notFound(`platform ${request.params.id}`)
      let patch: ReturnType<typeof platformPatch>
      try {
        patch = platformPatch(existing, request.body)
      } catch (e) {
        inputError(e)
      }
      const p = await store.updatePlatform(existing.id, patch, ctx.now())
      if (!p) throw notFound(`platform ${request.params.id}`)
      request.audit.target = `platform ${p.id}`
      request.audit.details = { changed: Object.keys(request.body).map((k) => (k === 'password' ? 'password (not logged)' : k)) }
      await reload()
      return present(p)
    },
  )

  app.delete<{ Params: { id: number } }>(
    '/platforms/:id',
    { config: { access: 'supervisor' }, schema: { tags: ['platforms'], summary: 'Remove a platform (its links close)', params: idParams, response: { 204: { type: 'null' } } } },
    async (request, reply) => {
      if (!(await store.deletePlatform(request.params.id))) throw notFound(`platform ${request.params.id}`)
      request.audit.target = `platform ${request.params.id}`
      await reload()
      reply.status(204)
    },
  )

  app.post<{ Params: { id: number }; Body: { question: string; objectType?: number; objectId?: string; answerMinutes?: number } }>(
    '/platforms/:id/post-queries',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: '查岗: send a post query (0x9301) to a logged-in lower platform; its answer (0x1301) is recorded with who answered and the delay',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['question'],
          properties: {
            question: { type: 'string', minLength: 1, maxLength: 1000 },
            objectType: { type: 'integer', enum: [0, 1, 2], description: '0 the platform duty post (default), 1 an enterprise, 2 an operator' },
            objectId: { type: 'string', maxLength: 20 },
            answerMinutes: { type: 'integer', minimum: 1, maximum: 255, description: 'flagged unanswered after this (default JT808_PLATFORM_POST_QUERY_MIN)' },
          },
        },
        response: { 202: postQuerySchema, ...notSentResponses },
      },
    },
    async (request, reply) => {
      const p = await store.getPlatform(request.params.id)
      if (p?.role !== 'lower') throw notFound(`lower platform ${request.params.id}`)
      const q = (await ctx.deps.platforms?.postQuery(p.id, { ...request.body, askedBy: request.principal?.tokenId ?? null })) ?? 'not-logged-in'
      if (isNotSent(q)) throw notSent(q, `platform ${p.id}`)
      request.audit.target = `platform ${p.id}`
      request.audit.details = { postQuery: q.id, infoId: q.infoId }
      reply.status(202)
      return presentQuery(q, ctx.now())
    },
  )

  app.post<{ Params: { id: number }; Body: { answer: string; responder?: string; responderTel?: string } }>(
    '/platforms/post-queries/:id/answer',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: "Answer a superior platform's 查岗 (sent as 0x1301); pending ones: GET /platforms/post-queries?direction=in&unanswered=true",
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['answer'],
          properties: { answer: { type: 'string', minLength: 1, maxLength: 1000 }, responder: { type: 'string', maxLength: 16 }, responderTel: { type: 'string', maxLength: 20 } },
        },
        response: {
          200: postQuerySchema,
          409: errorResponse('Answered already, or the superior is not connected (details.reason "link-down")'),
          503: errorResponse('The gateway process running the superiors\' links did not answer (details.reason "holder-unreachable")'),
        },
      },
    },
    async (request) => {
      const r = ctx.deps.platforms
        ? await ctx.deps.platforms.answerPostQuery(request.params.id, { content: request.body.answer, responder: request.body.responder ?? null, responderTel: request.body.responderTel ?? null })
        : 'not-found'
      if (r === 'not-found') throw notFound(`incoming post query ${request.params.id}`)
      if (r === 'answered') throw new ApiError('CONFLICT', `post query ${request.params.id} is answered already`)
      if (r === 'link-down') throw new ApiError('CONFLICT', 'the superior platform is not connected now; answer again when it is', { reason: 'link-down' })
      if (r === 'unreachable') throw new ApiError('NOT_AVAILABLE', "the gateway process running the superiors' links did not answer; try again", { reason: 'holder-unreachable' })
      request.audit.target = `post query ${r.id}`
      return presentQuery(r, ctx.now())
    },
  )

  app.get<{ Querystring: { platform?: number; direction?: 'out' | 'in'; unanswered?: boolean; limit?: number } }>(
    '/platforms/post-queries',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: '查岗 sent, newest first: answer, responder, delay; overdue when unanswered past its deadline',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            platform: { type: 'integer', minimum: 1 },
            direction: { type: 'string', enum: ['out', 'in'] },
            unanswered: { type: 'boolean' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: postQuerySchema } } } },
      },
    },
    async (request) => {
      const items = await store.listPostQueries({ platformId: request.query.platform, direction: request.query.direction, unanswered: request.query.unanswered, limit: request.query.limit })
      const now = ctx.now()
      return { items: items.map((q) => presentQuery(q, now)) }
    },
  )

  app.get<{ Querystring: { platform?: number; vehicle?: number; limit?: number } }>(
    '/platforms/waybills',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: 'Waybills lower platforms reported (0x120D, 0x120B) as received, newest first, with the waybill each became or why not',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { platform: { type: 'integer', minimum: 1 }, vehicle: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: platformWaybillSchema } } } },
      },
    },
    async (request) => {
      const items = await store.listPlatformWaybills({ platformId: request.query.platform, vehicleId: request.query.vehicle, limit: request.query.limit })
      return { items: items.map(presentWaybill) }
    },
  )

  app.post<{ Params: { id: number }; Body: { plate: string; plateColor: number } }>(
    '/platforms/:id/waybill-requests',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: "Ask a logged-in lower platform for a vehicle's electronic waybill (0x920B); its 0x120B answer appears in GET /platforms/waybills",
        params: idParams,
        body: vehicleRef,
        response: { 202: { type: 'object', properties: { platformId: { type: 'integer' }, msgSn: { type: 'integer' } } }, ...notSentResponses },
      },
    },
    async (request, reply) => {
      const p = await store.getPlatform(request.params.id)
      if (p?.role !== 'lower') throw notFound(`lower platform ${request.params.id}`)
      const msgSn = (await ctx.deps.platforms?.requestWaybill(p.id, request.body.plate, request.body.plateColor)) ?? 'not-logged-in'
      if (isNotSent(msgSn)) throw notSent(msgSn, `platform ${p.id}`)
      request.audit.target = `platform ${p.id}`
      request.audit.details = { plate: request.body.plate, plateColor: request.body.plateColor, msgSn }
      reply.status(202)
      return { platformId: p.id, msgSn }
    },
  )

  app.get(
    '/platforms/links',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['platforms'],
        summary: 'State of every 809 link: up/down, since, last message, frames in/out, positions, late arrivals, backlog',
        response: {
          200: {
            type: 'object',
            properties: { lower: { type: 'array', items: { type: 'object', additionalProperties: true } }, superior: { type: 'array', items: { type: 'object', additionalProperties: true } } },
          },
        },
      },
    },
    async () => ctx.deps.platforms?.states() ?? { lower: [], superior: [] },
  )
}
