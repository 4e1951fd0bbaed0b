/**
 * Fixed body layouts as one field list each, from which both directions follow: decode through
 * a binary-parser parser compiled from the list, encode by writing the same fields in the same
 * order with a BodyWriter. Read through a BodyReader, so a short body becomes a TRUNCATED value
 * like any other overrun.
 */
import { Parser } from 'binary-parser'
import type { BodyReader, BodyWriter } from './bytes.js'
import type { BodyCodec } from './message.js'

/** The keys of T whose values are numbers. */
type NumberKey<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T] & string

/** One big-endian unsigned integer field. */
export type LayoutField<T> = readonly ['u8' | 'u16' | 'u32', NumberKey<T>]

const PARSE = { u8: 'uint8', u16: 'uint16', u32: 'uint32' } as const

export class Layout<T> {
  /** Bytes the layout occupies. */
  readonly size: number
  private readonly parser: Parser

  constructor(private readonly fields: readonly LayoutField<T>[]) {
    let parser = new Parser().endianness('big')
    for (const [kind, key] of fields) parser = parser[PARSE[kind]](key)
    this.parser = parser
    this.size = parser.sizeOf()
  }

  /** Reads the layout at the reader's offset and advances past it. */
  read(r: BodyReader, what: string): T {
    return this.parser.parse(r.bytes(this.size, what)) as T
  }

  /** Writes the fields of `value` in the layout's order: what read() takes apart. */
  write(w: BodyWriter, value: T): void {
    const v = value as Record<NumberKey<T>, number>
    for (const [kind, key] of this.fields) w[kind](v[key])
  }

  /** The codec of a body that is this layout and nothing else. */
  codec(what: string): BodyCodec<T> {
    return { decode: (r) => this.read(r, what), encode: (w, body) => this.write(w, body) }
  }
}
