/**
 * 0x0704 batch location upload: count WORD, type BYTE (0 normal, 1 blind-area backfill),
 * then per item: length WORD + a 0x0200 body of that length.
 *
 * One bad item must not cost the good ones (the terminal deletes the whole batch once it is
 * acknowledged): an item too short to hold a location is kept as bytes in `badItems`, and an
 * item whose length runs past the body stops parsing with the rest kept in `tail`. Both are
 * re-emitted in place on encode, so the batch still round-trips exactly.
 */
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { readLocation, writeLocation, type Location } from './0200-location.js'
import { BodyWriter } from '../bytes.js'

export interface BadBatchItem {
  /** position among all items of the batch, as sent */
  index: number
  hex: string
  error: string
}

export interface LocationBatch {
  /** 0 normal batch, 1 blind-area (buffered while offline) */
  type: number
  items: Location[]
  /** Count field as sent, when it differs from the number of items present. */
  declaredCount?: number
  /** Items that are not a location (too short): kept, not decoded. */
  badItems?: BadBatchItem[]
  /** Bytes from an item whose length ran past the body, to the end (hex). */
  tail?: string
  itemsError?: string
}

export const locationBatch: BodyCodec<LocationBatch> = {
  decode(r) {
    const count = r.u16('count')
    const type = r.u8('type')
    const body: LocationBatch = { type, items: [] }
    let seen = 0
    // Read what is there: a device that miscounts must not cost the positions it did send.
    while (seen < count && r.remaining > 0) {
      const start = r.offset
      if (r.remaining < 2 || r.buf.readUInt16BE(r.offset) + 2 > r.remaining) {
        body.itemsError = `item ${seen + 1} declares more bytes than remain`
        body.tail = r.rest().toString('hex')
        break
      }
      const len = r.u16('item length')
      try {
        body.items.push(readLocation(r, r.offset + len))
      } catch (e) {
        if (!(e instanceof CodecFault)) throw e
        r.offset = start + 2 + len
        ;(body.badItems ??= []).push({ index: seen, hex: r.buf.toString('hex', start + 2, start + 2 + len), error: e.message })
      }
      seen++
    }
    if (seen !== count) body.declaredCount = count
    return body
  },
  encode(w, b) {
    const bad = b.badItems ?? []
    const total = b.items.length + bad.length
    w.u16(b.declaredCount ?? total).u8(b.type)
    let next = 0
    for (let i = 0; i < total; i++) {
      const kept = bad.find((x) => x.index === i)
      let bytes: Buffer
      if (kept) bytes = Buffer.from(kept.hex, 'hex')
      else {
        const one = new BodyWriter(64)
        writeLocation(one, b.items[next++])
        bytes = one.finish()
      }
      w.u16(bytes.length).bytes(bytes)
    }
    if (b.tail) w.bytes(Buffer.from(b.tail, 'hex'))
  },
}
