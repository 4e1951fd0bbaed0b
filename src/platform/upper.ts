/**
 * Upper-platform role: lower platforms (enterprise / operator monitoring platforms) log in to us
 * over JT/T 809 and report their vehicles.
 *
 *   main link (they connect)  0x1001 login ─▶ checks: access code known and enabled (else 2),
 *                             source address allowed (1), user id (3), password (4) ─▶ 0x1002
 *                             0x1005 ─▶ 0x1006;  0x1003 ─▶ 0x1004 and close;  idle ─▶ close
 *                             0x1200/0x1202, 0x1203 ─▶ the same ingest queue as terminals
 *   sub-link (we connect to the address announced in 0x1001) 0x9001 verify code ─▶ 0x9002;
 *                             our link tests 0x9005; when it cannot be reached, what we send
 *                             goes on the main link instead (some platforms never open one).
 *
 * A position's vehicle is found by plate and colour in the registry; a vehicle of an enterprise
 * the platform may not report for is refused and counted, an unknown one enrolled or refused by
 * the platform's policy. Rows are deduplicated by the store on vehicle + device time like every
 * other; 809 acknowledges no position, so a lower platform re-sends what it could not deliver as
 * 0x1203 history: taken in late, judged as late data, counted per link with its delay.
 * Waybills (0x120D, and 0x120B answering our 0x920B) are kept as received (platform_waybills)
 * and, where the text parses into our fields (waybill-text.ts), stored as a dispatched waybill the
 * matcher covers the vehicle's positions with. A vehicle's registration (0x1201: its terminal) and
 * static information (0x1601, answering our 0x9601) are kept per platform and vehicle, the latest
 * of each. A handling result (2011 0x1403 by INFO_ID, 2019 0x1412 by the report's MSG_SN) is kept
 * with the anomaly its alarm report became, "handled" entering its history like a 督办's "done";
 * a 2019 0x1403 (an alarm forecast) is kept as a notice.
 */
import { randomInt } from 'node:crypto'
import { connect as tcpConnect, isIPv4, type Socket } from 'node:net'
import type { Logger } from 'pino'
import {
  isMessage809,
  LoginResult,
  type AlarmHandled,
  type AlarmHandledSource,
  type AlarmReport,
  type Message809,
  type Position,
  type PostQueryAnswer,
  type StaticInfo,
  type SupervisionReply,
  type VehicleRegister,
} from '../../protocol/jt809/index.js'
import { ANOMALY_EVENTS_STREAM, samePlate, type Anomaly, type CommittedPosition } from '../domain.js'
import { verifyAuthCode } from '../gateway/auth-code.js'
import type { IngestPort } from '../gateway/types.js'
import type { State } from '../state/port.js'
import type { AnomalyStore, ApiStore, PositionStore, WaybillStore } from '../store/port.js'
import type { Platform, PlatformStore, PlatformVehicle, PlatformWaybill, PostQuery as PostQueryRecord } from '../store/platforms.js'
import { hex, Link809, type LinkState } from './link.js'
import type { PlatformMetrics } from './metrics.js'
import { toCommitted, toPosition809 } from './positions.js'
import { otherWarnType, warnTypeOfAnomaly } from './warn-types.js'
import { readWaybillText } from './waybill-text.js'
import { VehicleCommands, type SentVehicleCommand, type VehicleCommand } from './vehicle-commands.js'
import type { AdminStore } from '../store/admin.js'
import type { PlatformInfoStore } from '../store/platform-info.js'
import { parseCarInfo } from './car-info.js'

/** A 0x1202 whose device time is older than this counts as late too. */
const LATE_MS = 60_000
const VEHICLE_CACHE_MS = 60_000
const VEHICLE_CACHE_MAX = 100_000
/** rows submitted and not yet committed per link before its socket stops reading */
const MAX_PENDING_ROWS = 5_000
/** positions sent at most for one 0x1209 history request */
const HISTORY_MAX = 10_000

export interface UpperRoleDeps {
  store: Pick<
    PlatformStore,
    'findLowerPlatform' | 'findPlatformVehicle' | 'enrolPlatformVehicle' | 'createPostQuery' | 'answerPostQuery' | 'createSupervision' | 'replySupervision' | 'insertPlatformWaybill'
  > &
    Pick<WaybillStore, 'getWaybill' | 'upsertWaybills'> &
    Pick<AnomalyStore, 'getAnomaly' | 'upsertAnomalies'> &
    Pick<ApiStore, 'applyHandling'> &
    Pick<PositionStore, 'track'> &
    Pick<AdminStore, 'createPlatformCommand' | 'platformCommandSent' | 'settlePlatformCommand' | 'recordCommandResult'> &
    Pick<
      PlatformInfoStore,
      'upsertPlatformRegistration' | 'recordStaticInfoRequest' | 'recordStaticInfo' | 'recordPlatformAlarmRef' | 'findPlatformAlarm' | 'insertPlatformAlarmResult' | 'insertPlatformAlarmNotice'
    >
  /** the anomaly feed (0x1402 alarms become anomalies: stored first, then announced) */
  state: Pick<State, 'appendMany'>
  ingest: IngestPort
  metrics: PlatformMetrics
  log: Logger
  now: () => number
  idleMs: number
  badFramesBeforeClose: number
  /** minutes a post query may wait for its answer (when the supervisor gives none) */
  postQueryMinutes: number
  /** opens the sub-link socket (tests may redirect it) */
  connect?: (host: string, port: number) => Socket
  /** a lower platform's session began (true) or ended (false) in this process: serve --workers N tells the primary */
  onHolding?: (platformId: number, held: boolean) => void
}

/** What the API shows of a logged-in lower platform. */
export interface LowerLinkState {
  platformId: number
  name: string
  accessCode: number
  role: 'lower'
  main: LinkState
  sub: LinkState | null
  loggedInAt: number
  positionsIn: number
  positionsRefused: number
  latePositions: number
  maxLatenessMs: number
  waybillsIn: number
}

