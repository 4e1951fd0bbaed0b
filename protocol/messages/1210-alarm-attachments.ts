/**
 * 0x1210 alarm attachment information (T/JSATL12 §4.5.2), sent on the attachment server
 * connection after the platform's 0x9208:
 *   terminal ID BYTE[7], alarm flag BYTE[16], alarm number BYTE[32], info type BYTE
 *   (0 normal, 1 supplementary), attachment count BYTE, then per file:
 *   name length BYTE, name STRING, size DWORD
 */
import type { HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { ALARM_FLAG_LENGTH, readAlarmFlag, writeAlarmFlag, type AlarmFlag } from './active-safety.js'

export interface AttachmentFile extends HasAsSent {
  name: string
  size: number
}

export interface AlarmAttachments extends HasAsSent {
  terminalId: string
  alarmFlag: AlarmFlag
  /** Unique number the platform gave the alarm in 0x9208 (BYTE[32]). */
  alarmNumber: string
  /** 0 normal, 1 supplementary */
  infoType: number
  files: AttachmentFile[]
}

export const alarmAttachments: BodyCodec<AlarmAttachments> = {
  decode(r) {
    const body = {} as AlarmAttachments
    body.terminalId = r.fixedText(7, 'terminalId', body)
    body.alarmFlag = readAlarmFlag(r.bytes(ALARM_FLAG_LENGTH, 'alarm flag'))
    body.alarmNumber = r.fixedText(32, 'alarmNumber', body)
    body.infoType = r.u8('info type')
    const count = r.u8('attachment count')
    body.files = []
    for (let i = 0; i < count; i++) {
      const file = {} as AttachmentFile
      file.name = r.prefixedText('name', file)
      file.size = r.u32('file size')
      body.files.push(file)
    }
    return body
  },
  encode(w, b) {
    if (b.files.length > 255) throw new CodecFault('BAD_FIELD', `${b.files.length} files do not fit a BYTE count`)
    w.fixedText(b.terminalId, 7, 'terminalId', b)
    writeAlarmFlag(w, b.alarmFlag)
    w.fixedText(b.alarmNumber, 32, 'alarmNumber', b)
    w.u8(b.infoType).u8(b.files.length)
    for (const f of b.files) w.prefixedText(f.name, 'name', f).u32(f.size)
  },
}
