/**
 * 0x0102 terminal authentication.
 *   2011/2013: auth code STRING (the rest of the body)
 *   2019:      code length BYTE, auth code, IMEI BYTE[15], software version BYTE[20]
 */
import type { HasAsSent } from '../bytes.js'
import type { BodyCodec } from '../message.js'

export interface Auth extends HasAsSent {
  authCode: string
  /** 2019 only */
  imei?: string
  /** 2019 only */
  softwareVersion?: string
}

export const auth: BodyCodec<Auth> = {
  decode(r, h) {
    const body = {} as Auth
    if (h.version !== 2019) {
      body.authCode = r.restText('authCode', body)
      return body
    }
    body.authCode = r.prefixedText('authCode', body)
    body.imei = r.fixedText(15, 'imei', body)
    body.softwareVersion = r.fixedText(20, 'softwareVersion', body)
    return body
  },
  encode(w, b, h) {
    if (h.version !== 2019) {
      w.text(b.authCode, 'authCode', b)
      return
    }
    w.prefixedText(b.authCode, 'authCode', b)
    w.fixedText(b.imei ?? '', 15, 'imei', b)
    w.fixedText(b.softwareVersion ?? '', 20, 'softwareVersion', b)
  },
}
