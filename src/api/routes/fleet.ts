/**
 * GET /fleet: every vehicle in the caller's scope with its last position and one display state,
 * in a single call — what the console's fleet map polls. GET /vehicles/{plate} gives the same
 * facts for one vehicle; this one reads them in bulk (one waybill query, one anomaly query, the
 * live state per vehicle) so 10,000 vehicles cost one request, not 10,000.
 */
import type { FastifyInstance } from 'fastify'
import { canonicalPhone, type Waybill } from '../../domain.js'
import type { WaybillStore } from '../../store/port.js'
import { scopedLicenceFilter } from '../access.js'
import { iso } from '../present.js'
import { licenceSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'

/** alarm: an open critical anomaly; moving: online on an active waybill; no_waybill: online without one; no_position: active waybill but no fresh fix; offline: none of these. */
export const FLEET_STATES = ['alarm', 'moving', 'no_waybill', 'no_position', 'offline'] as const
export type FleetState = (typeof FLEET_STATES)[number]

/** A fix older than this does not count as "the vehicle is reporting" for an active waybill. */
const STALE_FIX_MS = 10 * 60_000

const fleetItemSchema = {
  type: 'object',
  properties: {
    plate: { type: 'string' },
    plateColor: { type: 'integer' },
    enterpriseLicenseNo: { type: ['string', 'null'] },
    enterpriseName: { type: ['string', 'null'] },
    state: { type: 'string', enum: FLEET_STATES },
    online: { type: 'boolean' },
    waybillNo: { type: ['string', 'null'], description: 'the active waybill (dispatched or in transit)' },
    criticalAnomalies: { type: 'integer', description: 'open critical anomalies' },
    position: {
      type: ['object', 'null'],
      properties: {
        longitude: { type: 'number' },
        latitude: { type: 'number' },
        speed: { type: 'number' },
        direction: { type: 'number' },
        deviceTime: { type: 'string', format: 'date-time' },
      },
    },
  },
} as const

export function fleetRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store, state } = ctx.deps

  app.get<{ Querystring: { enterprise?: string; state?: FleetState[] } }>(
    '/fleet',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'Every vehicle (an enterprise sees its own) with its last position and display state: alarm, moving, no_waybill, no_position, offline',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { enterprise: licenceSchema, state: { type: 'array', items: { type: 'string', enum: FLEET_STATES } } },
        },
        response: {
          200: {
            type: 'object',
            properties: { at: { type: 'string', format: 'date-time' }, counts: { type: 'object', additionalProperties: { type: 'integer' } }, items: { type: 'array', items: fleetItemSchema } },
          },
        },
      },
    },
    async (request) => {
      const at = ctx.now()
      const licence = scopedLicenceFilter(request, request.query.enterprise)
      const waybillStore = store as Partial<WaybillStore>
      const [vehicles, inEffect, open] = await Promise.all([
        store.listVehicles(licence ? { enterpriseLicenseNo: licence } : {}),
        waybillStore.waybillsInEffect ? waybillStore.waybillsInEffect(at) : Promise.resolve([] as Waybill[]),
        store.openAnomalies(),
      ])
      const active = new Map<string, string>()
      for (const w of inEffect) {
        if (w.status !== 'dispatched' && w.status !== 'in_transit') continue
        // the tractor's own waybill wins over one naming it as a trailer
        active.set(`${w.plate}/${w.plateColor}`, w.waybillNo)
        if (w.trailerPlate && !active.has(`${w.trailerPlate}/*`)) active.set(`${w.trailerPlate}/*`, w.waybillNo)
      }
      const critical = new Map<number, number>()
      for (const a of open) if (a.severity === 'critical') critical.set(a.vehicleId, (critical.get(a.vehicleId) ?? 0) + 1)

      const live = await Promise.all(
        vehicles.map(async (v) => {
          const phone = v.terminalPhone
          const canonical = phone ? canonicalPhone(phone) : null
          const [session, last] = await Promise.all([
            // the registry may hold the phone in another form than the session key (as liveStateOf)
            phone && canonical ? state.getSession(canonical).then((s) => s ?? (canonical === phone ? null : state.getSession(phone))) : Promise.resolve(null),
            state.getLastPosition(v.id),
          ])
          return { session, last }
        }),
      )
      const wanted = request.query.state?.length ? new Set(request.query.state) : null
      const counts: Record<string, number> = Object.fromEntries(FLEET_STATES.map((s) => [s, 0]))
      const items = []
      for (const [i, v] of vehicles.entries()) {
        const { session, last } = live[i]
        const waybillNo = active.get(`${v.plate}/${v.plateColor}`) ?? active.get(`${v.plate}/*`) ?? null
        const criticalAnomalies = critical.get(v.id) ?? 0
        const fresh = last !== null && at - last.receivedAt <= STALE_FIX_MS
        const online = session !== null
        const s: FleetState = criticalAnomalies > 0 ? 'alarm' : waybillNo && !fresh ? 'no_position' : online && waybillNo ? 'moving' : online ? 'no_waybill' : 'offline'
        counts[s]++
        if (wanted && !wanted.has(s)) continue
        items.push({
          plate: v.plate,
          plateColor: v.plateColor,
          enterpriseLicenseNo: v.enterpriseLicenseNo,
          enterpriseName: v.enterpriseName,
          state: s,
          online,
          waybillNo,
          criticalAnomalies,
          position: last ? { longitude: last.longitude, latitude: last.latitude, speed: last.speed, direction: last.direction, deviceTime: iso(last.deviceTime) } : null,
        })
      }
      return { at: iso(at), counts, items }
    },
  )
}
