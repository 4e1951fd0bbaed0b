/**
 * The supervision REST API (fastify). `buildApi(deps)` assembles it from ports so the gateway
 * process, tests (app.inject or real HTTP on port 0) and benchmarks build the same thing.
 *
 * Every route has a JSON schema: it validates the request, shapes the response and is the single
 * source of the OpenAPI document at /openapi.json (docs page at /docs). Every error leaves as
 * {"error":{"code","message","details"}}. Every /api/v1 route declares its access level; writes
 * are recorded in the audit log before the response is sent.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { metricGetter } from '../metrics.js'
import { checkAccess, type Access, type Principal } from './access.js'
import type { ApiContext } from './context.js'
import type { ApiDeps } from './deps.js'
import { ApiError, toErrorResponse, validationFailed } from './errors.js'
import { AnomalyFeed } from './feed.js'
import { errorResponses } from './schemas.js'
import { hashToken } from './tokens.js'
import { systemRoutes } from './routes/system.js'
import { vehicleRoutes } from './routes/vehicles.js'
import { feedRoutes } from './routes/feed.js'
import { waybillRoutes } from './routes/waybills.js'
import { anomalyRoutes } from './routes/anomalies.js'
import { liveStateOf } from './routes/live.js'
import { statsRoutes } from './routes/stats.js'
import { runSelfCheck } from './routes/self-check.js'
import type { WaybillStore } from '../store/port.js'
import { commandRoutes } from './routes/commands.js'
import { geofenceRoutes } from './routes/geofences.js'
import { attachmentRoutes } from './routes/attachments.js'
import { platformRoutes } from './routes/platforms.js'
import { platformInfoRoutes } from './routes/platform-info.js'
import { QrSigner } from './qr.js'
import { tokenRoutes } from './routes/tokens.js'
import { auditRoutes } from './routes/audit.js'
import { sessionRoutes } from './routes/sessions.js'
import { adminRoutes } from './routes/admin.js'
import { fleetRoutes } from './routes/fleet.js'
import { consoleRoutes } from './routes/console.js'
import { meRoutes } from './routes/me.js'
import { AJV_OPTIONS, buildValidator, MAX_PARAM_LENGTH, paramLimitProblem } from './validation.js'

export const API_PREFIX = '/api/v1'
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const TOKEN_CACHE_MS = 5_000
const TOKEN_CACHE_MAX = 10_000
const MAX_AUDITED_URL = 1_000
/** The local CLI on the server's own data directory (see ApiDeps.localAdminTokenHash). */
const LOCAL_ADMIN: Principal = { tokenId: 'local-admin', role: 'supervisor', enterpriseLicenseNo: null }

export type ApiInstance = FastifyInstance & { feed: AnomalyFeed }

