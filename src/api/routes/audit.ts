/** GET /audit: the audit log of every write (who, what route, what target, status), newest first, cursor-paged. */
import type { FastifyInstance } from 'fastify'
import { confine } from '../access.js'
import { iso } from '../present.js'
import type { ApiContext } from '../context.js'
import { timeRange } from './vehicles.js'

const auditEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    tokenId: { type: ['string', 'null'] },
    role: { type: ['string', 'null'] },
    enterpriseLicenseNo: { type: ['string', 'null'] },
    method: { type: 'string' },
    route: { type: 'string', description: 'the route pattern, e.g. /api/v1/waybills/:waybillNo' },
    target: { type: ['string', 'null'] },
    status: { type: 'integer' },
    requestId: { type: ['string', 'null'] },
    details: { type: 'object', additionalProperties: true },
  },
} as const

interface AuditQuery {
  tokenId?: string
  route?: string
  method?: string
  target?: string
  from?: string
  to?: string
  cursor?: string
  limit: number
}

export function auditRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: AuditQuery }>(
    '/audit',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['admin'],
        summary: 'The audit log: every write with its token, route, target and status; newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            tokenId: { type: 'string', maxLength: 100, description: 'the acting token (local-admin: the server’s own CLI)' },
            route: { type: 'string', maxLength: 200, description: 'route pattern, exactly: /api/v1/tokens' },
            method: { type: 'string', enum: ['POST', 'PUT', 'PATCH', 'DELETE'] },
            target: { type: 'string', maxLength: 200, description: 'what was acted on: a plate, waybill no., token id…' },
            from: { type: 'string', format: 'date-time', description: 'inclusive' },
            to: { type: 'string', format: 'date-time', description: 'exclusive' },
            cursor: { type: 'string', pattern: '^[0-9]{1,18}$', description: 'nextCursor of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: auditEntrySchema }, nextCursor: { type: ['string', 'null'] } } } },
      },
    },
    async (request) => {
      const q = request.query
      const range = q.from !== undefined && q.to !== undefined ? timeRange(q.from, q.to) : { from: q.from ? Date.parse(q.from) : undefined, to: q.to ? Date.parse(q.to) : undefined }
      const own = confine(request)
      const rows = await ctx.deps.store.listAudit({
        tokenId: q.tokenId,
        route: q.route,
        method: q.method,
        target: q.target,
        enterpriseLicenseNo: own ?? undefined,
        from: range.from,
        to: range.to,
        beforeId: q.cursor,
        limit: q.limit + 1,
      })
      const page = rows.slice(0, q.limit)
      return { items: page.map((e) => ({ ...e, at: iso(e.at) })), nextCursor: rows.length > q.limit ? page[page.length - 1].id : null }
    },
  )
}
