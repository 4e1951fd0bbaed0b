/**
 * The waybill QR image keeps a quiet zone of 4 light modules on every side (ISO/IEC 18004):
 * the PNG is decoded here pixel by pixel, not trusted from the options passed.
 */
import { inflateSync } from 'node:zlib'
import QRCode from 'qrcode'
import t from 'tap'
import { QR_QUIET_ZONE, qrPng, qrSvg } from '../../src/api/qr.js'

interface Image {
  width: number
  height: number
  /** true where the pixel is dark */
  dark(x: number, y: number): boolean
}

/** A minimal PNG reader: 8-bit grey/RGB/RGBA (with or without alpha), no interlace, all five row filters. */
function decodePng(png: Buffer): Image {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG')
  let off = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Buffer[] = []
  while (off < png.length) {
    const len = png.readUInt32BE(off)
    const type = png.toString('latin1', off + 4, off + 8)
    const data = png.subarray(off + 8, off + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      const [depth, colour, , , interlace] = data.subarray(8, 13)
      if (depth !== 8 || interlace !== 0) throw new Error(`unsupported PNG (depth ${depth}, interlace ${interlace})`)
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colour] ?? 0
      if (!channels) throw new Error(`unsupported colour type ${colour}`)
    } else if (type === 'IDAT') idat.push(data)
    off += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const pixels = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[y * stride + i - channels] : 0
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] : 0
      const p = a + b - c
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c
      const pred = [0, a, b, (a + b) >> 1, paeth][filter]
      if (pred === undefined) throw new Error(`bad filter ${filter}`)
      pixels[y * stride + i] = (line[i] + pred) & 0xff
    }
  }
  return { width, height, dark: (x, y) => pixels[y * stride + x * channels] < 128 }
}

t.test('the PNG has a quiet zone of 4 modules and the symbol right after it', async (t) => {
  const text = JSON.stringify({ alg: 'SM2-SM3', payload: { waybillNo: 'WB-QZ-1', plate: '浙A12345' }, sig: 'ab'.repeat(64) })
  const modules = QRCode.create(text, { errorCorrectionLevel: 'M' }).modules.size
  const img = decodePng(await qrPng(text))
  t.equal(img.width, img.height, 'square')
  const scale = img.width / (modules + 2 * QR_QUIET_ZONE)
  t.ok(Number.isInteger(scale) && scale >= 1, `whole pixels per module (${scale})`)
  t.equal(QR_QUIET_ZONE, 4)
  const border = QR_QUIET_ZONE * scale
  let darkInBorder = 0
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const inBorder = x < border || y < border || x >= img.width - border || y >= img.height - border
      if (inBorder && img.dark(x, y)) darkInBorder++
    }
  }
  t.equal(darkInBorder, 0, 'no dark pixel in the quiet zone')
  // the top-left finder pattern starts exactly where the quiet zone ends
  t.ok(img.dark(border, border), 'the finder pattern begins after 4 modules')
  t.notOk(img.dark(border - 1, border - 1))
})

t.test('the SVG has the same quiet zone', async (t) => {
  const text = 'WB-QZ-2'
  const modules = QRCode.create(text, { errorCorrectionLevel: 'M' }).modules.size
  const svg = await qrSvg(text)
  const viewBox = /viewBox="0 0 (\d+) (\d+)"/.exec(svg)
  t.ok(viewBox, 'has a viewBox')
  t.equal(Number(viewBox?.[1]), modules + 2 * QR_QUIET_ZONE)
})
