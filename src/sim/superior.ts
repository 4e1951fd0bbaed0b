/**
 * A simulated superior platform (JT/T 809 upper side) of the simplest kind, for tests and
 * bench/platform.ts: accepts any 0x1001 login,
 * answers link tests, and keeps every position it is sent (0x1202 / 0x1203) by plate and device
 * time. No sub-link (we announce none with several workers). It can be stopped (an outage: its
 * connections are cut) and started again on the same port. It can ask a 查岗 (0x9301) of whoever
 * is logged in, and keeps the other business messages it is sent (answers among them).
 */
import { createServer, type Server, type Socket } from 'node:net'
import { decodeFrame809, Deframer809, encodeMessage809, type Edition, type Message809 } from '../../protocol/jt809/index.js'

export class FakeSuperior {
  /** plate → device time → how many times it arrived */
  readonly positions = new Map<string, Map<number, number>>()
  /** distinct positions received */
  unique = 0
  readonly byMsg = { 0x1202: 0, 0x1203: 0 }
  logins = 0
  linkTests = 0
  /** what else came (not positions, link tests or logins): 0x1300 answers, 0x1400, 0x1500 … (the latest 10,000) */
  readonly received: Message809[] = []
  private readonly centres = new Map<(msgId: number, body: unknown, gnssCentreId: number) => void, number>()
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(private readonly edition: Edition = 2011) {}

  async start(port = 0): Promise<number> {
    const server = createServer((s) => this.accept(s))
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()))
    this.server = server
    this.port = (server.address() as { port: number }).port
    return this.port
  }

  /** Cuts every connection and stops listening. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise((r) => this.server?.close(r))
    this.server = null
  }

  has(plate: string, deviceTime: number): boolean {
    return this.positions.get(plate)?.has(deviceTime) ?? false
  }

  /** 查岗 (0x9300/0x9301, the 2011 body) to every platform logged in; how many were asked. */
  postQuery(infoId: number, content: string): number {
    for (const [send, centre] of this.centres) send(0x9300, { dataType: 0x9301, data: { objectType: 0, objectId: String(centre), infoId, content } }, centre)
    return this.centres.size
  }

  /** Positions received more than once. */
  duplicates(): number {
    return this.byMsg[0x1202] + this.byMsg[0x1203] - this.unique
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket)
    socket.on('error', () => undefined)
    let sn = 0
    const send = (msgId: number, body: unknown, gnssCentreId: number) => {
      const r = encodeMessage809({ msgId, body, sn: sn++, gnssCentreId, edition: this.edition, ...(this.edition === 2019 ? { time: Math.floor(Date.now() / 1000) } : {}) } as Parameters<
        typeof encodeMessage809
      >[0])
      if (r.ok) socket.write(r.value)
    }
    socket.on('close', () => {
      this.sockets.delete(socket)
      this.centres.delete(send)
    })
    const deframer = new Deframer809({
      onFrame: (content, info) => {
        const r = decodeFrame809(content, { unescaped: info.unescaped, edition: this.edition })
        if (r.ok) this.message(r.value.message, send)
      },
      onError: () => undefined,
    })
    socket.on('data', (c: Buffer) => deframer.push(c))
  }

  private message(m: Message809, send: (msgId: number, body: unknown, gnssCentreId: number) => void): void {
    if (m.msgId === 0x1001) {
      this.logins++
      this.centres.set(send, m.gnssCentreId)
      send(0x1002, { result: 0, verifyCode: 4242 }, m.gnssCentreId)
    } else if (m.msgId === 0x1005) {
      this.linkTests++
      send(0x1006, {}, m.gnssCentreId)
    } else if (m.msgId === 0x1200) {
      const body = m.body as {
        plate?: string
        dataType: number
        data: { position?: { timeMs?: number | null; gnss?: { timeMs?: number | null } }; positions?: Array<{ timeMs?: number | null; gnss?: { timeMs?: number | null } }> }
      }
      if (body.dataType !== 0x1202 && body.dataType !== 0x1203) return this.keep(m)
      const list = body.dataType === 0x1202 ? [body.data.position!] : body.data.positions!
      this.byMsg[body.dataType] += list.length
      const plate = (body.plate ?? '').trim()
      let times = this.positions.get(plate)
      if (!times) this.positions.set(plate, (times = new Map()))
      for (const p of list) {
        const time = p.timeMs ?? p.gnss?.timeMs ?? -1
        const n = times.get(time) ?? 0
        if (n === 0) this.unique++
        times.set(time, n + 1)
      }
    } else this.keep(m)
  }

  private keep(m: Message809): void {
    this.received.push(m)
    if (this.received.length > 10_000) this.received.shift()
  }
}
