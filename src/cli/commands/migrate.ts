/**
 * `jt808 migrate`: applies pending schema migrations (the gateway also does this at start) and
 * creates the partitions ahead on plain PostgreSQL. Idempotent: a second run applies nothing.
 */
import { CONFIG_FLAGS, loadConfig, type Config } from '../../config/index.js'
import { parseOptions } from '../../sim/cli.js'
import type { OpenStoreOptions } from '../../store/index.js'
import type { Store } from '../../store/port.js'
import { UsageError, type CliIO, type Command } from '../command.js'

const USAGE = `usage: jt808 migrate [--storage auto|timescale|partitions] [--json]
                     [--database-url URL | --data-dir DIR]

Applies the schema migrations not yet recorded in schema_migrations, in one transaction, and
creates the daily partitions ahead (plain PostgreSQL). Safe to run again and while gateways run.

  --storage MODE  for a new database: auto (default) uses TimescaleDB when the server has it,
                  timescale requires it, partitions uses native partitioning regardless.
                  An existing database keeps the storage it was created with.
  --json          print {"applied":[…],"alreadyApplied":[…],"timescale":bool,"partitionsCreated":[…]}

The database: DATABASE_URL / --database-url, else the embedded one in --data-dir
(JT808_DATA_DIR, default ./data).

exit status: 0 done, 1 the database refused (nothing applied), 2 bad usage.`

export interface MigrateDeps {
  openStore?: (config: Config, opts: OpenStoreOptions) => Promise<Store>
  now?: () => number
}

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'apply pending database migrations (idempotent) and create partitions ahead',
  usage: USAGE,
  run: (argv, io) => runMigrate(argv, io),
}

export async function runMigrate(argv: string[], io: CliIO, deps: MigrateDeps = {}): Promise<number> {
  const configOptions = Object.fromEntries(CONFIG_FLAGS.map((f) => [f.flag.slice(2), { type: 'string' as const }]))
  const { values, positionals } = parseOptions(argv, { ...configOptions, storage: { type: 'string' }, json: { type: 'boolean' } }, true)
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
  const storage = (values.storage as string | undefined) ?? 'auto'
  if (storage !== 'auto' && storage !== 'timescale' && storage !== 'partitions') throw new UsageError(`--storage must be auto, timescale or partitions, got "${storage}"`)
  const configFlags = Object.fromEntries(Object.entries(values).filter(([k, v]) => k in configOptions && v !== undefined)) as Record<string, string>
  const config = loadConfig(io.env, configFlags)

  const open = deps.openStore ?? (async (c: Config, o: OpenStoreOptions) => (await import('../../store/index.js')).openStore(c, o))
  const store = await open(config, { migrate: false, timescale: storage === 'auto' ? 'auto' : storage === 'timescale' })
  try {
    const report = await store.migrate()
    const partitionsCreated = await store.ensurePartitions((deps.now ?? Date.now)())
    if (values.json) {
      io.stdout.write(JSON.stringify({ ...report, partitionsCreated }) + '\n')
    } else {
      const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`
      io.stdout.write(
        `${where}, ${report.timescale ? 'TimescaleDB hypertables' : 'native daily partitions'}\n` +
          `applied: ${report.applied.length ? report.applied.join(', ') : 'none (up to date)'}\n` +
          `already applied: ${report.alreadyApplied.length ? report.alreadyApplied.join(', ') : 'none'}\n` +
          (report.timescale ? '' : `partitions created: ${partitionsCreated.length}\n`),
      )
    }
    return 0
  } catch (e) {
    io.stderr.write(`jt808 migrate: ${(e as Error).message}\n`)
    return 1
  } finally {
    await store.close()
  }
}
