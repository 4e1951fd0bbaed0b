/**
 * GET /fleet: every vehicle in the caller's scope with its last position and one display state,
 * in a single call — what the console's fleet map polls. GET /vehicles/{plate} gives the same
 * facts for one vehicle; this one reads them in bulk (one waybill query, one anomaly query, the
 * live state per vehicle) so 10,000 vehicles cost one request, not 10,000.
 *
 * With `since=<cursor>` (the `cursor` of an earlier answer) only the vehicles whose entry changed
 * since are sent, and those gone from the answer (retired, moved to another enterprise, out of the
 * state filter) are named in `removed`: at 10,000 vehicles a poll shrinks from megabytes to the
 * few that moved. Changes are found by comparing each entry with what this process last computed
 * for it (FleetVersions), so every input of the display state counts (a fix, a session, a waybill,
 * an anomaly, a fix going stale). A cursor from another process, a restart or too far back gets
 * the whole fleet with `full: true`.
 */
import { randomBytes } from 'node:crypto'
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

type FleetItem = {
  plate: string
  plateColor: number
  enterpriseLicenseNo: string | null
  enterpriseName: string | null
  state: FleetState
  online: boolean
  waybillNo: string | null
  criticalAnomalies: number
  position: { longitude: number; latitude: number; speed: number; direction: number; deviceTime: string } | null
}

/** A vehicle that left an answer: what the caller knew it by, the licence it was seen under, when. */
interface Tombstone {
  vehicleId: number
  plate: string
  plateColor: number
  licence: string | null
  version: number
}

const MAX_TOMBSTONES = 20_000

/**
 * What each vehicle's fleet entry last looked like in this process and the version at which it
 * last changed. One version per answer that found changes, taken from the clock (strictly
 * increasing): a cursor tells nothing about how many vehicles of other enterprises changed.
 */
export class FleetVersions {
  readonly epoch = randomBytes(4).toString('hex')
  private version = 0
  private readonly entries = new Map<number, { digest: string; version: number; plate: string; plateColor: number; licence: string | null }>()
  private tombstones: Tombstone[] = []
  /** versions at or below this may have lost tombstones: a cursor that old gets the whole fleet */
  private horizon = 0

  constructor(private readonly now: () => number) {}

  cursor(): string {
    return `${this.epoch}.${this.version}`
  }

  /** The version a cursor stands for, or null when this process cannot answer from it (another process, a restart, too old). */
  since(cursor: string): number | null {
    const m = /^([0-9a-f]{8})\.(\d{1,16})$/.exec(cursor)
    if (!m || m[1] !== this.epoch) return null
    const v = Number(m[2])
    return v > this.version || v < this.horizon ? null : v
  }

  /**
   * Records the entries of one answer (every vehicle in `licence`'s scope, null: all) and returns
   * each one's version; vehicles of that scope seen before and missing now become tombstones.
   */
  record(licence: string | null, entries: { vehicleId: number; item: FleetItem }[]): number[] {
    let next = 0
    const bump = () => (next ||= Math.max(this.version + 1, this.now()))
    const seen = new Set<number>()
    const versions = entries.map(({ vehicleId, item }) => {
      seen.add(vehicleId)
      const digest = JSON.stringify(item)
      const old = this.entries.get(vehicleId)
      if (old && old.digest === digest) return old.version
      const v = bump()
      // seen under another licence (or plate) before: it is gone from that scope's answers
      if (old && (old.licence !== item.enterpriseLicenseNo || old.plate !== item.plate || old.plateColor !== item.plateColor)) this.bury(vehicleId, old, v)
      this.entries.set(vehicleId, { digest, version: v, plate: item.plate, plateColor: item.plateColor, licence: item.enterpriseLicenseNo })
      return v
    })
    for (const [vehicleId, old] of this.entries) {
      if (seen.has(vehicleId) || (licence !== null && old.licence !== licence)) continue
      this.bury(vehicleId, old, bump())
      this.entries.delete(vehicleId)
    }
    if (next) this.version = next
    return versions
  }

  private bury(vehicleId: number, old: { plate: string; plateColor: number; licence: string | null }, version: number): void {
    this.tombstones.push({ vehicleId, plate: old.plate, plateColor: old.plateColor, licence: old.licence, version })
    if (this.tombstones.length > MAX_TOMBSTONES) {
      const dropped = this.tombstones.splice(0, this.tombstones.length - MAX_TOMBSTONES)
      this.horizon = dropped[dropped.length - 1].version
    }
  }

