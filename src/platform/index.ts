/**
 * JT/T 809 platform links, both roles, started by the composition root:
 *   upper role  (upper.ts)  lower platforms log in on config.platformPort; their positions enter
 *                           the ingest queue like terminals'
 *   lower role  (lower.ts)  we log in to each enabled superior and forward committed positions;
 *                           `forwarding` is their consumer in src/pipeline.ts
 * Platforms are data (store: platforms); changes apply without a restart: reload() (the API calls
 * it) or the poll every reloadMs reconciles the running links with the store.
 * Under `serve --workers N` (cluster.ts) the superiors' links are one worker's, a lower platform's
 * link is the worker's its connection reached, and an action toward a platform goes to the worker
 * holding the link, through the primary.
 */
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Config } from '../config/index.js'
import type { IngestPort } from '../gateway/types.js'
import type { CommittedConsumer } from '../ingest/queue.js'
import type { State } from '../state/port.js'
import type { Anomaly, CommittedPosition } from '../domain.js'
import type { AnomalyStore, ApiStore, PositionStore } from '../store/port.js'
import type { AdminStore } from '../store/admin.js'
import type { Platform, PlatformStore, PlatformVehicle, PostQuery } from '../store/platforms.js'
import type { PlatformInfoStore } from '../store/platform-info.js'
import type { WaybillStore } from '../store/port.js'
import { SuperiorLink, type SuperiorLinkState } from './lower.js'
import { createPlatformMetrics, type PlatformMetrics } from './metrics.js'
import type { SuperiorControlDeps, VehicleCommand } from './vehicle-commands.js'
import type { EventStore, RegistryStore } from '../store/port.js'
import { PlatformServer } from './server.js'
import { reportsVehicle, supervisesAnomaly, UpperRole, type LowerLinkState } from './upper.js'
import type { NotSent, PlatformCall, PlatformCallResults, PlatformCluster, PlatformHolder, PostQueryAnswerInput, PostQueryRequest, VehicleCommandSent } from './cluster.js'

export type { LowerLinkState } from './upper.js'
export type { SuperiorLinkState } from './lower.js'
export type { CallAnswer, NotSent, PlatformCall, PlatformCallResults, PlatformCluster, PlatformHolder, PostQueryAnswerInput, PostQueryRequest, VehicleCommandSent } from './cluster.js'

/** How long a worker waits for the worker holding a link to answer a call (beyond a command's own wait). */
const CALL_MS = 10_000

export interface PlatformsDeps {
  config: Config
  store: PlatformStore &
    Pick<AnomalyStore, 'getAnomaly' | 'upsertAnomalies' | 'openAnomalies'> &
    Pick<PositionStore, 'track'> &
    Pick<ApiStore, 'applyHandling' | 'listHandling'> &
    PlatformInfoStore &
    Pick<WaybillStore, 'getWaybill' | 'upsertWaybills' | 'activeWaybillFor' | 'lastWaybillFor'> &
    Pick<AdminStore, 'createPlatformCommand' | 'platformCommandSent' | 'settlePlatformCommand' | 'recordCommandResult'> &
    Pick<RegistryStore, 'findVehicle'> &
    Pick<EventStore, 'findMedia'>
  state: Pick<State, 'appendMany'>
  ingest: IngestPort
  logger: Logger
  registry: Registry
  now?: () => number
  /** store poll for changed platforms (default 5 s) */
  reloadMs?: number
  /** the gateway's command path: a superior's 0x9503 text / 0x9502 photo request reaches the terminal through it */
  commander?: SuperiorControlDeps['commander']
  /** several workers (serve --workers N): who forwards, and the relay to it */
  cluster?: PlatformCluster
  /** superiors' link test period (default: a third of the idle timeout, at most 10 s) */
  linkTestMs?: number
  /** superiors' outbox pass period (anomalies, waybills; default 2 s) */
  outboxMs?: number
}

