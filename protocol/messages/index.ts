/**
 * The message table: one entry per message id, the one place an id is added. Decode and encode
 * both go through CODECS; BodyMap (each id's body type) and KnownMsgId follow from it, and the
 * gateway's metrics label every id in it. The message modules are exported from here.
 */
import type { BodyCodec } from '../message.js'
import { emptyBody, generalReply } from './general.js'
import { location } from './0200-location.js'
import { register } from './0100-register.js'
import { registerReply } from './8100-register-reply.js'
import { auth } from './0102-auth.js'
import { resendRequest, terminalResendRequest } from './8003-resend-request.js'
import { serverTime } from './8004-server-time.js'
import { paramsReply, setParams } from './8103-terminal-params.js'
import { terminalControl } from './8105-terminal-control.js'
import { terminalAttributes } from './0107-terminal-attributes.js'
import { locationReply } from './0201-location-reply.js'
import { tracking } from './8202-tracking.js'
import { alarmConfirm } from './8203-alarm-confirm.js'
import { waybill } from './0701-waybill.js'
import { driverIdentity } from './0702-driver-identity.js'
import { locationBatch } from './0704-location-batch.js'
import { textMessage } from './8300-text.js'
import { mediaEvent } from './0800-media-event.js'
import { mediaData } from './0801-media-data.js'
import { mediaReply } from './8800-media-reply.js'
import { cameraCommand, cameraReply } from './8801-camera.js'
import { passThrough } from './0900-passthrough.js'
import { alarmAttachments } from './1210-alarm-attachments.js'
import { attachmentFileInfo } from './1211-attachment-file.js'
import { attachmentUploadInstruction } from './9208-attachment-upload.js'
import { uploadCompleteReply } from './9212-upload-complete-reply.js'

export * from './general.js'
export * from './0200-location.js'
export * from './active-safety.js'
export * from './0100-register.js'
export * from './8100-register-reply.js'
export * from './0102-auth.js'
export * from './8003-resend-request.js'
export * from './8004-server-time.js'
export * from './8103-terminal-params.js'
export * from './8105-terminal-control.js'
export * from './0107-terminal-attributes.js'
export * from './0201-location-reply.js'
export * from './8202-tracking.js'
export * from './8203-alarm-confirm.js'
export * from './0701-waybill.js'
export * from './0702-driver-identity.js'
export * from './0704-location-batch.js'
export * from './8300-text.js'
export * from './0800-media-event.js'
export * from './0801-media-data.js'
export * from './8800-media-reply.js'
export * from './8801-camera.js'
export * from './0900-passthrough.js'
export * from './1210-alarm-attachments.js'
export * from './1211-attachment-file.js'
export * from './9208-attachment-upload.js'
export * from './9212-upload-complete-reply.js'

export const CODECS = {
  0x0001: generalReply,
  0x8001: generalReply,
  0x0002: emptyBody,
  0x0003: emptyBody,
  0x0004: emptyBody,
  0x8004: serverTime,
  0x0005: terminalResendRequest,
  0x8003: resendRequest,
  0x0100: register,
  0x8100: registerReply,
  0x0102: auth,
  0x8103: setParams,
  0x8104: emptyBody,
  0x0104: paramsReply,
  0x8105: terminalControl,
  0x8107: emptyBody,
  0x0107: terminalAttributes,
  0x0200: location,
  0x8201: emptyBody,
  0x0201: locationReply,
  0x8202: tracking,
  0x8203: alarmConfirm,
  0x0701: waybill,
  0x0702: driverIdentity,
  0x0704: locationBatch,
  0x8300: textMessage,
  0x0800: mediaEvent,
  0x0801: mediaData,
  0x8800: mediaReply,
  0x8801: cameraCommand,
  0x0805: cameraReply,
  0x0900: passThrough,
  0x8900: passThrough,
  0x1210: alarmAttachments,
  0x1211: attachmentFileInfo,
  0x1212: attachmentFileInfo,
  0x9208: attachmentUploadInstruction,
  0x9212: uploadCompleteReply,
} satisfies Readonly<Record<number, BodyCodec<unknown>>>

/** The body type a codec decodes to and encodes from. */
type BodyOf<C> = C extends BodyCodec<infer B> ? B : never

/** Each message id's body type, from its codec. */
export type BodyMap = { [K in keyof typeof CODECS]: BodyOf<(typeof CODECS)[K]> }

export type KnownMsgId = keyof BodyMap

export function isKnownMsgId(id: number): id is KnownMsgId {
  return Object.hasOwn(CODECS, id)
}
