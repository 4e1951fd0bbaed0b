/**
 * What a finished file is, from its first bytes, and whether that agrees with the type the
 * terminal announced in 0x1211 (0 picture, 1 audio, 2 video, 3 text, 4 other). A "picture" that
 * is not an image is refused rather than served to a supervisor under an image content type.
 */
export interface Sniffed {
  contentType: string
  /** 0 picture, 1 audio, 2 video, or null when the bytes say nothing */
  kind: 0 | 1 | 2 | null
}

export function sniff(head: Buffer): Sniffed {
  const at = (o: number, hex: string) => head.length >= o + hex.length / 2 && head.toString('hex', o, o + hex.length / 2) === hex
  const ascii = (o: number, s: string) => head.length >= o + s.length && head.toString('latin1', o, o + s.length) === s
  if (at(0, 'ffd8ff')) return { contentType: 'image/jpeg', kind: 0 }
  if (at(0, '89504e470d0a1a0a')) return { contentType: 'image/png', kind: 0 }
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return { contentType: 'image/gif', kind: 0 }
  if (ascii(0, 'BM')) return { contentType: 'image/bmp', kind: 0 }
  if (ascii(4, 'ftyp')) return { contentType: 'video/mp4', kind: 2 }
  if (ascii(0, 'RIFF') && ascii(8, 'AVI ')) return { contentType: 'video/x-msvideo', kind: 2 }
  if (ascii(0, 'RIFF') && ascii(8, 'WAVE')) return { contentType: 'audio/wav', kind: 1 }
  if (at(0, '00000001') || at(0, '000001')) return { contentType: 'video/h264', kind: 2 }
  if (head.length > 0 && head[0] === 0x47 && (head.length < 189 || head[188] === 0x47)) return { contentType: 'video/mp2t', kind: 2 }
  if (ascii(0, 'ID3') || at(0, 'fffb') || at(0, 'fff3')) return { contentType: 'audio/mpeg', kind: 1 }
  return { contentType: 'application/octet-stream', kind: null }
}

/** null when the bytes fit the announced type; else why not. */
export function contentMismatch(announced: number, s: Sniffed): string | null {
  if (announced <= 2 && s.kind !== announced) {
    const want = ['a picture', 'audio', 'a video'][announced]
    return `announced as ${want}, the bytes are ${s.contentType}`
  }
  return null
}
