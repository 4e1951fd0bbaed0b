/** Health, readiness, Prometheus metrics and the OpenAPI document: no API token needed (/metrics may need its own). */
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { hashToken } from '../tokens.js'
import { ApiError } from '../errors.js'
import type { ApiContext } from '../context.js'

const READY_TIMEOUT_MS = 2_000

async function check(name: string, probe: () => Promise<void>): Promise<{ name: string; ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
      }),
    ])
    return { name, ok: true }
  } catch (err) {
    return { name, ok: false, error: (err as Error).message }
  } finally {
    clearTimeout(timer)
  }
}

export function systemRoutes(app: FastifyInstance, { deps }: ApiContext): void {
  const started = Date.now()

  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['system'],
        summary: 'The process is up',
        security: [],
        response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] }, uptimeSeconds: { type: 'number' } } } },
      },
    },
    async () => ({ status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 1000) }),
  )

  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['system'],
        summary: 'The database and the state store answer',
        security: [],
        response: {
          200: {
            type: 'object',
            // degraded: the live state (Redis) is unreachable; terminals are still served (its writes buffered)
            properties: { status: { type: 'string', enum: ['ready', 'degraded'] }, checks: { type: 'object', additionalProperties: { type: 'string' } } },
          },
          503: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } } },
        },
      },
    },
    async () => {
      const results = await Promise.all([check('store', () => deps.store.ping()), check('state', () => deps.state.ping())])
      const checks = Object.fromEntries(results.map((r) => [r.name, r.ok ? 'ok' : `failed: ${r.error}`]))
      const health = deps.state.health()
      const degraded = !health.available && !results[1].ok
      if (degraded) checks.state = `degraded: unreachable since ${new Date(health.since).toISOString()}, ${health.buffered} writes buffered, ${health.dropped} dropped`
      if (!results[0].ok || (!results[1].ok && !degraded)) throw new ApiError('NOT_AVAILABLE', 'not ready', { checks })
      return { status: degraded ? 'degraded' : 'ready', checks }
    },
  )

  if (!deps.config.metricsElsewhere) metricsRoute(app, deps.registry, deps.config.metricsToken ?? null)

  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger())
}

/**
 * GET /metrics (Prometheus text). With a token (JT808_METRICS_TOKEN) the scraper must send it as
 * `Authorization: Bearer …` (Prometheus: `authorization: { credentials: … }`); compared in constant
 * time. Registered on the API or on the admin listener (src/api/metrics-server.ts).
 */
export function metricsRoute(app: FastifyInstance, registry: Registry, token: string | null): void {
  const expected = token === null ? null : Buffer.from(hashToken(token), 'hex')
  app.get(
    '/metrics',
    {
      config: { access: 'public' },
      schema: {
        tags: ['system'],
        summary: `Prometheus metrics (gateway, ingest, matcher, API)${token ? '; needs the metrics token (JT808_METRICS_TOKEN) as a bearer token' : ''}`,
        security: token ? [{ bearer: [] }] : [],
        produces: ['text/plain'],
      },
    },
    async (request, reply) => {
      if (expected) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')
        if (!m || !timingSafeEqual(Buffer.from(hashToken(m[1]), 'hex'), expected)) {
          reply.header('www-authenticate', 'Bearer')
          throw new ApiError('UNAUTHORIZED', 'the metrics token is required')
        }
      }
      reply.type(registry.contentType)
      return registry.metrics()
    },
  )
}
