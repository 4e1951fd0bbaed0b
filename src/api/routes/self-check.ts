/**
 * GET /vehicles/{plate}/self-check: gathers what the matcher's pre-trip self-check judges
 * (src/matcher/self-check.ts: terminal online, reporting normally, last trip's track complete,
 * no open critical anomaly, transport certificate valid, business scope covering the next
 * waybill's classes) from the live state and the store, and serves its pass/fail with reasons.
 */
import { activityWindow, canonicalPhone, samePlate, type Vehicle, type Waybill } from '../../domain.js'
import { selfCheck } from '../../matcher/self-check.js'
import type { AnomalyStore, WaybillStore } from '../../store/port.js'
import type { ApiContext } from '../context.js'

/** At most this much of the last trip's track is read. */
const MAX_TRIP_MS = 7 * 86_400_000

export const selfCheckSchema = {
  type: 'object',
  properties: {
    plate: { type: 'string' },
    pass: { type: 'boolean' },
    checkedAt: { type: 'string', format: 'date-time' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', enum: ['terminal-online', 'reporting-normally', 'last-trip-track-complete', 'no-open-critical', 'certificate-valid', 'scope-covers-cargo'] },
          pass: { type: 'boolean' },
          reason: { type: ['string', 'null'], description: 'why it failed; null when it passed' },
          details: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
} as const

export async function runSelfCheck(ctx: ApiContext, vehicle: Vehicle, now: number) {
  const store = ctx.deps.store as ApiContext['deps']['store'] & WaybillStore & AnomalyStore
  const { state } = ctx.deps
  const phone = vehicle.terminalPhone
  const [session, lastPosition, last, open, next] = await Promise.all([
    phone ? state.getSession(canonicalPhone(phone)).then((s) => s ?? state.getSession(phone)) : Promise.resolve(null),
    state.getLastPosition(vehicle.id),
    store.lastWaybillFor(vehicle.plate, vehicle.plateColor, now),
    store.listAnomalies({ vehicleId: vehicle.id, status: 'open', limit: 1000 }),
    nextWaybill(store, vehicle, now),
  ])
  let lastTrip = null
  if (last) {
    const win = activityWindow(last)
    const from = win ? win[0] : last.createdAt
    const to = Math.min(now, win ? win[1] : now, from + MAX_TRIP_MS)
    lastTrip = { waybill: last, track: to > from ? await store.track(vehicle.id, from, to, { limit: 200_000 }) : [] }
  }
  return selfCheck({ vehicle, now, session, lastPosition, lastTrip, openAnomalies: open.items, nextWaybill: next })
}

/** The trip about to start or under way: in transit, else dispatched, else the earliest created one not yet over. */
async function nextWaybill(store: WaybillStore, vehicle: Vehicle, now: number): Promise<Waybill | null> {
  const page = await store.listWaybills({ plate: vehicle.plate, plateColor: vehicle.plateColor, status: ['in_transit', 'dispatched', 'created'], from: now, limit: 100 })
  const rank = { in_transit: 0, dispatched: 1, created: 2, completed: 3, cancelled: 4 } as const
  const own = page.items.filter((w) => samePlate(w.plate, vehicle.plate))
  own.sort((a, b) => rank[a.status] - rank[b.status] || a.loadingDate.localeCompare(b.loadingDate))
  return own[0] ?? null
}
