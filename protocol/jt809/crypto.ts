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
  let key = encryptKey >>> 0 || 1
  const m1 = keys.m1 >>> 0 || 1
  const ia1 = keys.ia1 >>> 0
  const ic1 = keys.ic1 >>> 0
  for (let i = start; i < end; i++) {
    key = (Math.imul(ia1, key % m1) + ic1) >>> 0
    buf[i] ^= (key >>> 20) & 0xff
  }
}

/** A copy of bytes, encrypted or decrypted. */
export function crypt(bytes: Uint8Array, encryptKey: number, keys: EncryptionKeys): Buffer {
  const out = Buffer.from(bytes)
  cryptInPlace(out, 0, out.length, encryptKey, keys)
  return out
}
