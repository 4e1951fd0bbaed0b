/**
 * 0x9208 alarm attachment upload instruction (T/JSATL12-2017 table 4-21; T/GDRTA 002-2020 the
 * same with the 40-byte alarm id):
 *   server address length BYTE, server address STRING, TCP port WORD, UDP port WORD,
 *   alarm id BYTE[16 | 40], alarm number BYTE[32], reserved BYTE[16]
 * The variant follows from the body length (the alarm id is the only part whose width differs).
 */
import type { HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { ALARM_ID_LAYOUT, ATTACHMENT_VARIANTS, readAlarmId, writeAlarmId, type AlarmFlag, type AttachmentVariant } from './active-safety.js'

export interface AttachmentUploadInstruction extends HasAsSent {
  variant: AttachmentVariant
  /** IP address or host name of the attachment server */
  serverHost: string
  tcpPort: number
  /** 0 when the server takes no UDP */
  udpPort: number
  alarmFlag: AlarmFlag
  /** the platform's unique number for this alarm (BYTE[32]); the terminal quotes it in 0x1210 */
  alarmNumber: string
  /** BYTE[16] as hex (zeros) */
  reserved?: string
}

const NUMBER_LENGTH = 32
const RESERVED_LENGTH = 16

export const attachmentUploadInstruction: BodyCodec<AttachmentUploadInstruction> = {
  decode(r) {
    const body = {} as AttachmentUploadInstruction
    body.serverHost = r.prefixedText('serverHost', body)
    body.tcpPort = r.u16('TCP port')
    body.udpPort = r.u16('UDP port')
    const rest = r.remaining - NUMBER_LENGTH - RESERVED_LENGTH
    const variant = ATTACHMENT_VARIANTS.find((v) => ALARM_ID_LAYOUT[v].length === rest)
    if (variant === undefined) {
      throw new CodecFault(
        'BAD_FIELD',
        `${r.remaining} bytes after the ports fit no alarm id layout (${ATTACHMENT_VARIANTS.map((v) => ALARM_ID_LAYOUT[v].length + NUMBER_LENGTH + RESERVED_LENGTH).join(' or ')})`,
      )
    }
    body.variant = variant
    body.alarmFlag = readAlarmId(r, variant)
    body.alarmNumber = r.fixedText(NUMBER_LENGTH, 'alarmNumber', body)
    const reserved = r.bytes(RESERVED_LENGTH, 'reserved')
    if (reserved.some((b) => b !== 0)) body.reserved = reserved.toString('hex')
    return body
  },
  encode(w, b) {
    const variant = b.variant ?? 'jsatl12'
    w.prefixedText(b.serverHost, 'serverHost', b).u16(b.tcpPort).u16(b.udpPort)
    writeAlarmId(w, b.alarmFlag, variant)
    w.fixedText(b.alarmNumber, NUMBER_LENGTH, 'alarmNumber', b)
    const reserved = b.reserved === undefined ? Buffer.alloc(RESERVED_LENGTH) : Buffer.from(b.reserved, 'hex')
    if (reserved.length !== RESERVED_LENGTH) throw new CodecFault('BAD_FIELD', `reserved must be ${RESERVED_LENGTH} bytes of hex`)
    w.bytes(reserved)
  },
}
