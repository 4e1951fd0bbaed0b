/**
 * bench/ack-floor: the socket floor of the end-to-end bench — a Node TCP server that does the
 * least any JT/T 808 gateway must do per report: read the socket, find the frame, check it, and
 * write a 0x8001 back. Nothing is decoded past the header, stored or published. It answers
 * 0x0100 with an 0x8100 carrying an auth code and everything else with 0x8001 result 0, so
 * bench/loadgen's terminals run against it unchanged.
 *
 * bench/ingest e2e --floor runs the same load against it before the gateway: the gap between the
 * two is what the gateway's own work costs, the floor itself is what node:net and the kernel's
 * loopback TCP cost on this machine (and what the load generator leaves of it).
 */
import { createServer, type Server, type Socket } from 'node:net'
import { Deframer, encodeMessage, GeneralReplyWriter, parseFrame } from '../protocol/index.js'

export function startAckFloor(host = '127.0.0.1', port = 0): Promise<Server> {
  let serial = 0
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true)
    let replies: GeneralReplyWriter | null = null
    const deframer = new Deframer({
      onError: () => undefined,
      onFrame: (escaped) => {
        const parsed = parseFrame(escaped)
        if (!parsed.ok) return
        const h = parsed.value.header
        serial = (serial + 1) & 0xffff
        if (h.msgId === 0x0100) {
          const reply = encodeMessage({ msgId: 0x8100, phone: h.phone, serial, version: h.version, body: { replySerial: h.serial, result: 0, authCode: 'FLOOR' } })
          if (reply.ok) socket.write(reply.value)
          return
        }
        if (replies === null || !replies.fits(h.phone, h.version, h.versionFlag, h.protocolVersion)) replies = new GeneralReplyWriter({ ...h, encryption: 0, reservedBit: false })
        socket.write(replies.reply(serial, h.serial, h.msgId, 0))
      },
    })
    socket.on('data', (chunk: Buffer) => deframer.push(chunk))
    socket.on('error', () => undefined)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
