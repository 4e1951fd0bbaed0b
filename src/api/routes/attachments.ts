/**
 * Active-safety attachment files (the photos and clips an anomaly's evidence lists under
 * `attachments`): GET /attachments/{id} serves the bytes with their checked content type, and
 * single byte ranges (video players seek). Same scopes as anomalies: an enterprise sees only its
 * own vehicles' files — another's is 404 like one that does not exist; inspectors read. Every
 * access, granted or not, is written to the audit log before the response leaves.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AttachmentStore } from '../../store/attachments.js'
import { confine, principalOf } from '../access.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiContext } from '../context.js'

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` against a size; null: serve it whole (absent, several ranges, or not bytes). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return null
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || end < start) return 'unsatisfiable'
  return { start, end }
}

export function attachmentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const store = ctx.deps.store as ApiContext['deps']['store'] & AttachmentStore
  const audit = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.principal) return
    try {
      await ctx.deps.store.appendAudit({
        at: ctx.now(),
        tokenId: request.principal.tokenId,
        role: request.principal.role,
        enterpriseLicenseNo: request.principal.enterpriseLicenseNo,
        method: request.method,
        route: request.routeOptions.url ?? request.url,
        target: request.audit?.target ?? null,
        status: reply.statusCode,
        requestId: request.id,
        details: { ...(request.audit?.details ?? {}), params: request.params ?? {}, range: request.headers.range ?? null },
      })
    } catch (err) {
      request.log.error({ err }, 'audit log write failed')
    }
  }

  app.get<{ Params: { id: string } }>(
    '/attachments/:id',
    {
      config: { access: 'read' },
      onSend: async (request, reply, payload) => {
        await audit(request, reply)
        return payload
      },
      schema: {
        tags: ['anomalies'],
        summary: "An active-safety attachment (photo, clip) listed in an anomaly's evidence; single byte ranges honoured",
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$' } } },
        headers: { type: 'object', properties: { range: { type: 'string', maxLength: 100 } } },
      },
    },
    async (request, reply) => {
      principalOf(request)
      request.audit.target = `attachment ${request.params.id}`
      const found = await store.getAttachmentFile(Number(request.params.id))
      const own = confine(request)
      // another enterprise's file looks exactly like a missing one
      if (found?.file.state !== 'complete' || !found.file.objectKey || (own !== null && found.alarm.enterpriseLicenseNo !== own)) {
        throw notFound(`attachment ${request.params.id}`)
      }
      const objects = ctx.deps.objects
      if (!objects) throw new ApiError('NOT_AVAILABLE', 'no attachment store in this process')
      const { file, alarm } = found
      request.audit.details = { alarmNumber: alarm.alarmNumber, anomalyId: alarm.anomalyId, plate: alarm.plate, name: file.name }
      const size = file.size
      const range = parseRange(request.headers.range, size)
      reply.header('accept-ranges', 'bytes')
      reply.header('etag', `"${file.sha256}"`)
      reply.header('cache-control', 'private, max-age=3600')
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${size}`)
        throw new ApiError('RANGE_NOT_SATISFIABLE', `range ${request.headers.range} lies outside the file's ${size} bytes`)
      }
      const body = await objects.get(found.file.objectKey, range ?? undefined)
      if (!body) throw notFound(`attachment ${request.params.id}`)
      reply.type(file.contentType ?? 'application/octet-stream')
      if (range) {
        reply.code(206)
        reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`)
        reply.header('content-length', range.end - range.start + 1)
      } else reply.header('content-length', size)
      return reply.send(body)
    },
  )
}
