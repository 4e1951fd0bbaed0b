/**
 * API tokens (supervisor only): create — the secret is in this one answer and nowhere else (only
 * its sha256 is stored; the audit entry names the token id, never the secret) — list, revoke.
 * `jt808 token` goes through these routes when a server holds the embedded database.
 */
import type { FastifyInstance } from 'fastify'
import type { ApiToken } from '../../store/port.js'
import { createToken, TokenRequestError } from '../tokens.js'
import { ApiError, notFound, validationFailed } from '../errors.js'
import { isoOrNull, iso } from '../present.js'
import { licenceSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'

export const tokenSchema = {
  type: 'object',
  required: ['id', 'role', 'enterpriseLicenseNo', 'label', 'createdAt', 'revokedAt'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string', enum: ['supervisor', 'enterprise', 'inspector'] },
    enterpriseLicenseNo: { type: ['string', 'null'] },
    label: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const

const tokenIdParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } } as const

export const presentToken = (t: ApiToken) => ({ ...t, createdAt: iso(t.createdAt), revokedAt: isoOrNull(t.revokedAt) })

export function tokenRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx.deps

  app.post<{ Body: { role: string; enterpriseLicenseNo?: string | null; label?: string | null } }>(
    '/tokens',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['admin'],
        summary: 'Create an API token; its secret is returned in this answer only (stored as a sha256 hash)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['role'],
          properties: {
            role: { type: 'string', enum: ['supervisor', 'enterprise', 'inspector'] },
            enterpriseLicenseNo: { ...licenceSchema, type: ['string', 'null'], description: 'required for (and only for) the enterprise role' },
            label: { type: ['string', 'null'], maxLength: 200 },
          },
        },
        response: {
          201: { ...tokenSchema, required: [...tokenSchema.required, 'token'], properties: { ...tokenSchema.properties, token: { type: 'string', description: 'the secret: shown once' } } },
        },
      },
    },
    async (request, reply) => {
      const b = request.body
      let created
      try {
        created = await createToken(store, { role: b.role, enterpriseLicenseNo: b.enterpriseLicenseNo ?? null, label: b.label ?? null }, ctx.now())
      } catch (e) {
        if (e instanceof TokenRequestError) throw validationFailed(e.message, [{ field: 'body/enterpriseLicenseNo', message: e.message }])
        throw e
      }
      request.audit.target = created.token.id
      request.audit.details = { role: created.token.role, enterpriseLicenseNo: created.token.enterpriseLicenseNo }
      reply.status(201)
      return { ...presentToken(created.token), token: created.secret }
    },
  )

  app.get(
    '/tokens',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['admin'],
        summary: 'Every token, revoked ones included (never a secret or hash)',
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: tokenSchema } } } },
      },
    },
    async () => ({ items: (await store.listTokens()).map(presentToken) }),
  )

  app.delete<{ Params: { id: string } }>(
    '/tokens/:id',
    {
      config: { access: 'supervisor' },
      schema: { tags: ['admin'], summary: 'Revoke a token (it answers 401 from now on; the record stays for the audit log)', params: tokenIdParams, response: { 200: tokenSchema } },
    },
    async (request) => {
      const { id } = request.params
      request.audit.target = id
      if (!(await store.revokeToken(id, ctx.now()))) {
        const known = (await store.listTokens()).find((t) => t.id === id)
        if (!known) throw notFound(`token ${id}`)
        throw new ApiError('CONFLICT', `token ${id} is already revoked`)
      }
      const token = (await store.listTokens()).find((t) => t.id === id)
      if (!token) throw notFound(`token ${id}`)
      ctx.revokedToken(id)
      return presentToken(token)
    },
  )
}
