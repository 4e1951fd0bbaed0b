/**
 * Adding and changing platforms (API and CLI share this): checks the input, hashes a lower
 * platform's password (scrypt; it is a short human-chosen secret), keeps a superior's (we must
 * send it). Problems come back as { field, message } like the API's validation errors.
 */
import { randomBytes, scryptSync } from 'node:crypto'
import { isIP } from 'node:net'
import type { NewPlatform, Platform, PlatformEncryption, PlatformPatch, PlatformRole, PlatformVehicleRef } from '../store/platforms.js'

export interface PlatformInput {
  role: PlatformRole
  name: string
  accessCode: number
  userId: number
  /** 809 PASSWORD is BYTE[8]: 1–8 ASCII characters */
  password: string
  edition?: 2011 | 2019
  encryption?: PlatformEncryption | null
  allowedAddresses?: string[]
  enterpriseLicences?: string[]
  vehicles?: PlatformVehicleRef[]
  unknownVehicles?: 'enrol' | 'refuse'
  host?: string | null
  port?: number | null
  enabled?: boolean
}

export type PlatformChange = Partial<Omit<PlatformInput, 'role'>>

export interface Problem {
  field: string
  message: string
}

export class PlatformInputError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; '))
    this.name = 'PlatformInputError'
  }
}

export function hashPlatformPassword(password: string): string {
  const salt = randomBytes(16).toString('hex')
  return `scrypt$${salt}$${scryptSync(password, salt, 32).toString('hex')}`
}

const U32 = 0xffffffff

function check(p: PlatformChange, role: PlatformRole, problems: Problem[]): void {
  const bad = (field: string, message: string) => problems.push({ field, message })
  if (p.name !== undefined && (typeof p.name !== 'string' || !p.name.trim() || p.name.length > 200)) bad('name', 'a name of 1–200 characters')
  if (p.accessCode !== undefined && !(Number.isInteger(p.accessCode) && p.accessCode >= 0 && p.accessCode <= U32)) bad('accessCode', 'an unsigned 32-bit integer')
  if (p.userId !== undefined && !(Number.isInteger(p.userId) && p.userId >= 0 && p.userId <= U32)) bad('userId', 'an unsigned 32-bit integer')
  if (p.password !== undefined && !/^[\x21-\x7e]{1,8}$/.test(p.password)) bad('password', '1–8 printable ASCII characters (809 PASSWORD is BYTE[8])')
  if (p.edition !== undefined && p.edition !== 2011 && p.edition !== 2019) bad('edition', '2011 or 2019')
  if (p.encryption) {
    for (const k of ['m1', 'ia1', 'ic1', 'key'] as const) {
      const v = p.encryption[k]
      if (!(Number.isInteger(v) && v >= 0 && v <= U32)) bad(`encryption.${k}`, 'an unsigned 32-bit integer')
    }
  }
  for (const a of p.allowedAddresses ?? []) if (!isIP(a)) bad('allowedAddresses', `"${a}" is not an IP address`)
  for (const l of p.enterpriseLicences ?? []) if (typeof l !== 'string' || !l.trim()) bad('enterpriseLicences', 'licence numbers, not empty')
  for (const v of p.vehicles ?? []) if (!v || typeof v.plate !== 'string' || !v.plate || !Number.isInteger(v.plateColor)) bad('vehicles', 'each {plate, plateColor}')
  if (p.port !== undefined && p.port !== null && !(Number.isInteger(p.port) && p.port > 0 && p.port < 65536)) bad('port', '1–65535')
  if (role === 'lower' && (p.host != null || p.port != null)) bad('host', 'a lower platform connects to us: no host/port')
}

/** A new platform from the input, or PlatformInputError. */
export function newPlatform(input: PlatformInput): NewPlatform {
  const problems: Problem[] = []
  if (input.role !== 'lower' && input.role !== 'superior') problems.push({ field: 'role', message: '"lower" or "superior"' })
  for (const f of ['name', 'accessCode', 'userId', 'password'] as const) if (input[f] === undefined) problems.push({ field: f, message: 'required' })
  if (input.role === 'superior' && (!input.host || !input.port)) problems.push({ field: 'host', message: 'a superior needs host and port' })
  check(input, input.role, problems)
  if (problems.length) throw new PlatformInputError(problems)
  const lower = input.role === 'lower'
  return {
    role: input.role,
    name: input.name.trim(),
    accessCode: input.accessCode,
    userId: input.userId,
    passwordHash: lower ? hashPlatformPassword(input.password) : null,
    password: lower ? null : input.password,
    edition: input.edition ?? 2011,
    encryption: input.encryption ?? null,
    allowedAddresses: input.allowedAddresses ?? [],
    enterpriseLicences: input.enterpriseLicences ?? [],
    vehicles: input.vehicles ?? [],
    unknownVehicles: input.unknownVehicles ?? 'refuse',
    host: lower ? null : (input.host ?? null),
    port: lower ? null : (input.port ?? null),
    enabled: input.enabled ?? true,
  }
}

/** A change to an existing platform (its role stays), or PlatformInputError. */
export function platformPatch(existing: Platform, change: PlatformChange): PlatformPatch {
  const problems: Problem[] = []
  check(change, existing.role, problems)
  if (existing.role === 'superior' && (change.host === null || change.port === null)) problems.push({ field: 'host', message: 'a superior needs host and port' })
  if (problems.length) throw new PlatformInputError(problems)
  const { password, ...rest } = change
  const patch: PlatformPatch = { ...rest }
  if (typeof patch.name === 'string') patch.name = patch.name.trim()
  if (password !== undefined) {
    if (existing.role === 'lower') patch.passwordHash = hashPlatformPassword(password)
    else patch.password = password
  }
  return patch
}
