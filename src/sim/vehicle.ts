/**
 * One simulated hazmat truck in simulated time: it drives between cities at road speeds along a
 * gently curved route, rests after a few hours at the wheel, parks at its destination, and
 * reports as a terminal would. `wake(t)` advances it to simulated time t and returns what the
 * terminal sends then; `nextWakeAt` says when to call again. Everything derives from a seeded
 * PRNG, so the same seed gives the same frames.
 *
 * Injected conditions (recorded in `injections`, the ground truth a matcher test compares with):
 * overspeed bursts, long drives without rest, blind-area gaps (positions held back and uploaded
 * later as 0x0704 type 1), drift jumps, corrupted frames, driver-card swaps.
 */
import type { DriverIdentity, Location } from '../../protocol/index.js'
import { beijingIso } from '../../protocol/index.js'
import { locationOf } from '../terminal/position.js'
import { CITIES, type City } from './cities.js'
import type { FleetMember, SimDriver } from './fleet.js'
import { bearing, destination, distanceKm, lerp, type Point } from './geo.js'
import { Prng } from './prng.js'

export interface InjectOptions {
  /** Expected overspeed bursts (88–100 km/h for 60–180 s) per driving hour. Default 0. */
  overspeedPerHour?: number
  /** Fraction of terminals whose drivers skip rests (continuous driving of 4.5–6 h). Default 0. */
  longDriveFraction?: number
  /** Expected coverage gaps per hour; positions in a gap are uploaded later as 0x0704 type 1. Default 0. */
  blindAreaPerHour?: number
  /** Gap length range in simulated minutes. Default [5, 20]. */
  blindAreaMinutes?: [number, number]
  /** Expected drift jumps (one fix displaced 20–60 km) per driving hour. Default 0. */
  driftPerHour?: number
  /** Fraction of position reports followed by a corrupted copy (bad checksum). Default 0. */
  badFrameFraction?: number
  /** Probability per trip that another driver's card (on no waybill) is inserted mid-trip. Default 0. */
  cardSwapPerTrip?: number
}

export interface VehicleOptions {
  /** Simulated seconds between position reports. */
  intervalS: number
  /** Simulated seconds of silence after which a heartbeat is sent. Default 60. */
  heartbeatS?: number
  /** Simulated start (UTC ms). */
  startTime: number
  seed: number
  inject?: InjectOptions
  /** Positions held back at most (oldest dropped beyond). Default 5000. */
  maxBlindPositions?: number
}

export type InjectionType = 'overspeed' | 'long-drive' | 'blind-area' | 'drift' | 'bad-frame' | 'driver-swap'

export interface Injection {
  phone: string
  plate: string
  type: InjectionType
  /** simulated UTC ms */
  from: number
  to: number
  detail?: Record<string, unknown>
}

export type Uplink =
  | { kind: 'position'; location: Location }
  /** the same position sent again with a corrupted checksum, right after it */
  | { kind: 'bad-frame'; location: Location }
  | { kind: 'heartbeat' }
  | { kind: 'blind-batch'; items: Location[] }
  | { kind: 'driver-card'; body: DriverIdentity }

type Phase = 'driving' | 'resting' | 'parked'

const MAX_SUBSTEP_S = 10
/** km at either end of a trip driven at town speeds */
const URBAN_KM = 12
/** hazmat speed limits (docs/rules.md): 80 km/h highway, 60 other roads; normal driving stays under them */
const HIGHWAY_MAX = 78
const URBAN_MAX = 55
const BATCH_ITEMS = 20

