/**
 * Subpacket reassembly (header bit 13: total WORD, index WORD, 1-based) and the reverse split.
 *
 * Sets are keyed by terminal (phone), message id and total. Within that key a fragment joins
 * the set whose first serial equals fragment serial − (index − 1) — the usual case, serials
 * consecutive — or else the one open set still missing its index: some terminals number
 * fragments with unrelated serials, and re-sent fragments (after 0x8003) carry new ones.
 *
 * Pure: no timers and no clock. The caller passes `now` (ms) and calls expire(now) now and
 * then; nothing grows without bound (sets and bytes per terminal, bytes overall).
 */
import type { CodecError } from './errors.js'
import { encodeFrameWithBody } from './codec.js'
import { fail, ok, type Result } from './errors.js'
import type { Header } from './header.js'

/** What one held fragment costs beyond its body (Map entry, Buffer object), for the memory bounds. */
export const FRAGMENT_OVERHEAD_BYTES = 64

export interface ReassemblerOptions {
  /** A set that receives nothing for this long is dropped by expire(). Default 60 s. */
  timeoutMs?: number
  /** Open sets per terminal; a new one evicts the least recently updated. Default 4. */
  maxSetsPerTerminal?: number
  /** Bytes held per terminal (all its sets). Default 4 MiB. */
  maxBytesPerTerminal?: number
  /** Bytes held overall. Default 256 MiB. */
  maxBytes?: number
}

export const REASSEMBLY_DEFAULTS: Required<ReassemblerOptions> = {
  timeoutMs: 60_000,
  maxSetsPerTerminal: 4,
  maxBytesPerTerminal: 4 * 1024 * 1024,
  maxBytes: 256 * 1024 * 1024,
}

/** What a caller may know about an open set (e.g. to send 0x8003 for its missing indexes). */
export interface PendingSet {
  phone: string
  msgId: number
  total: number
  /** Serial of subpacket 1: the "original serial" 0x8003 / 0x0005 quote. */
  firstSerial: number
  received: number
  bytes: number
  startedAt: number
  updatedAt: number
}

export type FragmentResult =
  /** Held; `set` tells how far it got. `lastArrived` is true when the fragment was the set's last index (a good moment to ask for the missing ones). */
  | { status: 'pending'; set: PendingSet; lastArrived: boolean }
  /** Complete: pass header and body to decodeBody. The header is subpacket 1's, with packet null. */
  | { status: 'complete'; header: Header; body: Buffer; set: PendingSet }
  /** The same index again (a re-send): ignored. */
  | { status: 'duplicate'; set: PendingSet }
  /** Not accepted (bad index, over a limit); nothing else changed. */
  | { status: 'rejected'; error: CodecError }

/** A set dropped by expire() or evicted to make room, with the indexes it still lacked. */
export interface DroppedSet extends PendingSet {
  missing: number[]
  reason: 'timeout' | 'evicted'
}

interface AssemblySet extends PendingSet {
  /** Fragments by index. A Map, not an array: `total` is the terminal's claim, up to 65535. */
  parts: Map<number, Buffer>
  /** Header of subpacket 1 once seen, else of the first fragment seen. */
  header: Header
  headerIndex: number
}

interface TerminalSets {
  sets: AssemblySet[]
  bytes: number
}

export class Reassembler {
  private readonly opts: Required<ReassemblerOptions>
  private readonly terminals = new Map<string, TerminalSets>()
  /** bytes held, each fragment counted with FRAGMENT_OVERHEAD_BYTES */
  private heldBytes = 0

  constructor(options: ReassemblerOptions = {}) {
    this.opts = { ...REASSEMBLY_DEFAULTS, ...options }
  }

  /** Bytes held across all terminals. */
  get bytes(): number {
    return this.heldBytes
  }

  /**
   * Adds one fragment (header.packet set; body as parseFrame returned it — copied here).
   * Sets of this terminal idle past the timeout are dropped first; their details are in
   * the returned `dropped` (so a gateway may log them).
   */
  push(header: Header, body: Uint8Array, now: number): FragmentResult & { dropped?: DroppedSet[] } {
    const p = header.packet
    if (p === null) return { status: 'rejected', error: { code: 'BAD_FIELD', message: 'not a subpacket (header bit 13 clear)' } }
    if (p.total < 1 || p.index < 1 || p.index > p.total) {
      return { status: 'rejected', error: { code: 'BAD_FIELD', message: `subpacket index ${p.index} of ${p.total}` } }
    }
    const dropped = this.expireTerminal(header.phone, now)
    const result = this.add(header, body, now)
    return dropped.length > 0 ? { ...result, dropped } : result
  }

