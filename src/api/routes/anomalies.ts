/**
 * Anomalies: list with filters and a cursor (stable order: newest first by the store's insertion
 * sequence), one anomaly with its handling history, and the handling loop — the supervisor
 * notifies the enterprise, the enterprise reports its rectification, the supervisor confirms
 * (or dismisses a false one at any point before).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ANOMALY_STATUSES, ANOMALY_TYPES, SEVERITIES, type Anomaly, type AnomalyStatus, type AnomalyType, type Severity } from '../../domain.js'
import type { AnomalyStore, HandlingAction, HandlingEntry } from '../../store/port.js'
import type { PlatformAlarmResult } from '../../store/platform-info.js'
import { principalOf, scopedLicenceFilter, visible } from '../access.js'
import { ApiError } from '../errors.js'
import { iso, presentAnomaly } from '../present.js'
import { anomalySchema, errorResponse, licenceSchema, plateColorSchema, plateSchema, timeRangeQuery } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { timeRange } from './vehicles.js'

export const anomalyStore = (ctx: ApiContext) => ctx.deps.store as ApiContext['deps']['store'] & AnomalyStore

/**
 * The handling loop: which step may follow the current one, and who may take it.
 *   (none) → notify | dismiss;  notify → rectify | notify | dismiss;  rectify → confirm | notify | dismiss
 *   confirm and dismiss end it. Re-notifying after a rectification sends it back to the enterprise.
 */
const NEXT: Record<HandlingAction | 'none', readonly HandlingAction[]> = {
  none: ['notify', 'dismiss'],
  notify: ['rectify', 'notify', 'dismiss'],
  rectify: ['confirm', 'notify', 'dismiss'],
  confirm: [],
  dismiss: [],
}
const ENTERPRISE_ACTIONS: ReadonlySet<HandlingAction> = new Set(['rectify'])

export const canFollow = (current: HandlingAction | null, next: HandlingAction) => NEXT[current ?? 'none'].includes(next)

const presentHandling = (h: HandlingEntry) => ({ id: h.id, action: h.action, note: h.note, at: iso(h.at), by: { tokenId: h.tokenId, role: h.role, enterpriseLicenseNo: h.enterpriseLicenseNo } })

const handlingSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    action: { type: 'string', enum: ['notify', 'rectify', 'confirm', 'dismiss'] },
    note: { type: ['string', 'null'] },
    at: { type: 'string', format: 'date-time' },
    by: { type: 'object', properties: { tokenId: { type: ['string', 'null'] }, role: { type: ['string', 'null'] }, enterpriseLicenseNo: { type: ['string', 'null'] } } },
  },
} as const

/** A lower platform's handling result of the alarm report this anomaly came from (JT/T 809 0x1403 / 0x1412). */
const platformResultSchema = {
  type: 'object',
  properties: {
    platformId: { type: 'integer' },
    dataType: { type: 'string', enum: ['0x1403', '0x1412'] },
    result: { type: 'integer', description: '0 handling, 1 handled (also a rectify step in the history), 2 not handled, 3 to be handled later' },
    receivedAt: { type: 'string', format: 'date-time' },
  },
} as const

const presentResult = (r: PlatformAlarmResult) => ({ platformId: r.platformId, dataType: '0x' + r.dataType.toString(16).padStart(4, '0'), result: r.result, receivedAt: iso(r.receivedAt) })

async function anomalyFor(ctx: ApiContext, request: FastifyRequest, id: string): Promise<Anomaly> {
  return visible(request, await anomalyStore(ctx).getAnomaly(id), (a) => a.enterpriseLicenseNo, `anomaly ${id}`)
}

interface ListQuery {
  type?: AnomalyType[]
  status?: AnomalyStatus
  severity?: Severity[]
  plate?: string
  plateColor?: number
  enterprise?: string
  waybillNo?: string
  from?: string
  to?: string
  cursor?: string
  limit: number
}