class LowerSession {
  sub: Link809 | null = null
  subRetry: NodeJS.Timeout | null = null
  subTest: NodeJS.Timeout | null = null
  subAttempts = 0
  pendingRows = 0
  /** the latest record of something sent (查岗, 督办): a reply waits for it (a fast platform answers before it is stored) */
  recording: Promise<unknown> = Promise.resolve()
  /** alarm reports and their handling results, one after the other (a result finds the report recorded before it) */
  alarms: Promise<unknown> = Promise.resolve()
  positionsIn = 0
  positionsRefused = 0
  latePositions = 0
  maxLatenessMs = 0
  waybillsIn = 0
  closed = false
  readonly log: Logger
  constructor(
    readonly platform: Platform,
    readonly main: Link809,
    readonly verifyCode: number,
    readonly loggedInAt: number,
    readonly downlink: { ip: string; port: number },
  ) {
    this.log = main.log
  }
  get label(): string {
    return String(this.platform.accessCode)
  }
}

export class UpperRole {
  private readonly sessions = new Map<number, LowerSession>()
  private readonly byLink = new Map<Link809, LowerSession>()
  private readonly vehicles = new Map<string, { v: PlatformVehicle | null; at: number }>()
  private paused = false
  private readonly alarmsInFlight = new Set<string>()
  private readonly lookups = new Map<string, Promise<PlatformVehicle | null>>()
  private readonly onPressure = () => this.setPaused(true)
  private readonly onDrain = () => this.setPaused(false)
  /** text and photo requests to vehicles through their platform, waiting for the 0x1500 reply */
  private readonly commands: VehicleCommands

  constructor(private readonly deps: UpperRoleDeps) {
    this.commands = new VehicleCommands({ store: deps.store, now: deps.now, log: deps.log })
    deps.ingest.on('pressure', this.onPressure)
    deps.ingest.on('drain', this.onDrain)
  }

  /** A 0x1001 on a link no platform owns yet. `content` is the frame, copied, for a body that came encrypted. */
  async login(link: Link809, m: Message809, content: Buffer, unescaped: boolean): Promise<void> {
    const d = this.deps
    const accessCode = m.gnssCentreId
    link.configure({ accessCode, edition: m.edition })
    const platform = await d.store.findLowerPlatform(accessCode)
    if (platform?.encryption && m.bodyEncrypted) {
      link.configure({ encryption: platform.encryption })
      const again = link.redecode(content, unescaped)
      if (!again.ok) return this.refuse(link, accessCode, LoginResult.OTHER, 'encrypted login does not decode with the platform keys')
      m = again.value.message
    }
    if (!isMessage809(m, 0x1001)) return this.refuse(link, accessCode, LoginResult.OTHER, 'login body not readable')
    if (!platform?.enabled) return this.refuse(link, accessCode, LoginResult.BAD_ACCESS_CODE, 'unknown or disabled access code')
    if (platform.allowedAddresses.length && !platform.allowedAddresses.includes(plainAddress(link.remote))) {
      return this.refuse(link, accessCode, LoginResult.BAD_IP, `source address ${link.remote} not allowed`)
    }
    if (m.body.userId !== platform.userId) return this.refuse(link, accessCode, LoginResult.USER_NOT_REGISTERED, 'user id does not match')
    if (!verifyAuthCode(m.body.password, platform.passwordHash)) return this.refuse(link, accessCode, LoginResult.BAD_PASSWORD, 'wrong password')
    if (link.isClosed) return

    // A platform that logs in again replaces its earlier session (its old link is dead or stale).
    const old = this.sessions.get(platform.id)
    if (old) this.end(old, 'superseded by a new login')
    const verifyCode = randomInt(1, 0xffffffff)
    link.configure({ encryption: platform.encryption, edition: m.edition })
    const session = new LowerSession(platform, link, verifyCode, d.now(), { ip: m.body.downLinkIp.trim(), port: m.body.downLinkPort })
    this.sessions.set(platform.id, session)
    this.byLink.set(link, session)
    d.onHolding?.(platform.id, true)
    link.send({ msgId: 0x1002, body: { result: LoginResult.OK, verifyCode } })
    d.metrics.logins.inc({ link: session.label, result: '0' })
    d.metrics.linkUp.set({ link: session.label, role: 'lower', kind: 'main' }, 1)
    link.log.info({ platform: platform.name, edition: m.edition, downlink: session.downlink }, 'lower platform logged in')
    if (this.paused) link.pause()
    this.openSubLink(session)
  }

  /** Messages on a main link after login. */
  handle(link: Link809, m: Message809): void {
    const s = this.byLink.get(link)
    if (!s) return
    switch (m.msgId) {
      case 0x1005:
        link.send({ msgId: 0x1006, body: {} })
        return
      case 0x1003:
        link.send({ msgId: 0x1004, body: {} })
        this.end(s, 'logout')
        return
      case 0x1007:
      case 0x1008:
        s.log.info({ msgId: hex(m.msgId), body: m.body }, 'lower platform informs of a link problem')
        return
      case 0x1200:
        if (isMessage809(m, 0x1200)) this.exchange(s, m.body, m.sn)
        return
      case 0x1300:
        if (isMessage809(m, 0x1300) && m.body.dataType === 0x1301) {
          const a = m.body.data as PostQueryAnswer
          const match = a.infoId !== undefined ? { infoId: a.infoId } : { msgSn: a.sourceMsgSn }
          void s.recording
            .then(() =>
              this.deps.store.answerPostQuery(s.platform.id, match, { at: this.deps.now(), content: a.content, responder: a.responder?.trim() || null, responderTel: a.responderTel?.trim() || null }),
            )
            .then((q) => (q ? s.log.info({ postQuery: q.id, delayMs: q.answeredAt! - q.sentAt }, 'post query answered') : s.log.warn(match, 'answer to no open post query')))
            .catch((err: unknown) => s.log.error({ err }, 'post query answer not recorded'))
        }
        return
      case 0x1500:
        if (isMessage809(m, 0x1500)) void this.commands.reply(s.platform.id, m.body, s.log)
        return
      case 0x1400:
        if (isMessage809(m, 0x1400) && m.body.dataType === 0x1401) {
          const r = m.body.data as SupervisionReply
          void this.supervisionReply(s, r).catch((err: unknown) => s.log.error({ err }, '0x1401 reply not recorded'))
        } else if (isMessage809(m, 0x1400)) this.warn(s, m.body, m.sn)
        return
      case 0x1600:
        if (isMessage809(m, 0x1600) && m.body.dataType === 0x1601) {
          const { plate, plateColor } = m.body
          const carInfo = (m.body.data as Partial<StaticInfo>).carInfo
          if (typeof carInfo !== 'string') return // a body that did not fit its layout (kept raw by the codec)
          void this.staticInfo(s, plate ?? '', plateColor ?? 0, carInfo).catch((err: unknown) => s.log.error({ err }, '0x1601 static information not recorded'))
        }
        return
      default:
        if (s.log.isLevelEnabled('debug')) s.log.debug({ msgId: hex(m.msgId) }, '809 message not handled')
    }
  }