export class SimVehicle {
  readonly member: FleetMember
  readonly injections: Injection[] = []
  /** Simulated time of the next call to wake(). */
  nextWakeAt: number
  private readonly rng: Prng
  private readonly o: Required<Omit<VehicleOptions, 'inject'>> & { inject: Required<InjectOptions> }
  private t: number
  private phase: Phase = 'driving'
  private phaseUntil = 0
  private route: Point[] = []
  private cum: number[] = []
  private routeKm = 0
  private atKm = 0
  private from: City
  private to: City
  private loaded = true
  private speed = 0
  private cruise: number
  private continuousS = 0
  private drivingSince = 0
  private restAfterS = 0
  private readonly longDriver: boolean
  private longDriveRecorded = false
  private burst: { until: number; speed: number } | null = null
  private overSince: number | null = null
  private odometerKm: number
  private fuelL: number
  private altitudeBase = 50
  private nextReportAt: number
  private lastUplinkAt: number
  private gapUntil: number | null = null
  private readonly blind: Location[] = []
  private driver: SimDriver
  private swapAt: number | null = null
  private last: Location | null = null
  /** Card events not sent yet (emitted at the next wake, held during a coverage gap). */
  private readonly pendingCards: Array<Extract<Uplink, { kind: 'driver-card' }>> = []

  constructor(member: FleetMember, options: VehicleOptions) {
    this.member = member
    const inject = options.inject ?? {}
    this.o = {
      intervalS: options.intervalS,
      heartbeatS: options.heartbeatS ?? 60,
      startTime: options.startTime,
      seed: options.seed,
      maxBlindPositions: options.maxBlindPositions ?? 5000,
      inject: {
        overspeedPerHour: inject.overspeedPerHour ?? 0,
        longDriveFraction: inject.longDriveFraction ?? 0,
        blindAreaPerHour: inject.blindAreaPerHour ?? 0,
        blindAreaMinutes: inject.blindAreaMinutes ?? [5, 20],
        driftPerHour: inject.driftPerHour ?? 0,
        badFrameFraction: inject.badFrameFraction ?? 0,
        cardSwapPerTrip: inject.cardSwapPerTrip ?? 0,
      },
    }
    const rng = (this.rng = Prng.forTerminal(options.seed, member.index))
    this.t = options.startTime
    this.cruise = rng.range(68, HIGHWAY_MAX)
    this.longDriver = rng.chance(this.o.inject.longDriveFraction)
    this.odometerKm = Math.round(rng.range(20_000, 300_000))
    this.fuelL = rng.range(120, 380)
    this.driver = member.drivers[0]
    this.from = member.home
    this.to = member.home
    // Join the fleet in a steady state: most trucks mid-trip, some resting or parked.
    this.planTrip(rng.range(0, 0.9))
    const r = rng.next()
    if (r < 0.12) {
      this.atKm = 0
      this.park(rng.range(0, 2 * 3600))
    } else if (r < 0.2) this.rest(rng.range(0, 20 * 60))
    else {
      this.speed = this.cruise * rng.range(0.7, 1)
      // A long driver starts fresh, so all of their over-long drive is seen (and is what the
      // injection records); the others are somewhere in a drive that stays within the rules.
      this.continuousS = this.longDriver ? 0 : rng.range(0, this.restAfterS * 0.8)
    }
    this.drivingSince = this.t - this.continuousS * 1000
    // The driver's card went in before the run began: say so first, for the matcher's driver check.
    if (this.phase !== 'parked') this.pendingCards.push(this.card(1, this.driver))
    // Spread reports over the interval so the fleet does not report in lockstep.
    // Whole seconds (for intervals of a second or more): device times carry whole seconds too.
    const offsetMs = options.intervalS >= 1 ? Math.floor(rng.range(0, options.intervalS)) * 1000 : Math.floor(rng.range(0, options.intervalS * 1000))
    this.nextReportAt = this.t + offsetMs
    this.lastUplinkAt = this.t
    this.nextWakeAt = this.nextReportAt
  }

  /** The last position reported (for 0x0201 answers). */
  get lastLocation(): Location {
    return this.last ?? this.fixNow()
  }

  /** True while the terminal is inside an injected coverage gap. */
  get inBlindArea(): boolean {
    return this.gapUntil !== null
  }