  /** Indexes (1-based, ascending) a set still lacks. */
  missing(set: Pick<PendingSet, 'phone' | 'msgId' | 'total' | 'firstSerial'>): number[] {
    const s = this.find(set)
    return s ? missingOf(s) : []
  }

  /** Open sets, of one terminal or all. */
  pending(phone?: string): PendingSet[] {
    const list = phone === undefined ? [...this.terminals.values()] : [this.terminals.get(phone)].filter((t) => t !== undefined)
    return list.flatMap((t) => t.sets.map(publicView))
  }

  /** Drops every set idle for longer than the timeout; returns them with their missing indexes. */
  expire(now: number): DroppedSet[] {
    const out: DroppedSet[] = []
    for (const phone of [...this.terminals.keys()]) out.push(...this.expireTerminal(phone, now))
    return out
  }

  /** Forgets a terminal's sets (connection closed for good). */
  forget(phone: string): void {
    const t = this.terminals.get(phone)
    if (!t) return
    this.heldBytes -= t.bytes
    this.terminals.delete(phone)
  }

  private add(header: Header, body: Uint8Array, now: number): FragmentResult {
    const { total, index } = header.packet!
    const t = this.terminals.get(header.phone) ?? { sets: [], bytes: 0 }
    if (body.length > this.opts.maxBytesPerTerminal) {
      return { status: 'rejected', error: { code: 'FRAME_TOO_LONG', message: `fragment of ${body.length} bytes exceeds the per-terminal limit` } }
    }
    const firstSerial = (header.serial - (index - 1)) & 0xffff
    let set = this.match(t, header.msgId, total, index, firstSerial)
    const dropped: DroppedSet[] = []
    if (set?.parts.has(index)) return { status: 'duplicate', set: publicView(set) }
    if (!set) {
      if (t.sets.length >= this.opts.maxSetsPerTerminal) dropped.push(this.evictOldest(t))
      set = {
        phone: header.phone,
        msgId: header.msgId,
        total,
        firstSerial,
        received: 0,
        bytes: 0,
        startedAt: now,
        updatedAt: now,
        parts: new Map(),
        header,
        headerIndex: index,
      }
      t.sets.push(set)
      if (!this.terminals.has(header.phone)) this.terminals.set(header.phone, t)
    }
    // Make room by evicting this terminal's other sets, least recently updated first; else refuse.
    // Each fragment is charged its bytes plus a fixed overhead (its Map entry and Buffer), so a
    // flood of empty fragments is bounded like a flood of full ones.
    const cost = body.length + FRAGMENT_OVERHEAD_BYTES
    while (t.bytes + cost > this.opts.maxBytesPerTerminal || this.heldBytes + cost > this.opts.maxBytes) {
      let victim: AssemblySet | undefined
      for (const s of t.sets) if (s !== set && (victim === undefined || s.updatedAt < victim.updatedAt)) victim = s
      if (victim === undefined) {
        if (set.received === 0) this.remove(t, set)
        const error: CodecError = { code: 'FRAME_TOO_LONG', message: `subpacket set of 0x${hex(header.msgId)} exceeds the reassembly limits` }
        return withDropped({ status: 'rejected', error }, dropped)
      }
      dropped.push(this.removeAsDropped(t, victim, 'evicted'))
    }
    set.parts.set(index, Buffer.from(body))
    set.received++
    set.bytes += cost
    t.bytes += cost
    this.heldBytes += cost
    set.updatedAt = now
    if (index === 1 && set.headerIndex !== 1) {
      // Subpacket 1 carries the set's real serial, whatever the others carry.
      set.header = header
      set.headerIndex = 1
      set.firstSerial = header.serial
    }
    if (set.received === total) {
      this.remove(t, set)
      const parts: Buffer[] = []
      for (let i = 1; i <= total; i++) parts.push(set.parts.get(i)!)
      const merged: Header = { ...set.header, packet: null }
      if (set.headerIndex !== 1) merged.serial = set.firstSerial
      const result: FragmentResult = { status: 'complete', header: merged, body: Buffer.concat(parts), set: publicView(set) }
      return withDropped(result, dropped)
    }
    return withDropped({ status: 'pending', set: publicView(set), lastArrived: index === total }, dropped)
  }

