/**
 * What the engine keeps per vehicle: a few dozen numbers, a short timeline, the anomalies it
 * follows, and the state of each point rule that is currently busy (one map keyed by the rule,
 * point-rules.ts; entries are created on demand and dropped when idle).
 */
import type { CommittedPosition } from '../domain.js'
import type { Tracked } from './book.js'
import type { MatcherConfig } from './config.js'
import type { CoveredVehicle, WaybillEntry } from './cover.js'
import type { Cover } from './long-rules.js'
import type { RuleHolder, RuleStates } from './point-rules.js'
import { Motion, Timeline } from './timeline.js'
import { plateKey, type VehicleRef } from '../domain.js'

export type { VehicleRef }

export interface Card {
  q: string
  name: string | null
  at: number
}

export class VehicleState implements CoveredVehicle, RuleHolder {
  id: number
  plate: string
  plateColor: number
  key: string
  enterprise: string | null
  /** newest device time processed (any fix with a valid time): the late-data watermark */
  wm = -Infinity
  /** newest valid fix */
  lastT = NaN
  lastLat = 0
  lastLon = 0
  lastSpeed = 0
  readonly timeline: Timeline
  readonly motion: Motion
  /** device time at which the long rules must be recomputed */
  deadline = Infinity
  /** wall-clock time the next tick must look at this vehicle */
  tickDue = Infinity
  silenceOpen = false
  /** the busy point rules' state, keyed by the rule (null: none busy) */
  rules: RuleStates | null = null
  /** consecutive rejected fixes that agree with each other (drift judgement, not the drift rule) */
  driftAgree = 0
  rejT = NaN
  rejLat = 0
  rejLon = 0
  card: Card | null = null
  /** device times of the terminal's own DSM fatigue alarms (item 0x65 type 1), sorted, bounded: evidence for the fatigue rules */
  dsmFatigue: number[] = []
  anoms: Tracked[] = []
  late: CommittedPosition[] | null = null
  /** in-order blind-area fixes arrived: the long rules are judged at the next flushLate() */
  deferDerive = false
  /** listed for the next flushLate() */
  queued = false
  coverVersion = -1
  coverSeen = -1
  cover: Cover[] = []
  ownCover: Cover[] = []
  entries: WaybillEntry[] = []

  constructor(ref: VehicleRef, cfg: MatcherConfig) {
    this.id = ref.id
    this.plate = ref.plate
    this.plateColor = ref.plateColor
    this.key = plateKey(ref.plate, ref.plateColor)
    this.enterprise = ref.enterpriseLicenseNo ?? null
    this.timeline = new Timeline(cfg)
    this.motion = new Motion(this.timeline, cfg)
  }
}
