/**
 * Gateway metrics on a prom-client registry passed in (the API serves /metrics from it).
 * Label values are bounded: message ids outside the known table count as "other", so a
 * terminal sending random ids cannot grow the label set.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { metricGetter } from '../metrics.js'
import { isKnownMsgId } from '../../protocol/messages/index.js'

export interface GatewayMetrics {
  connections: Gauge
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
  /** Per-frame counting without building label objects on the hot path. */
  frameReceived(msgId: number): void
  generalReplySent(result: number): void
}

/** Ids the gateway handles (labelled by their hex); everything else is "other". */
const HANDLED_IDS = new Set([
  0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0100, 0x0102, 0x0104, 0x0107, 0x0108, 0x0200, 0x0201, 0x0500, 0x0701, 0x0702, 0x0704,
  0x0800, 0x0801, 0x0802, 0x0805, 0x0900, 0x0302,
])

export function msgIdLabel(id: number): string {
  return HANDLED_IDS.has(id) || isKnownMsgId(id) ? '0x' + id.toString(16).padStart(4, '0') : 'other'
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
    repliesPending.forEach((n, result) => n && metrics.acks.inc({ msg_id: '0x8001', result: String(result) }, n))
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
    connectionsTotal: get('jt808_connections_total', () => new Counter({ name: 'jt808_connections_total', help: 'Terminal TCP connections accepted', registers })),
    sessions: get('jt808_sessions', () => new Gauge({ name: 'jt808_sessions', help: 'Authenticated terminal sessions on this process', registers })),
    frames: get('jt808_frames_total', () => new Counter({ name: 'jt808_frames_total', help: 'Decoded frames received, by message id', labelNames: ['msg_id'], registers, collect: collectPending })),
    badFrames: get('jt808_bad_frames_total', () => new Counter({ name: 'jt808_bad_frames_total', help: 'Frames that failed to decode, by error code', labelNames: ['code'], registers })),
    authFailures: get('jt808_auth_failures_total', () => new Counter({ name: 'jt808_auth_failures_total', help: 'Failed 0x0102 authentications', labelNames: ['reason'], registers })),
    registrations: get('jt808_registrations_total', () => new Counter({ name: 'jt808_registrations_total', help: '0x0100 registrations by 0x8100 result', labelNames: ['result'], registers })),
    refusedBeforeAuth: get('jt808_refused_before_auth_total', () => new Counter({ name: 'jt808_refused_before_auth_total', help: 'Messages refused because the terminal had not authenticated (not stored)', labelNames: ['msg_id'], registers })),
    handlerFailures: get('jt808_handler_failures_total', () => new Counter({ name: 'jt808_handler_failures_total', help: 'Messages whose handler failed (answered 0x8001 failure unless a terminal reply)', labelNames: ['msg_id'], registers })),
    acks: get('jt808_acks_total', () => new Counter({ name: 'jt808_acks_total', help: 'Platform replies (0x8001/0x8100/0x8800/0x8004) written, by id and result', labelNames: ['msg_id', 'result'], registers, collect: collectPending })),
    acksWithheld: get('jt808_acks_withheld_total', () => new Counter({ name: 'jt808_acks_withheld_total', help: 'Messages left unacknowledged so the terminal retransmits (not committed, connection gone)', labelNames: ['reason'], registers })),
    positionsRejected: get('jt808_positions_rejected_total', () => new Counter({ name: 'jt808_positions_rejected_total', help: 'Positions not stored, by reason', labelNames: ['reason'], registers })),
    commandOutcomes: get('jt808_command_outcomes_total', () => new Counter({ name: 'jt808_command_outcomes_total', help: 'Downlink command outcomes', labelNames: ['status', 'route'], registers })),
    connectionsClosed: get('jt808_connections_closed_total', () => new Counter({ name: 'jt808_connections_closed_total', help: 'Connections closed, by reason', labelNames: ['reason'], registers })),
    archiveDropped: get('jt808_raw_archive_dropped_total', () => new Counter({ name: 'jt808_raw_archive_dropped_total', help: 'Raw frames not archived because the archive writer fell behind or failed', registers })),
    sessionEventsDropped: get('jt808_session_events_dropped_total', () => new Counter({ name: 'jt808_session_events_dropped_total', help: 'Online/offline events not recorded (store failure or writer backlog full)', registers })),
    alarmTransitionsDropped: get('jt808_alarm_transitions_dropped_total', () => new Counter({ name: 'jt808_alarm_transitions_dropped_total', help: 'Alarm transitions not recorded because the writer backlog was full', registers })),
    pausedByPressure: get('jt808_ingest_pressure_pauses_total', () => new Counter({ name: 'jt808_ingest_pressure_pauses_total', help: 'Times socket reading stopped because the ingest queue was above its high-water mark', registers })),
    frameReceived: () => undefined,
    generalReplySent: () => undefined,
  }
}
