/**
 * Commands to vehicles reached through a lower platform (upper role): a supervisor's text
 * (0x9500/0x9503) or photo request (0x9500/0x9502) goes to the platform that reports the vehicle,
 * and the platform's 0x1500 reply (0x1503 / 0x1502) becomes the command's answer, kept in the
 * same status table as terminal commands (GET /commands/{id}):
 *
 *   delivered  sent on the platform's sub-link (else its main link), no final reply yet
 *   answered   0x1503 result 0 (sent to the vehicle) / 0x1502 flag 1 (photo taken, with the image)
 *   failed     0x1503 result ≠ 0, 0x1502 flag 0 (not supported), 3 (vehicle offline), 4, 5, …
 *   expired    no final reply within the command's time to live
 *
 * A reply names its request by SOURCE_MSG_SN in 2019; in 2011 a 0x1503 by MSG_ID (our
 * MSG_SEQUENCE) and a 0x1502 by nothing but its vehicle: the oldest photo request to that vehicle
 * on that platform takes it. 0x1502 flag 2 ("taken, sent later") is not final: the next 0x1502 is.
 * What a reply is matched by is stored with the command (migration 011), not held in memory: a
 * reply after a restart, or on the link of another process the platform logged in to since,
 * settles its command all the same. Memory holds only the waiters of the requests that sent a
 * command (the API answers with the reply when it comes in time).
 */
