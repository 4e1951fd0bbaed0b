/**
 * Gateway metrics on a prom-client registry passed in (the API serves /metrics from it).
 * Label values are bounded: message ids neither handled (HANDLERS) nor in the codec's table
 * count as "other", so a terminal sending random ids cannot grow the label set.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { CODECS, hexId } from '../../protocol/index.js'
import { metricGetter } from '../metrics.js'
import { HANDLERS } from './handlers/index.js'

export interface GatewayMetrics {
  connections: Gauge
  /** descriptors of the terminal port this process accepts on */
  acceptLanes: Gauge
  connectionsTotal: Counter
  sessions: Gauge
  frames: Counter<'msg_id'>
  badFrames: Counter<'code'>
  authFailures: Counter<'reason'>
  registrations: Counter<'result'>
  refusedBeforeAuth: Counter<'msg_id'>
  handlerFailures: Counter<'msg_id'>
  acks: Counter<'msg_id' | 'result'>
  acksWithheld: Counter<'reason'>
  positionsRejected: Counter<'reason'>
  commandOutcomes: Counter<'status' | 'route'>
  connectionsClosed: Counter<'reason'>
  archiveDropped: Counter
  sessionEventsDropped: Counter
  alarmTransitionsDropped: Counter
  pausedByPressure: Counter
  admissionSkipped: Counter
  /** where a registration/authentication spends its time: accepted → handled, admission line, registry + state */
  handshake: Histogram<'stage'>
  /** Per-frame counting without building label objects on the hot path. */
  frameReceived(msgId: number): void
  generalReplySent(result: number): void
}

/**
 * The msg_id label of every id with one of its own: the ids the gateway handles and the ids the
 * codec knows, both read from their tables so the set cannot drift from them.
 */
const MSG_ID_LABELS: ReadonlyMap<number, string> = new Map([...HANDLERS.keys(), ...Object.keys(CODECS).map(Number)].map((id) => [id, '0x' + hexId(id)]))

export function msgIdLabel(id: number): string {
  return MSG_ID_LABELS.get(id) ?? 'other'
}

/**
 * Counts that change once per frame are kept as plain numbers and added to their prom-client
 * counter when it is scraped (its `collect`): a labelled inc() hashes its labels every time,
 * which at 50,000 reports/s was ~3 % of the gateway's CPU. Gateways sharing a registry each
 * register their own flush on the shared counter.
 */
const FLUSHES = Symbol('jt808.pendingFlushes')
type Flushable = { [FLUSHES]?: Array<() => void> }

function onCollect(counter: Counter<string>, flush: () => void): void {
  const c = counter as Counter<string> & Flushable
  ;(c[FLUSHES] ??= []).push(flush)
}

/** The collect hook of a per-frame counter: runs every flush registered on it. */
function collectPending(this: Counter<string>): void {
  for (const flush of (this as Counter<string> & Flushable)[FLUSHES] ?? []) flush()
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const metrics = createMetrics(registry)
  // frames by message id (label "other" for ids outside the table), replies by result
  const framesPending = new Map<number, number>()
  const repliesPending = new Float64Array(256)
  onCollect(metrics.frames, () => {
    const byLabel = new Map<string, number>()
    for (const [id, n] of framesPending) {
      const label = msgIdLabel(id)
      byLabel.set(label, (byLabel.get(label) ?? 0) + n)
    }
    framesPending.clear()
    for (const [label, n] of byLabel) metrics.frames.inc({ msg_id: label }, n)
  })
  onCollect(metrics.acks, () => {
    for (const [result, n] of repliesPending.entries()) if (n) metrics.acks.inc({ msg_id: '0x8001', result: String(result) }, n)
    repliesPending.fill(0)
  })
  metrics.frameReceived = (msgId) => {
    // bounded: at most 65,536 ids, and flushed (cleared) at every scrape
    framesPending.set(msgId, (framesPending.get(msgId) ?? 0) + 1)
  }
  metrics.generalReplySent = (result) => {
    repliesPending[result & 0xff]!++
  }
  return metrics
}