  /** Vehicles of `licence`'s scope (null: all) that left the answers after version `since` and are not in `present` under the same plate. */
  removedSince(since: number, licence: string | null, present: Set<string>): { plate: string; plateColor: number }[] {
    const out = new Map<string, { plate: string; plateColor: number }>()
    for (const t of this.tombstones) {
      const key = `${t.plate}/${t.plateColor}`
      if (t.version <= since || present.has(key) || (licence !== null && t.licence !== licence)) continue
      out.set(key, { plate: t.plate, plateColor: t.plateColor })
    }
    return [...out.values()]
  }
}

export function fleetRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store, state } = ctx.deps
  const versions = new FleetVersions(ctx.now)

  app.get<{ Querystring: { enterprise?: string; state?: FleetState[]; since?: string } }>(
    '/fleet',
    {
      config: { access: 'read' },
      schema: {
        tags: ['vehicles'],
        summary: 'Every vehicle (an enterprise sees its own) with its last position and display state: alarm, moving, no_waybill, no_position, offline',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            enterprise: licenceSchema,
            state: { type: 'array', items: { type: 'string', enum: FLEET_STATES } },
            since: { type: 'string', maxLength: 40, description: 'the `cursor` of an earlier answer: only the vehicles changed since, and `removed`' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              at: { type: 'string', format: 'date-time' },
              cursor: { type: 'string', description: 'pass as `since` for the changes after this answer' },
              full: { type: 'boolean', description: 'true: `items` is the whole fleet (no `since`, or one this process cannot answer from); false: only the changes' },
              counts: { type: 'object', additionalProperties: { type: 'integer' }, description: 'vehicles per state, always over the whole scope' },
              items: { type: 'array', items: fleetItemSchema },
              removed: {
                type: 'array',
                description: 'with `since`: vehicles to drop (retired, out of scope, or out of the state filter now)',
                items: { type: 'object', properties: { plate: { type: 'string' }, plateColor: { type: 'integer' } } },
              },
            },
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
      const entries: { vehicleId: number; item: FleetItem }[] = []
      for (const [i, v] of vehicles.entries()) {
        const { session, last } = live[i]
        const waybillNo = active.get(`${v.plate}/${v.plateColor}`) ?? active.get(`${v.plate}/*`) ?? null
        const criticalAnomalies = critical.get(v.id) ?? 0
        const fresh = last !== null && at - last.receivedAt <= STALE_FIX_MS
        const online = session !== null
        const s: FleetState = criticalAnomalies > 0 ? 'alarm' : waybillNo && !fresh ? 'no_position' : online && waybillNo ? 'moving' : online ? 'no_waybill' : 'offline'
        counts[s]++
        entries.push({
          vehicleId: v.id,
          item: {
            plate: v.plate,
            plateColor: v.plateColor,
            enterpriseLicenseNo: v.enterpriseLicenseNo,
            enterpriseName: v.enterpriseName,
            state: s,
            online,
            waybillNo,
            criticalAnomalies,
            position: last ? { longitude: last.longitude, latitude: last.latitude, speed: last.speed, direction: last.direction, deviceTime: iso(last.deviceTime) } : null,
          },
        })
      }
      // the scope recorded is the vehicles listed: an enterprise's own, or the one asked for
      const changedAt = versions.record(licence ?? null, entries)
      const since = request.query.since === undefined ? null : versions.since(request.query.since)
      const items: FleetItem[] = []
      const removed: { plate: string; plateColor: number }[] = []
      for (const [i, { item }] of entries.entries()) {
        if (since !== null && changedAt[i] <= since) continue
        if (!wanted || wanted.has(item.state)) items.push(item)
        else if (since !== null) removed.push({ plate: item.plate, plateColor: item.plateColor })
      }
      if (since !== null) removed.push(...versions.removedSince(since, licence ?? null, new Set(entries.map((e) => `${e.item.plate}/${e.item.plateColor}`))))
      return { at: iso(at), cursor: versions.cursor(), full: since === null, counts, items, removed }
    },
  )
}