export async function buildApi(deps: ApiDeps): Promise<ApiInstance> {
  const now = deps.now ?? Date.now
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    logController: new QuietProbes({ disableRequestLogging: (request) => PROBES.has(request.url) }),
    bodyLimit: 1 << 20,
    // SSE clients are ended in preClose; anything else idle is closed with the server.
    forceCloseConnections: 'idle',
    ajv: { customOptions: AJV_OPTIONS },
    schemaController: { compilersFactory: { buildValidator: buildValidator() } },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // a malformed or over-long path parameter: answered in the API's shape, after authentication
    frameworkErrors: (err, request, reply) => void refuseUrl(err, request, reply),
  })

  const tokenCache = new Map<string, { principal: Principal | null; until: number }>()
  const feed = new AnomalyFeed(deps.state, deps.feed ?? {}, app.log, feedMetrics(deps.registry))
  const qr = new QrSigner(deps.store, deps.config.qrSigningKey ?? null)
  const ctx: ApiContext = {
    deps,
    now,
    feed,
    qr,
    waybills: {
      activeFor: async (v) => {
        const store = ctx.deps.store as Partial<WaybillStore>
        return store.activeWaybillFor ? store.activeWaybillFor(v.plate, v.plateColor, now(), deps.config.waybillGraceMs ?? 0) : null
      },
    },
    liveState: (v) => liveStateOf(ctx, v),
    selfCheck: (v) => runSelfCheck(ctx, v, now()),
    revokedToken: (tokenId) => {
      for (const [hash, entry] of tokenCache) if (entry.principal?.tokenId === tokenId) tokenCache.delete(hash)
    },
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'JT/T 808 hazmat supervision API',
        version: '1',
        description:
          'Vehicles, electronic waybills, anomalies (with a live Server-Sent Events feed), terminal commands and statistics for hazardous-goods road transport supervision. Authenticate with `Authorization: Bearer <token>`; roles: supervisor (everything), enterprise (own carrier licence only), inspector (read and verify).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'system', description: 'health, readiness, metrics' },
        { name: 'vehicles' },
        { name: 'waybills' },
        { name: 'anomalies' },
        { name: 'terminals' },
        { name: 'geofences' },
        { name: 'platforms', description: 'JT/T 809 platform links' },
        { name: 'stats' },
        { name: 'admin', description: 'tokens and the audit log (supervisor)' },
      ],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })

  app.decorateRequest('principal', null)
  app.decorateRequest('audit', null as never)
  app.decorate('feed', feed)

  const httpDuration = metricGetter(deps.registry)(
    'jt808_http_request_duration_seconds',
    () =>
      new Histogram({
        name: 'jt808_http_request_duration_seconds',
        help: 'REST API request duration by route and status',
        labelNames: ['method', 'route', 'status'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
        registers: [deps.registry],
      }),
  )

  async function authenticate(request: FastifyRequest): Promise<Principal> {
    const header = request.headers.authorization
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    if (!m) throw new ApiError('UNAUTHORIZED', header ? 'the Authorization header must be "Bearer <token>"' : 'a bearer token is required')
    const hash = hashToken(m[1])
    if (deps.localAdminTokenHash && hash === deps.localAdminTokenHash) return LOCAL_ADMIN
    const t = Date.now()
    let cached = tokenCache.get(hash)
    if (!cached || cached.until < t) {
      const token = await deps.store.findToken(hash)
      cached = { principal: token ? { tokenId: token.id, role: token.role, enterpriseLicenseNo: token.enterpriseLicenseNo } : null, until: t + TOKEN_CACHE_MS }
      if (tokenCache.size >= TOKEN_CACHE_MAX) tokenCache.clear()
      tokenCache.set(hash, cached)
    }
    if (!cached.principal) throw new ApiError('UNAUTHORIZED', 'unknown or revoked token')
    return cached.principal
  }

  app.addHook('onRequest', async (request, reply) => {
    request.audit = { target: null, details: {} }
    const access: Access = request.routeOptions.config?.access ?? 'public'
    if (access === 'public') return
    try {
      request.principal = await authenticate(request)
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer')
      throw err
    }
    checkAccess(request.principal, access)
  })

  /** Fastify's own refusals of a URL (bad percent-encoding, a parameter over the router's limit). */
  async function refuseUrl(err: { code?: string }, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      // The principal is kept so that the refused write is audited (below).
      if (request.url.startsWith(`${API_PREFIX}/`)) request.principal = await authenticate(request)
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      throw validationFailed(tooLong ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` : 'the path is not valid percent-encoded UTF-8', [
        { field: 'params', message: tooLong ? `must NOT have more than ${MAX_PARAM_LENGTH} characters` : 'is not valid percent-encoded UTF-8' },
      ])
    } catch (e) {
      const { status, body } = toErrorResponse(e)
      if (status === 401) reply.header('www-authenticate', 'Bearer')
      // Fastify's URL refusals skip the route hooks: the refused write is audited here.
      await audit(request, status)
      reply.status(status).send(body)
    }
  }

  /** One audit record per write a caller made, whatever its outcome. */
  async function audit(request: FastifyRequest, status: number): Promise<void> {
    if (!request.principal || !WRITE_METHODS.has(request.method)) return
    try {
      await deps.store.appendAudit({
        at: now(),
        tokenId: request.principal.tokenId,
        role: request.principal.role,
        enterpriseLicenseNo: request.principal.enterpriseLicenseNo,
        method: request.method,
        // A URL no route took (refused encoding or length, unknown path) is kept as sent, bounded.
        route: request.routeOptions?.url ?? request.url.split('?')[0].slice(0, MAX_AUDITED_URL),
        target: request.audit?.target ?? null,
        status,
        requestId: request.id,
        details: { ...(request.audit?.details ?? {}), params: request.params ?? {} },
      })
    } catch (err) {
      request.log.error({ err }, 'audit log write failed')
    }
  }

  // The audit record is written before the response leaves, so a client that saw the answer can find it.
  app.addHook('onSend', async (request, reply, payload) => {
    await audit(request, reply.statusCode)
    return payload
  })

  app.addHook('onResponse', async (request, reply) => {
    httpDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })

  app.setErrorHandler((err, request, reply) => {
    const { status, body } = toErrorResponse(err)
    if (status >= 500 && !(err instanceof ApiError)) request.log.error({ err }, 'request failed')
    if (status === 401) reply.header('www-authenticate', 'Bearer')
    reply.status(status).send(body)
  })
  app.setNotFoundHandler(async (request, reply) => {
    // Under /api/v1 even a wrong path needs a token first: no error answers an anonymous caller before 401.
    if (request.url.startsWith(`${API_PREFIX}/`)) request.principal = await authenticate(request)
    return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`, details: null } })
  })

  // A route under /api/v1 without a declared access level is a bug: refuse to start.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(API_PREFIX)) return
    if (!route.config?.access) throw new Error(`route ${route.method} ${route.url} declares no access level`)
    const tooLong = paramLimitProblem(route.url, route.schema?.params)
    if (tooLong) throw new Error(tooLong)
    if (route.schema && route.config.access !== 'public') {
      route.schema.security ??= [{ bearer: [] }]
      route.schema.response = { ...errorResponses(route.config.access), ...(route.schema.response as object) }
    }
  })

  app.addHook('preClose', async () => {
    await feed.close()
  })

  systemRoutes(app, ctx)
  consoleRoutes(app, ctx)
  await app.register(
    async (api) => {
      vehicleRoutes(api, ctx)
      feedRoutes(api, ctx)
      waybillRoutes(api, ctx)
      anomalyRoutes(api, ctx)
      statsRoutes(api, ctx)
      commandRoutes(api, ctx)
      geofenceRoutes(api, ctx)
      tokenRoutes(api, ctx)
      auditRoutes(api, ctx)
      sessionRoutes(api, ctx)
      adminRoutes(api, ctx)
      fleetRoutes(api, ctx)
      meRoutes(api, ctx)
      attachmentRoutes(api, ctx)
      platformRoutes(api, ctx)
      platformInfoRoutes(api, ctx)
    },
    { prefix: API_PREFIX },
  )
  return app as unknown as ApiInstance
}

const PROBES = new Set(['/healthz', '/readyz', '/metrics'])

/** One line per API request (at completion); probes and scrapes are not logged. */
class QuietProbes extends LogController {
  override incomingRequest(request: FastifyRequest, _reply: FastifyReply): void {
    if (!PROBES.has(request.url)) request.log.debug({ method: request.method, url: request.url }, 'incoming request')
  }
}

function feedMetrics(registry: Registry) {
  const metric = metricGetter(registry)
  const clients = metric('jt808_sse_clients', () => new Gauge({ name: 'jt808_sse_clients', help: 'Connected anomaly feed (SSE) clients', registers: [registry] }))
  const dropped = metric('jt808_sse_dropped_total', () => new Counter({ name: 'jt808_sse_dropped_total', help: 'SSE clients dropped for not reading', labelNames: ['reason'], registers: [registry] }))
  const events = metric('jt808_sse_events_total', () => new Counter({ name: 'jt808_sse_events_total', help: 'Anomaly events read from the stream', registers: [registry] }))
  return {
    onClientsChanged: (n: number) => clients.set(n),
    onDrop: (reason: string) => dropped.inc({ reason }),
    onDeliver: () => events.inc(),
  }
}
