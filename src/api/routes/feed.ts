/** GET /anomalies/stream: the live anomaly feed as Server-Sent Events (see ../feed.ts). */
import type { FastifyInstance } from 'fastify'
import { ANOMALY_TYPES, canonicalPlate, SEVERITIES } from '../../domain.js'
import { InvalidStreamIdError, parseStreamId, type StreamId } from '../../state/stream-id.js'
import { confine, scopedLicenceFilter } from '../access.js'
import { ApiError, validationFailed } from '../errors.js'
import { licenceSchema, plateSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'

interface FeedQuery {
  since?: string
  type?: string[]
  severity?: string[]
  plate?: string
  enterprise?: string
}

function parseResumeId(raw: string | undefined, field: string): StreamId | null {
  if (raw === undefined || raw === '') return null
  try {
    return parseStreamId(raw.trim())
  } catch (err) {
    if (err instanceof InvalidStreamIdError) throw validationFailed('invalid resume id', [{ field, message: 'must be an event id ("<ms>-<seq>") or epoch milliseconds' }])
    throw err
  }
}

export function feedRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: FeedQuery }>(
    '/anomalies/stream',
    {
      config: { access: 'read' },
      schema: {
        tags: ['anomalies'],
        summary: 'Live anomaly events (Server-Sent Events): anomaly.opened, anomaly.updated, anomaly.closed',
        description:
          'Each event: `id` = the stream entry id (a resumable cursor), `event` = anomaly.opened|updated|closed, `data` = {"event","at","anomaly":{…as GET /anomalies}}. Reconnect with the `Last-Event-ID` header (browsers do it by themselves) or `?since=<id>` to replay what was missed; `event: feed.truncated` says the requested id was older than what the stream retains. Comment lines (": ping") keep idle connections open. A client that does not read is dropped after the drain timeout.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 40, description: 'replay events after this id (or epoch ms); Last-Event-ID wins when both are given' },
            type: { type: 'array', items: { type: 'string', enum: ANOMALY_TYPES }, description: 'only these types (repeat or comma-free list)' },
            severity: { type: 'array', items: { type: 'string', enum: SEVERITIES } },
            plate: plateSchema,
            enterprise: licenceSchema,
          },
        },
        headers: { type: 'object', properties: { 'last-event-id': { type: 'string', maxLength: 40 } } },
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } },
      },
    },
    async (request, reply) => {
      const q = request.query
      const headerId = request.headers['last-event-id']
      const since = parseResumeId(typeof headerId === 'string' ? headerId : undefined, 'header/last-event-id') ?? parseResumeId(q.since, 'query/since')
      const licence = scopedLicenceFilter(request, q.enterprise) ?? confine(request)
      // Start the tail loop before taking over the socket: a state failure is still a proper 503.
      try {
        await ctx.feed.start()
      } catch (err) {
        request.log.warn({ err }, 'anomaly feed unavailable')
        throw new ApiError('NOT_AVAILABLE', 'the live state is unavailable')
      }
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      })
      res.write('retry: 2000\n\n')
      res.socket?.setNoDelay(true)
      ctx.feed
        .attach(
          res,
          {
            enterpriseLicenseNo: licence ?? null,
            types: q.type?.length ? new Set(q.type) : null,
            severities: q.severity?.length ? new Set(q.severity) : null,
            plate: q.plate ? canonicalPlate(q.plate) : null,
          },
          since,
        )
        .catch((err) => {
          request.log.warn({ err }, 'anomaly feed: attach failed')
          res.destroy()
        })
    },
  )
}
