/**
 * 0x0900 uplink / 0x8900 downlink pass-through: type BYTE (0x00 GNSS detail, 0x0B IC card,
 * 0x41/0x42 serial ports, 0xF0-0xFF user defined), then content kept as bytes (hex).
 */
import type { BodyCodec } from '../message.js'

export interface PassThrough {
  type: number
  /** Content as sent. */
  hex: string
}

export const passThrough: BodyCodec<PassThrough> = {
  decode(r) {
    const type = r.u8('type')
    return { type, hex: r.rest().toString('hex') }
  },
  encode(w, b) {
    w.u8(b.type).bytes(Buffer.from(b.hex, 'hex'))
  },
}
