/**
 * The JT/T 809 server port (config.platformPort). Two kinds of connection arrive here, told apart
 * by their first message:
 *   0x1001  a lower platform's main link (upper role: upper.ts)
 *   0x9001  a superior platform's sub-link to us, with the verify code of our login (lower.ts)
 * Anything else first is refused. Frames that arrive while a login is being checked wait (a
 * bounded few) and are handled after it, in order.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { isMessage809, type Message809 } from '../../protocol/jt809/index.js'
import { hex, Link809 } from './link.js'
import type { SuperiorLink } from './lower.js'
import type { PlatformMetrics } from './metrics.js'
import type { UpperRole } from './upper.js'

const MAX_WAITING = 1_000

type Owner = { kind: 'pending'; waiting: Message809[] } | { kind: 'lower' } | { kind: 'superior'; link: SuperiorLink }

export interface PlatformServerDeps {
  upper: UpperRole
  superiors: () => Iterable<SuperiorLink>
  metrics: PlatformMetrics
  log: Logger
  now: () => number
  idleMs: number
  badFramesBeforeClose: number
}

export class PlatformServer {
  private readonly server: Server
  private readonly links = new Set<Link809>()
  private readonly owners = new Map<Link809, Owner>()

  constructor(private readonly deps: PlatformServerDeps) {
    this.server = createServer((socket) => this.accept(socket))
    this.server.on('error', (err) => deps.log.error({ err }, '809 server error'))
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null
  }

  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const l of this.links) l.close('shutdown')
    await stopped
  }

  private accept(socket: Socket): void {
    const d = this.deps
    const link: Link809 = new Link809({
      socket,
      kind: 'main',
      accessCode: 0,
      edition: 2011,
      encryption: null,
      log: d.log.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` }),
      metrics: d.metrics,
      now: d.now,
      idleMs: d.idleMs,
      badFramesBeforeClose: d.badFramesBeforeClose,
      onMessage: (m, _decoded, l, content, unescaped) => this.message(l, m, content, unescaped),
      onClose: (l, reason) => {
        this.links.delete(l)
        const owner = this.owners.get(l)
        this.owners.delete(l)
        if (owner?.kind === 'lower') d.upper.linkClosed(l, reason)
        else if (owner?.kind === 'superior') owner.link.subClosed(l)
      },
    })
    this.links.add(link)
  }

  private message(link: Link809, m: Message809, content: Buffer, unescaped: boolean): void {
    const owner = this.owners.get(link)
    if (owner === undefined) return this.first(link, m, content, unescaped)
    if (owner.kind === 'pending') {
      if (owner.waiting.length < MAX_WAITING) owner.waiting.push(m)
      return
    }
    if (owner.kind === 'lower') this.deps.upper.handle(link, m)
    else owner.link.handleSub(link, m)
  }

  private first(link: Link809, m: Message809, content: Buffer, unescaped: boolean): void {
    if (m.msgId === 0x1001) {
      const owner: Owner = { kind: 'pending', waiting: [] }
      this.owners.set(link, owner)
      const frame = m.bodyEncrypted ? Buffer.from(content) : content
      void this.deps.upper
        .login(link, m, frame, unescaped)
        .catch((err: unknown) => {
          link.log.error({ err }, 'lower platform login failed')
          link.close('login failed')
        })
        .then(() => {
          if (link.isClosed || !this.deps.upper.owns(link)) return
          this.owners.set(link, { kind: 'lower' })
          link.log = link.log.child({ accessCode: link.accessCode })
          for (const w of owner.waiting) this.deps.upper.handle(link, w)
        })
      return
    }
    if (m.msgId === 0x9001) {
      // a superior's sub-link: its header names our access code toward it
      const sup = [...this.deps.superiors()].find((s) => s.accessCode === m.gnssCentreId)
      let body: Message809 = m
      if (sup && m.bodyEncrypted) {
        link.configure({ accessCode: sup.accessCode, encryption: sup.encryption, edition: m.edition })
        const again = link.redecode(Buffer.from(content), unescaped)
        if (again.ok) body = again.value.message
      }
      link.configure({ accessCode: m.gnssCentreId, edition: m.edition, ...(sup ? { encryption: sup.encryption } : {}) })
      const ok = sup !== undefined && isMessage809(body, 0x9001) && sup.acceptSubLink(link, body.body.verifyCode)
      link.send({ msgId: 0x9002, body: { result: ok ? 0 : 1 } })
      if (!ok) {
        link.log.warn({ accessCode: m.gnssCentreId }, 'sub-link from a superior refused: unknown access code or verify code')
        link.close('sub-link refused')
        return
      }
      this.owners.set(link, { kind: 'superior', link: sup })
      link.log.info({ accessCode: sup.accessCode }, 'superior opened its sub-link')
      return
    }
    link.log.warn({ msgId: hex(m.msgId) }, 'first 809 message is no login: closing')
    link.close('no login')
  }
}
