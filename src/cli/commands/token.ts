/** `jt808 token create|list|revoke`: API bearer tokens (stored hashed; the secret is shown once). */
import { checkTokenRequest, createToken, TokenRequestError } from '../../api/tokens.js'
import { CONFIG_FLAGS, loadConfig, type Config } from '../../config/index.js'
import type { ApiToken } from '../../store/port.js'
import { openStore } from '../../store/index.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { ApiClient, ServerError, serverTarget } from '../server-client.js'

const USAGE = `usage:
  jt808 token create --role supervisor|enterprise|inspector [--enterprise LICENCE] [--label TEXT] [--json]
  jt808 token list [--json]
  jt808 token revoke TOKEN_ID
  (each also with --server URL --token T, or JT808_TOKEN)

Creates, lists or revokes bearer tokens for the REST API. The secret is printed once by
"create" (stdout, alone on its line) and only its sha256 is stored. Roles:
  supervisor   everything
  enterprise   only vehicles, waybills and anomalies of its carrier licence (--enterprise)
  inspector    read and verify (road checks)

The database is the one "jt808 serve" uses: DATABASE_URL / --database-url, else the embedded
one in --data-dir (JT808_DATA_DIR, default ./data). While a server runs on that embedded
directory the command goes through the server's API (found from the directory's lock file, with
the admin secret the server left there for its own user). --server URL with a supervisor
--token T (or JT808_TOKEN) goes through that server instead.`

const OWN_FLAGS = ['role', 'enterprise', 'label', 'json', 'server', 'token']
const VALUE_FLAGS = new Set(['role', 'enterprise', 'label', 'server', 'token', ...CONFIG_FLAGS.map((f) => f.flag.slice(2))])

export function parseArgs(argv: string[], valueFlags: readonly string[] = []): { positional: string[]; flags: Record<string, string | boolean> } {
  const positional: string[] = []
  const flags: Record<string, string | boolean> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) {
      positional.push(a)
      continue
    }
    const eq = a.indexOf('=')
    const name = a.slice(2, eq === -1 ? undefined : eq)
    if (eq !== -1) flags[name] = a.slice(eq + 1)
    else if (VALUE_FLAGS.has(name) || valueFlags.includes(name)) {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`)
      flags[name] = v
    } else flags[name] = true
  }
  return { positional, flags }
}

export const tokenCommand: Command = {
  name: 'token',
  summary: 'create, list or revoke REST API bearer tokens',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { positional, flags } = parseArgs(argv)
    const [action, ...rest] = positional
    if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new UsageError(action ? `unknown action "${action}"` : 'which action: create, list or revoke?')
    const known = new Set([...OWN_FLAGS, ...CONFIG_FLAGS.map((f) => f.flag.slice(2))])
    const unknown = Object.keys(flags).filter((f) => !known.has(f))
    if (unknown.length) throw new UsageError(`unknown option ${unknown.map((f) => '--' + f).join(', ')}`)
    if (action === 'create') {
      if (typeof flags.role !== 'string') throw new UsageError('create needs --role')
      try {
        checkTokenRequest(flags.role, typeof flags.enterprise === 'string' ? flags.enterprise : null)
      } catch (e) {
        if (e instanceof TokenRequestError) throw new UsageError(e.message)
        throw e
      }
    }
    if (action === 'revoke' && rest.length !== 1) throw new UsageError('revoke needs exactly one TOKEN_ID (see "jt808 token list")')

    const configFlags = Object.fromEntries(Object.entries(flags).filter(([k]) => !OWN_FLAGS.includes(k)))
    const config = loadConfig(io.env, configFlags)
    const target = serverTarget(config, { server: flags.server as string | undefined, token: flags.token as string | undefined }, io.env)
    const tokens = target ? remoteTokens(new ApiClient(target)) : await localTokens(config)
    try {
      if (action === 'create') {
        const { secret, token } = await tokens.create({
          role: flags.role as string,
          enterpriseLicenseNo: typeof flags.enterprise === 'string' ? flags.enterprise : null,
          label: typeof flags.label === 'string' ? flags.label : null,
        })
        if (flags.json) {
          io.stdout.write(JSON.stringify({ id: token.id, role: token.role, enterpriseLicenseNo: token.enterpriseLicenseNo, label: token.label, token: secret }) + '\n')
        } else {
          io.stdout.write(secret + '\n')
          io.stderr.write(
            `created ${token.role} token ${token.id}${token.enterpriseLicenseNo ? ` for licence ${token.enterpriseLicenseNo}` : ''}${target ? ` through ${target.via}` : ''}; it is shown only now.\n` +
              `use it as: curl -H "Authorization: Bearer ${secret}" ${target && target.via !== '--server' ? target.url : `http://localhost:${config.httpPort}`}/api/v1/vehicles\n`,
          )
        }
        return 0
      }
      if (action === 'list') {
        const list = await tokens.list()
        if (flags.json) for (const t of list) io.stdout.write(JSON.stringify(t) + '\n')
        else {
          for (const t of list) {
            const state = t.revokedAt ? `revoked ${new Date(t.revokedAt).toISOString()}` : 'active'
            io.stdout.write(`${t.id}\t${t.role}\t${t.enterpriseLicenseNo ?? '-'}\t${new Date(t.createdAt).toISOString()}\t${state}\t${t.label ?? ''}\n`)
          }
        }
        return 0
      }
      const revoked = await tokens.revoke(rest[0])
      if (!revoked) {
        io.stderr.write(`jt808 token: no active token with id ${rest[0]}\n`)
        return 1
      }
      io.stdout.write(`revoked ${rest[0]}\n`)
      return 0
    } finally {
      await tokens.close()
    }
  },
}

/** Where tokens are made: the store itself, or a running server's API. */
interface TokenBackend {
  create(request: { role: string; enterpriseLicenseNo: string | null; label: string | null }): Promise<{ secret: string; token: ApiToken }>
  list(): Promise<ApiToken[]>
  revoke(id: string): Promise<boolean>
  close(): Promise<void>
}

async function localTokens(config: Config): Promise<TokenBackend> {
  const store = await openStore(config)
  return {
    create: (request) => createToken(store, request),
    list: () => store.listTokens(),
    revoke: (id) => store.revokeToken(id, Date.now()),
    close: () => store.close(),
  }
}

interface ApiTokenJson {
  id: string
  role: ApiToken['role']
  enterpriseLicenseNo: string | null
  label: string | null
  createdAt: string
  revokedAt: string | null
}
const fromJson = (t: ApiTokenJson): ApiToken => ({ ...t, createdAt: Date.parse(t.createdAt), revokedAt: t.revokedAt === null ? null : Date.parse(t.revokedAt) })

function remoteTokens(api: ApiClient): TokenBackend {
  return {
    async create(request) {
      const { body } = await api.json<ApiTokenJson & { token: string }>('POST', '/api/v1/tokens', request)
      return { secret: body.token, token: fromJson(body) }
    },
    async list() {
      return (await api.json<{ items: ApiTokenJson[] }>('GET', '/api/v1/tokens')).body.items.map(fromJson)
    },
    async revoke(id) {
      try {
        await api.json('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`)
        return true
      } catch (e) {
        if (e instanceof ServerError && (e.status === 404 || e.status === 409)) return false
        throw e
      }
    },
    close: async () => undefined,
  }
}
