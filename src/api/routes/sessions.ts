/**
 * Terminals seen from the admin side: who is online now (since, remote address, protocol
 * edition, IMEI and firmware where the terminal told us), what became of a queued command (the
 * 202's id), and a terminal's raw-frame archive as NDJSON (what `jt808 export-raw` writes).
 */
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { confine, visible } from '../access.js'
import { iso } from '../present.js'
import { phoneSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'
import { findVehicleByPhone } from './commands.js'
import { timeRange } from './vehicles.js'

const sessionSchema = {
  type: 'object',
  properties: {
    phone: { type: 'string' },
    since: { type: 'string', format: 'date-time', description: 'when this session authenticated' },
    address: { type: 'string', description: 'remote address:port' },
    node: { type: 'string', description: 'the gateway process holding the connection' },
    plate: { type: ['string', 'null'] },
    plateColor: { type: ['integer', 'null'] },
    enterpriseLicenseNo: { type: ['string', 'null'] },
    protocolEdition: { type: ['integer', 'null'], description: 'JT/T 808 edition of the last registration/authentication (2011, 2013, 2019)' },
    manufacturer: { type: ['string', 'null'] },
    model: { type: ['string', 'null'] },
    imei: { type: ['string', 'null'], description: '2019 authentication only' },
    firmware: { type: ['string', 'null'], description: '2019 authentication only' },
  },
} as const

const commandStatusSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    phone: { type: 'string' },
    msgId: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'delivered', 'answered', 'failed', 'expired'], description: 'delivered: sent after the terminal came back, no answer yet' },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    result: { type: ['integer', 'null'], description: 'the terminal’s failure result (failed)' },
    answer: { description: 'the terminal’s answer {msgId, body} (answered)' },
    vehicleId: { type: ['integer', 'null'], description: 'a command through a lower platform (JT/T 809): its vehicle; phone is then empty' },
    platformId: { type: ['integer', 'null'], description: 'the lower platform that carried it' },
  },
} as const

/** Live-state lookups in flight at once when checking session candidates. */
const LIVE_CHECK_BATCH = 100
const MAX_EXPORT_SPAN_MS = 31 * 86_400_000

export function sessionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store, state } = ctx.deps

  app.get<{ Querystring: { limit: number } }>(
    '/terminals/sessions',
    {
      config: { access: 'read' },
      schema: {
        tags: ['terminals'],
        summary: 'Online terminals (an enterprise sees its own vehicles’), oldest session first',
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 } } },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: sessionSchema } } } },
      },
    },
    async (request) => {
      const own = confine(request)
      const { limit } = request.query
      // The session log says who went online last; the live state says who still is (a crashed
      // gateway never wrote its terminals' "offline").
      const candidates = await store.onlineSessionCandidates({ enterpriseLicenseNo: own ?? undefined, limit: limit + 1000 })
      const items = []
      for (let i = 0; i < candidates.length && items.length < limit; i += LIVE_CHECK_BATCH) {
        const batch = candidates.slice(i, i + LIVE_CHECK_BATCH)
        const lives = await Promise.all(batch.map((c) => state.getSession(c.phone)))
        for (const [j, c] of batch.entries()) {
          const live = lives[j]
          if (!live || items.length >= limit) continue
          items.push({
            phone: c.phone,
            since: iso(live.since),
            address: live.address,
            node: live.nodeId,
            plate: c.plate,
            plateColor: c.plateColor,
            enterpriseLicenseNo: c.enterpriseLicenseNo,
            protocolEdition: c.protocolVersion,
            manufacturer: c.manufacturer,
            model: c.model,
            imei: c.imei,
            firmware: c.firmware,
          })
        }
      }
      return { items }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/commands/:id',
    {
      config: { access: 'read' },
      schema: {
        tags: ['terminals'],
        summary: 'Status of a queued command (the id of a 202): queued, delivered, answered (with the answer), failed, expired',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } },
        response: { 200: commandStatusSchema },
      },
    },
    async (request) => {
      const { id } = request.params
      const found = await store.getCommandStatus(id, ctx.now())
      // a command through a lower platform names its vehicle; a terminal's, its phone
      const vehicle = !found ? null : found.vehicleId !== null ? await store.getVehicle(found.vehicleId) : await findVehicleByPhone(store, found.phone)
      const c = visible(request, found, () => vehicle?.enterpriseLicenseNo ?? null, `command ${id}`)
      return {
        ...c,
        msgId: '0x' + c.msgId.toString(16).padStart(4, '0'),
        createdAt: iso(c.createdAt),
        expiresAt: iso(c.expiresAt),
        updatedAt: iso(c.updatedAt),
        answer: c.answer ?? null,
      }
    },
  )

  app.get<{ Params: { phone: string }; Querystring: { from: string; to: string } }>(
    '/terminals/:phone/frames',
    {
      config: { access: 'supervisor' },
      schema: {
        tags: ['terminals'],
        summary: 'The raw-frame archive of a terminal as NDJSON ({t, phone, connection, hex} per line, receive order): `jt808 replay` input',
        params: { type: 'object', required: ['phone'], properties: { phone: phoneSchema } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' } },
        },
      },
    },
    async (request, reply) => {
      const { phone } = request.params
      const range = timeRange(request.query.from, request.query.to, MAX_EXPORT_SPAN_MS)
      // Streamed: a month of one terminal's frames need not fit in memory.
      async function* lines() {
        for await (const f of store.exportFrames(phone, range.from, range.to)) {
          yield JSON.stringify({ t: iso(f.receivedAt), phone: f.phone, connection: f.connection, hex: f.frame.toString('hex') }) + '\n'
        }
      }
      return reply.type('application/x-ndjson').send(Readable.from(lines()))
    },
  )
}