import { randomInt, randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { PhotoReply, TextReply } from '../../protocol/jt809/index.js'
import type { Location } from '../../protocol/messages/0200-location.js'
import { canonicalPhone, type MediaRecord, type PositionRecord } from '../domain.js'
import type { AdminStore, CommandResult, PlatformReplyMatch } from '../store/admin.js'
import { toPosition809 } from './positions.js'

export type VehicleCommand = { type: 'text'; text: string; emergency?: boolean } | { type: 'photo'; lensId: number; sizeType: number }

export type VehicleCommandOutcome = { status: 'answered'; reply: { msgId: number; body: Record<string, unknown> } } | { status: 'failed'; result: number; reason: string } | { status: 'expired' }

export interface SentVehicleCommand {
  id: string
  platformId: number
  msgId: 0x9502 | 0x9503
  expiresAt: number
  /** the final reply, or expiry */
  settled: Promise<VehicleCommandOutcome>
}

interface Waiter {
  timer: NodeJS.Timeout
  resolve: (o: VehicleCommandOutcome) => void
}

const PHOTO_FLAG: Record<number, string> = { 0: 'not supported', 1: 'done', 2: 'done, sent later', 3: 'vehicle offline', 4: 'lens unusable', 5: 'other' }

export interface VehicleCommandsDeps {
  store: Pick<AdminStore, 'createPlatformCommand' | 'platformCommandSent' | 'settlePlatformCommand' | 'recordCommandResult'>
  now: () => number
  log: Logger
}

export class VehicleCommands {
  /** command id → the request waiting for its reply in this process */
  private readonly waiters = new Map<string, Waiter>()
  /**
   * Store writes and replies, one at a time in arrival order: a reply is matched only after the
   * MSG_SN of the frame it answers is stored (a fast platform answers before that write), and
   * two 2011 photo replies settle the oldest request first, then the next.
   */
  private chain: Promise<unknown> = Promise.resolve()

  constructor(private readonly deps: VehicleCommandsDeps) {}

  /**
   * Records the command, then sends it with `send` (returns the frame's MSG_SN, null when the link
   * is gone: the command fails at once).
   */
  async send(
    to: { platformId: number; vehicleId: number; plate: string; plateColor: number },
    command: VehicleCommand,
    ttlMs: number,
    send: (m: { msgId: 0x9500; body: { plate: string; plateColor: number; dataType: number; data: unknown } }) => number | null,
  ): Promise<SentVehicleCommand> {
    const d = this.deps
    const id = randomUUID()
    const createdAt = d.now()
    const expiresAt = createdAt + ttlMs
    const msgId = command.type === 'text' ? 0x9503 : 0x9502
    const seq = randomInt(1, 0xffffffff)
    const p = to.platformId
    await this.serial(() =>
      d.store.createPlatformCommand({
        id,
        vehicleId: to.vehicleId,
        platformId: p,
        msgId,
        createdAt,
        expiresAt,
        plate: to.plate,
        plateColor: to.plateColor,
        msgSequence: command.type === 'text' ? seq : null,
      }),
    )
    const data = command.type === 'text' ? { msgSequence: seq, priority: command.emergency ? 0 : 1, content: command.text } : { lensId: command.lensId, sizeType: command.sizeType }
    const sn = send({ msgId: 0x9500, body: { plate: to.plate, plateColor: to.plateColor, dataType: msgId, data } })
    if (sn === null) {
      const outcome: VehicleCommandOutcome = { status: 'failed', result: 0xff, reason: 'not sent: the platform link closed' }
      await this.record(id, outcome)
      return { id, platformId: p, msgId, expiresAt, settled: Promise.resolve(outcome) }
    }
    // queued before any reply can be read (that takes an I/O turn): the reply finds the number stored
    void this.serial(() => d.store.platformCommandSent(id, p, sn)).catch((err: unknown) => d.log.error({ err, commandId: id }, 'MSG_SN of a platform command not recorded'))
    let resolve!: (o: VehicleCommandOutcome) => void
    const settled = new Promise<VehicleCommandOutcome>((r) => (resolve = r))
    // expiry needs no write: a command still delivered past its expiry reads as expired
    const timer = setTimeout(() => this.wake(id, { status: 'expired' }), ttlMs)
    timer.unref()
    this.waiters.set(id, { timer, resolve })
    return { id, platformId: p, msgId, expiresAt, settled }
  }

  /** A 0x1500 from a platform: 0x1503 / 0x1502 settle the command they answer (stored, whichever process sent it). */
  reply(platformId: number, body: { plate?: string; plateColor?: number; dataType: number; data: unknown }, log: Logger): Promise<void> {
    return this.serial(() => this.settle(platformId, body, log)).catch((err: unknown) => log.error({ err }, 'platform reply not recorded'))
  }

  close(): void {
    for (const w of this.waiters.values()) clearTimeout(w.timer)
    this.waiters.clear()
  }

  private async settle(platformId: number, body: { plate?: string; plateColor?: number; dataType: number; data: unknown }, log: Logger): Promise<void> {
    if (body.dataType !== 0x1502 && body.dataType !== 0x1503) return
    const r = body.data as (TextReply | PhotoReply) & { sourceMsgSn?: number }
    const plate = (body.plate ?? '').trim()
    const vehicle = { plate, plateColor: body.plateColor ?? 0 }
    const by: PlatformReplyMatch =
      r.sourceMsgSn !== undefined && r.sourceMsgSn !== 0
        ? { msgSn: r.sourceMsgSn, vehicle: plate ? vehicle : null }
        : body.dataType === 0x1503
          ? { msgSequence: (r as TextReply).msgId ?? -1 }
          : { photoOf: vehicle }
    let outcome: Exclude<VehicleCommandOutcome, { status: 'expired' }>
    if (body.dataType === 0x1503) {
      const t = r as TextReply
      outcome = t.result === 0 ? { status: 'answered', reply: { msgId: 0x1503, body: { result: t.result } } } : { status: 'failed', result: t.result, reason: 'the platform could not send the text' }
    } else {
      const ph = r as PhotoReply
      if (ph.photoRspFlag === 2) return void log.info({ match: by }, 'photo taken, to be sent later')
      if (ph.photoRspFlag === 1) {
        const { photo, lensId, sizeType, type, position } = ph
        outcome = { status: 'answered', reply: { msgId: 0x1502, body: { photoRspFlag: 1, lensId, sizeType, type, photo, position } } }
      } else outcome = { status: 'failed', result: ph.photoRspFlag, reason: PHOTO_FLAG[ph.photoRspFlag] ?? `flag ${ph.photoRspFlag}` }
    }
    const id = await this.deps.store.settlePlatformCommand(platformId, by, toResult(outcome), this.deps.now())
    if (id === null) return void log.warn({ dataType: '0x' + body.dataType.toString(16), plate: body.plate, match: by }, 'reply to no command waiting for one')
    this.wake(id, outcome)
  }

  private wake(id: string, outcome: VehicleCommandOutcome): void {
    const w = this.waiters.get(id)
    if (!w) return
    this.waiters.delete(id)
    clearTimeout(w.timer)
    w.resolve(outcome)
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f)
    this.chain = next.catch(() => undefined)
    return next
  }

  private async record(id: string, o: Exclude<VehicleCommandOutcome, { status: 'expired' }>): Promise<void> {
    await this.deps.store.recordCommandResult(id, toResult(o), this.deps.now()).catch((err: unknown) => this.deps.log.error({ err, commandId: id }, 'command result not recorded'))
  }
}

