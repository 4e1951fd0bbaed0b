/**
 * The API's request validators: one ajv configuration, with type coercion only where every value
 * arrives as text (query string, path parameters, headers). A JSON body carries its own types, so
 * `true` or `12` where a string is expected is an error, never the text "true" or "12".
 */
import { AjvCompiler } from '@fastify/ajv-compiler'
import type { FastifySchemaCompiler } from 'fastify'

export const AJV_OPTIONS = {
  // Unknown fields are an error, not silently dropped: a typo must not lose data.
  removeAdditional: false,
  allErrors: true,
  coerceTypes: 'array',
  useDefaults: true,
  // command bodies are a oneOf on `type`: report the chosen variant's errors only
  discriminator: true,
  // nullable fields are JSON Schema type unions (OpenAPI 3.1)
  allowUnionTypes: true,
} as const

type ValidatorFactory = ReturnType<typeof AjvCompiler>
/** The pool's signature as used here (its declared type is a union with the JTD variant). */
type Pool = (externalSchemas: unknown, options: { customOptions: Record<string, unknown> } & Record<string, unknown>) => FastifySchemaCompiler<unknown>

/** fastify's validator factory (schemaController.compilersFactory.buildValidator): bodies are compiled without coercion. */
export function buildValidator(): ValidatorFactory {
  const pool = AjvCompiler() as unknown as Pool
  const factory: Pool = (externalSchemas, options) => {
    const text = pool(externalSchemas, options)
    const body = pool(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } })
    return (route) => (route.httpPart === 'body' ? body(route) : text(route))
  }
  return factory as unknown as ValidatorFactory
}

/**
 * The router's limit for one path parameter (fastify's maxParamLength, default 100, counts the
 * decoded value in UTF-16 units). Every route's declared maxLength must fit in it, astral
 * characters counted twice, or the router would refuse ids the schema allows (checked at start).
 */
export const MAX_PARAM_LENGTH = 512

/** A route whose path-parameter schema allows values the router would refuse: the problem, or null. */
export function paramLimitProblem(url: string, params: unknown): string | null {
  const properties = (params as { properties?: Record<string, { maxLength?: number }> } | undefined)?.properties ?? {}
  for (const [name, schema] of Object.entries(properties)) {
    if (schema.maxLength !== undefined && schema.maxLength * 2 > MAX_PARAM_LENGTH)
      return `route ${url}: parameter ${name} allows ${schema.maxLength} characters, more than the router's ${MAX_PARAM_LENGTH / 2}`
  }
  return null
}