  /** The main link of a session closed. */
  linkClosed(link: Link809, reason: string): void {
    const s = this.byLink.get(link)
    if (s) this.end(s, reason)
  }

  /** Sends to a lower platform: on its sub-link when up, else on the main link. Returns the MSG_SN, null when not sent. */
  send(platformId: number, m: { msgId: number; body: unknown }): number | null {
    const s = this.sessions.get(platformId)
    if (!s) return null
    if (s.sub && !s.sub.isClosed) {
      const sn = s.sub.sendNumbered(m)
      if (sn !== null) return sn
    }
    return s.main.sendNumbered(m)
  }

  /**
   * 查岗: sends a post query (0x9300/0x9301) to a logged-in lower platform and records it; the
   * answer (0x1301) is recorded with who answered and when. null: the platform is not logged in.
   */
  async postQuery(platformId: number, q: { question: string; objectType?: number; objectId?: string; answerMinutes?: number; askedBy: string | null }): Promise<PostQueryRecord | null> {
    const s = this.sessions.get(platformId)
    if (!s) return null
    const minutes = q.answerMinutes ?? this.deps.postQueryMinutes
    const infoId = randomInt(1, 0xffffffff)
    const objectType = q.objectType ?? 0
    const objectId = q.objectId ?? String(s.platform.accessCode)
    const data = { objectType, objectId, ...(s.main.edition === 2019 ? { answerMinutes: minutes } : {}), infoId, content: q.question }
    const sentAt = this.deps.now()
    const msgSn = this.send(platformId, { msgId: 0x9300, body: { dataType: 0x9301, data } })
    if (msgSn === null) return null
    s.log.info({ infoId, msgSn }, 'post query sent')
    return this.record(
      s,
      this.deps.store.createPostQuery({ platformId, direction: 'out', infoId, msgSn, objectType, objectId, question: q.question, askedBy: q.askedBy, sentAt, deadlineAt: sentAt + minutes * 60_000 }),
    )
  }

  /** Asks a logged-in lower platform for a vehicle's waybill (0x9200/0x920B); its 0x120B is taken like a 0x120D. null: not logged in. */
  requestWaybill(platformId: number, plate: string, plateColor: number): number | null {
    const sn = this.send(platformId, { msgId: 0x9200, body: { plate, plateColor, dataType: 0x920b, data: {} } })
    if (sn !== null) this.sessions.get(platformId)?.log.info({ plate, plateColor, msgSn: sn }, 'waybill requested (0x920B)')
    return sn
  }

  /**
   * Asks a logged-in lower platform for a vehicle's static information (0x9600/0x9601, on its
   * sub-link when up); the request is recorded, its 0x1601 answer stored with it. null: not logged in.
   */
  async requestStaticInfo(platformId: number, v: PlatformVehicle, by: string | null): Promise<number | null> {
    const s = this.sessions.get(platformId)
    if (!s) return null
    const sn = this.send(platformId, { msgId: 0x9600, body: { plate: v.plate, plateColor: v.plateColor, dataType: 0x9601, data: {} } })
    if (sn === null) return null
    s.log.info({ plate: v.plate, plateColor: v.plateColor, msgSn: sn }, 'static information requested (0x9601)')
    await this.record(s, this.deps.store.recordStaticInfoRequest({ platformId, vehicleId: v.id, plate: v.plate, plateColor: v.plateColor, at: this.deps.now(), msgSn: sn, by }))
    return sn
  }

  private record<T>(s: LowerSession, p: Promise<T>): Promise<T> {
    s.recording = p.catch(() => undefined)
    return p
  }

  /** Closes the session of a platform whose settings changed or that was removed (it logs in again under the new ones). */
  drop(platformId: number, reason: string): void {
    const s = this.sessions.get(platformId)
    if (s) this.end(s, reason)
  }

  states(): LowerLinkState[] {
    return [...this.sessions.values()].map((s) => ({
      platformId: s.platform.id,
      name: s.platform.name,
      accessCode: s.platform.accessCode,
      role: 'lower',
      main: s.main.state(),
      sub: s.sub ? s.sub.state() : null,
      loggedInAt: s.loggedInAt,
      positionsIn: s.positionsIn,
      positionsRefused: s.positionsRefused,
      latePositions: s.latePositions,
      maxLatenessMs: s.maxLatenessMs,
      waybillsIn: s.waybillsIn,
    }))
  }

  /** True when this link is a logged-in lower platform's main link. */
  owns(link: Link809): boolean {
    return this.byLink.has(link)
  }

  isLoggedIn(platformId: number): boolean {
    return this.sessions.has(platformId)
  }

  /**
   * A text (0x9503) or photo request (0x9502) to a vehicle a logged-in lower platform reports for
   * (vehicle-commands.ts); null when no such platform is logged in to this process. `via`: that
   * platform (another worker chose it), else the first of this process's that reports it.
   */
  async vehicleCommand(v: PlatformVehicle, command: VehicleCommand, ttlMs: number, via?: number): Promise<SentVehicleCommand | null> {
    const s = via === undefined ? this.sessionFor(v) : this.sessions.get(via)
    if (!s || !reportsVehicle(s.platform, v)) return null
    const sent = await this.commands.send({ platformId: s.platform.id, vehicleId: v.id, plate: v.plate, plateColor: v.plateColor }, command, ttlMs, (m) => this.send(s.platform.id, m))
    s.log.info({ commandId: sent.id, msgId: hex(sent.msgId), plate: v.plate }, 'command to a vehicle sent through its platform')
    return sent
  }

