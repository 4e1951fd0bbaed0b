/**
 * The sub-business envelope of 0x1200/0x9200 (vehicle exchange), 0x1300/0x9300 (platform),
 * 0x1400/0x9400 (alarms), 0x1500/0x9500 (vehicle control), 0x1600/0x9600 (static information):
 *   [VEHICLE_NO BYTE[21] GBK, VEHICLE_COLOR BYTE,] DATA_TYPE WORD, DATA_LENGTH DWORD, DATA
 * The vehicle prefix is absent from 0x1300/0x9300, from 0x1400/0x9400 in 2019, and from the 2019
 * 0x9201 registration reply. DATA goes through the family's sub-table by DATA_TYPE; an unknown
 * type keeps its bytes. A DATA_LENGTH that is not the bytes present is tolerated and counted.
 */
import { BodyReader, BodyWriter, type HasAsSent } from '../bytes.js'
import { CodecFault } from '../errors.js'
import { hex, num, str, type BodyCodec809, type Context809, type RawBody } from './body.js'
import type { Header809 } from './header.js'
import { readFixedText, writeFixedText } from './text.js'

export interface EnvelopeBase extends HasAsSent {
  /** VEHICLE_NO (GBK), absent where the envelope has no vehicle prefix. */
  plate?: string
  /** VEHICLE_COLOR (JT/T 697.7: 1 blue, 2 yellow, 3 black, 4 white, 9 other …). */
  plateColor?: number
  /** DATA_LENGTH as sent, only when it is not the data's byte count. */
  dataLength?: number
  /** Bytes inside DATA_LENGTH after what the sub-body's layout holds (hex). */
  dataTrailing?: string
  /** Why DATA of a known type is kept raw: it does not fit the type's layout (quirk badLayout). */
  dataError?: string
}

/** A discriminated union on dataType over a sub-table's bodies, plus raw data for any other type. */
export type Envelope<M> = { [D in keyof M & number]: EnvelopeBase & { dataType: D; data: M[D] } }[keyof M & number] | (EnvelopeBase & { dataType: number; data: RawBody })

/** Narrows an envelope body to one sub-business type whose data was decoded (not kept raw). */
export function isData<B extends EnvelopeBase & { dataType: number; data: unknown }, D extends number>(body: B, dataType: D): body is Extract<B, { dataType: D }> {
  const data = body.data
  return body.dataType === dataType && !(typeof data === 'object' && data !== null && typeof (data as RawBody).raw === 'string')
}

export type SubTable<M> = { [D in keyof M & number]: BodyCodec809<M[D]> }

/**
 * Whether an envelope carries the vehicle prefix: 'vehicle' always (0x1200, 0x1500, 0x1600 …),
 * 'optional' where editions and peers disagree (0x1400/0x9400: 2011 yes, 2019 no — one 2019
 * implementation writes it for 0x9401 —, 0x9200: not for the 2019 0x9201), 'none' never
 * (0x1300/0x9300). For 'optional' decoding does not guess from the edition: a body whose first
 * WORD is a sub-business type of its own family (0x14xx in 0x1400) has no prefix — a plate never
 * starts so (GBK and ASCII text do not start with 0x14/0x92/0x94 followed by a small byte); encoding
 * writes it when the body has a plate.
 */
export type VehiclePrefix = 'vehicle' | 'optional' | 'none'

export function envelope<M>(family: number, subs: SubTable<M>, prefix: VehiclePrefix): BodyCodec809<Envelope<M>> {
  const table = new Map<number, BodyCodec809<unknown>>(Object.entries(subs).map(([k, c]) => [Number(k), c as BodyCodec809<unknown>]))
  return {
    decode(r, ctx) {
      const peek = r.remaining >= 2 ? r.buf.readUInt16BE(r.offset) : -1
      const body = {} as EnvelopeBase & { dataType: number; data: unknown }
      if (prefix === 'vehicle' || (prefix === 'optional' && peek >> 8 !== family >> 8)) {
        body.plate = readFixedText(r, 21, 'plate', body)
        body.plateColor = r.u8('plate colour')
      }
      body.dataType = r.u16('DATA_TYPE')
      const declared = r.u32('DATA_LENGTH')
      const start = r.offset
      let end = start + declared
      if (end !== r.end) {
        ctx.quirks.push('dataLength')
        body.dataLength = declared
        if (end > r.end) end = r.end
      }
      const codec = table.get(body.dataType)
      if (codec === undefined) body.data = { raw: r.buf.toString('hex', start, end) }
      else {
        const sub = new BodyReader(r.buf, start, end)
        try {
          body.data = codec.decode(sub, ctx)
          if (sub.offset < end) {
            ctx.quirks.push('strayBytes')
            body.dataTrailing = r.buf.toString('hex', sub.offset, end)
          }
        } catch (e) {
          if (!(e instanceof CodecFault)) throw e
          // The frame is sound (length, CRC, header): keep the data that does not fit its layout.
          ctx.quirks.push('badLayout')
          body.data = { raw: r.buf.toString('hex', start, end) }
          body.dataError = e.message
        }
      }
      r.offset = end // bytes after DATA_LENGTH become the message's trailing bytes
      return body as Envelope<M>
    },
    encode(w, b, h) {
      const body = b as EnvelopeBase & { dataType: number; data: unknown }
      const dataType = num(body.dataType, 'dataType', 0xffff)
      if (prefix === 'vehicle' || (prefix === 'optional' && body.plate !== undefined)) {
        writeFixedText(w, str(body.plate ?? '', 'plate'), 21, 'plate', body)
        w.u8(num(body.plateColor ?? 0, 'plateColor', 0xff))
      }
      w.u16(dataType)
      const data = encodeData(table.get(dataType), body.data, h)
      const trailing = body.dataTrailing ? hex(body.dataTrailing, 'dataTrailing') : null
      const length = data.length + (trailing?.length ?? 0)
      w.u32(body.dataLength ?? length).bytes(data)
      if (trailing) w.bytes(trailing)
    },
  }
}

function encodeData(codec: BodyCodec809<unknown> | undefined, data: unknown, h: Header809): Buffer {
  if (typeof data === 'object' && data !== null && typeof (data as RawBody).raw === 'string') return hex((data as RawBody).raw, 'data.raw')
  if (codec === undefined) throw new CodecFault('BAD_FIELD', 'this dataType has no codec: give data as {"raw": "<hex>"}')
  const w = new BodyWriter(128)
  codec.encode(w, data, h)
  return w.finish()
}

export type { Context809 }
