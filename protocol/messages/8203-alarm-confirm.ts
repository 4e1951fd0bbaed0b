/**
 * 0x8203 manual alarm confirmation: serial WORD of the alarm message to confirm (0 = all of the
 * given types), alarm type DWORD (bits as in the 0x0200 alarm word: 0, 3, 20, 21, 22, 27, 28).
 */
import { layout, Layout } from '../layout.js'
import type { BodyCodec } from '../message.js'

export interface AlarmConfirm {
  replySerial: number
  alarmType: number
}

const LAYOUT = new Layout<AlarmConfirm>(layout().uint16('replySerial').uint32('alarmType'))

export const alarmConfirm: BodyCodec<AlarmConfirm> = {
  decode: (r) => LAYOUT.read(r, 'serial/alarm type'),
  encode(w, b) {
    w.u16(b.replySerial).u32(b.alarmType)
  },
}
