/**
 * 0x0701 electronic waybill report: length DWORD, then the waybill content, kept as bytes (hex):
 * its format is agreed between the carrier and the platform, not by JT/T 808.
 */
import type { BodyCodec } from '../message.js'

export interface Waybill {
  /** Waybill content as sent. */
  hex: string
  /** Length field as sent, when it differs from the content length. */
  declaredLength?: number
}

export const waybill: BodyCodec<Waybill> = {
  decode(r) {
    const declared = r.u32('waybill length')
    // Keep whatever follows, even when the length field disagrees: the waybill must not be lost.
    const body: Waybill = { hex: r.rest().toString('hex') }
    if (declared !== body.hex.length / 2) body.declaredLength = declared
    return body
  },
  encode(w, b) {
    const bytes = Buffer.from(b.hex, 'hex')
    w.u32(b.declaredLength ?? bytes.length).bytes(bytes)
  },
}
