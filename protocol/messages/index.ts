/**
 * The message table: one entry per message id, used by both decode and encode.
 * BodyMap gives each id its body type; CODECS gives it the codec.
 */
import type { BodyCodec } from '../message.js'
import { emptyBody, generalReply, type EmptyBody, type GeneralReply } from './general.js'
import { location, type Location } from './0200-location.js'

export interface BodyMap {
  0x0001: GeneralReply
  0x8001: GeneralReply
  0x0002: EmptyBody
  0x0003: EmptyBody
  0x0200: Location
}

export type KnownMsgId = keyof BodyMap

export const CODECS: { [K in KnownMsgId]: BodyCodec<BodyMap[K]> } = {
  0x0001: generalReply,
  0x8001: generalReply,
  0x0002: emptyBody,
  0x0003: emptyBody,
  0x0200: location,
}

export function isKnownMsgId(id: number): id is KnownMsgId {
  return Object.prototype.hasOwnProperty.call(CODECS, id)
}