function createMetrics(registry: Registry): GatewayMetrics {
  const registers = [registry]
  // Several gateways in one process (tests) may share a registry: reuse what is there.
  const get = metricGetter(registry)
  return {
    connections: get('jt808_connections', () => new Gauge({ name: 'jt808_connections', help: 'Open terminal TCP connections', registers })),
    acceptLanes: get(
      'jt808_accept_lanes',
      () => new Gauge({ name: 'jt808_accept_lanes', help: 'Descriptors of the terminal port this process accepts on (one connection each per event-loop turn)', registers }),
    ),
    connectionsTotal: get('jt808_connections_total', () => new Counter({ name: 'jt808_connections_total', help: 'Terminal TCP connections accepted', registers })),
    sessions: get('jt808_sessions', () => new Gauge({ name: 'jt808_sessions', help: 'Authenticated terminal sessions on this process', registers })),
    frames: get('jt808_frames_total', () => new Counter({ name: 'jt808_frames_total', help: 'Decoded frames received, by message id', labelNames: ['msg_id'], registers, collect: collectPending })),
    badFrames: get('jt808_bad_frames_total', () => new Counter({ name: 'jt808_bad_frames_total', help: 'Frames that failed to decode, by error code', labelNames: ['code'], registers })),
    authFailures: get('jt808_auth_failures_total', () => new Counter({ name: 'jt808_auth_failures_total', help: 'Failed 0x0102 authentications', labelNames: ['reason'], registers })),
    registrations: get('jt808_registrations_total', () => new Counter({ name: 'jt808_registrations_total', help: '0x0100 registrations by 0x8100 result', labelNames: ['result'], registers })),
    refusedBeforeAuth: get(
      'jt808_refused_before_auth_total',
      () => new Counter({ name: 'jt808_refused_before_auth_total', help: 'Messages refused because the terminal had not authenticated (not stored)', labelNames: ['msg_id'], registers }),
    ),
    handlerFailures: get(
      'jt808_handler_failures_total',
      () => new Counter({ name: 'jt808_handler_failures_total', help: 'Messages whose handler failed (answered 0x8001 failure unless a terminal reply)', labelNames: ['msg_id'], registers }),
    ),
    acks: get(
      'jt808_acks_total',
      () =>
        new Counter({
          name: 'jt808_acks_total',
          help: 'Platform replies (0x8001/0x8100/0x8800/0x8004) written, by id and result',
          labelNames: ['msg_id', 'result'],
          registers,
          collect: collectPending,
        }),
    ),
    acksWithheld: get(
      'jt808_acks_withheld_total',
      () => new Counter({ name: 'jt808_acks_withheld_total', help: 'Messages left unacknowledged so the terminal retransmits (not committed, connection gone)', labelNames: ['reason'], registers }),
    ),
    positionsRejected: get('jt808_positions_rejected_total', () => new Counter({ name: 'jt808_positions_rejected_total', help: 'Positions not stored, by reason', labelNames: ['reason'], registers })),
    commandOutcomes: get('jt808_command_outcomes_total', () => new Counter({ name: 'jt808_command_outcomes_total', help: 'Downlink command outcomes', labelNames: ['status', 'route'], registers })),
    connectionsClosed: get('jt808_connections_closed_total', () => new Counter({ name: 'jt808_connections_closed_total', help: 'Connections closed, by reason', labelNames: ['reason'], registers })),
    archiveDropped: get(
      'jt808_raw_archive_dropped_total',
      () => new Counter({ name: 'jt808_raw_archive_dropped_total', help: 'Raw frames not archived because the archive writer fell behind or failed', registers }),
    ),
    sessionEventsDropped: get(
      'jt808_session_events_dropped_total',
      () => new Counter({ name: 'jt808_session_events_dropped_total', help: 'Online/offline events not recorded (store failure or writer backlog full)', registers }),
    ),
    alarmTransitionsDropped: get(
      'jt808_alarm_transitions_dropped_total',
      () => new Counter({ name: 'jt808_alarm_transitions_dropped_total', help: 'Alarm transitions not recorded because the writer backlog was full', registers }),
    ),
    pausedByPressure: get(
      'jt808_ingest_pressure_pauses_total',
      () => new Counter({ name: 'jt808_ingest_pressure_pauses_total', help: 'Times socket reading stopped because the ingest queue was above its high-water mark', registers }),
    ),
    admissionSkipped: get(
      'jt808_admission_skipped_total',
      () => new Counter({ name: 'jt808_admission_skipped_total', help: 'Registrations/authentications not run: the terminal closed its connection while waiting in the admission line', registers }),
    ),
    handshake: get(
      'jt808_handshake_seconds',
      () =>
        new Histogram({
          name: 'jt808_handshake_seconds',
          help: 'Registration/authentication time by stage: accepted (connection accepted → its first handshake frame handled), line (waiting for admission), run (registry and session state)',
          labelNames: ['stage'],
          buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30],
          registers,
        }),
    ),
    frameReceived: () => undefined,
    generalReplySent: () => undefined,
  }
}
