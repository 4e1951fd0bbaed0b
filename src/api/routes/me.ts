/** GET /me: who the token is (role, enterprise) — how a client such as the console adapts its views to the caller. */
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../access.js'
import type { ApiContext } from '../context.js'

export function meRoutes(app: FastifyInstance, _ctx: ApiContext): void {
  app.get(
    '/me',
    {
      config: { access: 'read' },
      schema: {
        tags: ['admin'],
        summary: 'The calling token: its id, role and (enterprise tokens) licence number',
        response: {
          200: {
            type: 'object',
            properties: { tokenId: { type: 'string' }, role: { type: 'string', enum: ['supervisor', 'enterprise', 'inspector'] }, enterpriseLicenseNo: { type: ['string', 'null'] } },
          },
        },
      },
    },
    async (request) => {
      const p = principalOf(request)
      return { tokenId: p.tokenId, role: p.role, enterpriseLicenseNo: p.enterpriseLicenseNo }
    },
  )
}
