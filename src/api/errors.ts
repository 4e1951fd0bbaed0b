/**
 * The API's one error shape: {"error":{"code","message","details"}}. Route code throws ApiError;
 * the server's error handler turns it (and fastify's own validation / parsing errors) into that
 * body with the matching status, so no route writes an error response by hand.
 */
import { StateUnavailableError } from '../state/port.js'

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'SIGNATURE_INVALID'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'TERMINAL_FAILED'
  | 'TERMINAL_TIMEOUT'
  | 'NOT_AVAILABLE'
  | 'RANGE_NOT_SATISFIABLE'
  | 'INTERNAL'

/** One field-level problem; `field` is a JSON pointer-ish path ("goods/0/unNumber", "query/from"). */
export interface FieldError {
  field: string
  message: string
}

const STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  SIGNATURE_INVALID: 422,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TERMINAL_FAILED: 502,
  NOT_AVAILABLE: 503,
  RANGE_NOT_SATISFIABLE: 416,
  TERMINAL_TIMEOUT: 504,
  INTERNAL: 500,
}

export class ApiError extends Error {
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message)
    this.name = 'ApiError'
    this.status = STATUS[code]
  }
}

export const validationFailed = (message: string, fields: FieldError[]): ApiError => new ApiError('VALIDATION_FAILED', message, { fields })
export const notFound = (what: string): ApiError => new ApiError('NOT_FOUND', `${what} not found`)
export const forbidden = (message: string): ApiError => new ApiError('FORBIDDEN', message)

export interface ErrorBody {
  error: { code: string; message: string; details: unknown }
}

/** Ajv error as fastify hands it over (the parts we read). */
interface AjvLikeError {
  instancePath?: string
  keyword?: string
  message?: string
  params?: Record<string, unknown>
}

/** Turns fastify's validation errors into field errors ("body/goods/0/unNumber: must match pattern"). */
export function fieldErrorsFromValidation(context: string | undefined, errors: AjvLikeError[]): FieldError[] {
  // A oneOf/anyOf (one object or an array of them) reports every branch's failure: keep the
  // specific errors and drop the branch summaries when there is anything more specific.
  const summaries = new Set(['oneOf', 'anyOf', 'type'])
  const specific = errors.filter((e) => !summaries.has(e.keyword ?? ''))
  const kept = specific.length
    ? errors.filter((e) => !(e.keyword === 'oneOf' || e.keyword === 'anyOf' || (e.keyword === 'type' && specific.some((s) => (s.instancePath ?? '').startsWith((e.instancePath ?? '') + '/')))))
    : errors
  return kept.map((e) => {
    let path = (e.instancePath ?? '').replace(/^\//, '')
    if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') path = path ? `${path}/${e.params.missingProperty}` : e.params.missingProperty
    if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
      path = path ? `${path}/${e.params.additionalProperty}` : e.params.additionalProperty
      return { field: `${context ?? 'body'}${path ? '/' + path : ''}`, message: 'is not a known field' }
    }
    let message = e.message ?? 'is invalid'
    if (e.keyword === 'required') message = 'is required'
    if (e.keyword === 'discriminator' && typeof e.params?.tag === 'string') {
      path = path ? `${path}/${e.params.tag}` : e.params.tag
      message = 'is missing or not one of the known values'
    }
    if (e.keyword === 'enum' && Array.isArray(e.params?.allowedValues)) message = `must be one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`
    return { field: `${context ?? 'body'}${path ? '/' + path : ''}`, message }
  })
}

/** Maps any thrown value to a status and the error body. Unknown errors become 500 without internals. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ApiError) return { status: err.status, body: { error: { code: err.code, message: err.message, details: err.details } } }
  // Redis unreachable: terminals are still served, only the live views wait for it.
  if (err instanceof StateUnavailableError) return { status: 503, body: { error: { code: 'NOT_AVAILABLE', message: 'the live state (Redis) is unreachable; try again', details: null } } }
  const e = err as { validation?: AjvLikeError[]; validationContext?: string; statusCode?: number; code?: string; message?: string }
  if (Array.isArray(e?.validation)) {
    const fields = fieldErrorsFromValidation(e.validationContext, e.validation)
    return {
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: `invalid ${e.validationContext ?? 'request'}: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`, details: { fields } } },
    }
  }
  const status = typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500
  if (status === 413) return { status, body: { error: { code: 'PAYLOAD_TOO_LARGE', message: e.message ?? 'request body too large', details: null } } }
  if (status === 415) return { status, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: e.message ?? 'unsupported content type', details: null } } }
  if (status === 404) return { status, body: { error: { code: 'NOT_FOUND', message: e.message ?? 'not found', details: null } } }
  if (status >= 400 && status < 500) {
    // fastify's own client errors: malformed JSON, empty body with a JSON content type, bad header…
    return { status, body: { error: { code: 'VALIDATION_FAILED', message: e.message ?? 'bad request', details: { fields: [], reason: e.code ?? null } } } }
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error', details: null } } }
}