function toResult(o: Exclude<VehicleCommandOutcome, { status: 'expired' }>): CommandResult {
  return o.status === 'answered' ? { status: 'answered', answer: o.reply } : { status: 'failed', result: o.result }
}

// ---- lower role: a superior's 0x9503 / 0x9502 to one of our vehicles ----------------------------

export interface SuperiorControlDeps {
  findVehicle: (plate: string, plateColor: number) => Promise<{ terminalPhone: string | null } | null>
  /** the gateway's command path (null: this process runs no gateway) */
  commander: {
    sendCommand(
      phone: string,
      message: { msgId: number; body: unknown },
      options?: { timeoutMs?: number; queueIfOffline?: boolean },
    ): Promise<{ status: string; result?: number; reply?: { msgId: number; body: unknown } }>
  } | null
  /** the photo a terminal uploaded (0x0801, stored by the gateway) after a 0x8801: store.findMedia */
  findPhoto?: (phones: string[], since: number, mediaIds: number[] | null) => Promise<MediaRecord | null>
  /** how long the terminal may take to answer, and then to upload the photo */
  timeoutMs: number
  /** how often the upload is looked for (default 250 ms) */
  photoPollMs?: number
  log: Logger
}

/**
 * 0x9503 from a superior: the text goes to the vehicle's terminal as 0x8300 (display and
 * text-to-speech; MSG_PRIORITY 0 as emergency) through the gateway's command path, and 0x1503
 * answers 0 when the terminal acknowledged it, else 1 (no terminal, offline, refused, no answer).
 * 0x9502: the terminal is asked for one photo uploaded in real time (0x8801, LENS_ID as channel,
 * SIZE_TYPE as resolution: the two standards number the sizes alike); when it accepts (0x0805
 * result 0, or 0x0001 ok) and its 0x0801 upload is stored within the command timeout, 0x1502
 * PHOTO_RSP_FLAG 1 carries the image and the position it was taken at; takePhoto lists the other flags.
 * `reply` sends the 0x1500 on the main link.
 */
export async function answerSuperiorControl(
  d: SuperiorControlDeps,
  edition: 2011 | 2019,
  m: { sn: number; body: { plate?: string; plateColor?: number; dataType: number; data: unknown } },
  reply: (body: { plate: string; plateColor: number; dataType: number; data: unknown }) => void,
): Promise<void> {
  const plate = (m.body.plate ?? '').trim()
  const plateColor = m.body.plateColor ?? 0
  const source = (dataType: number) => (edition === 2019 ? { sourceDataType: dataType, sourceMsgSn: m.sn } : {})
  if (m.body.dataType === 0x9502) {
    const r = m.body.data as { lensId: number; sizeType: number }
    const photo = await takePhoto(d, plate, plateColor, r)
    // no photo, no position of it: an empty one (time of the answer)
    const position = toPosition809(photo.position ?? emptyPosition(), edition)
    const format = photo.format === undefined ? 1 : (IMAGE_TYPE[photo.format] ?? 1)
    reply({ plate, plateColor, dataType: 0x1502, data: { ...source(0x9502), photoRspFlag: photo.flag, position, lensId: r.lensId, sizeType: r.sizeType, type: format, photo: photo.hex ?? '' } })
    d.log.info({ plate, flag: photo.flag, bytes: (photo.hex?.length ?? 0) / 2 }, 'photo request from the superior (0x9502) answered 0x1502')
    return
  }
  if (m.body.dataType !== 0x9503) return
  const t = m.body.data as TextRequestData
  const v = await d.findVehicle(plate, plateColor).catch(() => null)
  let result = 1
  if (v?.terminalPhone && d.commander) {
    // 808 text flags: bit 0 emergency, 2 terminal display, 3 TTS read-out
    const flags = (t.priority === 0 ? 1 : 0) | (1 << 2) | (1 << 3)
    const outcome = await d.commander
      .sendCommand(v.terminalPhone, { msgId: 0x8300, body: { flags, type: 1, text: t.content } }, { timeoutMs: d.timeoutMs, queueIfOffline: false })
      .catch((err: unknown) => {
        d.log.warn({ err }, 'text from the superior not sent to the terminal')
        return { status: 'error' }
      })
    result = outcome.status === 'answered' ? 0 : 1
  }
  d.log.info({ plate, msgSequence: t.msgSequence, result }, 'text from the superior (0x9503) to the vehicle')
  reply({ plate, plateColor, dataType: 0x1503, data: edition === 2019 ? { ...source(0x9503), result } : { msgId: t.msgSequence, result } })
}

