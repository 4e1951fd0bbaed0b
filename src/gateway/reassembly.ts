/**
 * Subpacket sets for the gateway, over protocol/reassembler.ts (one instance for all
 * connections: its limits are per terminal and global).
 *
 * - Only authenticated terminals may upload subpackets (reassembly holds memory).
 * - Each fragment of an ordinary message is acknowledged (0x8001) as it arrives; the fragment
 *   that completes the set is answered by the message's handler. 0x0801 media fragments are not
 *   acknowledged one by one: the upload ends with 0x8800 (JT/T 808 §8.57).
 * - A set idle for subpacketTimeoutSeconds, or whose last index arrived while others are
 *   missing, gets its missing indexes re-requested: 0x8800 listing them for media, 0x8003
 *   otherwise. After three re-requests without progress it is dropped (counted).
 */
import { Reassembler, type DroppedSet, type PendingSet } from '../../protocol/reassembler.js'
import type { Frame } from '../../protocol/index.js'
import type { Connection } from './connection.js'
import type { GatewayMetrics } from './metrics.js'
import type { Config } from '../config/index.js'

const MAX_REQUESTS = 3

interface Tracked {
  conn: Connection
  /** media id from subpacket 1 of a 0x0801 (needed for 0x8800) */
  mediaId: number | null
  requests: number
  requestedAt: number
  /** received count when last re-requested: progress since resets the request budget */
  receivedAtRequest: number
}

export interface ReassemblyHost {
  readonly config: Config
  readonly metrics: GatewayMetrics
  now(): number
}

export class Reassembly {
  private readonly reassembler: Reassembler
  private readonly tracked = new Map<string, Tracked>()
  private readonly idleMs: number

  constructor(private readonly host: ReassemblyHost) {
    this.idleMs = host.config.subpacketTimeoutSeconds * 1000
    this.reassembler = new Reassembler({ timeoutMs: this.idleMs * (MAX_REQUESTS + 1) })
  }

  /** Adds a fragment; returns the whole body when this fragment completed its set. */
  add(conn: Connection, frame: Frame): Buffer | null {
    const h = frame.header
    if (!conn.authenticated || h.phone !== conn.phone) {
      this.host.metrics.refusedBeforeAuth.inc({ msg_id: 'subpacket' })
      conn.reply(h, 1)
      return null
    }
    const now = this.host.now()
    const r = this.reassembler.push(h, frame.body, now)
    if (r.dropped) for (const d of r.dropped) this.dropped(d)
    const isMedia = h.msgId === 0x0801
    switch (r.status) {
      case 'rejected':
        this.host.metrics.badFrames.inc({ code: `SUBPACKET_${r.error.code}` })
        conn.reply(h, 2)
        return null
      case 'duplicate':
        if (!isMedia) conn.reply(h, 0)
        return null
      case 'pending': {
        const key = keyOf(r.set)
        let t = this.tracked.get(key)
        if (!t) this.tracked.set(key, (t = { conn, mediaId: null, requests: 0, requestedAt: 0, receivedAtRequest: 0 }))
        t.conn = conn
        if (isMedia && h.packet?.index === 1 && frame.body.length >= 4) t.mediaId = frame.body.readUInt32BE(0)
        if (!isMedia) conn.reply(h, 0)
        if (r.lastArrived) this.request(r.set, t, now)
        return null
      }
      case 'complete':
        this.tracked.delete(keyOf(r.set))
        return r.body
    }
  }

  /** Re-requests missing fragments of idle sets; drops expired ones. */
  sweep(now: number): void {
    for (const d of this.reassembler.expire(now)) this.dropped(d)
    if (this.tracked.size === 0) return
    const live = new Set<string>()
    for (const set of this.reassembler.pending()) {
      live.add(keyOf(set))
      const t = this.tracked.get(keyOf(set))
      if (!t || now - set.updatedAt < this.idleMs || now - t.requestedAt < this.idleMs) continue
      if (set.received > t.receivedAtRequest) t.requests = 0
      if (t.requests >= MAX_REQUESTS) continue
      this.request(set, t, now)
    }
    // A set's key changes when its subpacket 1 arrives late (its serial is the real one).
    for (const k of this.tracked.keys()) if (!live.has(k)) this.tracked.delete(k)
  }

  forget(conn: Connection): void {
    for (const [k, t] of this.tracked) {
      if (t.conn === conn) {
        this.tracked.delete(k)
        if (conn.phone) this.reassembler.forget(conn.phone)
      }
    }
  }

  clear(): void {
    for (const t of this.tracked.values()) if (t.conn.phone) this.reassembler.forget(t.conn.phone)
    this.tracked.clear()
  }

  private request(set: PendingSet, t: Tracked, now: number): void {
    const missing = this.reassembler.missing(set)
    if (missing.length === 0 || t.conn.isClosed) return
    t.requests++
    t.requestedAt = now
    t.receivedAtRequest = set.received
    // 0x8003 / 0x8800 count their ids in a BYTE (2013): ask for the first 255, the rest next time.
    const ids = missing.slice(0, 255)
    if (set.msgId === 0x0801 && t.mediaId !== null) {
      if (t.conn.send(0x8800, { mediaId: t.mediaId, packetIds: ids }) >= 0) this.host.metrics.acks.inc({ msg_id: '0x8800', result: 'resend' })
    } else if (t.conn.send(0x8003, { originalSerial: set.firstSerial, packetIds: ids }) >= 0) {
      this.host.metrics.acks.inc({ msg_id: '0x8003', result: 'resend' })
    }
  }

  private dropped(d: DroppedSet): void {
    this.tracked.delete(keyOf(d))
    this.host.metrics.badFrames.inc({ code: `SUBPACKET_SET_${d.reason.toUpperCase()}` })
  }
}

function keyOf(s: Pick<PendingSet, 'phone' | 'msgId' | 'total' | 'firstSerial'>): string {
  return `${s.phone}:${s.msgId}:${s.total}:${s.firstSerial}`
}
