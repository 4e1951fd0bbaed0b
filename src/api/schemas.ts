/**
 * JSON schemas shared by several routes: validation, response shaping and the OpenAPI document
 * all come from these. Nullable fields use JSON Schema type arrays (OpenAPI 3.1).
 */
import { ANOMALY_STATUSES, ANOMALY_TYPES, SEVERITIES } from '../domain.js'
import type { Access } from './access.js'

export const errorSchema = {
  type: 'object',
  description: 'Every error: a stable code, a human message, and details (field errors for VALIDATION_FAILED).',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', examples: ['VALIDATION_FAILED'] },
        message: { type: 'string' },
        details: {},
      },
    },
  },
} as const

export const errorResponse = (description: string) => ({ ...errorSchema, description })
const err = errorResponse

/** Error responses every authenticated route can give. */
export function errorResponses(access: Access): Record<string, unknown> {
  return {
    400: err('Invalid request: details.fields lists each field error'),
    401: err('No valid bearer token'),
    403: err(access === 'supervisor' ? 'Needs a supervisor token' : 'Outside the token’s role, or naming another enterprise’s licence'),
    404: err('Not found, or outside the token’s enterprise scope (the same answer)'),
    500: err('Internal error'),
  }
}

export const nullable = <T extends { type: string }>(schema: T) => ({ ...schema, type: [schema.type, 'null'] })

export const isoTime = { type: 'string', format: 'date-time' } as const
export const plateSchema = { type: 'string', minLength: 1, maxLength: 35, description: 'licence plate, e.g. 浙A12345' } as const
export const plateColorSchema = { type: 'integer', minimum: 0, maximum: 255, description: 'JT/T 415 plate colour: 1 blue, 2 yellow (hazmat), 3 black, 4 white, 9 other' } as const
export const licenceSchema = { type: 'string', minLength: 1, maxLength: 50, description: 'carrier (enterprise) road transport licence number' } as const
export const phoneSchema = { type: 'string', pattern: '^[0-9]{1,20}$', description: 'terminal phone (BCD digits as the terminal sends them)' } as const
export const dateSchema = { type: 'string', format: 'date', description: 'yyyy-mm-dd' } as const

export const vehicleInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['plate'],
  properties: {
    plate: plateSchema,
    plateColor: { ...plateColorSchema, description: `${plateColorSchema.description}; default 2` },
    terminalPhone: nullable(phoneSchema),
    terminalId: { type: ['string', 'null'], maxLength: 30 },
    enterpriseLicenseNo: { type: ['string', 'null'], minLength: 1, maxLength: 50 },
    enterpriseName: { type: ['string', 'null'], maxLength: 100 },
    transportCertNo: { type: ['string', 'null'], maxLength: 50 },
    transportCertValidUntil: { type: ['string', 'null'], format: 'date' },
    businessScope: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^[1-9](\\.[1-9])?$', description: 'hazard class or division, e.g. "3", "2.1"' } },
  },
} as const

export const vehicleSchema = {
  type: 'object',
  required: ['id', 'plate', 'plateColor'],
  properties: {
    id: { type: 'integer' },
    plate: { type: 'string' },
    plateColor: { type: 'integer' },
    terminalPhone: { type: ['string', 'null'] },
    terminalId: { type: ['string', 'null'] },
    enterpriseLicenseNo: { type: ['string', 'null'] },
    enterpriseName: { type: ['string', 'null'] },
    transportCertNo: { type: ['string', 'null'] },
    transportCertValidUntil: { type: ['string', 'null'] },
    businessScope: { type: 'array', items: { type: 'string' } },
    retiredAt: { type: ['string', 'null'], format: 'date-time', description: 'set while the vehicle is retired (its terminal is refused)' },
  },
} as const

export const positionSchema = {
  type: 'object',
  properties: {
    deviceTime: isoTime,
    receivedAt: isoTime,
    latitude: { type: 'number' },
    longitude: { type: 'number' },
    altitude: { type: 'number' },
    speed: { type: 'number', description: 'km/h' },
    direction: { type: 'number' },
    alarm: { type: 'integer' },
    status: { type: 'integer' },
    mileage: { type: ['number', 'null'], description: 'km' },
    blindArea: { type: 'boolean' },
  },
} as const

export const anomalySchema = {
  type: 'object',
  required: ['id', 'type', 'status', 'severity', 'plate', 'plateColor', 'waybillNo', 'enterpriseLicenseNo', 'startedAt', 'endedAt', 'lastSeenAt', 'evidence'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: ANOMALY_TYPES },
    status: { type: 'string', enum: ANOMALY_STATUSES },
    severity: { type: 'string', enum: SEVERITIES },
    plate: { type: 'string' },
    plateColor: { type: 'integer' },
    waybillNo: { type: ['string', 'null'] },
    enterpriseLicenseNo: { type: ['string', 'null'] },
    startedAt: isoTime,
    endedAt: { type: ['string', 'null'], format: 'date-time' },
    lastSeenAt: isoTime,
    evidence: { type: 'object', additionalProperties: true },
    resolvedByLateData: { type: 'boolean' },
    handling: { type: ['string', 'null'], enum: ['notify', 'rectify', 'confirm', 'dismiss', null], description: 'last handling step, null when none' },
  },
} as const

/** Route params `{plate}` with an optional ?plateColor to tell apart two plates of different colours. */
export const plateParams = { type: 'object', required: ['plate'], properties: { plate: plateSchema } } as const

export const timeRangeQuery = {
  from: { ...isoTime, description: 'start of the range (inclusive), ISO 8601' },
  to: { ...isoTime, description: 'end of the range (inclusive), ISO 8601' },
} as const
