/** The live half of GET /vehicles/{plate} and POST /waybills/verify: session, last fix, active waybill. */
import { canonicalPhone, type Vehicle } from '../../domain.js'
import { isoOrNull, presentPosition, type ApiLiveState } from '../present.js'
import { positionSchema } from '../schemas.js'
import type { ApiContext } from '../context.js'

export const liveStateSchema = {
  type: 'object',
  properties: {
    online: { type: 'boolean', description: 'the terminal holds an authenticated session on some gateway node' },
    session: {
      type: ['object', 'null'],
      properties: { nodeId: { type: 'string' }, since: { type: 'string', format: 'date-time' }, address: { type: 'string' } },
    },
    lastPosition: { anyOf: [positionSchema, { type: 'null' }] },
    activeWaybill: {
      type: ['object', 'null'],
      properties: { waybillNo: { type: 'string' }, status: { type: 'string' }, loadingDate: { type: 'string' }, expectedArrivalDate: { type: 'string' }, destination: { type: 'string' } },
    },
  },
} as const

export async function liveStateOf(ctx: ApiContext, vehicle: Vehicle): Promise<ApiLiveState> {
  const { state } = ctx.deps
  const [session, last, active] = await Promise.all([
    vehicle.terminalPhone ? state.getSession(canonicalPhone(vehicle.terminalPhone)).then((s) => s ?? state.getSession(vehicle.terminalPhone!)) : Promise.resolve(null),
    state.getLastPosition(vehicle.id),
    ctx.waybills.activeFor(vehicle),
  ])
  return {
    online: session !== null,
    session: session ? { nodeId: session.nodeId, since: isoOrNull(session.since), address: session.address } : null,
    lastPosition: last ? presentPosition(last) : null,
    activeWaybill: active
      ? { waybillNo: active.waybillNo, status: active.status, loadingDate: active.loadingDate, expectedArrivalDate: active.expectedArrivalDate, destination: active.destination }
      : null,
  }
}