  /** The lower platforms logged in to this process (their ids). */
  loggedIn(): number[] {
    return [...this.sessions.keys()]
  }

  /** The logged-in session of the platform that reports this vehicle (enrolled by it, or of an enterprise it reports for). */
  private sessionFor(v: PlatformVehicle): LowerSession | undefined {
    for (const s of this.sessions.values()) if (v.reportedByPlatform === s.platform.id) return s
    for (const s of this.sessions.values()) if (v.enterpriseLicenseNo !== null && s.platform.enterpriseLicences.includes(v.enterpriseLicenseNo)) return s
    return undefined
  }

  close(): void {
    this.commands.close()
    this.deps.ingest.off('pressure', this.onPressure)
    this.deps.ingest.off('drain', this.onDrain)
    for (const s of [...this.sessions.values()]) this.end(s, 'shutdown')
  }

  // ---- login ----------------------------------------------------------------------------------

  private refuse(link: Link809, accessCode: number, result: number, why: string): void {
    this.deps.metrics.logins.inc({ link: String(accessCode), result: String(result) })
    link.log.warn({ result, why }, 'lower platform login refused')
    link.send({ msgId: 0x1002, body: { result, verifyCode: 0 } })
    link.close(`login refused (${result})`)
  }

  private end(s: LowerSession, reason: string): void {
    if (s.closed) return
    s.closed = true
    if (this.sessions.get(s.platform.id) === s) {
      this.sessions.delete(s.platform.id)
      this.deps.onHolding?.(s.platform.id, false)
    }
    this.byLink.delete(s.main)
    if (s.subRetry) clearTimeout(s.subRetry)
    if (s.subTest) clearInterval(s.subTest)
    s.sub?.close(reason)
    s.main.close(reason)
    this.deps.metrics.linkUp.set({ link: s.label, role: 'lower', kind: 'main' }, 0)
    this.deps.metrics.linkUp.set({ link: s.label, role: 'lower', kind: 'sub' }, 0)
    s.log.info({ reason }, 'lower platform session ended')
  }

  // ---- sub-link -------------------------------------------------------------------------------

  private openSubLink(s: LowerSession): void {
    if (s.closed || !s.downlink.port || !s.downlink.ip) return
    const d = this.deps
    const socket = (d.connect ?? ((host, port) => tcpConnect({ host, port })))(s.downlink.ip, s.downlink.port)
    let answered = false
    const link = new Link809({
      socket,
      kind: 'sub',
      accessCode: s.platform.accessCode,
      edition: s.main.edition,
      encryption: s.platform.encryption,
      log: s.log.child({ link: 'sub' }),
      metrics: d.metrics,
      now: d.now,
      idleMs: d.idleMs,
      badFramesBeforeClose: d.badFramesBeforeClose,
      onMessage: (m) => {
        if (m.msgId === 0x9002 && isMessage809(m, 0x9002)) {
          answered = true
          if (m.body.result !== 0) return link.close(`sub-link refused (${m.body.result})`)
          s.sub = link
          s.subAttempts = 0
          d.metrics.linkUp.set({ link: s.label, role: 'lower', kind: 'sub' }, 1)
          link.log.info('sub-link up')
          const every = Math.max(1000, Math.floor(d.idleMs / 3))
          s.subTest = setInterval(() => link.send({ msgId: 0x9005, body: {} }), every)
          s.subTest.unref()
        } else if (m.msgId === 0x1005) link.send({ msgId: 0x1006, body: {} })
      },
      onClose: (_l, reason) => {
        if (s.sub === link) s.sub = null
        if (s.subTest) clearInterval(s.subTest)
        s.subTest = null
        d.metrics.linkUp.set({ link: s.label, role: 'lower', kind: 'sub' }, 0)
        if (s.closed) return
        // Fallback: downlink messages use the main link meanwhile; try the sub-link again later.
        const wait = Math.min(60_000, 1000 * 2 ** Math.min(s.subAttempts++, 6))
        link.log.info({ reason, answered, retryInMs: wait }, 'sub-link down; sending on the main link meanwhile')
        s.subRetry = setTimeout(() => {
          s.subRetry = null
          this.openSubLink(s)
        }, wait)
        s.subRetry.unref()
      },
    })
    socket.once('connect', () => link.send({ msgId: 0x9001, body: { verifyCode: s.verifyCode } }))
  }

  // ---- positions ------------------------------------------------------------------------------

  private exchange(s: LowerSession, body: { plate?: string; plateColor?: number; dataType: number; data: unknown }, sn: number): void {
    switch (body.dataType) {
      case 0x1209:
        void this.history(s, body.plate ?? '', body.plateColor ?? 0, body.data as { startTime: number; endTime: number }, sn).catch((err: unknown) =>
          s.log.error({ err }, '0x1209 history request failed'),
        )
        return
      case 0x1202:
        return this.positions(s, body.plate ?? '', body.plateColor ?? 0, [(body.data as { position: Position }).position], 0x1202)
      case 0x1203:
        return this.positions(s, body.plate ?? '', body.plateColor ?? 0, (body.data as { positions: Position[] }).positions, 0x1203)
      case 0x1201: {
        const r = body.data as Partial<VehicleRegister>
        if (typeof r.terminalId !== 'string') return // a body that did not fit its layout (kept raw by the codec)
        void this.registration(s, body.plate ?? '', body.plateColor ?? 0, r as VehicleRegister).catch((err: unknown) => s.log.error({ err }, '0x1201 registration not recorded'))
        return
      }
      case 0x120b:
      case 0x120d: {
        const text = (body.data as { waybill?: unknown }).waybill
        if (typeof text !== 'string') return // a body that did not fit its layout (kept raw by the codec, logged there)
        void this.waybill(s, body.plate ?? '', body.plateColor ?? 0, body.dataType, text).catch((err: unknown) => s.log.error({ err }, 'platform waybill not recorded'))
        return
      }
      default:
        if (s.log.isLevelEnabled('debug')) s.log.debug({ dataType: hex(body.dataType), plate: body.plate }, '0x1200 sub-business not handled')
    }
  }