export class Platforms {
  readonly upper: UpperRole
  readonly metrics: PlatformMetrics
  private readonly superiors = new Map<number, SuperiorLink>()
  private readonly seen = new Map<number, number>()
  private server: PlatformServer | null = null
  private timer: NodeJS.Timeout | null = null
  private reloading: Promise<void> = Promise.resolve()
  private closed = false
  private warnedWorkers = false
  private readonly log: Logger
  private readonly now: () => number

  /** The after-commit consumer that hands each committed batch to every superior's forwarder. */
  readonly forwarding: CommittedConsumer = {
    name: 'upward-forwarders',
    take: (rows) => {
      if (this.relayTo) return this.relay(rows, this.relayTo)
      for (const s of this.superiors.values()) s.take(rows)
    },
  }
  /** a worker that is not the forwarder: what every enabled superior selects, relayed */
  private relayTo: PlatformCluster | null = null
  private relaySelection: { licences: Set<string>; vehicleIds: Set<number> } = { licences: new Set(), vehicleIds: new Set() }

  constructor(private readonly deps: PlatformsDeps) {
    this.log = deps.logger.child({ component: 'platforms' })
    this.now = deps.now ?? Date.now
    this.metrics = createPlatformMetrics(deps.registry)
    const cl = deps.cluster
    if (cl && !cl.forwarder) this.relayTo = cl
    if (cl?.forwarder) cl.onRows((rows) => this.forwarding.take(rows))
    cl?.onCall((call, platformId) => this.run(call, platformId))
    // the platform logged in again on another worker: this session is the stale one
    cl?.onSuperseded((platformId) => this.upper.drop(platformId, 'superseded by a login on another worker'))
    const idleMs = deps.config.platformIdleSeconds * 1000
    this.upper = new UpperRole({
      store: deps.store,
      state: deps.state,
      ingest: deps.ingest,
      metrics: this.metrics,
      log: this.log,
      now: this.now,
      idleMs,
      badFramesBeforeClose: deps.config.badFramesBeforeClose,
      postQueryMinutes: deps.config.platformPostQueryMinutes,
      ...(cl ? { onHolding: (platformId: number, held: boolean) => cl.holding(platformId, held) } : {}),
    })
  }

  /** Listens for lower platforms (when config.platformPort is set) and connects to the enabled superiors. */
  async start(): Promise<void> {
    const c = this.deps.config
    if (c.platformPort !== null) {
      this.server = new PlatformServer({
        upper: this.upper,
        superiors: () => this.superiors.values(),
        metrics: this.metrics,
        log: this.log,
        now: this.now,
        idleMs: c.platformIdleSeconds * 1000,
        badFramesBeforeClose: c.badFramesBeforeClose,
      })
      const a = await this.server.listen(c.platformPort, c.platformHost)
      this.log.info({ port: a.port }, 'JT/T 809 server listening')
    }
    await this.reload()
    this.timer = setInterval(() => void this.reload().catch((err: unknown) => this.log.error({ err }, 'platform reload failed')), this.deps.reloadMs ?? 5_000)
    this.timer.unref()
  }

  address(): AddressInfo | null {
    return this.server?.address() ?? null
  }

