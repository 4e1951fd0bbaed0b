/**
 * 0x1210 alarm attachment information (T/JSATL12-2017 §4.5.2; T/GDRTA 002-2020 the same with
 * its wider IDs), sent on the attachment server connection after the platform's 0x9208:
 *   terminal ID BYTE[7 | 30], alarm id BYTE[16 | 40], alarm number BYTE[32], info type BYTE
 *   (0 normal, 1 supplementary), attachment count BYTE, then per file:
 *   name length BYTE, name STRING, size DWORD
 * The variant is read from the body: the layout whose file list ends exactly at the end of the
 * body (the 2019 header's tried first as Guangdong), so a decoded body re-encodes to its bytes.
 */
import { BodyReader, type HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { ALARM_ID_LAYOUT, readAlarmId, writeAlarmId, type AlarmFlag, type AttachmentVariant } from './active-safety.js'

export interface AttachmentFile extends HasAsSent {
  name: string
  size: number
}

export interface AlarmAttachments extends HasAsSent {
  variant: AttachmentVariant
  terminalId: string
  alarmFlag: AlarmFlag
  /** Unique number the platform gave the alarm in 0x9208 (BYTE[32]). */
  alarmNumber: string
  /** 0 normal, 1 supplementary (the terminal resumes an interrupted upload) */
  infoType: number
  files: AttachmentFile[]
}

/** Reads the body in one layout; throws CodecFault when it does not fit. */
export function readAlarmAttachments(r: BodyReader, variant: AttachmentVariant): AlarmAttachments {
  const body = { variant } as AlarmAttachments
  body.terminalId = r.fixedText(ALARM_ID_LAYOUT[variant].terminalId, 'terminalId', body)
  body.alarmFlag = readAlarmId(r, variant)
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
}

export const alarmAttachments: BodyCodec<AlarmAttachments> = {
  decode(r, h) {
    const order: AttachmentVariant[] = h.version === 2019 ? ['gdrta', 'jsatl12'] : ['jsatl12', 'gdrta']
    const start = r.offset
    let first: { body: AlarmAttachments; offset: number } | null = null
    let firstError: unknown = null
    for (const variant of order) {
      const sub = new BodyReader(r.buf, start, r.end)
      try {
        const body = readAlarmAttachments(sub, variant)
        if (sub.offset === r.end) {
          r.offset = sub.offset
          return body
        }
        first ??= { body, offset: sub.offset }
      } catch (e) {
        firstError ??= e
      }
    }
    if (first) {
      r.offset = first.offset // the rest becomes `trailing`
      return first.body
    }
    throw firstError
  },
  encode(w, b) {
    if (b.files.length > 255) throw new CodecFault('BAD_FIELD', `${b.files.length} files do not fit a BYTE count`)
    const variant = b.variant ?? 'jsatl12'
    w.fixedText(b.terminalId, ALARM_ID_LAYOUT[variant].terminalId, 'terminalId', b)
    writeAlarmId(w, b.alarmFlag, variant)
    w.fixedText(b.alarmNumber, 32, 'alarmNumber', b)
    w.u8(b.infoType).u8(b.files.length)
    for (const f of b.files) w.prefixedText(f.name, 'name', f).u32(f.size)
  },
}
