/**
 * The handler table: one entry per terminal message id the gateway supports. Anything else is
 * answered 0x8001 result 3 (unsupported). The metrics' msg_id labels follow from it.
 */
import { REPLY_IDS } from '../commands.js'
import type { Handler } from './context.js'
import { acknowledgeOnly, commandReply, driverIdentity, mediaData, mediaEvent, waybillReport } from './events.js'
import { authenticate, deregister, heartbeat, register, serverTime } from './lifecycle.js'
import { location, locationBatch, locationReply } from './positions.js'

export const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  // Terminal answers settle their command: 0x0001, and each specific reply a command expects
  // (commands.ts SPECIFIC_REPLIES: 0x0104, 0x0107, 0x0302, 0x0500, 0x0700, 0x0802, 0x0805 …).
  [0x0001, commandReply],
  ...[...REPLY_IDS].map((id): [number, Handler] => [id, commandReply]),
  // Handlers of their own (listed after: 0x0201 settles its command and is stored as a position too).
  [0x0002, heartbeat],
  [0x0003, deregister],
  [0x0004, serverTime],
  [0x0100, register],
  [0x0102, authenticate],
  [0x0108, acknowledgeOnly],
  [0x0200, location],
  [0x0201, locationReply],
  [0x0701, waybillReport],
  [0x0702, driverIdentity],
  [0x0704, locationBatch],
  [0x0800, mediaEvent],
  [0x0801, mediaData],
  [0x0900, acknowledgeOnly],
])

export type { Handler, GatewayContext, GatewayEvents } from './context.js'
