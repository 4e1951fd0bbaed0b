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