  /** Advances to simulated time t (≥ the previous call) and returns what the terminal sends at t. */
  wake(t: number): Uplink[] {
    this.advance(t)
    const out: Uplink[] = []
    if (this.swapAt !== null && t >= this.swapAt && this.phase === 'driving') {
      this.swapAt = null
      out.push(this.card(2, this.driver))
      this.driver = this.member.stranger
      out.push(this.card(1, this.driver))
      this.record('driver-swap', t, t, { driver: this.driver.name, qualificationNo: this.driver.qualificationNo })
    }
    out.push(...this.pendingCards.splice(0))
    if (t >= this.nextReportAt) {
      this.nextReportAt += this.o.intervalS * 1000
      if (this.nextReportAt <= t) this.nextReportAt = t + this.o.intervalS * 1000
      out.push(...this.report(t))
    } else if (this.gapUntil === null && t - this.lastUplinkAt >= this.o.heartbeatS * 1000) {
      out.push({ kind: 'heartbeat' })
    }
    const inGap = this.gapUntil !== null
    if (inGap) {
      // No coverage: nothing leaves the terminal; cards wait with the positions.
      const cards = out.filter((u) => u.kind === 'driver-card')
      this.pendingCards.push(...(cards as Array<Extract<Uplink, { kind: 'driver-card' }>>))
      out.length = 0
    } else if (out.length) this.lastUplinkAt = t
    const heartbeatDue = this.lastUplinkAt + this.o.heartbeatS * 1000
    this.nextWakeAt = inGap ? this.nextReportAt : Math.min(this.nextReportAt, heartbeatDue > t ? heartbeatDue : t + this.o.heartbeatS * 1000)
    return out
  }

  /** Positions held back (gap, or the caller had no connection) to upload as 0x0704 type 1 batches. */
  holdBack(location: Location): void {
    if (this.blind.length >= this.o.maxBlindPositions) this.blind.shift()
    this.blind.push(location)
  }

  /** Takes the held-back positions as 0x0704-sized batches. */
  takeBlindBatches(): Uplink[] {
    const out: Uplink[] = []
    while (this.blind.length) out.push({ kind: 'blind-batch', items: this.blind.splice(0, BATCH_ITEMS) })
    return out
  }

  private report(t: number): Uplink[] {
    const inj = this.o.inject
    const moving = this.phase === 'driving' && this.speed > 1
    const dtS = this.o.intervalS
    // Coverage gaps begin and end at report times.
    if (this.gapUntil === null && inj.blindAreaPerHour > 0 && this.rng.happensWithin(inj.blindAreaPerHour, dtS)) {
      const [lo, hi] = inj.blindAreaMinutes
      this.gapUntil = t + Math.round(this.rng.range(lo, hi) * 60) * 1000
      this.record('blind-area', t, this.gapUntil)
    }
    let fix = this.fixNow()
    if (moving && inj.driftPerHour > 0 && this.rng.happensWithin(inj.driftPerHour, dtS)) {
      const km = this.rng.range(20, 60)
      const p = destination({ latitude: fix.latitude, longitude: fix.longitude }, this.rng.range(0, 360), km)
      fix = locationOf({ ...this.fixInput(), latitude: p.latitude, longitude: p.longitude })
      this.record('drift', t, t, { km: Math.round(km * 10) / 10, latitude: p.latitude, longitude: p.longitude })
    } else this.last = fix
    if (this.gapUntil !== null) {
      if (t < this.gapUntil) {
        this.holdBack(fix)
        return []
      }
      this.gapUntil = null
      const out: Uplink[] = [{ kind: 'position', location: fix }, ...this.takeBlindBatches()]
      return out
    }
    const out: Uplink[] = [{ kind: 'position', location: fix }]
    if (inj.badFrameFraction > 0 && this.rng.chance(inj.badFrameFraction)) {
      out.push({ kind: 'bad-frame', location: fix })
      this.record('bad-frame', t, t)
    }
    return out
  }