  private positions(s: LowerSession, plate: string, plateColor: number, list: Position[], msgId: 0x1202 | 0x1203): void {
    if (!Array.isArray(list) || list.length === 0) return
    const key = `${plate}\u0000${plateColor}`
    const hit = this.vehicles.get(key)
    const now = this.deps.now()
    if (hit && now - hit.at < VEHICLE_CACHE_MS && (hit.v !== null || s.platform.unknownVehicles === 'refuse')) {
      this.take(s, hit.v, list, msgId, now)
      return
    }
    void this.resolve(s, plate, plateColor)
      .then((v) => this.take(s, v, list, msgId, this.deps.now()))
      .catch((err: unknown) => {
        this.refused(s, 'lookup_failed', list.length)
        s.log.error({ err, plate }, 'vehicle lookup for a platform position failed')
      })
  }

  /** One registry lookup per plate at a time: a burst for a vehicle not yet cached waits on the same one. */
  private resolve(s: LowerSession, plate: string, plateColor: number): Promise<PlatformVehicle | null> {
    const key = `${s.platform.id}\u0000${plate}\u0000${plateColor}`
    let p = this.lookups.get(key)
    if (!p) {
      p = this.lookup(s, plate, plateColor).finally(() => this.lookups.delete(key))
      this.lookups.set(key, p)
    }
    return p
  }

  private async lookup(s: LowerSession, plate: string, plateColor: number): Promise<PlatformVehicle | null> {
    const st = this.deps.store
    // 809 acknowledges no position: a lookup failing on a busy database is tried again before its positions are refused
    let v: PlatformVehicle | null = null
    for (let attempt = 1; plate; attempt++) {
      try {
        v = await st.findPlatformVehicle(plate, plateColor)
        break
      } catch (err) {
        if (attempt >= 3) throw err
        await new Promise((r) => setTimeout(r, 250 * attempt))
      }
    }
    if (!v && plate && s.platform.unknownVehicles === 'enrol') {
      v = await st.enrolPlatformVehicle(plate, plateColor, s.platform.id)
      s.log.info({ plate, plateColor, vehicleId: v.id }, 'vehicle enrolled as reported by this platform')
    }
    const key = `${plate}\u0000${plateColor}`
    this.vehicles.set(key, { v, at: this.deps.now() })
    if (this.vehicles.size > VEHICLE_CACHE_MAX) this.vehicles.delete(this.vehicles.keys().next().value!)
    return v
  }

  private take(s: LowerSession, v: PlatformVehicle | null, list: Position[], msgId: 0x1202 | 0x1203, now: number): void {
    if (s.closed) return
    if (!v) return this.refused(s, 'unknown_vehicle', list.length)
    const mayReport = v.reportedByPlatform === s.platform.id || (v.enterpriseLicenseNo !== null && s.platform.enterpriseLicences.includes(v.enterpriseLicenseNo))
    if (!mayReport) return this.refused(s, 'foreign_enterprise', list.length)
    const m = this.deps.metrics
    const label = s.label
    const rows: CommittedPosition[] = []
    for (const p of list) {
      const row = toCommitted(p, v, s.platform.accessCode, msgId, now)
      if (!row) {
        this.refused(s, 'no_device_time', 1)
        continue
      }
      const late = now - row.deviceTime
      m.lateness.observe({ link: label }, Math.max(0, late) / 1000)
      if (msgId === 0x1203 || late > LATE_MS) {
        s.latePositions++
        m.latePositions.inc({ link: label })
        if (late > s.maxLatenessMs) s.maxLatenessMs = late
      }
      rows.push(row)
    }
    if (!rows.length) return
    s.positionsIn += rows.length
    m.positionsIn.inc({ link: label, msg: hex(msgId) }, rows.length)
    s.pendingRows += rows.length
    if (s.pendingRows >= MAX_PENDING_ROWS) s.main.pause()
    this.deps.ingest.submit(rows, (err) => {
      s.pendingRows -= rows.length
      if (s.pendingRows < MAX_PENDING_ROWS / 2 && !this.paused) s.main.resume()
      // 809 has no position acknowledgement: a refusal (overload, shutdown) is counted; the lower
      // platform re-sends what it missed as 0x1203 when asked.
      if (err) this.refused(s, 'not_committed', rows.length)
    })
  }

  /**
   * 0x1402: a lower platform's alarm report becomes a TERMINAL_ALARM anomaly with its source in
   * the evidence (platform, WARN_SRC, WARN_TYPE, INFO_CONTENT). It stays open until handled
   * (dismiss / confirm); a re-sent report is recognised by its id and not announced twice.
   */
  private async alarm(s: LowerSession, a: AlarmReport, sn: number, envPlate?: string, envColor?: number): Promise<void> {
    const plate = (a.plate ?? envPlate ?? '').trim()
    const color = a.plateColor ?? envColor ?? 0
    const v = await this.resolve(s, plate, color)
    if (!v) return this.refused(s, 'unknown_vehicle', 1)
    if (!(v.reportedByPlatform === s.platform.id || (v.enterpriseLicenseNo !== null && s.platform.enterpriseLicences.includes(v.enterpriseLicenseNo)))) return this.refused(s, 'foreign_enterprise', 1)
    const now = this.deps.now()
    const secs = a.warnTime ?? a.startTime
    // seconds as the standard says; some platforms send milliseconds
    const at = secs === undefined || secs <= 0 ? now : secs > 1e11 ? secs : secs * 1000
    const id = `TERMINAL_ALARM:${v.id}:p${s.platform.accessCode}:${a.warnType}:${at}`
    // every report, a re-sent one too, names the anomaly by its MSG_SN (and 2011 INFO_ID): its handling result names either
    const ref = () => this.deps.store.recordPlatformAlarmRef({ platformId: s.platform.id, msgSn: sn, infoId: a.infoId ?? null, anomalyId: id, at: now })
    // a re-send while the first is being stored, or after: recorded once
    if (this.alarmsInFlight.has(id)) return ref()
    this.alarmsInFlight.add(id)
    try {
      if (!(await this.deps.store.getAnomaly(id))) await this.recordAlarm(s, v, a, id, at, now)
      await ref()
    } finally {
      this.alarmsInFlight.delete(id)
    }
  }

