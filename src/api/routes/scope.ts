/**
 * Scope checks for the admin routes: a resource outside an enterprise caller's licence answers
 * exactly like one that does not exist (404, same message), so existence cannot be probed.
 */
import type { FastifyRequest } from 'fastify'
import { confine } from '../access.js'
import { notFound } from '../errors.js'

/** 404 `${what} not found` unless the caller may see data of this licence. */
export function ownOr404(request: FastifyRequest, licence: string | null | undefined, what: string): void {
  const own = confine(request)
  if (own !== null && licence !== own) throw notFound(what)
}
