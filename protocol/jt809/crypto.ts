/**
 * JT/T 809 body encryption (header ENCRYPT_FLAG = 1): each body byte is XORed with bits 20-27 of
 * a pseudo-random stream seeded by the header's ENCRYPT_KEY and driven by the three constants the
 * upper platform hands out with the access code:
 *   key = IA1 * (key mod M1) + IC1   (unsigned 32-bit arithmetic)
 *   byte ^= (key >> 20) & 0xff
 * A key of 0 is taken as 1, and an M1 of 0 as 1 (as the standard's reference code does). The same
 * operation encrypts and decrypts. Checked against captures of a provincial platform
 * (fixtures/jt809-frames.json, "GuoJian" frames with their published constants).
 */

export interface EncryptionKeys {
  m1: number
  ia1: number
  ic1: number
}

/** Encrypts or decrypts bytes [start, end) of buf in place. */
export function cryptInPlace(buf: Uint8Array, start: number, end: number, encryptKey: number, keys: EncryptionKeys): void {
  const n = end - start
  if (n > MAX_CACHED) {
    xorStream(buf, start, end, encryptKey, keys)
    return
  }
  // The stream depends on the key and constants only, and a link sends the same ENCRYPT_KEY
  // frame after frame: XOR with a cached stream (a 32-bit modulo per byte costs ~15 ns).
  const stream = streamFor(encryptKey >>> 0, keys, n)
  for (let i = 0; i < n; i++) buf[start + i] ^= stream[i]
}

function xorStream(buf: Uint8Array, start: number, end: number, encryptKey: number, keys: EncryptionKeys): void {
  let key = encryptKey >>> 0 || 1
  const m1 = keys.m1 >>> 0 || 1
  const ia1 = keys.ia1 >>> 0
  const ic1 = keys.ic1 >>> 0
  for (let i = start; i < end; i++) {
    key = (Math.imul(ia1, key % m1) + ic1) >>> 0
    buf[i] ^= (key >>> 20) & 0xff
  }
}

/** Streams up to MAX_CACHED bytes, for at most MAX_STREAMS (key, constants) at once. */
const MAX_CACHED = 64 * 1024
const MAX_STREAMS = 64
const STREAMS = new Map<string, Uint8Array>()
let last: { encryptKey: number; m1: number; ia1: number; ic1: number; stream: Uint8Array } | null = null

function streamFor(encryptKey: number, keys: EncryptionKeys, n: number): Uint8Array {
  const m1 = keys.m1 >>> 0,
    ia1 = keys.ia1 >>> 0,
    ic1 = keys.ic1 >>> 0
  if (last !== null && last.encryptKey === encryptKey && last.m1 === m1 && last.ia1 === ia1 && last.ic1 === ic1 && last.stream.length >= n) return last.stream
  const id = `${encryptKey}/${m1}/${ia1}/${ic1}`
  let stream = STREAMS.get(id)
  if (stream === undefined || stream.length < n) {
    // Grown in steps so that a link's usual frame sizes settle on one stream.
    stream = new Uint8Array(Math.min(MAX_CACHED, Math.max(n, 1024, (stream?.length ?? 0) * 2)))
    xorStream(stream, 0, stream.length, encryptKey, keys)
    if (STREAMS.size >= MAX_STREAMS) STREAMS.clear()
    STREAMS.set(id, stream)
  }
  last = { encryptKey, m1, ia1, ic1, stream }
  return stream
}

/** A copy of bytes, encrypted or decrypted. */
export function crypt(bytes: Uint8Array, encryptKey: number, keys: EncryptionKeys): Buffer {
  const out = Buffer.from(bytes)
  cryptInPlace(out, 0, out.length, encryptKey, keys)
  return out
}