  /** 0x1400 from a lower platform: alarm reports, their handling results and forecasts, in order per platform. */
  private warn(s: LowerSession, body: { plate?: string; plateColor?: number; dataType: number; data: unknown }, sn: number): void {
    const data = body.data as Record<string, unknown>
    let work: (() => Promise<void>) | null = null
    if (body.dataType === 0x1402 && typeof data.warnType === 'number') work = () => this.alarm(s, data as unknown as AlarmReport, sn, body.plate, body.plateColor)
    else if (body.dataType === 0x1403 && typeof data.infoId === 'number' && typeof data.result === 'number') {
      const r = data as unknown as AlarmHandled
      work = () => this.alarmResult(s, 0x1403, { infoId: r.infoId }, r.result)
    } else if (body.dataType === 0x1403 && typeof data.warnType === 'number') work = () => this.forecast(s, data as unknown as AlarmReport, sn)
    else if (body.dataType === 0x1412 && typeof data.sourceMsgSn === 'number') {
      const r = data as unknown as AlarmHandledSource
      // the result of an alarm report names it by the report's MSG_SN; another source is no alarm of ours
      work = () => this.alarmResult(s, 0x1412, r.sourceDataType === 0x1402 ? { msgSn: r.sourceMsgSn } : null, r.result, r.sourceMsgSn)
    }
    if (!work) {
      if (s.log.isLevelEnabled('debug')) s.log.debug({ dataType: hex(body.dataType) }, '0x1400 sub-business not handled')
      return
    }
    const run = work
    s.alarms = s.alarms.then(run).catch((err: unknown) => s.log.error({ err, dataType: hex(body.dataType) }, 'platform alarm message not recorded'))
  }

  /**
   * A handling result (2011 0x1403, 2019 0x1412) of one of the platform's alarm reports: kept with
   * the anomaly the report became (unmatched ones too); "handled" (1) enters the anomaly's history as
   * the rectification, as a 督办's "done" does — unless its handling went past that already. The
   * other results (0 handling, 2 not handled, 3 later) are kept, not steps: none of ours fits them.
   */
  private async alarmResult(s: LowerSession, dataType: 0x1403 | 0x1412, match: { infoId: number } | { msgSn: number } | null, result: number, sourceMsgSn?: number): Promise<void> {
    const st = this.deps.store
    const now = this.deps.now()
    const anomalyId = match ? await st.findPlatformAlarm(s.platform.id, match) : null
    await st.insertPlatformAlarmResult({
      platformId: s.platform.id,
      dataType,
      infoId: match && 'infoId' in match ? match.infoId : null,
      sourceMsgSn: sourceMsgSn ?? null,
      result,
      anomalyId,
      receivedAt: now,
    })
    this.deps.metrics.alarmResultsIn.inc({ link: s.label, result: anomalyId ? 'matched' : 'unmatched' })
    if (!anomalyId) return void s.log.warn({ dataType: hex(dataType), ...match, result }, 'alarm handling result for no alarm report of this platform')
    s.log.info({ anomaly: anomalyId, result }, 'alarm handling result recorded')
    if (result !== 1) return
    await st.applyHandling(
      {
        anomalyId,
        action: 'rectify',
        note: `platform ${s.platform.name} (${s.platform.accessCode}) reports the alarm handled (${hex(dataType)} result 1)`,
        tokenId: null,
        role: null,
        enterpriseLicenseNo: null,
        at: now,
      },
      (current) => current === null || current === 'notify',
    )
  }

  /** A 2019 0x1403 (上报报警预警: an alarm forecast or running tip): kept as a notice, of the vehicle when it is one the platform reports. */
  private async forecast(s: LowerSession, a: AlarmReport, sn: number): Promise<void> {
    const plate = (a.plate ?? '').trim()
    const color = a.plateColor ?? 0
    const v = await this.resolveKnown(plate, color)
    const mine = v !== null && this.mayReport(s, v)
    await this.deps.store.insertPlatformAlarmNotice({
      platformId: s.platform.id,
      dataType: 0x1403,
      msgSn: sn,
      vehicleId: mine ? v.id : null,
      plate: mine ? v.plate : plate,
      plateColor: color,
      enterpriseLicenseNo: mine ? v.enterpriseLicenseNo : null,
      warnSrc: a.warnSrc ?? null,
      warnType: a.warnType,
      warnTime: msOf(a.warnTime),
      startTime: msOf(a.startTime),
      endTime: msOf(a.endTime),
      sourcePlatformId: a.sourcePlatformId?.trim() || null,
      content: a.content,
      receivedAt: this.deps.now(),
    })
    this.deps.metrics.alarmNoticesIn.inc({ link: s.label, type: '0x1403' })
    s.log.info({ plate, warnType: a.warnType }, 'alarm forecast recorded (0x1403)')
  }

  /** 0x1201: the terminal a vehicle carries, as the platform knows it; the latest is kept per vehicle. */
  private async registration(s: LowerSession, plate: string, plateColor: number, r: VehicleRegister): Promise<void> {
    const m = this.deps.metrics
    const v = await this.resolve(s, plate.trim(), plateColor)
    if (!v) return void m.registrationsIn.inc({ link: s.label, result: 'unknown_vehicle' })
    if (!this.mayReport(s, v)) return void m.registrationsIn.inc({ link: s.label, result: 'foreign_enterprise' })
    await this.deps.store.upsertPlatformRegistration({
      platformId: s.platform.id,
      vehicleId: v.id,
      plate: v.plate,
      plateColor: v.plateColor,
      platformCode: r.platformId.trim(),
      producerId: r.producerId.trim(),
      model: r.model.trim(),
      imei: r.imei?.trim() || null,
      terminalId: r.terminalId.trim(),
      simCode: r.simCode.trim(),
      receivedAt: this.deps.now(),
    })
    m.registrationsIn.inc({ link: s.label, result: 'stored' })
    s.log.info({ plate: v.plate, terminalId: r.terminalId.trim(), simCode: r.simCode.trim() }, 'vehicle registration recorded (0x1201)')
  }

