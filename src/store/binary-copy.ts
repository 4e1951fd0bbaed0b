/**
 * Encoder for PostgreSQL's binary COPY format (COPY ... FROM STDIN WITH (FORMAT binary)):
 * signature, flags, header extension, then per tuple a field count and length-prefixed fields,
 * then a -1 trailer. Values are network byte order; timestamptz is int64 microseconds since
 * 2000-01-01 UTC (integer datetimes, the only kind since PostgreSQL 10).
 */
export type CopyType = 'int2' | 'int4' | 'int8' | 'float8' | 'bool' | 'timestamptz' | 'jsonb' | 'text' | 'bytea'

/** A timestamptz given as epoch milliseconds. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1)
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')

export class BinaryCopyWriter {
  private buf: Buffer
  private pos = 0

  constructor(
    private readonly types: readonly CopyType[],
    initialBytes = 64 * 1024,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(initialBytes, 64))
    this.bytes(SIGNATURE)
    this.int32(0) // flags: no OIDs
    this.int32(0) // header extension length
  }

  /** Appends one tuple; `values[i]` must suit `types[i]`; null/undefined is SQL NULL. */
  row(values: readonly unknown[]): void {
    const n = this.types.length
    if (values.length !== n) throw new Error(`binary COPY row has ${values.length} values, expected ${n}`)
    this.reserve(2)
    this.buf.writeInt16BE(n, this.pos)
    this.pos += 2
    for (let i = 0; i < n; i++) this.field(this.types[i]!, values[i])
  }

  // Typed appends for a hot caller that knows its columns: beginRow(n), then exactly n fields in
  // column order. No per-row array and no dispatch on the type; each field grows the buffer as
  // row() does.

  beginRow(fields: number): void {
    this.reserve(2)
    this.buf.writeInt16BE(fields, this.pos)
    this.pos += 2
  }

  null(): void {
    this.int32(-1)
  }

  int2(v: number): void {
    this.int32(2)
    this.reserve(2)
    this.buf.writeInt16BE(v, this.pos)
    this.pos += 2
  }

  int4(v: number): void {
    this.int32(4)
    this.int32(v)
  }

  int8(v: number): void {
    this.int32(8)
    this.int64(v)
  }

  float8(v: number): void {
    this.int32(8)
    this.reserve(8)
    this.buf.writeDoubleBE(v, this.pos)
    this.pos += 8
  }

  bool(v: boolean): void {
    this.int32(1)
    this.reserve(1)
    this.buf[this.pos++] = v ? 1 : 0
  }

  /** epoch milliseconds */
  timestamptz(ms: number): void {
    this.int32(8)
    this.int64(Math.round((ms - PG_EPOCH_MS) * 1000))
  }

  /** JSON text as jsonb */
  jsonb(text: string): void {
    const len = Buffer.byteLength(text)
    this.int32(len + 1)
    this.reserve(len + 1)
    this.buf[this.pos++] = 1 // jsonb binary format version
    this.pos += this.buf.write(text, this.pos, 'utf8')
  }

  /** The finished payload (the writer must not be used afterwards). */
  finish(): Buffer {
    this.reserve(2)
    this.buf.writeInt16BE(-1, this.pos)
    this.pos += 2
    return this.buf.subarray(0, this.pos)
  }

  private field(type: CopyType, v: unknown): void {
    if (v === null || v === undefined) return this.null()
    switch (type) {
      case 'int2':
        return this.int2(v as number)
      case 'int4':
        return this.int4(v as number)
      case 'int8':
        return this.int8(v as number)
      case 'float8':
        return this.float8(v as number)
      case 'bool':
        return this.bool(Boolean(v))
      case 'timestamptz':
        return this.timestamptz(v instanceof Date ? v.getTime() : (v as number))
      case 'jsonb':
        return this.jsonb(typeof v === 'string' ? v : JSON.stringify(v))
      case 'text': {
        const text = String(v)
        const len = Buffer.byteLength(text)
        this.int32(len)
        this.reserve(len)
        this.pos += this.buf.write(text, this.pos, 'utf8')
        return
      }
      case 'bytea':
        this.int32((v as Uint8Array).length)
        this.bytes(v as Uint8Array)
        return
    }
  }

  /** A safe integer as int64, without BigInt (which costs more than the rest of a row). */
  private int64(n: number): void {
    if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${n} is not a safe integer`)
    this.reserve(8)
    const hi = Math.floor(n / 4294967296)
    this.buf.writeInt32BE(hi, this.pos)
    this.buf.writeUInt32BE(n - hi * 4294967296, this.pos + 4)
    this.pos += 8
  }

  private int32(n: number): void {
    this.reserve(4)
    this.buf.writeInt32BE(n, this.pos)
    this.pos += 4
  }

  private bytes(b: Uint8Array): void {
    this.reserve(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }
}
