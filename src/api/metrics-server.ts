/**
 * The admin listener (JT808_ADMIN_HTTP_ADDR): /metrics on an address of its own, e.g. a loopback
 * or management network, so the public API port does not expose it. Same route, same optional
 * token, same error shape as on the API port.
 */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { splitHostPort } from '../config/index.js'
import { toErrorResponse } from './errors.js'
import { metricsRoute } from './routes/system.js'

export interface MetricsServer {
  app: FastifyInstance
  address: AddressInfo
  close(): Promise<void>
}

export async function startMetricsServer(opts: { addr: string; registry: Registry; token: string | null; logger?: FastifyBaseLogger }): Promise<MetricsServer> {
  const where = splitHostPort(opts.addr)
  if (!where) throw new Error(`JT808_ADMIN_HTTP_ADDR: expected host:port, got "${opts.addr}"`)
  const app = Fastify({ ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }), disableRequestLogging: true })
  app.setErrorHandler((err, _request, reply) => {
    const { status, body } = toErrorResponse(err)
    reply.status(status).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]} (the admin listener serves /metrics)`, details: null } })
  })
  metricsRoute(app, opts.registry, opts.token)
  await app.listen({ host: where.host, port: where.port })
  return { app, address: app.server.address() as AddressInfo, close: () => app.close() }
}
