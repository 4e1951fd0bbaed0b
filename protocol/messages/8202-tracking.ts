/** 0x8202 temporary location tracking: interval WORD (s; 0 stops tracking), validity DWORD (s). */
import { Layout } from '../layout.js'

export interface Tracking {
  interval: number
  validity: number
}

export const tracking = new Layout<Tracking>([
  ['u16', 'interval'],
  ['u32', 'validity'],
]).codec('interval/validity')
