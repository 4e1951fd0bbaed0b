/**
 * The embedded database's data directory belongs to one process at a time. PGlite has no
 * postmaster.pid of its own: a second process opening the same files either aborts inside the
 * WASM build or works on a private copy whose writes the first never sees (a token printed and
 * listed that the server answers 401 for). So the opener takes `${dataDir}/jt808.lock` first.
 *
 * The lock file is created exclusively (O_EXCL) and holds who took it: pid, host, start time,
 * the command, and — once a server's API listens — its URL, which lets `jt808 token|import|
 * export-raw` go through the running server instead of the files. A lock whose pid is gone (same
 * host) is stale and taken over. A running server also leaves an admin secret for the local CLI
 * in `${dataDir}/jt808.admin-token` (mode 0600: readable by the data directory's user only);
 * the server keeps only its hash.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync, mkdirSync, chmodSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

export const LOCK_FILE = 'jt808.lock'
export const ADMIN_TOKEN_FILE = 'jt808.admin-token'

export interface LockHolder {
  pid: number
  host: string
  /** epoch ms the lock was taken */
  startedAt: number
  /** what runs there, e.g. "jt808 serve" */
  command: string
  /** the REST API of a running server (set once it listens); null otherwise */
  apiUrl: string | null
}

/** A second opener of a locked data directory. */
export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED'
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${holder.pid} on ${holder.host} (${holder.command}, since ${new Date(holder.startedAt).toISOString()}` +
        `${holder.apiUrl ? `, API ${holder.apiUrl}` : ''}). ` +
        `Stop that process first, or use another --data-dir (JT808_DATA_DIR) or a shared DATABASE_URL; ` +
        `"jt808 token", "import", "export-raw", "admin" and "platforms" work while a server runs (they go through its API).`,
    )
    this.name = 'DataDirLockedError'
  }
}

export interface DataDirLock {
  readonly dir: string
  readonly holder: LockHolder
  /** Records the running server's API URL (and keeps the rest). */
  setApiUrl(url: string | null): void
  /** Writes the local admin secret (mode 0600); removed on release. */
  writeAdminSecret(secret: string): void
  release(): void
}

/** Is this pid a live process on this host? (EPERM: alive, someone else's.) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>
    if (typeof v.pid !== 'number' || typeof v.host !== 'string') return null
    return { pid: v.pid, host: v.host, startedAt: Number(v.startedAt) || 0, command: String(v.command ?? 'unknown'), apiUrl: typeof v.apiUrl === 'string' ? v.apiUrl : null }
  } catch {
    return null
  }
}

/** The lock's holder when a live process holds it; null when free or stale. */
export function readLiveHolder(dir: string): LockHolder | null {
  let text: string
  try {
    text = readFileSync(join(dir, LOCK_FILE), 'utf8')
  } catch {
    return null
  }
  const holder = parseHolder(text)
  // An unreadable lock (a crash while writing it) counts as stale.
  if (!holder) return null
  // Another host's process cannot be probed: assume it is alive (shared volumes).
  if (holder.host !== hostname()) return holder
  return alive(holder.pid) ? holder : null
}

/** The admin secret a running server left for the local CLI, or null. */
export function readAdminSecret(dir: string): string | null {
  try {
    return readFileSync(join(dir, ADMIN_TOKEN_FILE), 'utf8').trim() || null
  } catch {
    return null
  }
}

/**
 * Takes the data directory's lock or throws DataDirLockedError naming the holder. A stale lock
 * (its pid gone) is moved aside atomically and taken over; if another opener won that race, its
 * lock is put back and the loser reports it.
 */
export function acquireDataDirLock(dir: string, command = describeProcess()): DataDirLock {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, LOCK_FILE)
  const holder: LockHolder = { pid: process.pid, host: hostname(), startedAt: Date.now(), command, apiUrl: null }
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644)
      try {
        writeSync(fd, JSON.stringify(holder) + '\n')
      } finally {
        closeSync(fd)
      }
      return lockHandle(dir, holder)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    let existing: string
    try {
      existing = readFileSync(path, 'utf8')
    } catch {
      continue // released meanwhile
    }
    const current = parseHolder(existing)
    if (current && (current.host !== hostname() || alive(current.pid))) throw new DataDirLockedError(dir, current)
    // Stale: move it aside under a name of our own, then check we moved the stale one.
    const aside = `${path}.stale-${process.pid}`
    try {
      renameSync(path, aside)
    } catch {
      continue
    }
    const moved = readFileSync(aside, 'utf8')
    if (moved !== existing) {
      // Another opener took over between our read and our rename: give its lock back.
      try {
        linkSync(aside, path)
      } catch {
        /* a third opener holds it now; the next attempt sees it */
      }
    }
    unlinkSync(aside)
  }
  const last = parseHolder(safeRead(path))
  if (last) throw new DataDirLockedError(dir, last)
  throw new Error(`could not take the lock ${path}`)
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

function lockHandle(dir: string, holder: LockHolder): DataDirLock {
  const path = join(dir, LOCK_FILE)
  const secretPath = join(dir, ADMIN_TOKEN_FILE)
  let released = false
  let wroteSecret = false
  const rewrite = () => {
    // Write-then-rename: a reader never sees half a lock.
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(holder) + '\n', { mode: 0o644 })
    renameSync(tmp, path)
  }
  return {
    dir,
    holder,
    setApiUrl(url) {
      if (released) return
      holder.apiUrl = url
      rewrite()
    },
    writeAdminSecret(secret) {
      if (released) return
      const tmp = `${secretPath}.${process.pid}.tmp`
      writeFileSync(tmp, secret + '\n', { mode: 0o600 })
      chmodSync(tmp, 0o600) // umask cannot widen it, but an existing tmp file keeps its old mode
      renameSync(tmp, secretPath)
      wroteSecret = true
    },
    release() {
      if (released) return
      released = true
      if (wroteSecret) rmQuiet(secretPath)
      // Only our own lock: never remove one a later opener took over after we were presumed dead.
      const current = parseHolder(safeRead(path))
      if (current && current.pid === holder.pid && current.startedAt === holder.startedAt && current.host === holder.host) rmQuiet(path)
    },
  }
}

function rmQuiet(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    /* already gone */
  }
}

function describeProcess(): string {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('-'))
  const script = process.argv[1] ?? ''
  return /jt808|main\.[jt]s$/.test(script) ? `jt808 ${args[0] ?? ''}`.trim() : `node ${script}`.trim()
}
