/**
 * 0x8203 manual alarm confirmation: serial WORD of the alarm message to confirm (0 = all of the
 * given types), alarm type DWORD (bits as in the 0x0200 alarm word: 0, 3, 20, 21, 22, 27, 28).
 */
import { Layout } from '../layout.js'

export interface AlarmConfirm {
  replySerial: number
  alarmType: number
}

export const alarmConfirm = new Layout<AlarmConfirm>([
  ['u16', 'replySerial'],
  ['u32', 'alarmType'],
]).codec('serial/alarm type')
