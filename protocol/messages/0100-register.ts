/**
 * 0x0100 terminal registration.
 *   province WORD, city WORD, manufacturer, model, terminal ID, plate colour BYTE, plate STRING
 *   widths of manufacturer / model / terminal ID: 5/8/7 (2011), 5/20/7 (2013), 11/30/30 (2019)
 * 2011 and 2013 share a header, so the body tells them apart (looks2011): by length, and for
 * long 2011 bodies (a VIN as plate) by where a plausible plate colour byte sits. The decoder
 * sets header.version = 2011 for those.
 */
import type { HasAsSent } from '../bytes.js'
import type { ProtocolVersion } from '../header.js'
import { Layout } from '../layout.js'
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

/**
 * 2011 or 2013 (same header): a body shorter than the smallest 2013 body is 2011. The one long
 * 2011 body is a 17-character VIN sent instead of a plate (colour 0): 25 + 17 = 42 bytes, as long
 * as a 2013 body with a 5-byte plate. There the 2011 colour byte is 0 and the 2013 layout's colour
 * byte falls on a VIN character (ASCII letter or digit), which no colour code is.
 */
function looks2011(buf: Buffer, at: number, length: number): boolean {
  if (length < MIN_2013) return true
  return length === 25 + 17 && buf[at + 24] === 0 && isAsciiAlnum(buf[at + 36])
}

function isAsciiAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
}

const REGION = new Layout<Register>([
  ['u16', 'province'],
  ['u16', 'city'],
])

export const register: BodyCodec<Register> = {
  decode(r, h) {
    if (h.version !== 2019 && looks2011(r.buf, r.offset, r.remaining)) h.version = 2011
    const [maker, model, id] = WIDTHS[h.version]
    const body = REGION.read(r, 'province/city')
    body.manufacturer = r.fixedText(maker, 'manufacturer', body)
    body.model = r.fixedText(model, 'model', body)
    body.terminalId = r.fixedText(id, 'terminalId', body)
    body.plateColor = r.u8('plate colour')
    body.plate = r.restText('plate', body)
    return body
  },
  encode(w, b, h) {
    const [maker, model, id] = WIDTHS[h.version]
    REGION.write(w, b)
    w.fixedText(b.manufacturer, maker, 'manufacturer', b)
    w.fixedText(b.model, model, 'model', b)
    w.fixedText(b.terminalId, id, 'terminalId', b)
    w.u8(b.plateColor).text(b.plate, 'plate', b)
  },
}
