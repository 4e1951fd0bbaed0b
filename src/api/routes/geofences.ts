/** Geofences: key road segments (bridges, tunnels) and speed-limit zones, as polygons or buffered lines. */
import type { FastifyInstance } from 'fastify'
import type { Geofence, GeofenceGeometry, GeofenceKind } from '../../domain.js'
import { validationFailed } from '../errors.js'
import { bboxOf, geometryProblems } from '../geo.js'
import { iso } from '../present.js'
import type { ApiContext } from '../context.js'

const position = { type: 'array', minItems: 2, maxItems: 3, items: { type: 'number' }, description: '[lon, lat]' } as const

export const geometrySchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'coordinates'],
      properties: { type: { type: 'string', const: 'Polygon' }, coordinates: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'array', minItems: 4, maxItems: 10_000, items: position } } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'coordinates'],
      properties: { type: { type: 'string', const: 'LineString' }, coordinates: { type: 'array', minItems: 2, maxItems: 10_000, items: position } },
    },
  ],
} as const

const KINDS = ['bridge', 'tunnel', 'key-segment', 'speed-zone'] as const

export const geofenceSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    kind: { type: 'string', enum: KINDS },
    roadClass: { type: ['string', 'null'], enum: ['highway', 'other', null] },
    speedLimit: { type: ['integer', 'null'] },
    geometry: { type: 'object', additionalProperties: true },
    bufferMeters: { type: ['integer', 'null'] },
    bbox: { type: 'array', items: { type: 'number' } },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const

export const presentGeofence = (g: Geofence) => ({ ...g, createdAt: iso(g.createdAt) })

interface GeofenceBody {
  name: string
  kind: GeofenceKind
  roadClass?: 'highway' | 'other' | null
  speedLimit?: number | null
  geometry: GeofenceGeometry
  bufferMeters?: number | null
}

export function geofenceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx.deps

  app.post<{ Body: GeofenceBody }>(
    '/geofences',
    {
      config: { access: 'supervisor' },
      bodyLimit: 4 << 20,
      schema: {
        tags: ['geofences'],
        summary: 'Define a key road segment or speed-limit zone (polygon, or a LineString with bufferMeters)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'kind', 'geometry'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            kind: { type: 'string', enum: KINDS },
            roadClass: { type: ['string', 'null'], enum: ['highway', 'other', null], description: 'hazmat limit 80 km/h on highways, 60 on other roads' },
            speedLimit: { type: ['integer', 'null'], minimum: 5, maximum: 200, description: 'km/h; wins over the road class' },
            geometry: geometrySchema,
            bufferMeters: { type: ['integer', 'null'], minimum: 1, maximum: 10_000 },
          },
        },
        response: { 201: geofenceSchema },
      },
    },
    async (request, reply) => {
      const b = request.body
      const problems = geometryProblems(b.geometry, b.bufferMeters)
      if (b.kind === 'speed-zone' && !b.speedLimit && !b.roadClass) problems.push({ field: 'body/speedLimit', message: 'a speed zone needs a speedLimit or a roadClass' })
      if (problems.length) throw validationFailed('invalid geofence', problems)
      const bufferMeters = b.geometry.type === 'LineString' ? (b.bufferMeters ?? null) : null
      const g = await store.createGeofence(
        { name: b.name, kind: b.kind, roadClass: b.roadClass ?? null, speedLimit: b.speedLimit ?? null, geometry: b.geometry, bufferMeters, bbox: bboxOf(b.geometry, bufferMeters) },
        ctx.now(),
      )
      request.audit.target = `geofence ${g.id}`
      request.audit.details = { name: g.name, kind: g.kind }
      reply.status(201)
      return presentGeofence(g)
    },
  )

  app.get(
    '/geofences',
    {
      config: { access: 'read' },
      schema: { tags: ['geofences'], summary: 'All geofences', response: { 200: { type: 'object', properties: { items: { type: 'array', items: geofenceSchema } } } } },
    },
    async () => ({ items: (await store.listGeofences()).map(presentGeofence) }),
  )
}
