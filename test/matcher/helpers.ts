/**
 * Synthetic trajectories for matcher scenarios: a vehicle that drives, stops and jumps on a
 * flat-earth approximation around Jinan, sampled every `every` ms. A sample's speed holds until
 * the next one (as the matcher assumes), so drive(d, v) emits samples at the segment's start,
 * start + every, …, and the next segment continues at start + d.
 */
import { newWaybill, transitionWaybill, type AnomalyEvent, type CommittedPosition, type Waybill, type WaybillInput } from '../../src/domain.js'
import { matcherConfig, type MatcherConfigInput } from '../../src/matcher/config.js'
import { MatcherEngine } from '../../src/matcher/engine.js'
import type { ZoneLookup } from '../../src/matcher/zones.js'

export const MIN = 60_000
export const HOUR = 3_600_000
/** km per degree of latitude in the matcher's own geometry (R = 6371.0088 km) */
export const KM_PER_DEG = (6371.0088 * Math.PI) / 180

/** UTC ms of a Beijing wall-clock time on 2024-06-03 (+ dayOffset days). */
export function bj(hhmm: string, dayOffset = 0): number {
  const [h, m, s] = hhmm.split(':').map(Number)
  return Date.UTC(2024, 5, 3 + dayOffset, h - 8, m, s ?? 0)
}

export interface TripOptions {
  vehicleId?: number
  plate?: string
  plateColor?: number
  lon?: number
  lat?: number
  every?: number
  enterprise?: string
}

export class Trip {
  t: number
  lon: number
  lat: number
  readonly every: number
  readonly vehicleId: number
  readonly plate: string
  readonly plateColor: number
  readonly enterprise: string
  alarm = 0
  /** heading in degrees: 90 east, 0 north */
  heading = 90
  blindArea = false
  receivedLag = 1_000

  constructor(start: number, o: TripOptions = {}) {
    this.t = start
    this.lon = o.lon ?? 117.0
    this.lat = o.lat ?? 36.65
    this.every = o.every ?? 30_000
    this.vehicleId = o.vehicleId ?? 1
    this.plate = o.plate ?? '鲁A12345'
    this.plateColor = o.plateColor ?? 2
    this.enterprise = o.enterprise ?? '370100000001'
  }

  fix(speed: number, extra: Partial<CommittedPosition> = {}): CommittedPosition {
    return {
      vehicleId: this.vehicleId,
      deviceTime: this.t,
      receivedAt: this.t + this.receivedLag,
      latitude: this.lat,
      longitude: this.lon,
      altitude: 30,
      speed,
      direction: Math.round(this.heading) % 360,
      alarm: this.alarm,
      status: 0b11,
      mileage: null,
      extras: {},
      blindArea: this.blindArea,
      sourceMsgId: this.blindArea ? 0x0704 : 0x0200,
      phone: '13900000001',
      plate: this.plate,
      plateColor: this.plateColor,
      enterpriseLicenseNo: this.enterprise,
      ...extra,
    }
  }

  private move(km: number): void {
    const rad = (this.heading * Math.PI) / 180
    this.lat += (km * Math.cos(rad)) / KM_PER_DEG
    this.lon += (km * Math.sin(rad)) / (KM_PER_DEG * Math.cos((this.lat * Math.PI) / 180))
  }

  /** Samples for `durationMs` at `speed` km/h, moving along the heading. */
  drive(durationMs: number, speed: number): CommittedPosition[] {
    const out: CommittedPosition[] = []
    const end = this.t + durationMs
    while (this.t < end) {
      out.push(this.fix(speed))
      const dt = Math.min(this.every, end - this.t)
      this.move((speed * dt) / HOUR)
      this.t += dt
    }
    return out
  }

  stop(durationMs: number): CommittedPosition[] {
    return this.drive(durationMs, 0)
  }

  /** Time passes with no samples; the vehicle moves `km` meanwhile. */
  silent(durationMs: number, km = 0): void {
    this.move(km)
    this.t += durationMs
  }

  /** One sample `km` away from where the vehicle really is (drift); the vehicle itself does not move. */
  drift(km: number, speed: number): CommittedPosition {
    const rad = (this.heading * Math.PI) / 180
    const p = this.fix(speed, {
      latitude: this.lat + (km * Math.cos(rad + Math.PI / 2)) / KM_PER_DEG,
      longitude: this.lon + (km * Math.sin(rad + Math.PI / 2)) / (KM_PER_DEG * Math.cos((this.lat * Math.PI) / 180)),
    })
    this.move((speed * this.every) / HOUR)
    this.t += this.every
    return p
  }
}

export const BASE_WAYBILL: WaybillInput = {
  waybillNo: 'YD202406030001',
  issueDate: '2024-06-03',
  consignorName: '济南化工有限公司',
  consignorPhone: '0531-88888888',
  consigneeName: '青岛港务集团',
  consigneePhone: '0532-66666666',
  loadingPlace: '济南市历城区',
  loadingDate: '20240603',
  destination: '青岛市黄岛区',
  expectedArrivalDate: '20240603',
  carrierName: '山东危运物流有限公司',
  carrierLicenseNo: '370100000001',
  carrierPhone: '13800000000',
  plate: '鲁A12345',
  plateColor: 2,
  transportCertNo: '370100123456',
  trailerPlate: '',
  trailerTransportCertNo: '',
  driverName: '张三',
  driverQualificationNo: '370102198001011234',
  driverPhone: '13900000002',
  escortName: '李四',
  escortQualificationNo: '370102198502025678',
  escortPhone: '13900000003',
  goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', packingGroup: 'II', specification: '罐装', quantity: 30.5, unit: 't' }],
}

/** A waybill dispatched at `dispatchedAt` (created just before). */
export function dispatched(dispatchedAt: number, over: Partial<WaybillInput> = {}): Waybill {
  const w = newWaybill({ ...BASE_WAYBILL, ...over }, dispatchedAt - MIN)
  return transitionWaybill(w, 'dispatched', dispatchedAt)
}

export interface Harness {
  engine: MatcherEngine
  events: AnomalyEvent[]
  feed(ps: CommittedPosition[]): void
  /** the latest state of every anomaly seen, by id */
  anomalies(): Map<string, AnomalyEvent['anomaly']>
  ofType(type: string): Array<AnomalyEvent['anomaly']>
}

export function harness(o: { config?: MatcherConfigInput; since?: number; zones?: ZoneLookup } = {}): Harness {
  const events: AnomalyEvent[] = []
  const engine = new MatcherEngine({
    config: matcherConfig(o.config ?? {}),
    emit: (e) => events.push(e),
    clock: () => 0,
    since: o.since,
    zones: o.zones,
  })
  const anomalies = () => {
    const m = new Map<string, AnomalyEvent['anomaly']>()
    for (const e of events) m.set(e.anomaly.id, e.anomaly)
    return m
  }
  return {
    engine,
    events,
    feed(ps) {
      for (const p of ps) engine.position(p)
      engine.flushLate()
    },
    anomalies,
    ofType: (type) => [...anomalies().values()].filter((a) => a.type === type),
  }
}

/** "HH:MM:SS" Beijing time of an instant, for readable assertions. */
export function hms(t: number | null): string | null {
  if (t === null) return null
  const d = new Date(t + 8 * HOUR)
  return d.toISOString().slice(11, 19)
}

/** [type, status, start, end] of each anomaly, times as Beijing HH:MM:SS. */
export function summary(list: Array<AnomalyEvent['anomaly']>): Array<[string, string, string | null, string | null]> {
  return list.map((a) => [a.type, a.status, hms(a.startedAt), hms(a.endedAt)])
}