  /** 0x1601: static information of a vehicle the platform may report for (our 0x9601's answer, or unasked); the latest is kept. */
  private async staticInfo(s: LowerSession, plate: string, plateColor: number, carInfo: string): Promise<void> {
    const m = this.deps.metrics
    await s.recording
    const v = await this.resolveKnown(plate.trim(), plateColor)
    if (!v) return void m.staticInfoIn.inc({ link: s.label, result: 'unknown_vehicle' })
    if (!this.mayReport(s, v)) return void m.staticInfoIn.inc({ link: s.label, result: 'foreign_enterprise' })
    await this.deps.store.recordStaticInfo({ platformId: s.platform.id, vehicleId: v.id, plate: v.plate, plateColor: v.plateColor, carInfo, fields: parseCarInfo(carInfo), at: this.deps.now() })
    m.staticInfoIn.inc({ link: s.label, result: 'stored' })
    s.log.info({ plate: v.plate }, 'static information recorded (0x1601)')
  }

  private async recordAlarm(s: LowerSession, v: PlatformVehicle, a: AlarmReport, id: string, at: number, now: number): Promise<void> {
    const anomaly: Anomaly = {
      id,
      type: 'TERMINAL_ALARM',
      status: 'open',
      severity: 'warning',
      vehicleId: v.id,
      plate: v.plate,
      plateColor: v.plateColor,
      waybillNo: null,
      enterpriseLicenseNo: v.enterpriseLicenseNo,
      startedAt: at,
      endedAt: null,
      lastSeenAt: at,
      evidence: {
        source: 'platform',
        platform: s.platform.accessCode,
        platformName: s.platform.name,
        warnType: a.warnType,
        ...(a.warnSrc !== undefined ? { warnSrc: a.warnSrc } : {}),
        ...(a.sourcePlatformId ? { sourcePlatformId: a.sourcePlatformId } : {}),
        ...(a.infoId !== undefined ? { infoId: a.infoId } : {}),
        content: a.content,
      },
    }
    await this.deps.store.upsertAnomalies([anomaly])
    await this.deps.state.appendMany(ANOMALY_EVENTS_STREAM, [{ event: 'anomaly.opened', anomaly, at: now }], 1_000_000)
    this.deps.metrics.alarmsIn.inc({ link: s.label })
    s.log.info({ plate: v.plate, warnType: a.warnType, anomaly: id }, 'platform alarm recorded')
  }

  /**
   * 0x120D / 0x120B: kept as received for a vehicle the platform may report for; a text that
   * parses into our fields (waybill-text.ts) for a carrier the platform may report for becomes a
   * dispatched waybill (an existing number only when it is the same vehicle and carrier), which
   * the matcher then covers the vehicle's positions with.
   */
  private async waybill(s: LowerSession, plate: string, plateColor: number, dataType: number, text: string): Promise<void> {
    const v = await this.resolve(s, plate.trim(), plateColor)
    if (!v) return this.refusedWaybill(s, 'unknown_vehicle', plate)
    if (!this.mayReport(s, v)) return this.refusedWaybill(s, 'foreign_enterprise', plate)
    const now = this.deps.now()
    const read = readWaybillText(text, { plate: v.plate, plateColor: v.plateColor })
    const errors = [...read.errors]
    let waybillNo: string | null = null
    const w = read.waybill
    if (w) {
      const carrierOk = v.reportedByPlatform === s.platform.id || s.platform.enterpriseLicences.includes(w.carrierLicenseNo)
      const existing = carrierOk ? await this.deps.store.getWaybill(w.waybillNo) : null
      if (!carrierOk) errors.push({ field: 'carrierLicenseNo', message: `${w.carrierLicenseNo} is not an enterprise platform ${s.platform.accessCode} may report for` })
      else if (existing && (!samePlate(existing.plate, w.plate) || existing.plateColor !== w.plateColor || existing.carrierLicenseNo !== w.carrierLicenseNo)) {
        errors.push({ field: 'waybillNo', message: `${w.waybillNo} exists for another vehicle or carrier` })
      } else {
        await this.deps.store.upsertWaybills([w], { at: now, by: `platform ${s.platform.accessCode}`, status: 'dispatched' })
        waybillNo = w.waybillNo
      }
    }
    const stored: Omit<PlatformWaybill, 'id'> = {
      platformId: s.platform.id,
      dataType,
      plate: v.plate,
      plateColor: v.plateColor,
      vehicleId: v.id,
      receivedAt: now,
      text,
      format: read.format,
      waybillNo,
      errors: errors.length ? errors : null,
    }
    await this.deps.store.insertPlatformWaybill(stored)
    s.waybillsIn++
    this.deps.metrics.waybillsIn.inc({ link: s.label, result: waybillNo ? 'matched' : read.format === 'text' ? 'text' : 'invalid' })
    s.log.info({ plate: v.plate, dataType: hex(dataType), format: read.format, waybillNo, errors: errors.length ? errors : undefined }, 'platform waybill recorded')
  }

  private mayReport(s: LowerSession, v: PlatformVehicle): boolean {
    return reportsVehicle(s.platform, v)
  }

  private refusedWaybill(s: LowerSession, reason: string, plate: string): void {
    this.deps.metrics.waybillsIn.inc({ link: s.label, result: reason })
    s.log.warn({ plate, reason }, 'platform waybill refused')
  }

  /**
   * 0x1209: a lower platform asks for a vehicle's history. 0x9209 answers (0 ok, 1 no such vehicle
   * or not one it may see, 2 other); then the positions go as 0x9203, 5 per message, at most
   * HISTORY_MAX of them.
   */
  private async history(s: LowerSession, plate: string, plateColor: number, range: { startTime: number; endTime: number }, sn: number): Promise<void> {
    const v = await this.resolveKnown(plate, plateColor)
    const visible = v !== null && (v.reportedByPlatform === s.platform.id || (v.enterpriseLicenseNo !== null && s.platform.enterpriseLicences.includes(v.enterpriseLicenseNo)))
    const from = range.startTime * 1000
    const to = range.endTime * 1000
    const ok = visible && Number.isFinite(from) && Number.isFinite(to) && from <= to
    const source = s.main.edition === 2019 ? { sourceDataType: 0x1209, sourceMsgSn: sn } : {}
    this.send(s.platform.id, { msgId: 0x9200, body: { plate, plateColor, dataType: 0x9209, data: { ...source, result: ok ? 0 : visible ? 2 : 1 } } })
    if (!ok || !v) return
    const track = await this.deps.store.track(v.id, from, to, { limit: HISTORY_MAX })
    const edition = s.main.edition
    for (let i = 0; i < track.length; i += 5) {
      const positions = track.slice(i, i + 5).map((p) => toPosition809(p, edition))
      if (this.send(s.platform.id, { msgId: 0x9200, body: { plate, plateColor, dataType: 0x9203, data: { positions } } }) === null) return
    }
    s.log.info({ plate, positions: track.length }, 'history sent (0x9203)')
  }

