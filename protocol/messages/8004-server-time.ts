/**
 * 0x8004 server time reply (2019; the query 0x0004 has an empty body): time BCD[6], which
 * JT/T 808-2019 defines as UTC — unlike every other BCD time in the protocol (Beijing time).
 */
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'

export interface ServerTime {
  /** "2024-10-29T13:39:03Z", or the 12 BCD digits as sent when they are not a valid time. */
  time: string
}

export const serverTime: BodyCodec<ServerTime> = {
  decode(r) {
    const d = r.bcd(6, 'time')
    const iso = `20${d.slice(0, 2)}-${d.slice(2, 4)}-${d.slice(4, 6)}T${d.slice(6, 8)}:${d.slice(8, 10)}:${d.slice(10, 12)}Z`
    const ms = /^\d{12}$/.test(d) ? Date.parse(iso) : NaN
    return { time: !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) + 'Z' === iso ? iso : d }
  },
  encode(w, b) {
    w.bcd(utcDigits(b.time), 6)
  },
}

function utcDigits(text: string): string {
  if (/^[0-9a-fA-F]{12}$/.test(text)) return text
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new CodecFault('BAD_FIELD', `"${text}" is not a time`)
  const iso = new Date(ms).toISOString()
  return iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19)
}
