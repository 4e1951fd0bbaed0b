/**
 * The engine's per-vehicle state as plain data, so it can be checkpointed and handed to another
 * process (issue 19): the timeline, the motion hysteresis, the busy point rules with their timers
 * and the anomalies being followed. Each point rule writes and reads its own state (its entry in
 * point-rules.ts), keyed by its anomaly type; timed rules are rebuilt from their class and given
 * their fields back; a rule's open anomaly is written as an index into the vehicle's anomaly list.
 *
 * JSON cannot carry NaN and ±Infinity, which the engine uses as "unset": encodeSnapshot /
 * decodeSnapshot write them as tagged strings.
 */
import type { Tracked } from './book.js'
import type { Card } from './vehicle-state.js'
import type { Item } from './timeline.js'

/**
 * Version of the shape below. 2: the point rules' states in one record keyed by type (1 had a
 * named field per rule; decodeSnapshot still reads it). A checkpoint of any other version is
 * ignored (the vehicle is rebuilt from its positions).
 */
export const SNAPSHOT_VERSION = 2

/** A followed anomaly as the book holds it, less what only a late replay in progress sets. */
export type TrackedSnapshot = Omit<Tracked, 'staged' | 'fragment'>

/** A timed rule: its timer, the index of its open anomaly (-1: none) and its own fields. */
export interface RuleSnapshot {
  timer: Record<string, number | boolean>
  handle: number
  fields: Record<string, unknown>
}

export interface AlarmSnapshot {
  bits: number
  confirmed: number
  lastT: number
  /** [bit, index into anoms] */
  open: Array<[number, number]>
}

export interface VehicleSnapshot {
  version: number
  id: number
  plate: string
  plateColor: number
  enterprise: string | null
  wm: number
  lastT: number
  lastLat: number
  lastLon: number
  lastSpeed: number
  timeline: { items: Item[]; pruned: boolean; firstT: number }
  motion: { t: number; lat: number; lon: number; speed: number; driving: boolean; pendStart: number; pendEnd: number; pendKm: number }
  deadline: number
  silenceOpen: boolean
  driftAgree: number
  rejT: number
  rejLat: number
  rejLon: number
  card: Card | null
  /** device times of DSM fatigue alarms (absent in checkpoints written before they were kept) */
  dsmFatigue?: number[]
  anoms: TrackedSnapshot[]
  /** the busy point rules' states by anomaly type, each in its rule's own shape (point-rules.ts) */
  rules: Record<string, unknown>
}

/** Version 1: one named field per point rule, and the route hint beside them. */
interface SnapshotV1 extends Omit<VehicleSnapshot, 'version' | 'rules'> {
  version: 1
  routeHint: number
  overspeed: RuleSnapshot | null
  route: RuleSnapshot | null
  drift: RuleSnapshot | null
  nightBans: Array<RuleSnapshot | null> | null
  alarms: AlarmSnapshot | null
}

/** A version-1 checkpoint in the version-2 shape (the same states, gathered by type). */
function fromV1(old: SnapshotV1): VehicleSnapshot {
  const { routeHint, overspeed, route, drift, nightBans, alarms, version: _v, ...rest } = old
  const rules: Record<string, unknown> = {}
  if (overspeed) rules.OVERSPEED = overspeed
  if (route || routeHint) rules.ROUTE_DEVIATION = { rule: route, hint: routeHint }
  if (drift) rules.POSITION_DRIFT = drift
  if (alarms) rules.TERMINAL_ALARM = alarms
  if (nightBans) rules.NIGHT_DRIVING_RESTRICTED = nightBans
  return { ...rest, version: SNAPSHOT_VERSION, rules }
}

/** What a timed rule holds besides its fields: constructor wiring, not state. */
const WIRING = new Set(['sink', 'cfg', 'timer', 'handle', 'type', 'index', 'window'])

interface TimedLike<H> {
  timer: object
  handle: H | null
}

export function snapshotRule<H>(rule: TimedLike<H>, indexOf: (h: H) => number): RuleSnapshot {
  const fields: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(rule)) if (!WIRING.has(k)) fields[k] = v
  const timer: Record<string, number | boolean> = {}
  for (const [k, v] of Object.entries(rule.timer)) if (typeof v === 'number' || typeof v === 'boolean') timer[k] = v
  return { timer, handle: rule.handle === null ? -1 : indexOf(rule.handle), fields }
}

/** Gives a freshly constructed rule its state back. */
export function restoreRule<H, R extends TimedLike<H>>(rule: R, s: RuleSnapshot, handleAt: (i: number) => H | null): R {
  Object.assign(rule, s.fields)
  // minMs/mergeMs/gapMs come from the configuration in force, not from the checkpoint
  const { minMs: _a, mergeMs: _b, gapMs: _c, ...timer } = s.timer
  Object.assign(rule.timer, timer)
  rule.handle = s.handle >= 0 ? handleAt(s.handle) : null
  return rule
}

const TAG = '\u0000n:'

/** JSON with NaN and ±Infinity kept. */
export function encodeSnapshot(s: VehicleSnapshot): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? TAG + String(v) : v))
}

/** The inverse of encodeSnapshot; null for another version or what does not parse. */
export function decodeSnapshot(text: string): VehicleSnapshot | null {
  let raw: { version?: unknown; id?: unknown; rules?: unknown } | null
  try {
    raw = JSON.parse(text) as typeof raw
  } catch {
    return null
  }
  if (!raw || typeof raw !== 'object' || !Number.isSafeInteger(raw.id)) return null
  let s: VehicleSnapshot
  if (raw.version === 1) s = fromV1(raw as SnapshotV1)
  else if (raw.version === SNAPSHOT_VERSION && raw.rules && typeof raw.rules === 'object') s = raw as VehicleSnapshot
  else return null
  // a walk afterwards: JSON.parse with a reviver cost 5x the parse itself (bench/RESULTS.md, 2026-12-05)
  untag(s as unknown as Record<string, unknown>)
  return s
}

function untag(o: Record<string, unknown> | unknown[]): void {
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const v = o[i]
      if (typeof v === 'string') {
        if (v.startsWith(TAG)) o[i] = Number(v.slice(TAG.length))
      } else if (v !== null && typeof v === 'object') untag(v as Record<string, unknown>)
    }
    return
  }
  for (const k in o) {
    const v = o[k]
    if (typeof v === 'string') {
      if (v.startsWith(TAG)) o[k] = Number(v.slice(TAG.length))
    } else if (v !== null && typeof v === 'object') untag(v as Record<string, unknown>)
  }
}