type TextRequestData = { msgSequence: number; priority: number; content: string }

/** 808 multimedia format (0 JPEG, 1 TIF) → 809 photo TYPE (1 JPEG, 2 GIF, 3 TIFF, 4 PNG). */
const IMAGE_TYPE: Record<number, number> = { 0: 1, 1: 3 }

function emptyPosition(): PositionRecord {
  return {
    vehicleId: 0,
    deviceTime: Date.now(),
    receivedAt: 0,
    latitude: 0,
    longitude: 0,
    altitude: 0,
    speed: 0,
    direction: 0,
    alarm: 0,
    status: 0,
    mileage: null,
    extras: {},
    blindArea: false,
    sourceMsgId: 0,
  }
}

/**
 * 0x8801 to the vehicle's terminal, then its upload. PHOTO_RSP_FLAG (JT/T 809 0x1502):
 *   0 not supported   no gateway here, or the terminal answered 0x0001 "not supported" (3)
 *   1 done            the photo arrived within the timeout: sent with it
 *   2 done, later     the terminal accepted but its upload did not arrive in time (it is stored
 *                     when it comes; this 0x1502 is not followed by another)
 *   3 vehicle offline no terminal, not connected, or no answer
 *   4 lens unusable   0x0805 result 2 (channel not supported)
 *   5 other           0x0805 result 1, any other refusal
 */
async function takePhoto(
  d: SuperiorControlDeps,
  plate: string,
  plateColor: number,
  r: { lensId: number; sizeType: number },
): Promise<{ flag: number; hex?: string; format?: number; position?: PositionRecord }> {
  if (!d.commander) return { flag: 0 }
  const v = await d.findVehicle(plate, plateColor).catch(() => null)
  const phone = v?.terminalPhone
  if (!phone) return { flag: 3 }
  const since = Date.now()
  const body = {
    channel: r.lensId || 1,
    command: 1,
    interval: 0,
    save: 0,
    resolution: r.sizeType >= 1 && r.sizeType <= 8 ? r.sizeType : 1,
    quality: 5,
    brightness: 128,
    contrast: 64,
    saturation: 64,
    chroma: 128,
  }
  const outcome = await d.commander.sendCommand(phone, { msgId: 0x8801, body }, { timeoutMs: d.timeoutMs, queueIfOffline: false }).catch((err: unknown) => {
    d.log.warn({ err }, 'photo request from the superior not sent to the terminal')
    return { status: 'error' } as { status: string; result?: number; reply?: { msgId: number; body: unknown } }
  })
  if (outcome.status === 'failed') return { flag: outcome.reply?.msgId === 0x0805 ? (outcome.result === 2 ? 4 : 5) : outcome.result === 3 ? 0 : 5 }
  if (outcome.status !== 'answered') return { flag: 3 }
  const ids = outcome.reply?.msgId === 0x0805 ? ((outcome.reply.body as { mediaIds?: number[] }).mediaIds ?? null) : null
  if (!d.findPhoto) return { flag: 2 }
  const deadline = since + d.timeoutMs
  const phones = [...new Set([phone, canonicalPhone(phone)])]
  for (;;) {
    const media = await d.findPhoto(phones, since, ids?.length ? ids : null).catch((err: unknown) => {
      d.log.warn({ err }, 'looking for the uploaded photo failed')
      return null
    })
    if (media) return { flag: 1, hex: media.data.toString('hex'), format: media.format, position: photoPosition(media) }
    if (Date.now() >= deadline) return { flag: 2 }
    await new Promise((res) => setTimeout(res, d.photoPollMs ?? 250))
  }
}

/** Where the photo was taken: the basic position stored with the upload (the answer's time when it has none). */
function photoPosition(m: MediaRecord): PositionRecord {
  const l = m.location as Partial<Location> | null
  const p = emptyPosition()
  if (!l) return p
  return {
    ...p,
    deviceTime: typeof l.timeMs === 'number' ? l.timeMs : p.deviceTime,
    latitude: l.latitude ?? 0,
    longitude: l.longitude ?? 0,
    altitude: l.altitude ?? 0,
    speed: l.speed ?? 0,
    direction: l.direction ?? 0,
    alarm: l.alarm ?? 0,
    status: l.status ?? 0,
    sourceMsgId: 0x0801,
  }
}