  private match(t: TerminalSets, msgId: number, total: number, index: number, firstSerial: number): AssemblySet | undefined {
    let candidate: AssemblySet | undefined
    let candidates = 0
    for (const s of t.sets) {
      if (s.msgId !== msgId || s.total !== total) continue
      if (s.firstSerial === firstSerial) return s
      if (!s.parts.has(index)) {
        candidate ??= s
        candidates++
      }
    }
    // With several open sets of the same shape and no serial match, the fragment is ambiguous:
    // join the oldest (terminals finish one upload before starting the next).
    return candidates > 0 ? candidate : undefined
  }

  private find(k: Pick<PendingSet, 'phone' | 'msgId' | 'total' | 'firstSerial'>): AssemblySet | undefined {
    return this.terminals.get(k.phone)?.sets.find((s) => s.msgId === k.msgId && s.total === k.total && s.firstSerial === k.firstSerial)
  }

  private expireTerminal(phone: string, now: number): DroppedSet[] {
    const t = this.terminals.get(phone)
    if (!t) return []
    const out: DroppedSet[] = []
    for (const s of [...t.sets]) if (now - s.updatedAt > this.opts.timeoutMs) out.push(this.removeAsDropped(t, s, 'timeout'))
    return out
  }

  private evictOldest(t: TerminalSets): DroppedSet {
    const oldest = t.sets.reduce((a, b) => (b.updatedAt < a.updatedAt ? b : a))
    return this.removeAsDropped(t, oldest, 'evicted')
  }

  private removeAsDropped(t: TerminalSets, s: AssemblySet, reason: DroppedSet['reason']): DroppedSet {
    const missing = missingOf(s)
    this.remove(t, s)
    return { ...publicView(s), missing, reason }
  }

  private remove(t: TerminalSets, s: AssemblySet): void {
    const i = t.sets.indexOf(s)
    if (i < 0) return
    t.sets.splice(i, 1)
    t.bytes -= s.bytes
    this.heldBytes -= s.bytes
    if (t.sets.length === 0) this.terminals.delete(s.phone)
  }
}

function withDropped(r: FragmentResult, dropped: DroppedSet[]): FragmentResult & { dropped?: DroppedSet[] } {
  return dropped.length > 0 ? { ...r, dropped } : r
}

function missingOf(s: AssemblySet): number[] {
  const out: number[] = []
  for (let i = 1; i <= s.total; i++) if (!s.parts.has(i)) out.push(i)
  return out
}

function publicView(s: AssemblySet): PendingSet {
  return {
    phone: s.phone,
    msgId: s.msgId,
    total: s.total,
    firstSerial: s.firstSerial,
    received: s.received,
    bytes: s.bytes,
    startedAt: s.startedAt,
    updatedAt: s.updatedAt,
  }
}

function hex(id: number): string {
  return id.toString(16).padStart(4, '0')
}

/** Largest body one frame carries (10-bit length field). */
export const MAX_PACKET_BODY = 1023

/**
 * Splits an encoded body into subpacket frames (escaped, delimited) with consecutive serials
 * from header.serial. The caller advances its serial counter by `frames.length`. A body that
 * fits one frame still goes out as one subpacket (total 1) only when `always` is set.
 */
export function encodeSubpackets(header: Header, body: Buffer, options: { packetSize?: number; always?: boolean } = {}): Result<{ frames: Buffer[]; serials: number[] }> {
  const size = options.packetSize ?? MAX_PACKET_BODY
  if (!Number.isInteger(size) || size < 1 || size > MAX_PACKET_BODY) return fail('BAD_FIELD', `packet size ${size} not in 1..${MAX_PACKET_BODY}`)
  const total = Math.max(1, Math.ceil(body.length / size))
  if (total > 0xffff) return fail('FRAME_TOO_LONG', `body of ${body.length} bytes needs ${total} subpackets (max 65535)`)
  if (total === 1 && !options.always) {
    const one = encodeFrameWithBody({ ...header, packet: null }, body)
    return one.ok ? ok({ frames: [one.value], serials: [header.serial & 0xffff] }) : one
  }
  const frames: Buffer[] = []
  const serials: number[] = []
  for (let i = 0; i < total; i++) {
    const serial = (header.serial + i) & 0xffff
    const f = encodeFrameWithBody({ ...header, serial, packet: { total, index: i + 1 } }, body.subarray(i * size, (i + 1) * size))
    if (!f.ok) return f
    frames.push(f.value)
    serials.push(serial)
  }
  return ok({ frames, serials })
}
