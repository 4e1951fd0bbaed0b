/**
 * Terminal auth codes: random, stored only as a salted hash, never logged.
 *
 * The codes are 96-bit random values, not human passwords, so a slow KDF buys nothing against
 * guessing while costing a 100k-terminal reconnect storm minutes of CPU: a salted SHA-256 is
 * the right tool. Verification also accepts `scrypt$salt$hash` rows (provisioned elsewhere).
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'

/** A fresh auth code: 16 URL-safe ASCII characters (fits every terminal's STRING field). */
export function newAuthCode(): string {
  return randomBytes(12).toString('base64url')
}

export function hashAuthCode(code: string): string {
  const salt = randomBytes(16).toString('hex')
  return `sha256$${salt}$${sha256(salt, code)}`
}

export function verifyAuthCode(code: string, stored: string | null): boolean {
  if (!stored) return false
  const [scheme, salt, hash] = stored.split('$')
  if (!salt || !hash) return false
  let computed: string
  if (scheme === 'sha256') computed = sha256(salt, code)
  else if (scheme === 'scrypt') computed = scryptSync(code, salt, hash.length / 2).toString('hex')
  else return false
  const a = Buffer.from(computed, 'hex')
  const b = Buffer.from(hash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}

function sha256(salt: string, code: string): string {
  return createHash('sha256').update(salt).update('\0').update(code, 'utf8').digest('hex')
}
