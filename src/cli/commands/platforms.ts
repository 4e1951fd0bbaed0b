/** `jt808 platforms list|add|remove`: the JT/T 809 platforms (lower ones that log in to us, superiors we forward to). */
import { CONFIG_FLAGS, loadConfig } from '../../config/index.js'
import { newPlatform, PlatformInputError, type PlatformInput } from '../../platform/admin.js'
import { openStore } from '../../store/index.js'
import type { Platform } from '../../store/platforms.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { parseArgs } from './token.js'

const USAGE = `usage:
  jt808 platforms list [--json]
  jt808 platforms add --role lower|superior --name NAME --access-code N --user-id N --password P
        [--edition 2011|2019] [--keys M1,IA1,IC1,KEY] [--licences L1,L2] [--vehicles PLATE:COLOUR,…]
        [--allowed-addresses IP,IP] [--unknown-vehicles enrol|refuse] [--host H --port N] [--json]
  jt808 platforms remove ID

JT/T 809 platforms as data. A lower platform logs in to our 809 port (JT808_PLATFORM_PORT) with its
access code, user id and password (stored hashed) and reports for the enterprise licences given;
a superior is where we log in (--host/--port, the password is kept to log in) and forward the
positions of the licences and vehicles given. A running "jt808 serve" applies changes within 5 s.
The database is the one "jt808 serve" uses (DATABASE_URL / --database-url, else --data-dir).`

const OWN = ['role', 'name', 'access-code', 'user-id', 'password', 'edition', 'keys', 'licences', 'vehicles', 'allowed-addresses', 'unknown-vehicles', 'host', 'port']

const list = (v: string | boolean | undefined) => (typeof v === 'string' && v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [])
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

const line = (p: Platform) =>
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
    let input = null
    if (action === 'add') {
      try {
        input = newPlatform(platformInput(flags))
      } catch (e) {
        if (e instanceof PlatformInputError) throw new UsageError(e.message)
        throw e
      }
    }
    const config = loadConfig(io.env, Object.fromEntries(Object.entries(flags).filter(([k]) => !OWN.includes(k) && k !== 'json')))
    const store = await openStore(config)
    try {
      if (action === 'list') {
        for (const p of await store.listPlatforms()) io.stdout.write(flags.json ? JSON.stringify(p) + '\n' : line(p))
        return 0
      }
      if (input) {
        if (input.role === 'lower' && (await store.findLowerPlatform(input.accessCode))) {
          io.stderr.write(`jt808 platforms: a lower platform with access code ${input.accessCode} exists\n`)
          return 1
        }
        const p = await store.createPlatform(input, Date.now())
        io.stdout.write(flags.json ? JSON.stringify(p) + '\n' : line(p))
        return 0
      }
      if (!(await store.deletePlatform(Number(rest[0])))) {
        io.stderr.write(`jt808 platforms: no platform with id ${rest[0]}\n`)
        return 1
      }
      io.stdout.write(`removed ${rest[0]}\n`)
      return 0
    } finally {
      await store.close()
    }
  },
}
