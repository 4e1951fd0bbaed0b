/**
 * POST /terminals/{phone}/commands: a typed command becomes a downlink message for the gateway's
 * sendCommand; its outcome becomes the HTTP answer — 200 with the terminal's answer (or its
 * failure result), 202 when queued for an offline terminal, 504 when it did not answer in time.
 */
import type { FastifyInstance } from 'fastify'
import { PARAMS } from '../../../protocol/messages/8103-terminal-params.js'
import { canonicalPhone } from '../../domain.js'
import { CONFIRMABLE_ALARM_BITS, type CommandOutcome, type DownlinkMessage } from '../../gateway/types.js'
import { visible } from '../access.js'
import { ApiError, validationFailed } from '../errors.js'
import { errorResponse, phoneSchema, plateColorSchema, plateParams } from '../schemas.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { notSent } from './platforms.js'
import { vehicleFor } from './vehicles.js'
import type { VehicleCommand } from '../../platform/vehicle-commands.js'
import type { Store } from '../../store/port.js'
import type { ApiContext } from '../context.js'

const PARAM_IDS = new Map([...PARAMS].map(([id, p]) => [p.name, id]))

type ParamInput = { id: number | string; value?: number; text?: string }
export type CommandBody = { timeoutSeconds?: number; queueIfOffline?: boolean; ttlSeconds?: number } & (
  | { type: 'text'; text: string; emergency?: boolean; display?: boolean; tts?: boolean; textType?: 1 | 2 }
  | { type: 'query-location' }
  | { type: 'query-params' }
  | { type: 'set-params'; params: ParamInput[] }
  | { type: 'confirm-alarm'; alarmSerial: number; alarmTypes: number }
  | { type: 'photo'; channel?: number; resolution?: number; quality?: number; save?: boolean }
)

const RESOLUTIONS = '1 320×240 (default), 2 640×480, 3 800×600, 4 1024×768, 5 176×144, 6 352×288, 7 704×288, 8 704×576'

const common = {
  timeoutSeconds: { type: 'integer', minimum: 1, maximum: 300, description: 'how long to wait for the answer (default: the gateway’s command timeout)' },
  queueIfOffline: { type: 'boolean', description: 'default true; false: an offline terminal gives 504 instead of queueing' },
  ttlSeconds: { type: 'integer', minimum: 1, maximum: 30 * 86_400, description: 'how long a queued command waits for the terminal' },
} as const

const variant = (type: string, description: string, properties: Record<string, unknown> = {}, required: string[] = []) => ({
  type: 'object',
  description,
  additionalProperties: false,
  required: ['type', ...required],
  properties: { type: { type: 'string', const: type }, ...properties, ...common },
})

export const commandBodySchema = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  oneOf: [
    variant(
      'text',
      '0x8300 text message to the driver (display and text-to-speech by default)',
      {
        text: { type: 'string', minLength: 1, maxLength: 1024 },
        emergency: { type: 'boolean', description: 'default false' },
        display: { type: 'boolean', description: 'show on the terminal display (default true)' },
        tts: { type: 'boolean', description: 'read out by text-to-speech (default true)' },
        textType: { type: 'integer', enum: [1, 2], description: '2019 terminals: 1 notice (default), 2 service information' },
      },
      ['text'],
    ),
    variant('query-location', '0x8201 position query; answered with 0x0201'),
    variant('query-params', '0x8104 query all parameters; answered with 0x0104'),
    variant(
      'set-params',
      '0x8103 set terminal parameters',
      {
        params: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id'],
            properties: {
              id: { type: ['integer', 'string'], minimum: 0, maximum: 0xffffffff, minLength: 1, maxLength: 64, description: 'parameter id (number, "0x0029") or name ("defaultReportInterval")' },
              value: { type: 'integer', minimum: 0, maximum: 0xffffffff },
              text: { type: 'string', maxLength: 255 },
            },
          },
        },
      },
      ['params'],
    ),
    variant(
      'confirm-alarm',
      '0x8203 manual alarm confirmation (bits 0, 3, 20, 21, 22, 27, 28)',
      {
        alarmSerial: { type: 'integer', minimum: 0, maximum: 65535, description: 'serial of the 0x0200 that raised it; 0 confirms all of these types' },
        alarmTypes: { type: 'integer', minimum: 1, maximum: 0xffffffff, description: 'alarm bits to confirm' },
      },
      ['alarmSerial', 'alarmTypes'],
    ),
    variant('photo', '0x8801 take one photo now; answered with 0x0805 (result, and the media ids the photo is uploaded under as 0x0801, stored by the gateway)', {
      channel: { type: 'integer', minimum: 1, maximum: 255, description: 'camera channel (default 1)' },
      resolution: { type: 'integer', minimum: 1, maximum: 8, description: RESOLUTIONS },
      quality: { type: 'integer', minimum: 1, maximum: 10, description: '1 the least loss … 10 the most compression (default 5)' },
      save: { type: 'boolean', description: 'true: kept on the terminal; false (default): uploaded at once' },
    }),
  ],
} as const

