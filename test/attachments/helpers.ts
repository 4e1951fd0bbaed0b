/** A terminal raising a DSM alarm with attachments, and catching the platform's 0x9208. */
import type { AttachmentUploadInstruction, DsmAlarm, Message } from '../../protocol/index.js'
import { fixAt, online } from '../gateway/harness.js'

export function dsmAlarm(time: number, attachmentCount: number, serial = 1): DsmAlarm {
  const iso = new Date(time + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00'
  return {
    alarmId: 7,
    flagStatus: 0,
    alarmType: 2, // phone call
    alarmLevel: 2,
    fatigueLevel: 0,
    reserved: '00000000',
    speed: 62,
    altitude: 30,
    latitude: 36.65,
    longitude: 117.12,
    time: iso,
    vehicleStatus: 1,
    alarmFlag: { terminalId: 'DSM0001', time: iso, serial, attachmentCount, reserved: 0 },
  }
}

/** Reports a position carrying the alarm and resolves with the 0x9208 the platform sends. */
export async function raiseAlarm(port: number, v: { phone: string; plate: string; plateColor: number }, time: number, attachmentCount: number) {
  let instruction: (Message & { body: AttachmentUploadInstruction }) | null = null
  const { client } = await online(port, v, 2013, {
    onDownlink: (m) => {
      if (m.msgId === 0x9208) instruction = m as Message & { body: AttachmentUploadInstruction }
      return undefined
    },
  })
  const loc = fixAt(time)
  loc.extras.dsm = dsmAlarm(time, attachmentCount)
  const ack = await client.reportPosition(loc)
  return { client, ack, instruction: () => instruction }
}