  private record(type: InjectionType, from: number, to: number, detail?: Record<string, unknown>): void {
    if (this.injections.length >= 10_000) return
    const i: Injection = { phone: this.member.phone, plate: this.member.plate, type, from, to }
    if (detail) i.detail = detail
    this.injections.push(i)
  }

  private card(status: 1 | 2, d: SimDriver): Extract<Uplink, { kind: 'driver-card' }> {
    const body: DriverIdentity =
      status === 2
        ? { status, time: beijingIso(this.t) }
        : { status, time: beijingIso(this.t), readResult: 0, driverName: d.name, qualificationNo: d.qualificationNo, issuer: d.issuer, validUntil: d.validUntil, idNumber: d.idNumber }
    return { kind: 'driver-card', body }
  }

  // ---- motion ----

  private advance(to: number): void {
    while (this.t < to) {
      const h = Math.min(MAX_SUBSTEP_S, (to - this.t) / 1000)
      this.step(h)
      this.t += h * 1000
    }
    this.t = to
  }

  private step(h: number): void {
    const now = this.t + h * 1000
    if (this.phase !== 'driving') {
      this.speed = 0
      this.overSince = null
      if (now >= this.phaseUntil) {
        if (this.phase === 'parked') this.startTrip()
        else this.phase = 'driving'
        if (this.phase === 'driving') {
          this.continuousS = 0
          this.drivingSince = now
          this.longDriveRecorded = false
        }
      }
      return
    }
    const rng = this.rng
    const inj = this.o.inject
    const urban = this.atKm < URBAN_KM || this.routeKm - this.atKm < URBAN_KM
    if (this.burst && now >= this.burst.until) this.burst = null
    if (!this.burst && !urban && inj.overspeedPerHour > 0 && rng.happensWithin(inj.overspeedPerHour, h)) {
      const durS = rng.range(60, 180)
      this.burst = { until: now + durS * 1000, speed: rng.range(88, 100) }
      this.record('overspeed', now, this.burst.until, { speed: Math.round(this.burst.speed) })
    }
    const before = this.speed
    if (this.burst) this.speed = this.burst.speed + rng.normal() * 1.5
    else {
      const max = urban ? URBAN_MAX : HIGHWAY_MAX
      const target = this.routeKm - this.atKm < 2 ? 25 : urban ? 42 : this.cruise
      this.speed += (target - this.speed) * Math.min(1, h / 45) + rng.normal() * 1.5 * Math.sqrt(h / 10)
      this.speed = Math.min(max, Math.max(5, this.speed))
    }
    // The terminal's own overspeed alarm: over 80 km/h for 30 s (parameters 0x0055/0x0056).
    if (this.speed > 80) this.overSince ??= now
    else this.overSince = null
    const km = ((before + this.speed) / 2) * (h / 3600)
    this.atKm += km
    this.odometerKm += km
    this.fuelL = Math.max(5, this.fuelL - km * 0.32)
    this.continuousS += h
    if (this.continuousS >= 4 * 3600 && !this.longDriveRecorded) {
      this.longDriveRecorded = true
      this.record('long-drive', this.drivingSince, now, { continuousHours: 4 })
    }
    if (this.atKm >= this.routeKm) {
      this.atKm = this.routeKm
      this.arrive(now)
    } else if (this.continuousS >= this.restAfterS && !urban && !this.burst) {
      this.rest(rng.range(20 * 60, 35 * 60), now)
    }
  }

  private rest(seconds: number, now = this.t): void {
    const lr = this.injections.findLast((i) => i.type === 'long-drive')
    if (lr && lr.to >= this.drivingSince && this.longDriveRecorded) lr.to = now
    this.phase = 'resting'
    this.phaseUntil = now + seconds * 1000
    this.speed = 0
    this.burst = null
  }

  private arrive(now: number): void {
    this.rest(0, now)
    this.park(this.rng.range(3600, 3 * 3600), now)
    this.pendingCards.push(this.card(2, this.driver))
    if (this.fuelL < 80) this.fuelL = this.rng.range(300, 400)
  }