  /** Brings the running links in line with the store (one reload at a time). */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.reconcile()).catch((err: unknown) => this.log.error({ err }, 'platform reload failed'))
    return this.reloading
  }

  /*
   * Actions toward a platform (the API's). This process sends them when it holds the link; with
   * several workers the call goes, through the primary, to the worker that does, and its result
   * comes back. NotSent when no process holds the link or its holder did not answer.
   */

  /** 查岗 (0x9301) to a logged-in lower platform. */
  async postQuery(platformId: number, q: PostQueryRequest): Promise<PostQuery | NotSent> {
    if (this.here(platformId)) return (await this.upper.postQuery(platformId, q)) ?? 'not-logged-in'
    return this.remote({ lower: [platformId] }, { op: 'post-query', platformId, query: q }, CALL_MS)
  }

  /** 0x920B to a logged-in lower platform: the MSG_SN sent. */
  async requestWaybill(platformId: number, plate: string, plateColor: number): Promise<number | NotSent> {
    if (this.here(platformId)) return this.upper.requestWaybill(platformId, plate, plateColor) ?? 'not-logged-in'
    return this.remote({ lower: [platformId] }, { op: 'waybill-request', platformId, plate, plateColor }, CALL_MS)
  }

  /** 0x9601 to a logged-in lower platform about one of its vehicles: the MSG_SN sent, null when it is not logged in. */
  requestStaticInfo(platformId: number, v: PlatformVehicle, by: string | null): Promise<number | null> {
    return this.upper.requestStaticInfo(platformId, v, by)
  }

  /** 督办 (0x9401) to the lower platform that reports the anomaly's vehicle. */
  async supervise(a: Anomaly, supervisor: string): Promise<{ platformId: number; supervisionId: number } | NotSent> {
    const local = await this.upper.supervise(a, supervisor)
    if (local || !this.deps.cluster) return local ?? 'not-logged-in'
    const v = await this.deps.store.findPlatformVehicle(a.plate, a.plateColor)
    const lower = await this.elsewhere((p) => supervisesAnomaly(p, a, v), v?.reportedByPlatform ?? null)
    if (!lower.length) return 'not-logged-in'
    return this.remote({ lower }, { op: 'supervise', anomaly: a, supervisor }, CALL_MS)
  }

  /**
   * 0x9503 text / 0x9502 photo to a vehicle through the logged-in lower platform that reports it
   * (enrolled by it, else of an enterprise it reports for); its final reply when it comes within waitMs.
   */
  async vehicleCommand(v: PlatformVehicle, command: VehicleCommand, ttlMs: number, waitMs: number): Promise<VehicleCommandSent | NotSent> {
    const local = await this.commandHere(v, command, ttlMs, waitMs)
    if (local || !this.deps.cluster) return local ?? 'not-logged-in'
    const lower = await this.elsewhere((p) => reportsVehicle(p, v), v.reportedByPlatform)
    if (!lower.length) return 'not-logged-in'
    return this.remote({ lower }, { op: 'vehicle-command', vehicle: v, command, ttlMs, waitMs }, waitMs + CALL_MS)
  }

  /**
   * An operator answers a superior's 查岗: sent as 0x1301 by the process running the superiors'
   * links, then recorded. 'not-found': no such incoming query; 'answered': already; 'link-down':
   * the superior is not connected now; 'unreachable': no worker runs the superiors' links at the
   * moment (the forwarder is being replaced), or it did not answer.
   */
  async answerPostQuery(id: number, answer: PostQueryAnswerInput): Promise<PostQuery | 'not-found' | 'answered' | 'link-down' | 'unreachable'> {
    const cl = this.deps.cluster
    if (!cl || cl.forwarder) return this.answerHere(id, answer)
    const q = await this.deps.store.getPostQuery(id)
    if (q?.direction !== 'in') return 'not-found'
    if (q.answeredAt !== null) return 'answered'
    const a = await cl.call({ superiors: true }, { op: 'answer-post-query', id, answer }, CALL_MS)
    if (a.ok) return a.value
    if (a.reason === 'failed') throw new Error(`the worker running the superiors' links failed: ${a.message}`)
    return 'unreachable'
  }

  states(): { lower: LowerLinkState[]; superior: SuperiorLinkState[] } {
    return { lower: this.upper.states(), superior: [...this.superiors.values()].map((s) => s.states()) }
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    await this.reloading
    await Promise.all([...this.superiors.values()].map((s) => s.stop()))
    this.superiors.clear()
    this.upper.close()
    await this.server?.close()
  }

  /** This process sends to that lower platform itself: it holds the link, or there is no other worker to ask. */
  private here(platformId: number): boolean {
    return !this.deps.cluster || this.upper.isLoggedIn(platformId)
  }

  /**
   * The enabled lower platforms `fits` that this process does not hold, the one that enrolled the
   * vehicle first: the primary gives the call to the worker holding the first logged in anywhere.
   */
  private async elsewhere(fits: (p: Platform) => boolean, enrolledBy: number | null): Promise<number[]> {
    const all = await this.deps.store.listPlatforms('lower')
    return all
      .filter((p) => p.enabled && fits(p) && !this.upper.isLoggedIn(p.id))
      .sort((a, b) => Number(b.id === enrolledBy) - Number(a.id === enrolledBy))
      .map((p) => p.id)
  }

  private async remote<C extends PlatformCall>(to: PlatformHolder, call: C, timeoutMs: number): Promise<NonNullable<PlatformCallResults[C['op']]> | NotSent> {
    const a = await this.deps.cluster!.call(to, call, timeoutMs)
    if (a.ok) return a.value ?? 'not-logged-in'
    if (a.reason === 'failed') throw new Error(`the worker holding the platform link failed: ${a.message}`)
    return a.reason === 'not-held' ? 'not-logged-in' : 'unreachable'
  }

  /** A call another worker routed here, because this one holds the link (lower platforms) or runs the superiors'. */
  private run(call: PlatformCall, platformId: number | null): Promise<PlatformCallResults[PlatformCall['op']]> {
    switch (call.op) {
      case 'post-query':
        return this.upper.postQuery(call.platformId, call.query)
      case 'waybill-request':
        return Promise.resolve(this.upper.requestWaybill(call.platformId, call.plate, call.plateColor))
      case 'supervise':
        return platformId === null ? Promise.resolve(null) : this.upper.supervise(call.anomaly, call.supervisor, platformId)
      case 'vehicle-command':
        return platformId === null ? Promise.resolve(null) : this.commandHere(call.vehicle, call.command, call.ttlMs, call.waitMs, platformId)
      case 'answer-post-query':
        return this.answerHere(call.id, call.answer)
    }
  }

  /** Sends the command through a platform logged in here (`via`: that one) and waits up to waitMs for its final reply. */
  private async commandHere(v: PlatformVehicle, command: VehicleCommand, ttlMs: number, waitMs: number, via?: number): Promise<VehicleCommandSent | null> {
    const sent = await this.upper.vehicleCommand(v, command, ttlMs, via)
    if (!sent) return null
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race([sent.settled, new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)))]).finally(() => clearTimeout(timer))
    return { id: sent.id, platformId: sent.platformId, msgId: sent.msgId, expiresAt: sent.expiresAt, outcome }
  }

  private async answerHere(id: number, answer: PostQueryAnswerInput): Promise<PostQuery | 'not-found' | 'answered' | 'link-down'> {
    const q = await this.deps.store.getPostQuery(id)
    if (q?.direction !== 'in') return 'not-found'
    if (q.answeredAt !== null) return 'answered'
    const s = this.superiors.get(q.platformId)
    if (!s?.answerPostQuery(q, answer)) return 'link-down'
    return (await this.deps.store.answerIncomingPostQuery(id, { at: this.now(), ...answer })) ?? 'answered'
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return
    const all = await this.deps.store.listPlatforms()
    const byId = new Map<number, Platform>(all.map((p) => [p.id, p]))
    // lower platforms: a changed, disabled or removed one is logged out (it logs in again under the new settings)
    for (const [id, at] of this.seen) {
      const p = byId.get(id)
      if (p?.role === 'lower' && p.updatedAt === at && p.enabled) continue
      if (!p || p.role === 'lower') this.upper.drop(id, p ? 'platform settings changed' : 'platform removed')
    }
    this.seen.clear()
    for (const p of all) if (p.role === 'lower') this.seen.set(p.id, p.updatedAt)
    // superiors, several workers: the forwarder worker runs their links; the others relay to it
    if (this.relayTo) {
      const sel = { licences: new Set<string>(), vehicleIds: new Set<number>() }
      for (const p of all) {
        if (p.role !== 'superior' || !p.enabled) continue
        for (const l of p.enterpriseLicences) sel.licences.add(l)
        for (const ref of p.vehicles) {
          const v = await this.deps.store.findPlatformVehicle(ref.plate, ref.plateColor)
          if (v) sel.vehicleIds.add(v.id)
        }
      }
      this.relaySelection = sel
      return
    }
    // without a cluster to relay through, forwarding follows this process's commits only
    if (this.deps.config.workers > 1 && !this.deps.cluster) {
      if (all.some((p) => p.role === 'superior' && p.enabled) && !this.warnedWorkers) {
        this.warnedWorkers = true
        this.log.warn("superior platforms are not served with --workers > 1 (forwarding follows one process's commits): run the forwarding gateway with one worker")
      }
      return
    }
    for (const [id, s] of this.superiors) {
      const p = byId.get(id)
      if (!p?.enabled || p.role !== 'superior') {
        this.superiors.delete(id)
        await s.stop()
      }
    }
    for (const p of all) {
      if (p.role !== 'superior' || !p.enabled || this.closed) continue
      const running = this.superiors.get(p.id)
      if (running) {
        if (running.updatedAt !== p.updatedAt) await running.update(p)
        continue
      }
      const s = new SuperiorLink(p, {
        store: this.deps.store,
        metrics: this.metrics,
        log: this.log,
        now: this.now,
        idleMs: this.deps.config.platformIdleSeconds * 1000,
        linkTestMs: this.deps.linkTestMs,
        backlogRate: this.deps.config.platformBacklogRate,
        downlink: () => this.downlink(),
        badFramesBeforeClose: this.deps.config.badFramesBeforeClose,
        postQueryMinutes: this.deps.config.platformPostQueryMinutes,
        outboxMs: this.deps.outboxMs,
        control: {
          findVehicle: (plate, color) => this.deps.store.findVehicle(plate, color),
          commander: this.deps.commander ?? null,
          findPhoto: (phones, since, ids) => this.deps.store.findMedia(phones, since, ids),
          timeoutMs: this.deps.config.commandTimeoutSeconds * 1000,
        },
      })
      this.superiors.set(p.id, s)
      await s.start()
    }
  }

  /** The rows of a superior's selection go to the forwarder worker (extras dropped: not forwarded). */
  private relay(rows: CommittedPosition[], to: PlatformCluster): void {
    const { licences, vehicleIds } = this.relaySelection
    if (!licences.size && !vehicleIds.size) return
    const out: CommittedPosition[] = []
    for (const r of rows) {
      if ((r.enterpriseLicenseNo !== null && licences.has(r.enterpriseLicenseNo)) || vehicleIds.has(r.vehicleId)) {
        const recorderSpeed = r.extras.recorderSpeed
        out.push({ ...r, extras: typeof recorderSpeed === 'number' ? { recorderSpeed } : {} })
      }
    }
    if (out.length) to.relay(out)
  }

  /**
   * What we announce to superiors for their sub-link: our 809 server (none: port 0). Several
   * workers share that port and a superior's sub-link would reach any of them, not the forwarder:
   * none is announced (the superior talks to us on our main link).
   */
  private downlink(): { ip: string; port: number } {
    const a = this.server?.address()
    if (!a || this.deps.cluster) return { ip: '', port: 0 }
    const c = this.deps.config
    const host = c.platformDownlinkHost ?? (c.platformHost === '0.0.0.0' || c.platformHost === '::' ? '127.0.0.1' : c.platformHost)
    return { ip: host, port: a.port }
  }
}

export async function startPlatforms(deps: PlatformsDeps): Promise<Platforms> {
  const p = new Platforms(deps)
  await p.start()
  return p
}