  /** The registry's vehicle (no enrolment: a history request names a vehicle, it does not report one). */
  private async resolveKnown(plate: string, plateColor: number): Promise<PlatformVehicle | null> {
    return plate ? this.deps.store.findPlatformVehicle(plate, plateColor) : null
  }

  /**
   * 督办: the "notify" step on an anomaly of a vehicle a logged-in lower platform reports for sends
   * it 0x9401. WARN_TYPE from the anomaly as warn-types.ts maps it (a platform's own alarm report:
   * the WARN_TYPE it came with; unmapped: "other" of the link's edition); level urgent (0)
   * for critical anomalies, else normal (1); answer expected within 24 h. null: no such platform
   * logged in here. `via`: that platform (another worker chose it).
   */
  async supervise(a: Anomaly, supervisor: string, via?: number): Promise<{ platformId: number; supervisionId: number } | null> {
    const v = await this.deps.store.findPlatformVehicle(a.plate, a.plateColor)
    const candidates = via === undefined ? this.sessions.values() : [this.sessions.get(via)].filter((c) => c !== undefined)
    let s: LowerSession | undefined
    for (const c of candidates) {
      if (supervisesAnomaly(c.platform, a, v)) {
        s = c
        break
      }
    }
    if (!s) return null
    const now = this.deps.now()
    const supervisionId = randomInt(1, 0xffffffff)
    const warnType = a.type === 'TERMINAL_ALARM' && a.evidence.source === 'platform' && typeof a.evidence.warnType !== 'number' ? otherWarnType(s.main.edition) : warnTypeOfAnomaly(a, s.main.edition)
    const data = {
      warnSrc: 3,
      warnType,
      warnTime: Math.floor(a.startedAt / 1000),
      supervisionId,
      supervisionEndTime: Math.floor(now / 1000) + 86_400,
      supervisionLevel: a.severity === 'critical' ? 0 : 1,
      supervisor: supervisor.slice(0, 16),
      supervisorTel: '',
      supervisorEmail: '',
    }
    if (this.send(s.platform.id, { msgId: 0x9400, body: { plate: a.plate, plateColor: a.plateColor, dataType: 0x9401, data } }) === null) return null
    await this.record(s, this.deps.store.createSupervision({ platformId: s.platform.id, anomalyId: a.id, supervisionId, sentAt: now }))
    s.log.info({ anomaly: a.id, supervisionId }, '督办 sent (0x9401)')
    return { platformId: s.platform.id, supervisionId }
  }

  /** 0x1401: kept with its request; "done" (1) enters the anomaly's history as the rectification. */
  private async supervisionReply(s: LowerSession, r: SupervisionReply): Promise<void> {
    const now = this.deps.now()
    await s.recording
    const sv = await this.deps.store.replySupervision(s.platform.id, r.supervisionId, r.result, now)
    if (!sv) return void s.log.warn({ supervisionId: r.supervisionId }, '0x1401 for no 督办 we sent')
    if (r.result !== 1) return
    await this.deps.store.applyHandling(
      {
        anomalyId: sv.anomalyId,
        action: 'rectify',
        note: `督办 ${r.supervisionId}: platform ${s.platform.name} (${s.platform.accessCode}) reports it handled (0x1401)`,
        tokenId: null,
        role: null,
        enterpriseLicenseNo: null,
        at: now,
      },
      (current) => current === 'notify',
    )
  }

  private refused(s: LowerSession, reason: string, n: number): void {
    s.positionsRefused += n
    this.deps.metrics.positionsRefused.inc({ link: s.label, reason }, n)
  }

  private setPaused(on: boolean): void {
    this.paused = on
    for (const s of this.sessions.values()) {
      if (on) s.main.pause()
      else if (s.pendingRows < MAX_PENDING_ROWS / 2) s.main.resume()
    }
  }
}

/** An 809 time (UTC seconds as the standard says; some platforms send milliseconds) as ms; null when absent or 0. */
function msOf(t: number | undefined): number | null {
  if (t === undefined || t <= 0) return null
  return t > 1e11 ? t : t * 1000
}

/** A lower platform carries commands to a vehicle it enrolled or of an enterprise it reports for. */
export function reportsVehicle(p: Pick<Platform, 'id' | 'enterpriseLicences'>, v: Pick<PlatformVehicle, 'reportedByPlatform' | 'enterpriseLicenseNo'>): boolean {
  return v.reportedByPlatform === p.id || (v.enterpriseLicenseNo !== null && p.enterpriseLicences.includes(v.enterpriseLicenseNo))
}

/** A lower platform gets the 督办 of an anomaly of a vehicle it enrolled or of an enterprise it reports for (the anomaly's). */
export function supervisesAnomaly(p: Pick<Platform, 'id' | 'enterpriseLicences'>, a: Pick<Anomaly, 'enterpriseLicenseNo'>, v: Pick<PlatformVehicle, 'reportedByPlatform'> | null): boolean {
  return v?.reportedByPlatform === p.id || (a.enterpriseLicenseNo !== null && p.enterpriseLicences.includes(a.enterpriseLicenseNo))
}

/** "::ffff:10.0.0.1:5000" → "10.0.0.1" (allowed addresses are written plainly). */
function plainAddress(remote: string): string {
  const host = remote.slice(0, remote.lastIndexOf(':'))
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host
  return isIPv4(v4) ? v4 : host
}
