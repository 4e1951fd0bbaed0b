/**
 * The message table's shape: every message id maps to one body type and one BodyCodec, which
 * decodes and encodes that body side by side (protocol/messages/<id>-<name>.ts). The table
 * itself is protocol/messages/index.ts; decode and encode both go through it.
 */
import type { BodyReader, BodyWriter } from './bytes.js'
import type { Header } from './header.js'

export interface BodyCodec<B> {
  /**
   * Reads the whole body. May throw CodecFault (caught by decodeBody). The header is passed so
   * version differences can be honoured; 0x0100 may set header.version to 2011.
   */
  decode(r: BodyReader, h: Header): B
  encode(w: BodyWriter, body: B, h: Header): void
}

/** A body kept as bytes: ids without a codec, and bodies the codec cannot interpret. */
export interface RawBody {
  raw: string
}
