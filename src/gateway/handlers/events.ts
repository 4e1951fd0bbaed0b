/** Driver identity (0x0702), multimedia (0x0800/0x0801), waybill reports (0x0701), pass-through (0x0900). */
import type { DriverIdentity } from '../../../protocol/messages/0702-driver-identity.js'
import type { MediaData } from '../../../protocol/messages/0801-media-data.js'
import type { DriverCardEvent } from '../../domain.js'
import type { Handler } from './context.js'

/** 0x0702: stored (the matcher checks the driver against the waybill), then acknowledged. */
export const driverIdentity: Handler = {
  async handle(ctx, conn, m) {
    const b = m.body as DriverIdentity
    const at = b.time ? Date.parse(b.time) : NaN
    const event: DriverCardEvent = {
      vehicleId: conn.vehicle!.id,
      phone: conn.key as string,
      // 2011 bodies carry no status: they are sent when a card is read, i.e. inserted.
      status: b.status ?? 1,
      time: Number.isFinite(at) ? at : ctx.now(),
      readResult: b.readResult ?? null,
      driverName: b.driverName?.trim() || null,
      qualificationNo: b.qualificationNo?.trim() || null,
      issuer: b.issuer?.trim() || null,
      validUntil: b.validUntil ?? null,
      idNumber: b.idNumber?.trim() || null,
    }
    await ctx.store.insertDriverCardEvent(event)
    ctx.emitEvent('driver-card', event)
    conn.reply(m, 0)
  },
}

/** 0x0800: announces a media item; its bytes follow in 0x0801. */
export const mediaEvent: Handler = {
  handle(_ctx, conn, m) {
    conn.reply(m, 0)
  },
}

/** 0x0801 (reassembled): stored with its event metadata and capture position, then 0x8800 with no missing packets. */
export const mediaData: Handler = {
  async handle(ctx, conn, m) {
    const b = m.body as MediaData
    const data = Buffer.from(b.data, 'hex')
    const vehicleId = conn.vehicle?.id ?? null
    await ctx.store.insertMedia({
      phone: conn.key as string,
      vehicleId,
      mediaId: b.mediaId,
      type: b.type,
      format: b.format,
      event: b.event,
      channel: b.channel,
      location: b.location as unknown as Record<string, unknown>,
      data,
      receivedAt: ctx.now(),
    })
    ctx.emitEvent('media', { phone: conn.key as string, vehicleId, mediaId: b.mediaId, type: b.type, event: b.event, bytes: data.length })
    if (conn.send(0x8800, { mediaId: b.mediaId, packetIds: [] }, m.phone) >= 0) ctx.metrics.acks.inc({ msg_id: '0x8800', result: '0' })
  },
}

/** 0x0701: the electronic waybill as the terminal reports it; announced (the matcher owns waybills) and acknowledged. */
export const waybillReport: Handler = {
  handle(ctx, conn, m) {
    ctx.emitEvent('waybill-report', { phone: conn.key as string, vehicleId: conn.vehicle?.id ?? null, body: m.body, at: ctx.now() })
    conn.reply(m, 0)
  },
}

/** 0x0900 data pass-through and 0x0108 upgrade result: acknowledged, nothing stored. */
export const acknowledgeOnly: Handler = {
  handle(_ctx, conn, m) {
    conn.reply(m, 0)
  },
}

/** Terminal answers to downlink commands (0x0001, 0x0104, 0x0107 …): settle the command, never answered. */
export const commandReply: Handler = {
  isReply: true,
  handle(ctx, conn, m) {
    ctx.commands.onTerminalReply(conn, m)
  },
}
