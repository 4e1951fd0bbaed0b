/**
 * Bearer tokens: random secrets handed out once, stored as sha256 hashes. Shared by the API's
 * authentication hook, the bootstrap token at start and `jt808 token create`.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { ApiStore, ApiToken, Role } from '../store/port.js'

export const TOKEN_PREFIX = 'jt808_'

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** 32 random bytes, base64url, with a recognisable prefix (secret scanners, logs). */
export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

export function newTokenId(): string {
  return 'tok_' + randomBytes(6).toString('hex')
}

export class TokenRequestError extends Error {}

/** Checks role/licence consistency: an enterprise token needs its licence, other roles must not have one. */
export function checkTokenRequest(role: string, enterpriseLicenseNo: string | null | undefined): { role: Role; enterpriseLicenseNo: string | null } {
  if (role !== 'supervisor' && role !== 'enterprise' && role !== 'inspector') throw new TokenRequestError(`role must be supervisor, enterprise or inspector, not "${role}"`)
  const licence = enterpriseLicenseNo?.trim() || null
  if (role === 'enterprise' && !licence) throw new TokenRequestError('an enterprise token needs --enterprise LICENCE (the carrier licence number it is confined to)')
  if (role !== 'enterprise' && licence) throw new TokenRequestError(`--enterprise applies to enterprise tokens only, not ${role}`)
  if (licence && licence.length > 50) throw new TokenRequestError('the licence number is longer than 50 characters')
  return { role, enterpriseLicenseNo: licence }
}

/** Creates a token and returns its secret (shown once) with the stored record. */
export async function createToken(
  store: Pick<ApiStore, 'createToken'>,
  request: { role: string; enterpriseLicenseNo?: string | null; label?: string | null },
  now = Date.now(),
): Promise<{ secret: string; token: ApiToken }> {
  const { role, enterpriseLicenseNo } = checkTokenRequest(request.role, request.enterpriseLicenseNo)
  const secret = newTokenSecret()
  const token: ApiToken = { id: newTokenId(), role, enterpriseLicenseNo, label: request.label ?? null, createdAt: now, revokedAt: null }
  await store.createToken({ id: token.id, tokenHash: hashToken(secret), role, enterpriseLicenseNo, label: token.label, createdAt: now })
  return { secret, token }
}

/** JT808_BOOTSTRAP_TOKEN: makes a supervisor token with exactly this secret exist. */
export async function ensureBootstrapToken(store: Pick<ApiStore, 'ensureToken'>, secret: string, now = Date.now()): Promise<ApiToken> {
  if (secret.length < 16) throw new TokenRequestError('JT808_BOOTSTRAP_TOKEN must be at least 16 characters')
  const token = await store.ensureToken({
    id: 'tok_bootstrap_' + hashToken(secret).slice(0, 8),
    tokenHash: hashToken(secret),
    role: 'supervisor',
    enterpriseLicenseNo: null,
    label: 'bootstrap (JT808_BOOTSTRAP_TOKEN)',
    createdAt: now,
  })
  if (token.role !== 'supervisor') throw new TokenRequestError('JT808_BOOTSTRAP_TOKEN matches an existing token that is not a supervisor token')
  return token
}

/** The API's base URL as a user on this host types it. */
export function apiBase(address: AddressInfo): string {
  const host = address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

/** What to do next for API access, printed once the API listens. */
export async function tokenHint(store: Pick<ApiStore, 'listTokens'>, bootstrapToken: string | null, base: string): Promise<string> {
  if (bootstrapToken) return `curl -H "Authorization: Bearer $JT808_BOOTSTRAP_TOKEN" ${base}/api/v1/vehicles`
  if ((await store.listTokens()).every((t) => t.revokedAt !== null)) {
    return 'no API token exists yet: set JT808_BOOTSTRAP_TOKEN=<secret of 16+ characters> or run "jt808 token create --role supervisor"'
  }
  return 'API tokens: "jt808 token list" / "jt808 token create --role …"'
}
