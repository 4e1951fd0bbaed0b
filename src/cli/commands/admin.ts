/**
 * `jt808 admin …`: the admin surface from the command line — the audit log, online terminals, a
 * queued command's status, retiring vehicles, changing geofences, correcting waybills. Each action
 * is one API route, reached through the running server or built in-process (src/cli/local-api.ts).
 */
import { CONFIG_FLAGS, loadConfig } from '../../config/index.js'
import { parseOptions } from '../../sim/cli.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { adminTransport } from '../local-api.js'
import { ServerError, type ApiTransport } from '../server-client.js'

const USAGE = `usage: jt808 admin ACTION [ARGS] [--server URL --token T | --database-url URL | --data-dir DIR]

actions (each prints JSON, one object per line):
  audit [--token-id ID] [--route PATTERN] [--method M] [--target T] [--from TIME] [--to TIME] [--limit N]
                              the audit log of writes, newest first
  sessions                    terminals online now (since, address, edition, IMEI, firmware)
  command ID                  what became of a queued command (the id of a 202)
  retire PLATE [--plate-color N]     retire a vehicle (its history stays)
  reinstate PLATE [--plate-color N]  put it back into service
  retired                     retired vehicles
  geofence-update ID FIELD=VALUE…    change a geofence (VALUE is JSON when it parses, else text:
                              name=钱塘江大桥 speedLimit=60 geometry='{"type":"Polygon",…}')
  geofence-delete ID
  waybill-correct NO FIELD=VALUE…    correct a waybill still "created" (VALUE is text; goods,
                              plateColor, loadingPoint, destinationPoint, plannedRoute, corridorKm: JSON)
  waybill-corrections NO      the corrections made to a waybill

While "jt808 serve" runs on the embedded data directory the actions go through it (found from
the directory's lock); --server URL with a supervisor --token T (or JT808_TOKEN) uses that
server; otherwise the routes run in this process over the configured database.

exit status: 0 done, 1 refused or failed (the API's message on stderr), 2 bad usage.`

const JSON_WAYBILL_FIELDS = new Set(['goods', 'plateColor', 'loadingPoint', 'destinationPoint', 'plannedRoute', 'corridorKm'])

function assignments(args: string[], parse: (key: string, value: string) => unknown): Record<string, unknown> {
  if (!args.length) throw new UsageError('give at least one FIELD=VALUE')
  const out: Record<string, unknown> = {}
  for (const a of args) {
    const eq = a.indexOf('=')
    if (eq <= 0) throw new UsageError(`"${a}" is not FIELD=VALUE`)
    const key = a.slice(0, eq)
    out[key] = parse(key, a.slice(eq + 1))
  }
  return out
}

const jsonOrText = (_key: string, value: string): unknown => {
  try {
    return JSON.parse(value)
  } catch {
    return value
  }
}

const seg = (s: string) => encodeURIComponent(s)

export const adminCommand: Command = {
  name: 'admin',
  summary: 'audit log, online terminals, command status, retire vehicles, change geofences, correct waybills',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const configOptions = Object.fromEntries(CONFIG_FLAGS.map((f) => [f.flag.slice(2), { type: 'string' as const }]))
    const own = {
      server: { type: 'string' },
      token: { type: 'string' },
      'token-id': { type: 'string' },
      route: { type: 'string' },
      method: { type: 'string' },
      target: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      'plate-color': { type: 'string' },
    } as const
    const { values, positionals } = parseOptions(argv, { ...configOptions, ...own }, true)
    const [action, ...args] = positionals
    const arity = (n: number, what: string) => {
      if (args.length !== n) throw new UsageError(`${action} needs ${what}`)
    }
    let request: { method: string; path: string; body?: unknown; list?: boolean }
    switch (action) {
      case 'audit': {
        arity(0, 'no arguments (filters are options)')
        const q = new URLSearchParams()
        for (const [flag, param] of [
          ['token-id', 'tokenId'],
          ['route', 'route'],
          ['method', 'method'],
          ['target', 'target'],
          ['from', 'from'],
          ['to', 'to'],
          ['limit', 'limit'],
        ] as const) {
          const v = values[flag] as string | undefined
          if (v === undefined) continue
          q.set(param, (flag === 'from' || flag === 'to') && /^\d+$/.test(v) ? new Date(Number(v)).toISOString() : flag === 'method' ? v.toUpperCase() : v)
        }
        request = { method: 'GET', path: `/api/v1/audit${q.size ? '?' + q : ''}`, list: true }
        break
      }
      case 'sessions':
        arity(0, 'no arguments')
        request = { method: 'GET', path: '/api/v1/terminals/sessions', list: true }
        break
      case 'command':
        arity(1, 'the command ID')
        request = { method: 'GET', path: `/api/v1/commands/${seg(args[0])}` }
        break
      case 'retire':
      case 'reinstate': {
        arity(1, 'the PLATE')
        const color = values['plate-color'] as string | undefined
        request = { method: 'POST', path: `/api/v1/vehicles/${seg(args[0])}/${action}${color !== undefined ? `?plateColor=${seg(color)}` : ''}` }
        break
      }
      case 'retired':
        arity(0, 'no arguments')
        request = { method: 'GET', path: '/api/v1/retired-vehicles', list: true }
        break
      case 'geofence-update': {
        const [id, ...rest] = args
        if (!id) throw new UsageError('geofence-update needs the geofence ID and FIELD=VALUE pairs')
        request = { method: 'PATCH', path: `/api/v1/geofences/${seg(id)}`, body: assignments(rest, jsonOrText) }
        break
      }
      case 'geofence-delete':
        arity(1, 'the geofence ID')
        request = { method: 'DELETE', path: `/api/v1/geofences/${seg(args[0])}` }
        break
      case 'waybill-correct': {
        const [no, ...rest] = args
        if (!no) throw new UsageError('waybill-correct needs the waybill number and FIELD=VALUE pairs')
        request = { method: 'POST', path: `/api/v1/waybills/${seg(no)}/corrections`, body: { fields: assignments(rest, (k, v) => (JSON_WAYBILL_FIELDS.has(k) ? jsonOrText(k, v) : v)) } }
        break
      }
      case 'waybill-corrections':
        arity(1, 'the waybill number')
        request = { method: 'GET', path: `/api/v1/waybills/${seg(args[0])}/corrections`, list: true }
        break
      default:
        throw new UsageError(action ? `unknown action "${action}"` : 'which action? (jt808 admin --help)')
    }

    const configFlags = Object.fromEntries(Object.entries(values).filter(([k, v]) => k in configOptions && v !== undefined)) as Record<string, string>
    const config = loadConfig(io.env, configFlags)
    const api: ApiTransport = await adminTransport(config, { server: values.server as string | undefined, token: values.token as string | undefined }, io.env)
    try {
      const { body } = await api.json<{ items?: unknown[] } & Record<string, unknown>>(request.method, request.path, request.body)
      if (request.list) for (const item of body.items ?? []) io.stdout.write(JSON.stringify(item) + '\n')
      else io.stdout.write(JSON.stringify(body) + '\n')
      return 0
    } catch (e) {
      if (!(e instanceof ServerError)) throw e
      io.stderr.write(`jt808 admin ${action}: ${e.message}\n`)
      const fields = (e.details as { fields?: Array<{ field: string; message: string }> } | null)?.fields
      for (const f of fields ?? []) io.stderr.write(`  ${f.field}: ${f.message}\n`)
      return 1
    } finally {
      await api.close()
    }
  },
}
