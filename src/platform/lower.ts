/**
 * Lower-platform role: we log in to superior platforms (provincial platform, national exchange,
 * an association's) and forward our committed positions to them over JT/T 809.
 *
 *   main link (we connect)   0x1001 ─▶ 0x1002; link tests 0x1005 every linkTestMs; reconnect with
 *                            backoff (1 s doubling to 60 s, jittered) after any break
 *   sub-link (they connect)  0x9001 with the verify code of our login ─▶ 0x9002 (server.ts routes it)
 *   forwarding               an after-commit consumer (src/pipeline.ts): each committed position of
 *                            the selected vehicles goes up as 0x1202 while the link is live
 *
 * Nothing is lost while a superior is unreachable: the forwarding position is durable (store:
 * platform_forwarding) and only moves when a link test answered after the positions were written
 * proves they arrived (TCP keeps order). After a (re)login the positions committed since that
 * position go up first, as 0x1203 (up to 5 per message, per vehicle), oldest received first, at a
 * bounded rate; then forwarding is live again. While positions flow a link test goes every
 * second, so a break re-sends about a second of them; the catch-up also starts before the
 * confirmed position by the commit lag measured (batches commit concurrently; 5 s after a process
 * start): a superior may see those positions twice, never not at all — 809 platforms deduplicate
 * on vehicle and time.
 *
 * Anomalies of the selected vehicles (0x1402, WARN_TYPE by warn-types.ts; terminal alarm bits
 * are TERMINAL_ALARM anomalies, one per bit) and their waybills when created or changed (0x120D)
 * go through a durable outbox (store: platform_outbox): filled from the anomalies and waybills
 * tables every outboxMs whatever the link, sent while live, confirmed by the next answered link
 * test like positions; what is unconfirmed when a link breaks goes up after the reconnection.
 * A superior's 0x920B waybill request is answered 0x120B with the vehicle's current waybill.
 * When an anomaly's handling ends here (confirm or dismiss), its result goes up through the same
 * outbox (2011 0x1403 with the report's INFO_ID, 2019 0x1412 with its MSG_SN). Each vehicle's first
 * position on a link after a login is preceded (catching up) or followed (live) by its registration
 * (0x1201: its terminal, from the registry); a superior's 0x9601 is answered 0x1601 with the
 * vehicle's static information (car-info.ts); its alarm notices (0x9402, 0x9403) are recorded.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { isMessage809, type AlarmNotice, type Message809, type PostQuery as PostQuery809, type SupervisionRequest } from '../../protocol/jt809/index.js'
import type { Anomaly, CommittedPosition } from '../domain.js'
import type { CommittedConsumer } from '../ingest/queue.js'
import type { AnomalyStore, ApiStore, RegistryStore, WaybillStore } from '../store/port.js'
import type { PlatformInfoStore } from '../store/platform-info.js'
import type { ForwardCursor, OutboxItem, Platform, PlatformStore, PostQuery as PostQueryRecord } from '../store/platforms.js'
import { hex, Link809, type LinkState } from './link.js'
import type { PlatformMetrics } from './metrics.js'
import { toPosition809 } from './positions.js'
import { WARN_TYPE_NAMES, warnTypeOfAnomaly } from './warn-types.js'
import { waybillToText } from './waybill-text.js'
import { answerSuperiorControl, type SuperiorControlDeps } from './vehicle-commands.js'
import { carInfoText } from './car-info.js'

const PAGE = 2000
/** outbox items sent per pass */
const OUTBOX_PAGE = 100
/** confirmed outbox rows are kept this long */
const OUTBOX_KEEP_MS = 7 * 86_400_000
/**
 * After a process start the catch-up begins this far before the confirmed position: rows of
 * batches that committed after a confirmed one but were received before it (concurrent batches)
 * were not proven delivered. Within a process the rewind is the commit lag measured (below).
 */
const COLD_REWIND_MS = 5_000
/** margin over the measured commit lag */
const REWIND_MARGIN_MS = 250
/** the commit lag (received → taken) is the maximum over two windows of this length */
const LAG_WINDOW_MS = 30_000
/** rows taken while a catch-up page is read; past it the pass re-reads from the oldest one dropped */
const MAX_BUFFERED = 100_000
/** while positions flow, a link test confirms them this often (it bounds what a break re-sends) */
const CONFIRM_MS = 1_000
/** link tests awaiting their answer at most (a superior that stops answering gets no more) */
const MAX_PROBES = 8

export interface LowerRoleDeps {
  store: Pick<
    PlatformStore,
    | 'superiorCredentials'
    | 'getForwardCursor'
    | 'setForwardCursor'
    | 'positionsToForward'
    | 'findPlatformVehicle'
    | 'createPostQuery'
    | 'answerIncomingPostQuery'
    | 'enqueueOutbox'
    | 'pendingOutbox'
    | 'confirmOutbox'
    | 'pruneOutbox'
    | 'markOutboxSent'
    | 'outboxAnomalyMsgSn'
  > &
    Pick<AnomalyStore, 'openAnomalies' | 'getAnomaly'> &
    Pick<WaybillStore, 'getWaybill' | 'activeWaybillFor' | 'lastWaybillFor'> &
    Pick<ApiStore, 'applyHandling' | 'listHandling'> &
    Pick<RegistryStore, 'findVehicle'> &
    Pick<PlatformInfoStore, 'vehicleTerminal' | 'insertPlatformAlarmNotice'>
  metrics: PlatformMetrics
  log: Logger
  now: () => number
  idleMs: number
  /** link test period on the main link (default a third of idleMs, at most 10 s) */
  linkTestMs?: number
  /** backlog positions per second at most */
  backlogRate: number
  /** where superiors open their sub-link to us (our platform server), announced in 0x1001 */
  downlink: () => { ip: string; port: number }
  badFramesBeforeClose: number
  /** minutes an operator has to answer a superior's post query when the query says none (2011) */
  postQueryMinutes: number
  /** how often the outbox (anomalies, waybills) is filled and sent (default 2 s) */
  outboxMs?: number
  connect?: (host: string, port: number) => Socket
  /** a superior's 0x9503 text and 0x9502 photo request reach the vehicle's terminal through this (vehicle-commands.ts) */
  control?: Omit<SuperiorControlDeps, 'log'>
}

