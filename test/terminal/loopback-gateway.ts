/**
 * Test double of a gateway (a fixture, not the product): accepts TCP connections on loopback,
 * decodes every frame with protocol/ and answers 0x8001 (or 0x8100 for 0x0100 once the codec
 * has it), recording what arrived. Tests drive terminals against it until they run against
 * src/gateway itself.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { Deframer, decodeFrame, encodeMessage, type CodecError, type Message, type OutgoingMessage } from '../../protocol/index.js'
import { isKnownMsgId } from '../../protocol/index.js'

export interface LoopbackOptions {
  /** Result code for a message (0 ok); null sends no answer. Default: 0 for everything. */
  result?: (m: Message) => number | null
  /** Auth code handed out in 0x8100. */
  authCode?: string
}

export interface Received {
  message: Message
  connection: number
  at: number
}

export class LoopbackGateway {
  readonly received: Received[] = []
  readonly badFrames: CodecError[] = []
  readonly sockets: Socket[] = []
  private serial = 0
  private constructor(
    readonly server: Server,
    private readonly options: LoopbackOptions,
  ) {}

  static async start(options: LoopbackOptions = {}): Promise<LoopbackGateway> {
    const server = createServer()
    const gw = new LoopbackGateway(server, options)
    server.on('connection', (s) => gw.accept(s))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return gw
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port
  }

  /** Sends a platform message on connection `index` (in accept order). */
  command(index: number, msgId: number, body: unknown, phone: string, version: 2013 | 2019 = 2013): number {
    const serial = this.serial++ & 0xffff
    const out = encodeMessage({ msgId, phone, serial, version, body } as OutgoingMessage)
    if (!out.ok) throw new Error(out.error.message)
    this.sockets[index].write(out.value)
    return serial
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(socket: Socket): void {
    const connection = this.sockets.length
    this.sockets.push(socket)
    socket.on('error', () => {})
    const deframer = new Deframer({
      onFrame: (escaped) => {
        const d = decodeFrame(escaped)
        if (!d.ok) {
          this.badFrames.push(d.error)
          return
        }
        const m = d.value.message
        this.received.push({ message: m, connection, at: Date.now() })
        if (m.msgId < 0x8000 && m.msgId !== 0x0001 && !(m.msgId >= 0x0104 && m.msgId <= 0x0107) && m.msgId !== 0x0201) this.reply(socket, m)
      },
      onError: (e) => this.badFrames.push(e),
    })
    socket.on('data', (c: Buffer) => deframer.push(c))
  }

  private reply(socket: Socket, m: Message): void {
    const result = this.options.result ? this.options.result(m) : 0
    if (result === null) return
    const serial = this.serial++ & 0xffff
    const base = { phone: m.phone, serial, version: m.version === 2019 ? 2019 : 2013 } as const
    const out =
      m.msgId === 0x0100 && isKnownMsgId(0x8100)
        ? encodeMessage({ ...base, msgId: 0x8100, body: { replySerial: m.serial, result, ...(result === 0 ? { authCode: this.options.authCode ?? 'AUTH-1' } : {}) } } as OutgoingMessage)
        : encodeMessage({ ...base, msgId: 0x8001, body: { replySerial: m.serial, replyId: m.msgId, result } })
    if (out.ok) socket.write(out.value)
  }
}
