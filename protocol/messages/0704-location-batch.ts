/**
 * 0x0704 batch location upload: count WORD, type BYTE (0 normal, 1 blind-area backfill),
 * then per item: length WORD + a 0x0200 body of that length.
 */
import { CodecFault } from '../errors.js'
import type { BodyCodec } from '../message.js'
import { readLocation, writeLocation, type Location } from './0200-location.js'
import { BodyWriter } from '../bytes.js'

export interface LocationBatch {
  /** 0 normal batch, 1 blind-area (buffered while offline) */
  type: number
  items: Location[]
  /** Count field as sent, when it differs from items.length. */
  declaredCount?: number
}

export const locationBatch: BodyCodec<LocationBatch> = {
  decode(r) {
    const count = r.u16('count')
    const type = r.u8('type')
    const items: Location[] = []
    // Read what is there: a device that miscounts must not cost the positions it did send.
    while (items.length < count && r.remaining > 0) {
      const len = r.u16('item length')
      if (len > r.remaining) throw new CodecFault('TRUNCATED', `item ${items.length + 1} declares ${len} bytes, ${r.remaining} remain`)
      items.push(readLocation(r, r.offset + len))
    }
    const body: LocationBatch = { type, items }
    if (items.length !== count) body.declaredCount = count
    return body
  },
  encode(w, b) {
    w.u16(b.declaredCount ?? b.items.length).u8(b.type)
    for (const item of b.items) {
      const one = new BodyWriter(64)
      writeLocation(one, item)
      const bytes = one.finish()
      w.u16(bytes.length).bytes(bytes)
    }
  },
}