export type VehicleCommandBody = { timeoutSeconds?: number; ttlSeconds?: number } & ({ type: 'text'; text: string; emergency?: boolean } | { type: 'photo'; lensId?: number; sizeType?: number })

const vehicleCommon = {
  timeoutSeconds: common.timeoutSeconds,
  ttlSeconds: { ...common.ttlSeconds, description: 'how long the command waits for its final reply (platform) or the terminal (queued)' },
} as const

/** POST /vehicles/{plate}/commands: the commands a vehicle reached through a platform can take. */
export const vehicleCommandBodySchema = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  oneOf: [
    {
      type: 'object',
      description: 'text to the driver: 0x9503 through the platform (MSG_PRIORITY 0 when emergency), or 0x8300 to its terminal',
      additionalProperties: false,
      required: ['type', 'text'],
      properties: { type: { type: 'string', const: 'text' }, text: { type: 'string', minLength: 1, maxLength: 1024 }, emergency: { type: 'boolean', description: 'default false' }, ...vehicleCommon },
    },
    {
      type: 'object',
      description: 'photo request: 0x9502 through the platform, answered by 0x1502 with the image (hex); or 0x8801 to its terminal (lens as channel, size as resolution), answered by 0x0805',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { type: 'string', const: 'photo' },
        lensId: { type: 'integer', minimum: 0, maximum: 255, description: 'camera (default 1)' },
        sizeType: { type: 'integer', minimum: 1, maximum: 8, description: RESOLUTIONS },
        ...vehicleCommon,
      },
    },
  ],
} as const

/** Turns the API's command into the downlink message (throws 400 with field errors). */
export function toDownlink(body: CommandBody): DownlinkMessage {
  switch (body.type) {
    case 'text': {
      // 2013 flags: bit 0 emergency, 2 terminal display, 3 TTS read-out.
      const flags = (body.emergency ? 1 : 0) | (body.display !== false ? 1 << 2 : 0) | (body.tts !== false ? 1 << 3 : 0)
      return { msgId: 0x8300, body: { flags, type: body.textType ?? 1, text: body.text } }
    }
    case 'query-location':
      return { msgId: 0x8201, body: {} }
    case 'query-params':
      return { msgId: 0x8104, body: {} }
    case 'set-params': {
      const fields: { field: string; message: string }[] = []
      const params = body.params.map((p, i) => {
        const id = typeof p.id === 'number' ? p.id : /^0x[0-9a-f]{1,8}$/i.test(p.id) ? parseInt(p.id, 16) : PARAM_IDS.get(p.id)
        if (id === undefined) fields.push({ field: `body/params/${i}/id`, message: `unknown parameter name "${p.id}"` })
        if ((p.value === undefined) === (p.text === undefined)) fields.push({ field: `body/params/${i}`, message: 'give exactly one of value (number) or text' })
        const known = id === undefined ? undefined : PARAMS.get(id)
        if (known && known.type === 'string' && p.text === undefined) fields.push({ field: `body/params/${i}/text`, message: `${known.name} is a text parameter` })
        if (known && known.type !== 'string' && p.value === undefined) fields.push({ field: `body/params/${i}/value`, message: `${known.name} is a numeric parameter` })
        if (known?.type === 'byte' && (p.value ?? 0) > 0xff) fields.push({ field: `body/params/${i}/value`, message: `${known.name} is a BYTE (0..255)` })
        if (known?.type === 'word' && (p.value ?? 0) > 0xffff) fields.push({ field: `body/params/${i}/value`, message: `${known.name} is a WORD (0..65535)` })
        return { id: id ?? 0, ...(p.value !== undefined ? { value: p.value } : { text: p.text }) }
      })
      if (fields.length) throw validationFailed('invalid parameters', fields)
      return { msgId: 0x8103, body: { params } }
    }
    case 'confirm-alarm': {
      if ((body.alarmTypes & ~CONFIRMABLE_ALARM_BITS) >>> 0 !== 0)
        throw validationFailed('only alarm bits 0, 3, 20, 21, 22, 27 and 28 are confirmed by the platform', [{ field: 'body/alarmTypes', message: 'contains bits that need no confirmation' }])
      return { msgId: 0x8203, body: { replySerial: body.alarmSerial, alarmType: body.alarmTypes >>> 0 } }
    }
    case 'photo':
      // one photo (command 1, no interval); brightness, contrast, saturation, chroma at mid-range
      return {
        msgId: 0x8801,
        body: {
          channel: body.channel ?? 1,
          command: 1,
          interval: 0,
          save: body.save ? 1 : 0,
          resolution: body.resolution ?? 1,
          quality: body.quality ?? 5,
          brightness: 128,
          contrast: 64,
          saturation: 64,
          chroma: 128,
        },
      }
  }
}