export type ForwardState = 'down' | 'logging-in' | 'catching-up' | 'live' | 'stopped'

export interface SuperiorLinkState {
  platformId: number
  name: string
  accessCode: number
  role: 'superior'
  state: ForwardState
  since: number
  main: LinkState | null
  sub: LinkState | null
  lastLoginResult: number | null
  positionsOut: number
  /** positions of the selection committed while the link was not live (this process) */
  backlogRows: number
  backlogOldestAt: number | null
  confirmed: ForwardCursor | null
  /** anomalies and waybills sent up (this process) */
  alarmsOut: number
  waybillsOut: number
  /** outbox rows not yet confirmed (at most one page counted) */
  outboxPending: number
  /** this process: vehicle registrations (0x1201), handling results (0x1403 / 0x1412) sent, alarm notices received */
  registrationsOut: number
  alarmResultsOut: number
  alarmNoticesIn: number
}

const after = (a: ForwardCursor, b: ForwardCursor) =>
  a.receivedAt !== b.receivedAt ? a.receivedAt > b.receivedAt : a.vehicleId !== b.vehicleId ? a.vehicleId > b.vehicleId : a.deviceTime > b.deviceTime
const cursorOf = (r: CommittedPosition): ForwardCursor => ({ receivedAt: r.receivedAt, vehicleId: r.vehicleId, deviceTime: r.deviceTime })
const keyOf = (r: CommittedPosition): string => `${r.receivedAt}:${r.vehicleId}:${r.deviceTime}`

/** One superior platform: its links, and the forwarder that is its consumer of committed batches. */
export class SuperiorLink implements CommittedConsumer {
  readonly name: string
  private main: Link809 | null = null
  private sub: Link809 | null = null
  private state: ForwardState = 'down'
  private since: number
  private verifyCode: number | null = null
  private attempts = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private testTimer: NodeJS.Timeout | null = null
  /** the newest position written to the socket, and the one a link test proved delivered */
  private sent: ForwardCursor | null = null
  private confirmed: ForwardCursor | null = null
  /** link tests sent and not yet answered, oldest first: what each one's answer proves delivered */
  private probes: Array<{ cursor: ForwardCursor | null; outbox: OutboxItem[] | null }> = []
  private probedAt = 0
  /** largest commit lag (received → taken) in the current and the previous window; 0: none measured since the start */
  private lag = { windowStart: 0, current: 0, previous: 0 }
  /** while a catch-up page is read: the rows taken meanwhile, and the oldest dropped past MAX_BUFFERED */
  private pageBuffer: CommittedPosition[] | null = null
  private pageDropped: ForwardCursor | null = null
  /** the catch-up's position: rows taken at or behind it are sent at once, those ahead are read from the store */
  private passCursor: ForwardCursor | null = null
  private vehicleIds = new Set<number>()
  private licences: Set<string>
  private backlogRows = 0
  private backlogOldestAt: number | null = null
  private positionsOut = 0
  private lastLoginResult: number | null = null
  private readonly log: Logger
  private readonly label: string
  private catchUpRun: Promise<void> | null = null
  private outboxTimer: NodeJS.Timeout | null = null
  private outboxRun: Promise<void> | null = null
  /** outbox items written to the link and not yet confirmed; those a pending link test covers */
  private written = new Map<string, OutboxItem>()
  private outboxPending = 0
  private alarmsOut = 0
  private waybillsOut = 0
  private prunedAt = 0
  /** vehicles whose 0x1201 went up (or is going up) on the current login */
  private registered = new Set<number>()
  private registrationsOut = 0
  private alarmResultsOut = 0
  private alarmNoticesIn = 0

  constructor(
    private platform: Platform,
    private readonly deps: LowerRoleDeps,
  ) {
    this.name = `forward:${platform.accessCode}`
    this.label = String(platform.accessCode)
    this.log = deps.log.child({ platform: platform.name, accessCode: platform.accessCode, role: 'superior' })
    this.licences = new Set(platform.enterpriseLicences)
    this.since = deps.now()
  }

  get platformId(): number {
    return this.platform.id
  }

  get accessCode(): number {
    return this.platform.accessCode
  }

  get updatedAt(): number {
    return this.platform.updatedAt
  }

  get encryption(): Platform['encryption'] {
    return this.platform.encryption
  }

  /** Loads the durable position (or starts it now) and the selection, then connects. */
  async start(): Promise<void> {
    const st = this.deps.store
    this.confirmed = await st.getForwardCursor(this.platform.id)
    if (!this.confirmed) {
      this.confirmed = { receivedAt: this.deps.now(), vehicleId: 0, deviceTime: 0 }
      await st.setForwardCursor(this.platform.id, this.confirmed, this.deps.now())
    }
    this.sent = this.confirmed
    await this.resolveSelection()
    // the outbox's scan marks start here (first start: what exists already is not sent)
    await st.enqueueOutbox(this.platform.id, this.selection(), this.deps.now())
    this.connect()
    this.outboxTimer = setInterval(() => this.pumpOutbox(), this.deps.outboxMs ?? 2_000)
    this.outboxTimer.unref()
  }

