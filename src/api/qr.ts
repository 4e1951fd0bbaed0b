/**
 * Waybill QR codes signed with SM2 (GM/T 0003, SM3 digest with the default user id), so a road
 * inspector's scan can be checked against the platform's public key. The key pair comes from
 * configuration, or is generated at first start and stored (first writer wins, so every process
 * of a deployment signs with the same key).
 *
 * The QR text is canonical JSON {"alg","kid","payload","sig"}: keys sorted at every level, so a
 * scanner that re-serialises the payload in another key order still verifies.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import QRCode from 'qrcode'
import type { ApiStore } from '../store/port.js'

interface Sm2 {
  generateKeyPairHex(bits?: number, rng?: { nextBytes(a: number[]): void }): { privateKey: string; publicKey: string }
  doSignature(msg: string, privateKey: string, options?: { hash?: boolean; publicKey?: string }): string
  doVerifySignature(msg: string, signature: string, publicKey: string, options?: { hash?: boolean }): boolean
  getPublicKeyFromPrivateKey(privateKey: string): string
  verifyPublicKey(publicKey: string): boolean
}
const { sm2 } = createRequire(import.meta.url)('sm-crypto') as { sm2: Sm2 }

export const QR_ALG = 'SM2-SM3'
const SETTING_KEY = 'qr.sm2-keypair'

export interface QrGoods {
  unNumber: string
  name: string
  hazardClass: string
  quantity: number
  unit: string
}

/** What the QR carries: enough for a roadside check without a network. */
export interface QrPayload {
  v: 1
  waybillNo: string
  plate: string
  plateColor: number
  carrierLicenseNo: string
  issueDate: string
  goods: QrGoods[]
  /** when this code was signed (ISO 8601) */
  signedAt: string
}

export interface SignedQr {
  alg: string
  /** key id: first 16 hex digits of sha256 over the public key (tells keys apart after a rotation) */
  kid: string
  payload: QrPayload
  /** SM2 signature (r‖s hex) over canonical(payload) */
  sig: string
}

export interface KeyPair {
  privateKey: string
  publicKey: string
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value)
}

export const keyId = (publicKey: string) => createHash('sha256').update(publicKey.toLowerCase()).digest('hex').slice(0, 16)

/** sm-crypto's key generation fed from node's CSPRNG explicitly. */
export function generateKeyPair(): KeyPair {
  const rng = {
    nextBytes(a: number[]) {
      const bytes = randomBytes(a.length)
      for (let i = 0; i < a.length; i++) a[i] = bytes[i]
    },
  }
  return sm2.generateKeyPairHex(256, rng)
}

export class QrKeyError extends Error {}

export type VerifyResult = { ok: true; payload: QrPayload } | { ok: false; reason: string }

export class QrSigner {
  private keys: Promise<KeyPair> | null = null

  constructor(
    private readonly store: Pick<ApiStore, 'getSetting' | 'putSettingIfAbsent'>,
    private readonly configured: KeyPair | null,
  ) {}

  /** The platform key pair: configured, stored, or generated now and stored. */
  keyPair(): Promise<KeyPair> {
    this.keys ??= this.load().catch((err) => {
      this.keys = null
      throw err
    })
    return this.keys
  }

  private async load(): Promise<KeyPair> {
    if (this.configured) {
      const derived = sm2.getPublicKeyFromPrivateKey(this.configured.privateKey)
      if (derived.toLowerCase() !== this.configured.publicKey.toLowerCase()) throw new QrKeyError('the configured SM2 public key does not belong to the private key')
      return this.configured
    }
    const stored = await this.store.getSetting<KeyPair>(SETTING_KEY)
    if (stored) return stored
    return this.store.putSettingIfAbsent<KeyPair>(SETTING_KEY, generateKeyPair())
  }

  async publicKey(): Promise<{ alg: string; kid: string; publicKey: string }> {
    const { publicKey } = await this.keyPair()
    return { alg: QR_ALG, kid: keyId(publicKey), publicKey }
  }

  async sign(payload: QrPayload): Promise<SignedQr> {
    const { privateKey, publicKey } = await this.keyPair()
    const sig = sm2.doSignature(canonicalJson(payload), privateKey, { hash: true, publicKey })
    return { alg: QR_ALG, kid: keyId(publicKey), payload, sig }
  }

  /** Checks a scanned code: its shape, the key it names, and the signature over its payload. */
  async verify(scanned: unknown): Promise<VerifyResult> {
    const s = scanned as Partial<SignedQr> | null
    if (!s || typeof s !== 'object' || !s.payload || typeof s.payload !== 'object' || typeof s.sig !== 'string') return { ok: false, reason: 'not a signed waybill code' }
    if (s.alg !== undefined && s.alg !== QR_ALG) return { ok: false, reason: `unsupported algorithm ${String(s.alg)}` }
    if (!/^[0-9a-f]{128}$/i.test(s.sig)) return { ok: false, reason: 'malformed signature' }
    const { publicKey } = await this.keyPair()
    if (s.kid !== undefined && s.kid !== keyId(publicKey)) return { ok: false, reason: 'signed with another key' }
    let valid = false
    try {
      valid = sm2.doVerifySignature(canonicalJson(s.payload), s.sig, publicKey, { hash: true })
    } catch {
      valid = false
    }
    if (!valid) return { ok: false, reason: 'the signature does not match the payload' }
    const p = s.payload as QrPayload
    if (p.v !== 1 || typeof p.waybillNo !== 'string') return { ok: false, reason: 'unknown payload version' }
    return { ok: true, payload: p }
  }
}

/** The text a QR image encodes. */
export const qrText = (signed: SignedQr) => canonicalJson(signed)

/** Light modules around the symbol: ISO/IEC 18004 asks for 4, and scanners miss codes without them. */
export const QR_QUIET_ZONE = 4

export function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: QR_QUIET_ZONE })
}

export function qrPng(text: string): Promise<Buffer> {
  return QRCode.toBuffer(text, { type: 'png', errorCorrectionLevel: 'M', margin: QR_QUIET_ZONE, scale: 4 })
}
