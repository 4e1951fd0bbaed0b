/** `jt808 platforms list|add|remove`: the JT/T 809 platforms (lower ones that log in to us, superiors we forward to). */
import { CONFIG_FLAGS, loadConfig } from '../../config/index.js'
import { newPlatform, PlatformInputError, type PlatformInput } from '../../platform/admin.js'
import type { Platform } from '../../store/platforms.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { adminTransport } from '../local-api.js'
import { ServerError } from '../server-client.js'
import { parseArgs } from './token.js'

const USAGE = `usage:
  jt808 platforms list [--json]
  jt808 platforms add --role lower|superior --name NAME --access-code N --user-id N --password P
        [--edition 2011|2019] [--keys M1,IA1,IC1,KEY] [--licences L1,L2] [--vehicles PLATE:COLOUR,…]
        [--allowed-addresses IP,IP] [--unknown-vehicles enrol|refuse] [--host H --port N] [--json]
  jt808 platforms remove ID
  (each also with --server URL --token T, or JT808_TOKEN)

JT/T 809 platforms as data. A lower platform logs in to our 809 port (JT808_PLATFORM_PORT) with its
access code, user id and password (stored hashed) and reports for the enterprise licences given;
a superior is where we log in (--host/--port, the password is kept to log in) and forward the
positions of the licences and vehicles given. Changes go through the platform routes of the API
(/api/v1/platforms: checked, audited): those of the server that holds the embedded --data-dir
(found from its lock file, which applies them at once), or of --server URL with a supervisor
--token T (or JT808_TOKEN); with no server there, the same routes run in this process over the
database "jt808 serve" uses (DATABASE_URL / --database-url, else --data-dir), and a running
"jt808 serve" on PostgreSQL applies them within 5 s.`

/** What the API answers for a platform (dates as ISO text, no secrets). */
type PlatformJson = Omit<Platform, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string }

const OWN = ['server', 'token', 'role', 'name', 'access-code', 'user-id', 'password', 'edition', 'keys', 'licences', 'vehicles', 'allowed-addresses', 'unknown-vehicles', 'host', 'port']

const list = (v: string | boolean | undefined) =>
  typeof v === 'string' && v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : []
const int = (v: string | boolean | undefined, name: string) => {
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`--${name} needs a non-negative integer`)
  return Number(v)
}

export function platformInput(flags: Record<string, string | boolean>): PlatformInput {
  for (const f of ['role', 'name', 'access-code', 'user-id', 'password']) if (typeof flags[f] !== 'string') throw new UsageError(`add needs --${f}`)
  const keys = list(flags.keys).map(Number)
  if (flags.keys !== undefined && (keys.length !== 4 || keys.some((k) => !Number.isInteger(k)))) throw new UsageError('--keys needs M1,IA1,IC1,KEY (four integers)')
  return {
    role: flags.role as PlatformInput['role'],
    name: flags.name as string,
    accessCode: int(flags['access-code'], 'access-code'),
    userId: int(flags['user-id'], 'user-id'),
    password: flags.password as string,
    edition: flags.edition === undefined ? 2011 : (int(flags.edition, 'edition') as 2011 | 2019),
    encryption: keys.length ? { m1: keys[0]!, ia1: keys[1]!, ic1: keys[2]!, key: keys[3]! } : null,
    enterpriseLicences: list(flags.licences),
    allowedAddresses: list(flags['allowed-addresses']),
    vehicles: list(flags.vehicles).map((v) => {
      const [plate, colour] = v.split(':')
      return { plate: plate ?? '', plateColor: Number(colour ?? 2) }
    }),
    unknownVehicles: flags['unknown-vehicles'] === 'enrol' ? 'enrol' : 'refuse',
    host: typeof flags.host === 'string' ? flags.host : null,
    port: flags.port === undefined ? null : int(flags.port, 'port'),
  }
}

const line = (p: PlatformJson) =>
  `${p.id}\t${p.role}\t${p.accessCode}\t${p.name}\t${p.edition}\t${p.enabled ? 'enabled' : 'disabled'}\t${p.host ? `${p.host}:${p.port}` : '-'}\t${p.enterpriseLicences.join(',') || '-'}\n`

export const platformsCommand: Command = {
  name: 'platforms',
  summary: 'list, add or remove JT/T 809 platforms (lower and superior)',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { positional, flags } = parseArgs(argv, OWN)
    const [action, ...rest] = positional
    if (action !== 'list' && action !== 'add' && action !== 'remove') throw new UsageError(action ? `unknown action "${action}"` : 'which action: list, add or remove?')
    const known = new Set([...OWN, 'json', ...CONFIG_FLAGS.map((f) => f.flag.slice(2))])
    const unknown = Object.keys(flags).filter((f) => !known.has(f))
    if (unknown.length) throw new UsageError(`unknown option ${unknown.map((f) => '--' + f).join(', ')}`)
    if (action === 'remove' && (rest.length !== 1 || !/^\d+$/.test(rest[0]!))) throw new UsageError('remove needs exactly one platform ID (see "jt808 platforms list")')
    let input: PlatformInput | null = null
    if (action === 'add') {
      try {
        input = platformInput(flags)
        newPlatform(input) // the same checks as the route, as a usage error before anything is opened
      } catch (e) {
        if (e instanceof PlatformInputError) throw new UsageError(e.message)
        throw e
      }
    }
    const config = loadConfig(io.env, Object.fromEntries(Object.entries(flags).filter(([k]) => !OWN.includes(k) && k !== 'json')))
    const api = await adminTransport(config, { server: flags.server as string | undefined, token: flags.token as string | undefined }, io.env)
    try {
      if (action === 'list') {
        const { body } = await api.json<{ items: PlatformJson[] }>('GET', '/api/v1/platforms')
        for (const p of body.items) io.stdout.write(flags.json ? JSON.stringify(p) + '\n' : line(p))
        return 0
      }
      if (input) {
        const { body: p } = await api.json<PlatformJson>('POST', '/api/v1/platforms', input)
        io.stdout.write(flags.json ? JSON.stringify(p) + '\n' : line(p))
        return 0
      }
      await api.json('DELETE', `/api/v1/platforms/${rest[0]}`)
      io.stdout.write(`removed ${rest[0]}\n`)
      return 0
    } catch (e) {
      // the API's refusals (an access code taken, no such platform, not a supervisor): exit 1 with its message
      if (!(e instanceof ServerError)) throw e
      io.stderr.write(`jt808 platforms ${action}: ${e.message}\n`)
      for (const f of (e.details as { fields?: Array<{ field: string; message: string }> } | null)?.fields ?? []) io.stderr.write(`  ${f.field}: ${f.message}\n`)
      return 1
    } finally {
      await api.close()
    }
  },
}
