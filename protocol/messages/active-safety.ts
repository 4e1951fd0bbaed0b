/** Active safety items 0x64 ADAS, 0x65 DSM, 0x66 TPMS, 0x67 BSD. (Typed decoding: see issue 2 follow-up.) */
export interface ActiveSafetyItem {
  hex: string
}

export function decodeActiveSafety(_id: number, _value: Buffer): ActiveSafetyItem | null {
  return null
}

export function encodeActiveSafety(_id: number, item: ActiveSafetyItem): Buffer {
  return Buffer.from(item.hex, 'hex')
}
