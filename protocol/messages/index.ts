/**
 * The message table: one entry per message id, used by both decode and encode.
 * BodyMap gives each id its body type; CODECS gives it the codec.
 */
import type { BodyCodec } from '../message.js'
import { emptyBody, generalReply, type EmptyBody, type GeneralReply } from './general.js'
import { location, type Location } from './0200-location.js'
import { register, type Register } from './0100-register.js'
import { registerReply, type RegisterReply } from './8100-register-reply.js'
import { auth, type Auth } from './0102-auth.js'
import { resendRequest, terminalResendRequest, type ResendRequest } from './8003-resend-request.js'
import { serverTime, type ServerTime } from './8004-server-time.js'
import { paramsReply, setParams, type ParamsReply, type SetParams } from './8103-terminal-params.js'
import { terminalControl, type TerminalControl } from './8105-terminal-control.js'
import { terminalAttributes, type TerminalAttributes } from './0107-terminal-attributes.js'
import { locationReply, type LocationReply } from './0201-location-reply.js'
import { tracking, type Tracking } from './8202-tracking.js'
import { alarmConfirm, type AlarmConfirm } from './8203-alarm-confirm.js'
import { waybill, type Waybill } from './0701-waybill.js'
import { driverIdentity, type DriverIdentity } from './0702-driver-identity.js'
import { locationBatch, type LocationBatch } from './0704-location-batch.js'
import { textMessage, type TextMessage } from './8300-text.js'
import { mediaEvent, type MediaEvent } from './0800-media-event.js'
import { mediaData, type MediaData } from './0801-media-data.js'
import { mediaReply, type MediaReply } from './8800-media-reply.js'
import { passThrough, type PassThrough } from './0900-passthrough.js'
import { alarmAttachments, type AlarmAttachments } from './1210-alarm-attachments.js'
import { attachmentFileInfo, type AttachmentFileInfo } from './1211-attachment-file.js'
import { attachmentUploadInstruction, type AttachmentUploadInstruction } from './9208-attachment-upload.js'
import { uploadCompleteReply, type UploadCompleteReply } from './9212-upload-complete-reply.js'

export interface BodyMap {
  0x0001: GeneralReply
  0x8001: GeneralReply
  0x0002: EmptyBody
  0x0003: EmptyBody
  0x0004: EmptyBody
  0x8004: ServerTime
  0x0005: ResendRequest
  0x8003: ResendRequest
  0x0100: Register
  0x8100: RegisterReply
  0x0102: Auth
  0x8103: SetParams
  0x8104: EmptyBody
  0x0104: ParamsReply
  0x8105: TerminalControl
  0x8107: EmptyBody
  0x0107: TerminalAttributes
  0x0200: Location
  0x8201: EmptyBody
  0x0201: LocationReply
  0x8202: Tracking
  0x8203: AlarmConfirm
  0x0701: Waybill
  0x0702: DriverIdentity
  0x0704: LocationBatch
  0x8300: TextMessage
  0x0800: MediaEvent
  0x0801: MediaData
  0x8800: MediaReply
  0x0900: PassThrough
  0x8900: PassThrough
  0x1210: AlarmAttachments
  0x1211: AttachmentFileInfo
  0x1212: AttachmentFileInfo
  0x9208: AttachmentUploadInstruction
  0x9212: UploadCompleteReply
}

export type KnownMsgId = keyof BodyMap

export const CODECS: { [K in KnownMsgId]: BodyCodec<BodyMap[K]> } = {
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
  0x0900: passThrough,
  0x8900: passThrough,
  0x1210: alarmAttachments,
  0x1211: attachmentFileInfo,
  0x1212: attachmentFileInfo,
  0x9208: attachmentUploadInstruction,
  0x9212: uploadCompleteReply,
}

export function isKnownMsgId(id: number): id is KnownMsgId {
  return Object.prototype.hasOwnProperty.call(CODECS, id)
}
