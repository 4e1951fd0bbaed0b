/** JT/T 809 link metrics, labelled by link (the access code) — a handful of platforms, not thousands. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { metricGetter } from '../metrics.js'

export interface PlatformMetrics {
  framesIn: Counter<'link' | 'kind'>
  framesOut: Counter<'link' | 'kind'>
  badFrames: Counter<'link' | 'code'>
  quirks: Counter<'link' | 'quirk'>
  logins: Counter<'link' | 'result'>
  positionsIn: Counter<'link' | 'msg'>
  positionsRefused: Counter<'link' | 'reason'>
  latePositions: Counter<'link'>
  lateness: Histogram<'link'>
  positionsOut: Counter<'link' | 'msg'>
  alarmsIn: Counter<'link'>
  alarmsOut: Counter<'link'>
  waybillsIn: Counter<'link' | 'result'>
  waybillsOut: Counter<'link'>
  registrationsIn: Counter<'link' | 'result'>
  registrationsOut: Counter<'link'>
  staticInfoIn: Counter<'link' | 'result'>
  staticInfoOut: Counter<'link'>
  alarmResultsIn: Counter<'link' | 'result'>
  alarmResultsOut: Counter<'link'>
  alarmNoticesIn: Counter<'link' | 'type'>
  linkUp: Gauge<'link' | 'role' | 'kind'>
  backlogRows: Gauge<'link'>
  backlogAgeSeconds: Gauge<'link'>
}

export function createPlatformMetrics(registry: Registry): PlatformMetrics {
  const registers = [registry]
  const get = metricGetter(registry)
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => get(name, () => new Counter<L>({ name, help, labelNames, registers }))
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) => get(name, () => new Gauge<L>({ name, help, labelNames, registers }))
  return {
    framesIn: counter('jt808_platform_frames_in_total', '809 frames received, by link (access code) and main/sub', ['link', 'kind']),
    framesOut: counter('jt808_platform_frames_out_total', '809 frames sent, by link and main/sub', ['link', 'kind']),
    badFrames: counter('jt808_platform_bad_frames_total', '809 frames that did not decode, by link and error code', ['link', 'code']),
    quirks: counter('jt808_platform_quirks_total', 'Sender deviations tolerated while decoding, by link and quirk', ['link', 'quirk']),
    logins: counter('jt808_platform_logins_total', 'Main-link logins by result (0 ok, 1 address, 2 access code, 3 user, 4 password, 5 resources, 6 other)', ['link', 'result']),
    positionsIn: counter('jt808_platform_positions_in_total', 'Positions received from lower platforms, by link and message (0x1202, 0x1203)', ['link', 'msg']),
    positionsRefused: counter('jt808_platform_positions_refused_total', 'Positions from lower platforms not taken in, by reason', ['link', 'reason']),
    latePositions: counter('jt808_platform_late_positions_total', 'Positions that arrived late (0x1203 history, or a 0x1202 more than 60 s old)', ['link']),
    lateness: get(
      'jt808_platform_position_delay_seconds',
      () =>
        new Histogram({
          name: 'jt808_platform_position_delay_seconds',
          help: 'Receive time minus device time of platform positions, by link',
          labelNames: ['link'],
          buckets: [1, 5, 30, 60, 300, 1800, 3600, 6 * 3600, 86400, 7 * 86400],
          registers,
        }),
    ),
    alarmsIn: counter('jt808_platform_alarms_in_total', '0x1402 alarm reports recorded as anomalies, by link', ['link']),
    alarmsOut: counter('jt808_platform_alarms_out_total', 'Anomalies (terminal alarm bits among them) sent to superiors as 0x1402, by link', ['link']),
    waybillsIn: counter(
      'jt808_platform_waybills_in_total',
      'Waybills (0x120D, 0x120B) from lower platforms, by result: matched (stored, used for matching), text (kept as text), invalid (structured, did not validate), or the refusal reason',
      ['link', 'result'],
    ),
    waybillsOut: counter('jt808_platform_waybills_out_total', 'Waybills sent to superiors (0x120D, 0x120B), by link', ['link']),
    registrationsIn: counter(
      'jt808_platform_registrations_in_total',
      'Vehicle registrations (0x1201) from lower platforms, by result: stored, or the refusal reason (unknown_vehicle, foreign_enterprise)',
      ['link', 'result'],
    ),
    registrationsOut: counter('jt808_platform_registrations_out_total', 'Vehicle registrations (0x1201) sent to superiors, by link', ['link']),
    staticInfoIn: counter('jt808_platform_static_info_in_total', 'Static vehicle information (0x1601) from lower platforms, by result: stored, or the refusal reason', ['link', 'result']),
    staticInfoOut: counter('jt808_platform_static_info_out_total', "Answers (0x1601) to superiors' static information requests (0x9601), by link", ['link']),
    alarmResultsIn: counter('jt808_platform_alarm_results_in_total', 'Alarm handling results (2011 0x1403, 2019 0x1412) from lower platforms, by result: matched (an anomaly of ours) or unmatched', [
      'link',
      'result',
    ]),
    alarmResultsOut: counter('jt808_platform_alarm_results_out_total', 'Handling results of anomalies sent to superiors (2011 0x1403, 2019 0x1412), by link', ['link']),
    alarmNoticesIn: counter(
      'jt808_platform_alarm_notices_in_total',
      "Alarm notices recorded: a superior's 0x9402 forecast and 0x9403 alarm, a lower platform's 2019 0x1403 forecast, by link and type",
      ['link', 'type'],
    ),
    positionsOut: counter('jt808_platform_positions_out_total', 'Positions forwarded to superior platforms, by link and message', ['link', 'msg']),
    linkUp: gauge('jt808_platform_link_up', '1 when the link is up (logged in), by link, role and main/sub', ['link', 'role', 'kind']),
    backlogRows: gauge('jt808_platform_backlog_rows', 'Positions not yet forwarded to a superior (counted when the link comes back)', ['link']),
    backlogAgeSeconds: gauge('jt808_platform_backlog_age_seconds', 'Age of the oldest position not yet forwarded to a superior', ['link']),
  }
}