  /** Settings changed (the manager compares updatedAt): selection now, links at the next login. */
  async update(p: Platform): Promise<void> {
    const relogin =
      p.host !== this.platform.host ||
      p.port !== this.platform.port ||
      p.userId !== this.platform.userId ||
      p.accessCode !== this.platform.accessCode ||
      p.edition !== this.platform.edition ||
      JSON.stringify(p.encryption) !== JSON.stringify(this.platform.encryption)
    this.platform = p
    this.licences = new Set(p.enterpriseLicences)
    await this.resolveSelection()
    if (relogin) this.main?.close('settings changed')
  }

  // ---- the consumer -------------------------------------------------------------------------

  take(rows: CommittedPosition[]): void {
    if (this.state === 'stopped') return
    const now = this.deps.now()
    for (const r of rows) {
      if (!this.selected(r)) continue
      this.measureLag(now - r.receivedAt, now)
      if (this.state === 'live') {
        this.sendPositions(0x1202, r.plate, r.plateColor, [r])
        continue
      }
      this.backlogRows++
      if (this.backlogOldestAt === null || r.receivedAt < this.backlogOldestAt) this.backlogOldestAt = r.receivedAt
      if (this.state !== 'catching-up') continue
      // Catching up: a row at or behind the pass's position (it committed late) will not be read by
      // the pass, so it goes now; while a page is being read, the rows taken meanwhile wait for it.
      if (this.pageBuffer) {
        if (this.pageBuffer.length < MAX_BUFFERED) this.pageBuffer.push(r)
        else {
          const c = cursorOf(r)
          if (!this.pageDropped || after(this.pageDropped, c)) this.pageDropped = c
        }
      } else if (this.passCursor && !after(cursorOf(r), this.passCursor)) this.sendPositions(0x1203, r.plate, r.plateColor, [r])
    }
    this.deps.metrics.backlogRows.set({ link: this.label }, this.backlogRows)
  }

  private measureLag(ms: number, now: number): void {
    const l = this.lag
    if (now - l.windowStart >= LAG_WINDOW_MS) {
      l.previous = now - l.windowStart >= 2 * LAG_WINDOW_MS ? 0 : l.current
      l.current = 0
      l.windowStart = now
    }
    if (ms > l.current) l.current = ms
  }

  /** How far before the confirmed position a catch-up starts: the commit lag seen, or COLD_REWIND_MS before any. */
  private rewindMs(): number {
    const seen = Math.max(this.lag.current, this.lag.previous)
    return seen > 0 ? seen + REWIND_MARGIN_MS : COLD_REWIND_MS
  }

  // ---- links ---------------------------------------------------------------------------------

  private connect(): void {
    if (this.state === 'stopped' || this.main) return
    const p = this.platform
    const d = this.deps
    if (!p.host || !p.port) return
    this.setState('logging-in')
    const socket = (d.connect ?? ((host, port) => tcpConnect({ host, port })))(p.host, p.port)
    const link = new Link809({
      socket,
      kind: 'main',
      accessCode: p.accessCode,
      edition: p.edition,
      encryption: p.encryption,
      log: this.log.child({ link: 'main' }),
      metrics: d.metrics,
      now: d.now,
      idleMs: d.idleMs,
      badFramesBeforeClose: d.badFramesBeforeClose,
      onMessage: (m) => this.onMain(m),
      onClose: (_l, reason) => this.onMainClosed(link, reason),
    })
    this.main = link
    socket.once('connect', () => void this.login(link))
  }

  private async login(link: Link809): Promise<void> {
    const creds = await this.deps.store.superiorCredentials(this.platform.id).catch(() => null)
    if (!creds) return link.close('no credentials for this superior')
    const down = this.deps.downlink()
    link.send({
      msgId: 0x1001,
      body: {
        userId: this.platform.userId,
        password: creds.password,
        ...(this.platform.edition === 2019 ? { gnssCentreId: this.platform.accessCode } : {}),
        downLinkIp: down.ip,
        downLinkPort: down.port,
      },
    })
  }

  private onMain(m: Message809): void {
    const link = this.main
    if (!link) return
    switch (m.msgId) {
      case 0x1002:
        if (!isMessage809(m, 0x1002)) return
        this.lastLoginResult = m.body.result
        this.deps.metrics.logins.inc({ link: this.label, result: String(m.body.result) })
        if (m.body.result !== 0) {
          this.log.warn({ result: m.body.result }, 'superior platform refused our login')
          link.close(`login refused (${m.body.result})`)
          return
        }
        this.verifyCode = m.body.verifyCode
        this.attempts = 0
        this.registered.clear()
        this.deps.metrics.linkUp.set({ link: this.label, role: 'superior', kind: 'main' }, 1)
        this.log.info('logged in to the superior platform')
        this.startLinkTests(link)
        this.catchUpRun = this.catchUp().catch((err: unknown) => {
          this.log.error({ err }, 'backlog to the superior failed; reconnecting')
          link.close('backlog failed')
        })
        return
      case 0x1006: {
        // answers come in the order the tests went (one TCP stream): this one proves the oldest
        const probe = this.probes.shift()
        if (probe?.cursor) this.confirm(probe.cursor)
        if (probe?.outbox) this.confirmOutbox(probe.outbox)
        return
      }
      case 0x1004:
        return
      case 0x9005:
        link.send({ msgId: 0x9006, body: {} })
        return
      default:
        this.business(m)
    }
  }

