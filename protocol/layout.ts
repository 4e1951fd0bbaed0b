/**
 * Fixed body layouts described once with binary-parser (compiled on first use, no context
 * variables) and read through a BodyReader, so a short body becomes a TRUNCATED value like any
 * other overrun. binary-parser only decodes: each codec writes its layout back with BodyWriter.
 */
import { Parser } from 'binary-parser'
import type { BodyReader } from './bytes.js'

export class Layout<T> {
  /** Bytes the layout occupies. */
  readonly size: number
  private readonly parser: Parser

  constructor(parser: Parser) {
    this.parser = parser
    this.size = parser.sizeOf()
  }

  /** Reads the layout at the reader's offset and advances past it. */
  read(r: BodyReader, what: string): T {
    return this.parser.parse(r.bytes(this.size, what)) as T
  }

  /** Reads the layout from the start of `bytes` (at least `size` long: checked by the caller). */
  parse(bytes: Buffer): T {
    return this.parser.parse(bytes) as T
  }
}

/** A big-endian parser to describe a layout with. */
export function layout(): Parser {
  return new Parser().endianness('big')
}
