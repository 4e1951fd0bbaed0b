/** A lower platform driven by hand over loopback: raw JT/T 809 frames in and out. */
import { connect, type Socket } from 'node:net'
import { decodeFrame809, Deframer809, encodeMessage809, type EncryptionKeys, type Edition, type Message809 } from '../../protocol/jt809/index.js'
import { beijingIso } from '../../src/platform/positions.js'
import { eventually } from '../gateway/harness.js'

export class RawPlatform {
  readonly received: Message809[] = []
  closed = false
  private sn = 0
  private readonly deframer = new Deframer809({
    onFrame: (content, info) => {
      const r = decodeFrame809(content, { unescaped: info.unescaped, edition: this.edition, keys: this.keys })
      if (r.ok) this.received.push(r.value.message)
    },
    onError: () => undefined,
  })

  private constructor(
    readonly socket: Socket,
    readonly accessCode: number,
    readonly edition: Edition,
    readonly keys?: EncryptionKeys,
  ) {
    socket.on('data', (c: Buffer) => this.deframer.push(c))
    socket.on('close', () => (this.closed = true))
    socket.on('error', () => undefined)
  }

  static async open(port: number, accessCode: number, edition: Edition = 2011, keys?: EncryptionKeys): Promise<RawPlatform> {
    const s = connect({ host: '127.0.0.1', port })
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject))
    return new RawPlatform(s, accessCode, edition, keys)
  }

  send(msgId: number, body: unknown): void {
    const r = encodeMessage809({
      msgId,
      body,
      sn: this.sn++,
      gnssCentreId: this.accessCode,
      edition: this.edition,
      ...(this.edition === 2019 ? { time: Math.floor(Date.now() / 1000) } : {}),
    } as Parameters<typeof encodeMessage809>[0])
    if (!r.ok) throw new Error(r.error.message)
    this.socket.write(r.value)
  }

  /** Bytes as they are (a captured frame). */
  write(hex: string): void {
    this.socket.write(Buffer.from(hex, 'hex'))
  }

  async reply(msgId: number): Promise<Message809> {
    return eventually(() => this.received.find((m) => m.msgId === msgId), 5000)
  }

  async login(userId: number, password: string): Promise<number> {
    this.send(0x1001, { userId, password, ...(this.edition === 2019 ? { gnssCentreId: this.accessCode } : {}), downLinkIp: '', downLinkPort: 0 })
    return ((await this.reply(0x1002)).body as { result: number }).result
  }

  position(plate: string, plateColor: number, time: number, speed = 50, dataType = 0x1202, longitude = 117.12): void {
    const p = {
      edition: 2011,
      encrypt: 0,
      time: beijingIso(time),
      timeMs: time,
      longitude,
      latitude: 36.65,
      speed,
      recorderSpeed: speed,
      mileage: 1000,
      direction: 90,
      altitude: 30,
      state: 3,
      alarm: 0,
    }
    this.send(0x1200, { plate, plateColor, dataType, data: dataType === 0x1202 ? { position: p } : { positions: [p] } })
  }

  close(): void {
    this.socket.destroy()
  }
}