  private onMainClosed(link: Link809, reason: string): void {
    if (this.main !== link) return
    this.main = null
    this.verifyCode = null
    this.probes = []
    // outbox items written since the last confirmation are still unconfirmed in the store: sent again
    this.written.clear()
    this.registered.clear()
    if (this.testTimer) clearInterval(this.testTimer)
    this.testTimer = null
    this.sub?.close('main link down')
    this.deps.metrics.linkUp.set({ link: this.label, role: 'superior', kind: 'main' }, 0)
    // What was written since the last confirmation may be lost in the socket: sent again.
    this.sent = this.confirmed
    this.pageBuffer = null
    this.passCursor = null
    if (this.state === 'stopped') return
    this.setState('down')
    const wait = Math.round(Math.min(60_000, 1000 * 2 ** Math.min(this.attempts++, 6)) * (0.8 + 0.4 * Math.random()))
    this.log.info({ reason, retryInMs: wait }, 'superior link down')
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.connect()
    }, wait)
    this.reconnectTimer.unref()
  }

  /** The superior opens its sub-link with our login's verify code (server.ts hands it here). */
  acceptSubLink(link: Link809, verifyCode: number): boolean {
    if (this.verifyCode === null || verifyCode !== this.verifyCode) return false
    this.sub?.close('replaced')
    this.sub = link
    this.deps.metrics.linkUp.set({ link: this.label, role: 'superior', kind: 'sub' }, 1)
    return true
  }

  /** Messages on the sub-link the superior opened. */
  handleSub(link: Link809, m: Message809): void {
    if (m.msgId === 0x9005) link.send({ msgId: 0x9006, body: {} })
    else if (m.msgId === 0x9003) {
      link.send({ msgId: 0x9004, body: {} })
      link.close('sub-link logout')
    } else this.business(m)
  }

  /** What a superior asks of us, on either link. */
  private business(m: Message809): void {
    if (m.msgId === 0x9300 && isMessage809(m, 0x9300) && m.body.dataType === 0x9301) {
      const q = m.body.data as PostQuery809
      const now = this.deps.now()
      const minutes = q.answerMinutes || this.deps.postQueryMinutes
      void this.deps.store
        .createPostQuery({
          platformId: this.platform.id,
          direction: 'in',
          infoId: q.infoId,
          msgSn: m.sn,
          objectType: q.objectType,
          objectId: q.objectId,
          question: q.content,
          askedBy: null,
          sentAt: now,
          deadlineAt: now + minutes * 60_000,
        })
        .then((r) => this.log.info({ postQuery: r.id, infoId: q.infoId }, 'post query from the superior: waiting for an operator'))
        .catch((err: unknown) => this.log.error({ err }, 'post query from the superior not recorded'))
      return
    }
    if (m.msgId === 0x9200 && isMessage809(m, 0x9200) && m.body.dataType === 0x920b) {
      void this.waybillRequest(m.body.plate ?? '', m.body.plateColor ?? 0, m.sn).catch((err: unknown) => this.log.error({ err }, '0x920B waybill request not answered'))
      return
    }
    if (m.msgId === 0x9400 && isMessage809(m, 0x9400) && m.body.dataType === 0x9401) {
      void this.supervision(m.body.plate, m.body.plateColor, m.body.data as SupervisionRequest, m.sn).catch((err: unknown) => this.log.error({ err }, '督办 from the superior not recorded'))
      return
    }
    if (m.msgId === 0x9400 && isMessage809(m, 0x9400) && (m.body.dataType === 0x9402 || m.body.dataType === 0x9403)) {
      const n = m.body.data as Partial<AlarmNotice>
      if (typeof n.warnType !== 'number') return // a body that did not fit its layout (kept raw by the codec)
      void this.notice(m.body.dataType, m.body.plate, m.body.plateColor, n as AlarmNotice, m.sn).catch((err: unknown) => this.log.error({ err }, 'alarm notice from the superior not recorded'))
      return
    }
    if (m.msgId === 0x9600 && isMessage809(m, 0x9600) && m.body.dataType === 0x9601) {
      void this.staticInfoRequest(m.body.plate ?? '', m.body.plateColor ?? 0, m.sn).catch((err: unknown) => this.log.error({ err }, '0x9601 static information request not answered'))
      return
    }
    if (m.msgId === 0x9500 && isMessage809(m, 0x9500) && this.deps.control) {
      const edition = this.platform.edition
      void answerSuperiorControl({ ...this.deps.control, log: this.log }, edition, m, (body) => this.main?.send({ msgId: 0x1500, body })).catch((err: unknown) =>
        this.log.error({ err }, 'control request from the superior not answered'),
      )
      return
    }
    if (this.log.isLevelEnabled('debug')) this.log.debug({ msgId: hex(m.msgId) }, '809 message from the superior not handled')
  }

  /**
   * 督办 from the superior (0x9401): recorded as a "notify" step on the vehicle's open anomaly
   * nearest to WARN_TIME (the vehicle named by the 2011 envelope; a 2019 request names none and
   * is only logged), answered 0x1401 "handling" (0). Result 1 (done) is not sent yet.
   */
  private async supervision(plate: string | undefined, plateColor: number | undefined, r: SupervisionRequest, sn: number): Promise<void> {
    const v = plate ? await this.deps.store.findPlatformVehicle(plate.trim(), plateColor ?? 0) : null
    const open = v ? await this.deps.store.openAnomalies([v.id]) : []
    const at = r.warnTime * 1000
    const nearest = open.sort((a, b) => Math.abs(a.startedAt - at) - Math.abs(b.startedAt - at))[0]
    if (nearest) {
      const until = new Date(r.supervisionEndTime * 1000).toISOString()
      await this.deps.store.applyHandling(
        {
          anomalyId: nearest.id,
          action: 'notify',
          note: `督办 ${r.supervisionId} from ${this.platform.name}: level ${r.supervisionLevel === 0 ? 'urgent' : 'normal'}, answer by ${until}, supervisor ${r.supervisor.trim()} ${r.supervisorTel.trim()}`,
          tokenId: null,
          role: null,
          enterpriseLicenseNo: null,
          at: this.deps.now(),
        },
        (current) => current !== 'confirm' && current !== 'dismiss',
      )
    }
    this.log.info({ supervisionId: r.supervisionId, plate, anomaly: nearest?.id ?? null }, '督办 from the superior')
    const source = this.platform.edition === 2019 ? { sourceDataType: 0x9401, sourceMsgSn: sn } : {}
    this.main?.send({ msgId: 0x1400, body: { plate: plate ?? '', plateColor: plateColor ?? 0, dataType: 0x1401, data: { supervisionId: r.supervisionId, ...source, result: 0 } } })
  }

  /** An operator's answer to a superior's 查岗 (0x1301 on the main link); false when the link is down. */
  answerPostQuery(q: PostQueryRecord, answer: { content: string; responder: string | null; responderTel: string | null }): boolean {
    const link = this.main
    if (!link || this.verifyCode === null) return false
    const data =
      this.platform.edition === 2019
        ? {
            objectType: q.objectType,
            responder: answer.responder ?? '',
            responderTel: answer.responderTel ?? '',
            objectId: q.objectId,
            sourceDataType: 0x9301,
            sourceMsgSn: q.msgSn,
            content: answer.content,
          }
        : { objectType: q.objectType, objectId: q.objectId, infoId: q.infoId, content: answer.content }
    return link.send({ msgId: 0x1300, body: { dataType: 0x1301, data } })
  }

  subClosed(link: Link809): void {
    if (this.sub !== link) return
    this.sub = null
    this.deps.metrics.linkUp.set({ link: this.label, role: 'superior', kind: 'sub' }, 0)
  }

  /**
   * Link tests keep the link alive (every linkTestMs) and confirm what was written: while positions
   * flow, one goes every CONFIRM_MS (what a break forces us to send again is about that long).
   */
  private startLinkTests(link: Link809): void {
    const every = this.deps.linkTestMs ?? Math.min(10_000, Math.max(1000, Math.floor(this.deps.idleMs / 3)))
    const tick = Math.min(every, CONFIRM_MS)
    this.probedAt = this.deps.now()
    this.testTimer = setInterval(() => {
      const last = this.probes.length ? this.probes[this.probes.length - 1]!.cursor : this.confirmed
      const unconfirmed = this.sent !== null && (last === null || after(this.sent, last))
      if (unconfirmed || this.deps.now() - this.probedAt >= every) this.linkTest(link)
    }, tick)
    this.testTimer.unref()
  }

  /** A link test whose answer proves everything written before it arrived. */
  linkTest(link = this.main): void {
    if (!link || link.isClosed || this.probes.length >= MAX_PROBES) return
    this.probes.push({ cursor: this.sent, outbox: this.written.size ? [...this.written.values()] : null })
    this.probedAt = this.deps.now()
    link.send({ msgId: 0x1005, body: {} })
  }

  private confirm(c: ForwardCursor): void {
    if (this.confirmed && !after(c, this.confirmed)) return
    this.confirmed = c
    void this.deps.store.setForwardCursor(this.platform.id, c, this.deps.now()).catch((err: unknown) => this.log.error({ err }, 'forwarding position not saved'))
  }

  // ---- forwarding ----------------------------------------------------------------------------

  /**
   * The backlog, as 0x1203, from a little before the confirmed position (rewindMs) up to the
   * present, then live. Rows keep committing meanwhile: one taken while a page is read waits for the
   * page — sent if the page did not hold it and it is behind the pass (it committed late), left to
   * the next page if ahead; one taken between pages goes at once if behind the pass. When a page
   * comes back short the store holds nothing further, and the state turns live in the same turn of
   * the event loop: no row falls between the pass and live forwarding, and none goes twice but
   * those of the rewind and those written after the last confirmation before the break.
   */
  private async catchUp(): Promise<void> {
    this.setState('catching-up')
    const d = this.deps
    let cursor: ForwardCursor = { receivedAt: this.confirmed!.receivedAt - this.rewindMs(), vehicleId: 0, deviceTime: 0 }
    this.passCursor = cursor
    for (;;) {
      if (this.state !== 'catching-up' || !this.main) return
      this.pageBuffer = []
      this.pageDropped = null
      let page: CommittedPosition[]
      try {
        page = await d.store.positionsToForward({ enterpriseLicences: [...this.licences], vehicleIds: [...this.vehicleIds] }, cursor, cursor.receivedAt, PAGE)
        // a vehicle new on this login: its registration (0x1201) before its first positions, sent
        // while rows taken meanwhile still wait for this page
        const firstOf = new Map<number, CommittedPosition>()
        for (const r of page) if (!firstOf.has(r.vehicleId)) firstOf.set(r.vehicleId, r)
        await Promise.all([...firstOf.values()].map((r) => this.register(r)))
      } finally {
        if (this.state !== 'catching-up' || !this.main) this.pageBuffer = null
      }
      if (this.state !== 'catching-up' || !this.main) return
      const taken = this.pageBuffer ?? []
      const dropped = this.pageDropped as ForwardCursor | null
      this.pageBuffer = null
      this.pageDropped = null
      // per vehicle, in received order, up to 5 positions per 0x1203
      this.sendHistory(page)
      if (page.length) cursor = cursorOf(page[page.length - 1]!)
      let end = page.length < PAGE
      if (dropped && !after(dropped, cursor)) {
        // rows behind the pass were not kept (past MAX_BUFFERED): read again from the oldest of them
        cursor = { ...dropped, deviceTime: dropped.deviceTime - 1 }
        end = false
      }
      this.passCursor = cursor
      const inPage = new Set(page.map(keyOf))
      this.sendHistory(taken.filter((r) => !inPage.has(keyOf(r)) && (end || !after(cursorOf(r), cursor))))
      if (end) break
      await new Promise((r) => setTimeout(r, Math.ceil((page.length / d.backlogRate) * 1000)))
    }
    this.passCursor = null
    this.setState('live')
    this.backlogRows = 0
    this.backlogOldestAt = null
    d.metrics.backlogRows.set({ link: this.label }, 0)
    d.metrics.backlogAgeSeconds.set({ link: this.label }, 0)
    this.linkTest()
    this.log.info('backlog delivered; forwarding live')
  }

  /** Rows as 0x1203: per vehicle, in the order given, up to 5 positions a message. */
  private sendHistory(rows: CommittedPosition[]): void {
    const byVehicle = new Map<number, CommittedPosition[]>()
    for (const r of rows) {
      const list = byVehicle.get(r.vehicleId)
      if (list) list.push(r)
      else byVehicle.set(r.vehicleId, [r])
    }
    for (const list of byVehicle.values()) {
      for (let i = 0; i < list.length; i += 5) {
        const chunk = list.slice(i, i + 5)
        this.sendPositions(0x1203, chunk[0]!.plate, chunk[0]!.plateColor, chunk)
      }
    }
  }

  private sendPositions(msg: 0x1202 | 0x1203, plate: string, plateColor: number, rows: CommittedPosition[]): void {
    const link = this.main
    if (!link) return
    const edition = this.platform.edition
    const data = msg === 0x1202 ? { position: toPosition809(rows[0]!, edition) } : { positions: rows.map((r) => toPosition809(r, edition)) }
    if (!link.send({ msgId: 0x1200, body: { plate, plateColor, dataType: msg, data } })) return
    // live: the first position of a vehicle on this login is followed by its registration (the position is not held back)
    if (!this.registered.has(rows[0]!.vehicleId)) void this.register(rows[0]!)
    this.positionsOut += rows.length
    this.deps.metrics.positionsOut.inc({ link: this.label, msg: hex(msg) }, rows.length)
    for (const r of rows) {
      const c = cursorOf(r)
      if (!this.sent || after(c, this.sent)) this.sent = c
    }
  }

  // ---- outbox: anomalies (0x1402) and waybills (0x120D) ----------------------------------------

  /** Fills the outbox from the store and, while live, sends what is unconfirmed (one pass at a time). */
  private pumpOutbox(): void {
    if (this.outboxRun || this.state === 'stopped') return
    this.outboxRun = this.outboxPass()
      .catch((err: unknown) => this.log.error({ err }, 'outbox pass failed'))
      .finally(() => (this.outboxRun = null))
  }

  /** One pass; tests call it to skip the timer. */
  async outboxPass(): Promise<void> {
    const st = this.deps.store
    const now = this.deps.now()
    await st.enqueueOutbox(this.platform.id, this.selection(), now)
    if (now - this.prunedAt > 3_600_000) {
      this.prunedAt = now
      await st.pruneOutbox(this.platform.id, now - OUTBOX_KEEP_MS)
    }
    const pending = await st.pendingOutbox(this.platform.id, OUTBOX_PAGE)
    this.outboxPending = pending.length
    if (this.state !== 'live') return
    for (const item of pending) {
      const key = `${item.kind}\u0000${item.ref}\u0000${item.version}`
      if (this.written.has(key)) continue
      const link = this.main
      if (!link || this.state !== 'live') return
      const sent = item.kind === 'anomaly' ? await this.sendAnomaly(item.ref) : item.kind === 'handling' ? await this.sendHandling(item) : await this.sendWaybill(item.ref, 0x120d)
      // gone from the store meanwhile (retention, removal): nothing to send, confirmed as it is
      if (sent === 'gone') await st.confirmOutbox(this.platform.id, [item], this.deps.now())
      else if (sent !== false) {
        // a 2019 handling result names its alarm report by the MSG_SN it went out with
        if (item.kind === 'anomaly' && typeof sent === 'number') await st.markOutboxSent(this.platform.id, item, sent)
        this.written.set(key, item)
      }
    }
  }

  private confirmOutbox(items: OutboxItem[]): void {
    for (const i of items) this.written.delete(`${i.kind}\u0000${i.ref}\u0000${i.version}`)
    void this.deps.store.confirmOutbox(this.platform.id, items, this.deps.now()).catch((err: unknown) => this.log.error({ err }, 'outbox confirmation not saved'))
  }

  /**
   * An anomaly up as 0x1402: WARN_TYPE per warn-types.ts, WARN_TIME its start, WARN_SRC 1 for a
   * terminal's alarm bit else 2 (this enterprise platform judged it); INFO_CONTENT names the anomaly.
   */
  private async sendAnomaly(id: string): Promise<number | false | 'gone'> {
    const a = await this.deps.store.getAnomaly(id)
    if (!a) return 'gone'
    const link = this.main
    if (!link || this.state !== 'live') return false
    const edition = this.platform.edition
    const warnType = warnTypeOfAnomaly(a, edition)
    const warnTime = Math.floor(a.startedAt / 1000)
    const content = anomalyText(a, warnType)
    const data =
      edition === 2019
        ? {
            sourcePlatformId: String(this.platform.accessCode),
            warnType,
            warnTime,
            startTime: warnTime,
            endTime: a.endedAt === null ? 0 : Math.floor(a.endedAt / 1000),
            plate: a.plate,
            plateColor: a.plateColor,
            destinationPlatformId: '',
            drvLineId: 0,
            content,
          }
        : { warnSrc: a.type === 'TERMINAL_ALARM' && typeof a.evidence.bit === 'number' ? 1 : 2, warnType, warnTime, infoId: infoIdOf(a.id), content }
    const sn = link.sendNumbered({ msgId: 0x1400, body: { plate: a.plate, plateColor: a.plateColor, dataType: 0x1402, data } })
    if (sn === null) return false
    this.alarmsOut++
    this.deps.metrics.alarmsOut.inc({ link: this.label })
    return sn
  }

  /**
   * The end of an anomaly's handling here (confirm: 1 handled, dismiss: 2 not handled) up as the
   * handling result of its alarm report: 2011 0x1403 with the report's INFO_ID, 2019 0x1412 naming
   * the report by the MSG_SN it last went out with ('gone' when it never did, or its record is pruned).
   */
  private async sendHandling(item: OutboxItem): Promise<boolean | 'gone'> {
    const st = this.deps.store
    const a = await st.getAnomaly(item.ref)
    const step = a ? (await st.listHandling(a.id)).find((h) => h.id === item.version) : undefined
    if (!a || (step?.action !== 'confirm' && step?.action !== 'dismiss')) return 'gone'
    const result = step.action === 'confirm' ? 1 : 2
    const edition = this.platform.edition
    let body: { plate: string; plateColor: number; dataType: number; data: Record<string, number> }
    if (edition === 2019) {
      const reportSn = await st.outboxAnomalyMsgSn(this.platform.id, a.id)
      if (reportSn === null) {
        this.log.warn({ anomaly: a.id }, 'handling result not sent: its alarm report went out to this superior unrecorded')
        return 'gone'
      }
      body = { plate: a.plate, plateColor: a.plateColor, dataType: 0x1412, data: { sourceDataType: 0x1402, sourceMsgSn: reportSn, result } }
    } else body = { plate: a.plate, plateColor: a.plateColor, dataType: 0x1403, data: { infoId: infoIdOf(a.id), result } }
    const link = this.main
    if (!link || this.state !== 'live') return false
    if (!link.send({ msgId: 0x1400, body })) return false
    this.alarmResultsOut++
    this.deps.metrics.alarmResultsOut.inc({ link: this.label })
    this.log.info({ anomaly: a.id, result, dataType: hex(body.dataType) }, 'alarm handling result sent')
    return true
  }

  /**
   * 0x1201 for a vehicle not yet registered on this login: its terminal as the registry knows it
   * (SIM = its phone, producer and model from its 0x0100 registration, IMEI from a 2019
   * authentication), each cut to its field. A vehicle without a terminal has nothing to register.
   */
  private async register(r: Pick<CommittedPosition, 'vehicleId' | 'plate' | 'plateColor'>): Promise<void> {
    if (this.registered.has(r.vehicleId)) return
    this.registered.add(r.vehicleId)
    const link = this.main
    try {
      const t = await this.deps.store.vehicleTerminal(r.vehicleId)
      if (!t || (!t.phone && !t.terminalId)) return
      if (this.main !== link || !link || link.isClosed) return
      const e2019 = this.platform.edition === 2019
      const data = {
        platformId: fitGbk(String(this.platform.accessCode), 11),
        producerId: fitGbk(t.manufacturer ?? '', 11),
        model: fitGbk(t.model ?? '', e2019 ? 30 : 8),
        ...(e2019 ? { imei: fitGbk(t.imei ?? '', 15) } : {}),
        terminalId: fitGbk(t.terminalId ?? '', e2019 ? 30 : 7),
        simCode: fitGbk(t.phone ?? '', e2019 ? 13 : 12),
      }
      if (!link.send({ msgId: 0x1200, body: { plate: r.plate, plateColor: r.plateColor, dataType: 0x1201, data } })) return
      this.registrationsOut++
      this.deps.metrics.registrationsOut.inc({ link: this.label })
    } catch (err) {
      // tried again at the next login
      this.log.error({ err, vehicleId: r.vehicleId }, '0x1201 registration not sent')
    }
  }

  /**
   * 0x9601: the superior asks for a vehicle's static information; answered 0x1601 (2019: naming the
   * request) with CAR_INFO from the registry and the vehicle's active waybill (car-info.ts), empty
   * when it is not a vehicle we forward.
   */
  private async staticInfoRequest(plate: string, plateColor: number, sn: number): Promise<void> {
    const st = this.deps.store
    const v = plate ? await st.findVehicle(plate.trim(), plateColor) : null
    const forwarded = v !== null && (this.vehicleIds.has(v.id) || (v.enterpriseLicenseNo !== null && this.licences.has(v.enterpriseLicenseNo)))
    const w = forwarded ? await st.activeWaybillFor(v.plate, v.plateColor, this.deps.now(), 0) : null
    const carInfo = forwarded ? carInfoText(v, w) : ''
    const source = this.platform.edition === 2019 ? { sourceDataType: 0x9601, sourceMsgSn: sn } : {}
    if (this.main?.send({ msgId: 0x1600, body: { plate, plateColor, dataType: 0x1601, data: { ...source, carInfo } } })) this.deps.metrics.staticInfoOut.inc({ link: this.label })
    this.log.info({ plate, forwarded }, '0x9601 static information request answered (0x1601)')
  }

  /**
   * 0x9402 (alarm forecast) / 0x9403 (real-time alarm exchanged): recorded as a notice of the vehicle
   * it names (the 2011 envelope's, the 2019 body's) when the registry knows it, with its enterprise
   * (who may see it); no answer is due.
   */
  private async notice(dataType: 0x9402 | 0x9403, envPlate: string | undefined, envColor: number | undefined, n: AlarmNotice, sn: number): Promise<void> {
    const plate = (n.plate ?? envPlate ?? '').trim()
    const plateColor = n.plateColor ?? envColor ?? 0
    const v = plate ? await this.deps.store.findVehicle(plate, plateColor) : null
    const ms = (t: number | undefined) => (t === undefined || t <= 0 ? null : t > 1e11 ? t : t * 1000)
    await this.deps.store.insertPlatformAlarmNotice({
      platformId: this.platform.id,
      dataType,
      msgSn: sn,
      vehicleId: v?.id ?? null,
      plate: v?.plate ?? plate,
      plateColor,
      enterpriseLicenseNo: v?.enterpriseLicenseNo ?? null,
      warnSrc: n.warnSrc ?? null,
      warnType: n.warnType,
      warnTime: ms(n.warnTime),
      startTime: ms(n.startTime),
      endTime: ms(n.endTime),
      sourcePlatformId: n.sourcePlatformId?.trim() || null,
      content: n.content,
      receivedAt: this.deps.now(),
    })
    this.alarmNoticesIn++
    this.deps.metrics.alarmNoticesIn.inc({ link: this.label, type: hex(dataType) })
    this.log.info({ dataType: hex(dataType), plate, warnType: n.warnType }, 'alarm notice from the superior recorded')
  }

  /** A waybill up as 0x120D (or 0x120B answering a request): its fields as JSON text (waybill-text.ts). */
  private async sendWaybill(waybillNo: string, dataType: 0x120d): Promise<boolean | 'gone'> {
    const w = await this.deps.store.getWaybill(waybillNo)
    if (!w) return 'gone'
    const link = this.main
    if (!link || this.state !== 'live') return false
    if (!link.send({ msgId: 0x1200, body: { plate: w.plate, plateColor: w.plateColor, dataType, data: { waybill: waybillToText(w) } } })) return false
    this.waybillsOut++
    this.deps.metrics.waybillsOut.inc({ link: this.label })
    return true
  }

  /**
   * 0x920B: the superior asks for a vehicle's waybill; answered 0x120B with the one active now (else
   * its latest trip), empty EWAYBILL_INFO when it has none or is not a vehicle we forward.
   */
  private async waybillRequest(plate: string, plateColor: number, sn: number): Promise<void> {
    const st = this.deps.store
    const now = this.deps.now()
    const v = plate ? await st.findPlatformVehicle(plate.trim(), plateColor) : null
    const forwarded = v !== null && (this.vehicleIds.has(v.id) || (v.enterpriseLicenseNo !== null && this.licences.has(v.enterpriseLicenseNo)))
    const w = forwarded ? ((await st.activeWaybillFor(plate.trim(), plateColor, now, 86_400_000)) ?? (await st.lastWaybillFor(plate.trim(), plateColor, now))) : null
    const source = this.platform.edition === 2019 ? { sourceDataType: 0x920b, sourceMsgSn: sn } : {}
    if (this.main?.send({ msgId: 0x1200, body: { plate, plateColor, dataType: 0x120b, data: { ...source, waybill: w ? waybillToText(w) : '' } } }) && w)
      this.deps.metrics.waybillsOut.inc({ link: this.label })
    this.log.info({ plate, waybillNo: w?.waybillNo ?? null }, '0x920B waybill request answered (0x120B)')
  }

  private selection(): { enterpriseLicences: string[]; vehicleIds: number[] } {
    return { enterpriseLicences: [...this.licences], vehicleIds: [...this.vehicleIds] }
  }

  private selected(r: CommittedPosition): boolean {
    return this.vehicleIds.has(r.vehicleId) || (r.enterpriseLicenseNo !== null && this.licences.has(r.enterpriseLicenseNo))
  }

  private async resolveSelection(): Promise<void> {
    const ids = new Set<number>()
    for (const v of this.platform.vehicles) {
      const found = await this.deps.store.findPlatformVehicle(v.plate, v.plateColor)
      if (found) ids.add(found.id)
      else this.log.warn({ plate: v.plate, plateColor: v.plateColor }, 'a vehicle to forward is not in the registry')
    }
    this.vehicleIds = ids
  }

  private setState(s: ForwardState): void {
    if (this.state === s) return
    this.state = s
    this.since = this.deps.now()
  }

  states(): SuperiorLinkState {
    const now = this.deps.now()
    if (this.backlogOldestAt !== null) this.deps.metrics.backlogAgeSeconds.set({ link: this.label }, (now - this.backlogOldestAt) / 1000)
    return {
      platformId: this.platform.id,
      name: this.platform.name,
      accessCode: this.platform.accessCode,
      role: 'superior',
      state: this.state,
      since: this.since,
      main: this.main?.state() ?? null,
      sub: this.sub?.state() ?? null,
      lastLoginResult: this.lastLoginResult,
      positionsOut: this.positionsOut,
      backlogRows: this.backlogRows,
      backlogOldestAt: this.backlogOldestAt,
      confirmed: this.confirmed,
      alarmsOut: this.alarmsOut,
      waybillsOut: this.waybillsOut,
      outboxPending: this.outboxPending,
      registrationsOut: this.registrationsOut,
      alarmResultsOut: this.alarmResultsOut,
      alarmNoticesIn: this.alarmNoticesIn,
    }
  }

  /** Stops: a last link test so what was delivered is saved, then the links close. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.setState('stopped')
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.testTimer) clearInterval(this.testTimer)
    if (this.outboxTimer) clearInterval(this.outboxTimer)
    await this.catchUpRun?.catch(() => undefined)
    await this.outboxRun?.catch(() => undefined)
    const link = this.main
    if (link && !link.isClosed && ((this.sent && this.confirmed && after(this.sent, this.confirmed)) || this.written.size)) {
      this.linkTest(link)
      await waitFor(() => this.probes.length === 0 || link.isClosed, 1000)
    }
    this.sub?.close('shutdown')
    link?.close('shutdown')
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
}

/** INFO_CONTENT of an anomaly sent up: what it is, in words a superior's operator can read. */
function anomalyText(a: Anomaly, warnType: number): string {
  const what = WARN_TYPE_NAMES[warnType]?.split(' ')[0] ?? ''
  const detail = a.type === 'TERMINAL_ALARM' && typeof a.evidence.name === 'string' ? ` ${a.evidence.name}` : ''
  return `${what} ${a.type}${detail} (${a.severity}) ${a.id}`.trim()
}

/** text cut to at most `bytes` GBK bytes (a fixed-width 809 field refuses longer text): ASCII 1 byte, anything else 2. */
function fitGbk(text: string, bytes: number): string {
  let n = 0
  let out = ''
  for (const ch of text.trim()) {
    n += ch.charCodeAt(0) < 0x80 ? 1 : 2
    if (n > bytes) break
    out += ch
  }
  return out
}

/** 2011 INFO_ID: a stable 32-bit number from the anomaly id (a re-send carries the same one). */
function infoIdOf(id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h >>> 0
}
