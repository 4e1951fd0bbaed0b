/** 0x8202 temporary location tracking: interval WORD (s; 0 stops tracking), validity DWORD (s). */
import { layout, Layout } from '../layout.js'
import type { BodyCodec } from '../message.js'

export interface Tracking {
  interval: number
  validity: number
}

const LAYOUT = new Layout<Tracking>(layout().uint16('interval').uint32('validity'))

export const tracking: BodyCodec<Tracking> = {
  decode: (r) => LAYOUT.read(r, 'interval/validity'),
  encode(w, b) {
    w.u16(b.interval).u32(b.validity)
  },
}
