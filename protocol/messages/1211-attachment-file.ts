/**
 * T/JSATL12 file messages on the attachment server connection:
 *   0x1211 file information upload, 0x1212 file upload complete — same layout:
 *   name length BYTE, name STRING, file type BYTE (0 picture, 1 audio, 2 video, 3 text, 4 other),
 *   size DWORD
 */
import type { HasAsSent } from '../bytes.js'
import type { BodyCodec } from '../message.js'

export interface AttachmentFileInfo extends HasAsSent {
  name: string
  fileType: number
  size: number
}

export const attachmentFileInfo: BodyCodec<AttachmentFileInfo> = {
  decode(r) {
    const body = {} as AttachmentFileInfo
    body.name = r.prefixedText('name', body)
    body.fileType = r.u8('file type')
    body.size = r.u32('file size')
    return body
  },
  encode(w, b) {
    w.prefixedText(b.name, 'name', b).u8(b.fileType).u32(b.size)
  },
}