/** The registry may hold the phone as imported (with leading zeros) or canonical. */
export async function findVehicleByPhone(store: Pick<Store, 'findVehicleByTerminal'>, phone: string) {
  return (await store.findVehicleByTerminal(phone)) ?? (canonicalPhone(phone) !== phone ? store.findVehicleByTerminal(canonicalPhone(phone)) : null)
}

const hexId = (id: number) => '0x' + id.toString(16).padStart(4, '0')

/** Protocol bodies may hold Buffers and bigints: make them plain JSON. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v) => {
      if (typeof v === 'bigint') return v.toString()
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return Buffer.from((v as { data: number[] }).data).toString('hex')
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
      return v
    }),
  )
}

const RESULT_TEXT: Record<number, string> = { 1: 'failure', 2: 'message error', 3: 'not supported', 4: 'alarm confirmation' }

export function commandRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store, config } = ctx.deps

  app.post<{ Params: { phone: string }; Body: CommandBody }>(
    '/terminals/:phone/commands',
    {
      config: { access: 'write' },
      schema: {
        tags: ['terminals'],
        summary: 'Send a command to a terminal wherever it is connected (queued when offline)',
        params: { type: 'object', required: ['phone'], properties: { phone: phoneSchema } },
        body: commandBodySchema,
        response: {
          200: {
            description: 'The terminal answered (status answered), or answered with a failure result (status failed)',
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['answered', 'failed'] },
              reply: { type: 'object', properties: { msgId: { type: 'string' }, body: { type: 'object', additionalProperties: true } } },
              result: { type: 'integer' },
              reason: { type: 'string' },
            },
          },
          202: {
            description: 'The terminal is offline: the command is queued and delivered after its next authentication',
            type: 'object',
            properties: { status: { type: 'string', enum: ['queued'] }, id: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
          },
          503: errorResponse('No gateway in this process'),
          504: errorResponse('The terminal did not answer in time'),
        },
      },
    },
    async (request, reply) => {
      const { phone } = request.params
      const body = request.body
      request.audit.target = phone
      request.audit.details = { type: body.type }
      const [vehicle, terminal] = await Promise.all([findVehicleByPhone(store, phone), store.getTerminal(canonicalPhone(phone)).then((t) => t ?? store.getTerminal(phone))])
      // A terminal bound to no vehicle belongs to no enterprise: only supervisors see it.
      visible(request, vehicle || terminal ? { licence: vehicle?.enterpriseLicenseNo ?? null } : null, (t) => t.licence, `terminal ${phone}`)
      return terminalCommand(ctx, request, reply, phone, body)
    },
  )

  app.post<{ Params: { plate: string }; Querystring: { plateColor?: number }; Body: VehicleCommandBody }>(
    '/vehicles/:plate/commands',
    {
      config: { access: 'write' },
      schema: {
        tags: ['vehicles'],
        summary:
          'Text (or a photo request) to a vehicle: to its own terminal when that is online here (0x8300 / 0x8801, as POST /terminals/{phone}/commands), else through the lower platform that reports it (JT/T 809 0x9503 / 0x9502, its 0x1503 / 0x1502 reply is the answer), else queued for its terminal',
        params: plateParams,
        querystring: { type: 'object', additionalProperties: false, properties: { plateColor: plateColorSchema } },
        body: vehicleCommandBodySchema,
        response: {
          200: {
            description: 'Answered (status answered, with the reply) or refused (status failed, with the result); via says which path carried it',
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['answered', 'failed'] },
              via: { type: 'string', enum: ['platform', 'terminal'] },
              id: { type: 'string', description: 'the command (GET /commands/{id}); platform path only' },
              platformId: { type: 'integer' },
              reply: { type: 'object', properties: { msgId: { type: 'string' }, body: { type: 'object', additionalProperties: true } } },
              result: { type: 'integer' },
              reason: { type: 'string' },
            },
          },
          202: {
            description: 'Platform path: sent, no final reply within timeoutSeconds (status delivered; follow it with GET /commands/{id}). Terminal path: queued for an offline terminal',
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['delivered', 'queued', 'expired'] },
              via: { type: 'string', enum: ['platform', 'terminal'] },
              id: { type: 'string' },
              platformId: { type: 'integer' },
              expiresAt: { type: 'string', format: 'date-time' },
            },
          },
          409: errorResponse('No lower platform logged in to any gateway process reports the vehicle and it has no terminal'),
          503: errorResponse('No gateway in this process, or the gateway process holding the platform link did not answer (details.reason "holder-unreachable")'),
          504: errorResponse('The terminal did not answer in time'),
        },
      },
    },
    async (request, reply) => {
      const { plate } = request.params
      const body = request.body
      const vehicle = await vehicleFor(ctx, request, plate, request.query.plateColor)
      request.audit.target = `vehicle ${vehicle.plate}`
      request.audit.details = { type: body.type }
      // its own terminal when that is online here; else the lower platform that reports it
      const phone = vehicle.terminalPhone
      const online = phone ? ((await ctx.deps.state.getSession(canonicalPhone(phone))) ?? (await ctx.deps.state.getSession(phone))) !== null : false
      const pv = !online && ctx.deps.platforms?.vehicleCommand ? await store.findPlatformVehicle(vehicle.plate, vehicle.plateColor) : null
      const command: VehicleCommand =
        body.type === 'text' ? { type: 'text', text: body.text, emergency: body.emergency === true } : { type: 'photo', lensId: body.lensId ?? 1, sizeType: body.sizeType ?? 1 }
      const timeoutMs = (body.timeoutSeconds ?? config.commandTimeoutSeconds) * 1000
      // sent by whichever gateway process holds the platform's link, waiting up to timeoutMs for the reply
      const sent = pv ? await ctx.deps.platforms!.vehicleCommand!(pv, command, (body.ttlSeconds ?? config.offlineCommandTtlSeconds) * 1000, timeoutMs) : 'not-logged-in'
      if (sent === 'unreachable') throw notSent(sent, `the lower platform reporting vehicle ${vehicle.plate}`)
      if (sent !== 'not-logged-in') {
        request.audit.details.via = 'platform'
        request.audit.details.commandId = sent.id
        const outcome = sent.outcome
        request.audit.details.outcome = outcome?.status ?? 'delivered'
        const common = { via: 'platform', id: sent.id, platformId: sent.platformId }
        if (outcome?.status === 'answered') return { status: 'answered', ...common, reply: { msgId: hexId(outcome.reply.msgId), body: plain(outcome.reply.body) ?? {} } }
        if (outcome?.status === 'failed') return { status: 'failed', ...common, result: outcome.result, reason: outcome.reason }
        reply.status(202)
        return { status: outcome ? 'expired' : 'delivered', ...common, expiresAt: new Date(sent.expiresAt).toISOString() }
      }
      if (!phone) throw new ApiError('CONFLICT', `vehicle ${vehicle.plate} has no terminal and no lower platform logged in to any gateway process reports it`, { reason: 'not-logged-in' })
      request.audit.details.via = 'terminal'
      const limits = { ...(body.timeoutSeconds ? { timeoutSeconds: body.timeoutSeconds } : {}), ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}) }
      const r = await terminalCommand(
        ctx,
        request,
        reply,
        phone,
        body.type === 'text'
          ? { type: 'text', text: body.text, emergency: body.emergency === true, ...limits }
          : { type: 'photo', channel: body.lensId ?? 1, resolution: body.sizeType ?? 1, ...limits },
      )
      return { ...r, via: 'terminal' }
    },
  )
}

/** The 808 path: a command to a terminal through the gateway (answered, failed, queued, or 504). */
async function terminalCommand(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply, phone: string, body: CommandBody) {
  const { config } = ctx.deps
  const message = toDownlink(body)
  if (!ctx.deps.commander) throw new ApiError('NOT_AVAILABLE', 'this process runs no gateway: commands cannot be sent')
  let outcome: CommandOutcome
  try {
    outcome = await ctx.deps.commander.sendCommand(phone, message, {
      timeoutMs: (body.timeoutSeconds ?? config.commandTimeoutSeconds) * 1000,
      ttlMs: (body.ttlSeconds ?? config.offlineCommandTtlSeconds) * 1000,
      queueIfOffline: body.queueIfOffline !== false,
    })
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string }
    if (e?.name === 'CommandError' && e.code !== 'GATEWAY_CLOSED') throw validationFailed(`the command cannot be encoded: ${e.message}`, [{ field: 'body', message: e.message ?? 'invalid' }])
    if (e?.name === 'CommandError') throw new ApiError('NOT_AVAILABLE', 'the gateway is shutting down')
    throw err
  }
  request.audit.details.outcome = outcome.status
  switch (outcome.status) {
    case 'answered':
      return { status: 'answered', reply: { msgId: hexId(outcome.reply.msgId), body: plain(outcome.reply.body) ?? {} } }
    case 'failed':
      return { status: 'failed', result: outcome.result, reason: outcome.reason ?? RESULT_TEXT[outcome.result] ?? `result ${outcome.result}` }
    case 'queued':
      reply.status(202)
      return { status: 'queued', id: outcome.id, expiresAt: new Date(outcome.expiresAt).toISOString() }
    case 'timeout':
      throw new ApiError('TERMINAL_TIMEOUT', `terminal ${phone} did not answer in time`)
  }
}
