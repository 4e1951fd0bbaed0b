/**
 * 0x0100 terminal registration.
 *   province WORD, city WORD, manufacturer, model, terminal ID, plate colour BYTE, plate STRING
 *   widths of manufacturer / model / terminal ID: 5/8/7 (2011), 5/20/7 (2013), 11/30/30 (2019)
 * 2011 and 2013 share a header, so the body tells them apart: a 2013 body is at least 37 bytes,
 * a 2011 body with a real plate is shorter. The decoder sets header.version = 2011 for those.
 */
import type { HasAsSent } from '../bytes.js'
import type { ProtocolVersion } from '../header.js'
import { layout, Layout } from '../layout.js'
import type { BodyCodec } from '../message.js'

export interface Register extends HasAsSent {
  /** GB/T 2260 province code */
  province: number
  /** GB/T 2260 city / county code */
  city: number
  manufacturer: string
  model: string
  terminalId: string
  /** JT/T 697.7 colour; 0 = no plate (then `plate` is the VIN) */
  plateColor: number
  plate: string
}

const WIDTHS: Record<ProtocolVersion, [number, number, number]> = {
  2011: [5, 8, 7],
  2013: [5, 20, 7],
  2019: [11, 30, 30],
}
/** Smallest 2013 body: 2 + 2 + 5 + 20 + 7 + 1 with an empty plate. */
const MIN_2013 = 37

const REGION = new Layout<{ province: number; city: number }>(layout().uint16('province').uint16('city'))

export const register: BodyCodec<Register> = {
  decode(r, h) {
    if (h.version !== 2019 && r.remaining < MIN_2013) h.version = 2011
    const [maker, model, id] = WIDTHS[h.version]
    const body = REGION.read(r, 'province/city') as Register
    body.manufacturer = r.fixedText(maker, 'manufacturer', body)
    body.model = r.fixedText(model, 'model', body)
    body.terminalId = r.fixedText(id, 'terminalId', body)
    body.plateColor = r.u8('plate colour')
    body.plate = r.restText('plate', body)
    return body
  },
  encode(w, b, h) {
    const [maker, model, id] = WIDTHS[h.version]
    w.u16(b.province).u16(b.city)
    w.fixedText(b.manufacturer, maker, 'manufacturer', b)
    w.fixedText(b.model, model, 'model', b)
    w.fixedText(b.terminalId, id, 'terminalId', b)
    w.u8(b.plateColor).text(b.plate, 'plate', b)
  },
}
