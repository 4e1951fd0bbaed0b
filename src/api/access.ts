/**
 * Who is calling and what they may touch. Roles: supervisor (everything), enterprise (only the
 * vehicles, waybills and anomalies of its own carrier licence number), inspector (read and verify).
 * Every /api/v1 route declares its access level in its route config; handlers narrow enterprise
 * callers to their licence with `confine` / `visible`.
 */
import type { FastifyRequest } from 'fastify'
import type { Role } from '../store/port.js'
import { ApiError, notFound } from './errors.js'

export interface Principal {
  tokenId: string
  role: Role
  /** set for enterprise tokens */
  enterpriseLicenseNo: string | null
}

/**
 * read: every role (enterprise narrowed to its licence); write: supervisor and enterprise (narrowed);
 * supervisor: supervisor only; public: no token (health, metrics, docs).
 */
export type Access = 'public' | 'read' | 'write' | 'supervisor'

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access
  }
  interface FastifyRequest {
    principal: Principal | null
    /** what a write acted on and any detail worth keeping: filled by handlers, written to the audit log */
    audit: { target: string | null; details: Record<string, unknown> }
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new ApiError('UNAUTHORIZED', 'a bearer token is required')
  return request.principal
}

export function checkAccess(principal: Principal, access: Access): void {
  if (access === 'public' || access === 'read') return
  if (access === 'write' && principal.role !== 'inspector') return
  if (access === 'supervisor' && principal.role === 'supervisor') return
  throw new ApiError('FORBIDDEN', access === 'supervisor' ? 'this operation needs a supervisor token' : `${principal.role === 'inspector' ? 'an' : 'a'} ${principal.role} token cannot change data`)
}

/** The licence an enterprise caller is confined to; null for supervisors and inspectors (who see all). */
export function confine(request: FastifyRequest): string | null {
  const p = principalOf(request)
  return p.role === 'enterprise' ? p.enterpriseLicenseNo : null
}

/**
 * The resource when the caller may see it. One outside an enterprise caller's licence gets the
 * very answer an unknown one gets (404, same body): a carrier cannot learn what another has.
 */
export function visible<T>(request: FastifyRequest, resource: T | null | undefined, licenceOf: (r: T) => string | null | undefined, what: string): T {
  const own = confine(request)
  if (resource === null || resource === undefined || (own !== null && licenceOf(resource) !== own)) throw notFound(what)
  return resource
}

/** visible() for bulk lookups: an unknown resource and one outside the caller's scope are both null. */
export function visibleOrNull<T>(request: FastifyRequest, resource: T | null | undefined, licenceOf: (r: T) => string | null | undefined): T | null {
  const own = confine(request)
  return resource === null || resource === undefined || (own !== null && licenceOf(resource) !== own) ? null : resource
}

/** 403 when an enterprise caller writes data in another licence's name (the licence it names in its request, not a lookup). */
export function assertOwnLicence(request: FastifyRequest, licence: string | null | undefined, what: string): void {
  const own = confine(request)
  if (own !== null && licence !== own) throw new ApiError('FORBIDDEN', `${what} belongs to another enterprise`)
}

/** An enterprise caller asking to filter by another licence gets 403 rather than an empty list. */
export function scopedLicenceFilter(request: FastifyRequest, requested: string | undefined): string | undefined {
  const own = confine(request)
  if (own === null) return requested
  if (requested !== undefined && requested !== own) throw new ApiError('FORBIDDEN', 'an enterprise token can only query its own licence')
  return own
}
