/**
 * 0x0107 terminal attributes (reply to the empty 0x8107 query):
 *   terminal type WORD, manufacturer BYTE[5], model BYTE[20] (2019: [30]),
 *   terminal ID BYTE[7] (2019: [30]), ICCID BCD[10], hardware version (BYTE length + STRING),
 *   firmware version (BYTE length + STRING), GNSS module attributes BYTE, comm module attributes BYTE
 */
import type { HasAsSent } from '../bytes.js'
import type { BodyCodec } from '../message.js'

export interface TerminalAttributes extends HasAsSent {
  /** Bit 0 passenger, 1 hazardous goods, 2 ordinary freight, 3 taxi, 6 recorder, 7 split unit. */
  terminalType: number
  manufacturer: string
  model: string
  terminalId: string
  /** 20 BCD digits as sent */
  iccid: string
  hardwareVersion: string
  firmwareVersion: string
  /** Bit 0 GPS, 1 BeiDou, 2 GLONASS, 3 Galileo */
  gnss: number
  /** Bit 0 GPRS, 1 CDMA, 2 TD-SCDMA, 3 WCDMA, 4 CDMA2000, 5 TD-LTE, 7 other */
  comm: number
}

export const terminalAttributes: BodyCodec<TerminalAttributes> = {
  decode(r, h) {
    const wide = h.version === 2019
    const body = { terminalType: r.u16('terminal type') } as TerminalAttributes
    body.manufacturer = r.fixedText(5, 'manufacturer', body)
    body.model = r.fixedText(wide ? 30 : 20, 'model', body)
    body.terminalId = r.fixedText(wide ? 30 : 7, 'terminalId', body)
    body.iccid = r.bcd(10, 'ICCID')
    body.hardwareVersion = r.prefixedText('hardwareVersion', body)
    body.firmwareVersion = r.prefixedText('firmwareVersion', body)
    body.gnss = r.u8('GNSS attributes')
    body.comm = r.u8('communication attributes')
    return body
  },
  encode(w, b, h) {
    const wide = h.version === 2019
    w.u16(b.terminalType)
    w.fixedText(b.manufacturer, 5, 'manufacturer', b)
    w.fixedText(b.model, wide ? 30 : 20, 'model', b)
    w.fixedText(b.terminalId, wide ? 30 : 7, 'terminalId', b)
    w.bcd(b.iccid, 10)
    w.prefixedText(b.hardwareVersion, 'hardwareVersion', b)
    w.prefixedText(b.firmwareVersion, 'firmwareVersion', b)
    w.u8(b.gnss).u8(b.comm)
  },
}