  private park(seconds: number, now = this.t): void {
    this.phase = 'parked'
    this.phaseUntil = now + seconds * 1000
    this.speed = 0
  }

  private startTrip(): void {
    this.from = this.to
    this.loaded = !this.loaded
    this.planTrip(0)
    this.driver = this.member.drivers[0]
    this.pendingCards.push(this.card(1, this.driver))
    this.phase = 'driving'
    this.speed = 0
  }

  /** Chooses a destination 120–800 km away and lays a gently curved route to it. */
  private planTrip(progress: number): void {
    const rng = this.rng
    const from = this.from
    let choices = CITIES.filter((c) => c !== from && inRange(distanceKm(from, c), 120, 800))
    if (choices.length === 0)
      choices = CITIES.filter((c) => c !== from)
        .sort((a, b) => distanceKm(from, a) - distanceKm(from, b))
        .slice(0, 3)
    this.to = rng.pick(choices)
    const straight = distanceKm(from, this.to)
    const segments = Math.max(4, Math.min(40, Math.round(straight / 25)))
    const bow = rng.range(0.04, 0.12) * straight * (rng.chance(0.5) ? 1 : -1)
    const course = bearing(from, this.to)
    this.route = []
    for (let i = 0; i <= segments; i++) {
      const f = i / segments
      const onLine = lerp(from, this.to, f)
      const off = i === 0 || i === segments ? 0 : bow * Math.sin(Math.PI * f) + rng.range(-2, 2)
      this.route.push(off === 0 ? onLine : destination(onLine, course + 90, off))
    }
    this.cum = [0]
    for (let i = 1; i < this.route.length; i++) this.cum.push(this.cum[i - 1] + distanceKm(this.route[i - 1], this.route[i]))
    this.routeKm = this.cum[this.cum.length - 1]
    this.atKm = this.routeKm * progress
    this.altitudeBase = rng.range(10, 600)
    this.restAfterS = this.longDriver ? rng.range(4.5 * 3600, 6 * 3600) : rng.range(2.5 * 3600, 3.8 * 3600)
    this.swapAt = rng.chance(this.o.inject.cardSwapPerTrip) ? this.t + rng.range(0.5, 2) * 3600_000 : null
  }

  private where(): { p: Point; heading: number } {
    let i = 1
    while (i < this.cum.length - 1 && this.cum[i] < this.atKm) i++
    const a = this.route[i - 1]
    const b = this.route[i]
    const seg = this.cum[i] - this.cum[i - 1]
    const f = seg > 0 ? Math.min(1, Math.max(0, (this.atKm - this.cum[i - 1]) / seg)) : 0
    return { p: lerp(a, b, f), heading: bearing(a, b) }
  }

  private fixInput() {
    const { p, heading } = this.where()
    const moving = this.phase === 'driving'
    const overspeed = this.overSince !== null && this.t - this.overSince >= 30_000
    return {
      latitude: p.latitude,
      longitude: p.longitude,
      speed: moving ? this.speed : 0,
      direction: heading,
      time: this.t,
      altitude: this.altitudeBase + 30 * Math.sin(this.atKm / 7),
      alarm: overspeed ? 1 << 1 : 0,
      // bits 8-9 load: 11 full outbound, 00 empty on the way back
      status: this.loaded ? 0x300 : 0,
      accOn: this.phase !== 'parked',
      extras: {
        mileage: Math.round(this.odometerKm * 10) / 10,
        fuel: Math.round(this.fuelL * 10) / 10,
        ...(overspeed ? { overspeed: { locationType: 0 } } : {}),
        signalStrength: 12 + (this.member.index % 20),
        satellites: 8 + (Math.floor(this.atKm) % 12),
      },
    }
  }

  private fixNow(): Location {
    return locationOf(this.fixInput())
  }
}

function inRange(v: number, lo: number, hi: number): boolean {
  return v >= lo && v <= hi
}
