/** Deliberately broken frames, as a flaky device or line produces them. */

/**
 * Flips the low bit of one byte in the middle of an escaped frame so its checksum no longer
 * matches, while the escaping stays valid (never touches 0x7d/0x7e or a byte after 0x7d, and never
 * produces either): the gateway sees a well-delimited frame with BAD_CHECKSUM.
 */
export function corruptFrame(frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  for (let i = Math.floor(out.length / 2); i < out.length - 2; i++) {
    const b = out[i]
    const flipped = b ^ 0x01
    if (b === 0x7d || b === 0x7e || out[i - 1] === 0x7d || flipped === 0x7d || flipped === 0x7e) continue
    out[i] = flipped
    return out
  }
  // Too short to find a safe byte (never for a 0x0200): break the checksum byte itself.
  out[out.length - 2] = out[out.length - 2] === 0x00 ? 0x01 : 0x00
  return out
}