export function anomalyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: ListQuery }>(
    '/anomalies',
    {
      config: { access: 'read' },
      schema: {
        tags: ['anomalies'],
        summary: 'Anomalies, newest first in a stable order; `from`/`to` select those overlapping the range',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            type: { type: 'array', items: { type: 'string', enum: ANOMALY_TYPES } },
            status: { type: 'string', enum: ANOMALY_STATUSES },
            severity: { type: 'array', items: { type: 'string', enum: SEVERITIES } },
            plate: plateSchema,
            plateColor: plateColorSchema,
            enterprise: licenceSchema,
            waybillNo: { type: 'string', maxLength: 50 },
            ...timeRangeQuery,
            cursor: { type: 'string', pattern: '^[0-9]{1,18}$', description: 'nextCursor of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: anomalySchema }, nextCursor: { type: ['string', 'null'] } } } },
      },
    },
    async (request) => {
      const q = request.query
      if (q.from !== undefined && q.to !== undefined) timeRange(q.from, q.to)
      const page = await anomalyStore(ctx).listAnomalies({
        type: q.type?.length ? q.type : undefined,
        status: q.status,
        severity: q.severity?.length ? q.severity : undefined,
        plate: q.plate,
        plateColor: q.plateColor,
        enterpriseLicenseNo: scopedLicenceFilter(request, q.enterprise),
        waybillNo: q.waybillNo,
        from: q.from === undefined ? undefined : Date.parse(q.from),
        to: q.to === undefined ? undefined : Date.parse(q.to),
        cursor: q.cursor ?? null,
        limit: q.limit,
      })
      const states = await ctx.deps.store.handlingStates(page.items.map((a) => a.id))
      return { items: page.items.map((a) => ({ ...presentAnomaly(a), handling: states.get(a.id) ?? null })), nextCursor: page.nextCursor }
    },
  )

  const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } as const

  app.get<{ Params: { id: string } }>(
    '/anomalies/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['anomalies'],
        summary: 'One anomaly with its handling history',
        params: idParams,
        response: {
          200: {
            ...anomalySchema,
            properties: { ...anomalySchema.properties, handlingHistory: { type: 'array', items: handlingSchema }, platformResults: { type: 'array', items: platformResultSchema } },
          },
        },
      },
    },
    async (request) => {
      const a = await anomalyFor(ctx, request, request.params.id)
      const [history, results] = await Promise.all([ctx.deps.store.listHandling(a.id), ctx.deps.store.listPlatformAlarmResults(a.id)])
      return { ...presentAnomaly(a), handling: history.at(-1)?.action ?? null, handlingHistory: history.map(presentHandling), platformResults: results.map(presentResult) }
    },
  )

  app.post<{ Params: { id: string }; Body: { action: HandlingAction; note?: string } }>(
    '/anomalies/:id/handling',
    {
      config: { access: 'write' },
      schema: {
        tags: ['anomalies'],
        summary: 'A handling step: notify (supervisor) → rectify (enterprise) → confirm (supervisor); dismiss (supervisor) ends it early',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['action'],
          properties: { action: { type: 'string', enum: ['notify', 'rectify', 'confirm', 'dismiss'] }, note: { type: 'string', maxLength: 2000 } },
        },
        response: {
          201: { type: 'object', properties: { anomalyId: { type: 'string' }, handling: { type: 'string' }, step: handlingSchema, history: { type: 'array', items: handlingSchema } } },
          409: errorResponse('The step does not follow the current one'),
        },
      },
    },
    async (request, reply) => {
      const { action, note } = request.body
      const principal = principalOf(request)
      request.audit.target = request.params.id
      request.audit.details = { action }
      const a = await anomalyFor(ctx, request, request.params.id)
      if (principal.role === 'enterprise' && !ENTERPRISE_ACTIONS.has(action)) throw new ApiError('FORBIDDEN', `an enterprise reports its rectification; "${action}" is the supervisor's`)
      const result = await ctx.deps.store.applyHandling(
        { anomalyId: a.id, action, note: note ?? null, tokenId: principal.tokenId, role: principal.role, enterpriseLicenseNo: principal.enterpriseLicenseNo, at: ctx.now() },
        (current) => canFollow(current, action),
      )
      if (!result.ok) {
        const allowed = NEXT[result.current ?? 'none']
        throw new ApiError('CONFLICT', `"${action}" cannot follow ${result.current ?? 'no handling'}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ' (handling is closed)'}`, {
          current: result.current,
          allowed,
        })
      }
      // 督办: a notify on a vehicle reported through a lower platform reaches that platform (0x9401)
      if (action === 'notify') {
        // the step stands whatever becomes of the 0x9401: the audit says whether it went, or why not
        const sent = await ctx.deps.platforms?.supervise(a, principal.tokenId).catch((err: unknown) => void request.log.error({ err }, '0x9401 not sent'))
        if (typeof sent === 'object') request.audit.details = { action, supervision: sent }
        else if (sent === 'unreachable') request.audit.details = { action, supervision: 'not sent: the gateway process holding the platform link did not answer' }
      }
      const history = await ctx.deps.store.listHandling(a.id)
      reply.status(201)
      return { anomalyId: a.id, handling: action, step: presentHandling(result.entry), history: history.map(presentHandling) }
    },
  )
}
