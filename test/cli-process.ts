/**
 * How tests start `jt808` as a process of its own: `spawn(process.execPath, [...JT808, 'serve', ...])`.
 *
 * Through tsx every child transforms the sources again (seconds each on a loaded machine), so the
 * sources (src/ and protocol/) are transpiled once with esbuild — what tsx does file by file — into
 * `.test-build-<hash>/` at the repository root, the hash covering every source file, and the
 * children run that (`npm run build` puts the same layout under dist/). The directory sits next to
 * src/ so that packages resolve from the project's node_modules and the console's sources are found
 * where a build finds them. A process building it writes to a temporary directory and renames it,
 * so concurrent test jobs never run half of one; builds of older sources are removed.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PREFIX = '.test-build-'

async function compiledCli(): Promise<string> {
  const entryPoints = ['src', 'protocol'].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .sort()
      .map((f) => join(dir, f)),
  )
  const hash = createHash('sha256')
  for (const f of entryPoints) {
    hash.update(`${f}\0`)
    hash.update(readFileSync(join(ROOT, f)))
  }
  const name = `${PREFIX}${hash.digest('hex').slice(0, 16)}`
  const out = join(ROOT, name)
  const main = join(out, 'src/cli/main.js')
  if (existsSync(main)) return main

  const tmp = `${out}.${process.pid}.tmp`
  await build({ absWorkingDir: ROOT, entryPoints, outdir: tmp, outbase: '.', format: 'esm', platform: 'node', target: 'node20', logLevel: 'error' })
  try {
    renameSync(tmp, out)
  } catch (e) {
    // another test job got there first: theirs is the same
    rmSync(tmp, { recursive: true, force: true })
    if (!existsSync(main)) throw e
  }
  for (const old of readdirSync(ROOT)) {
    if (old.startsWith(PREFIX) && old !== name && !old.endsWith('.tmp')) rmSync(join(ROOT, old), { recursive: true, force: true })
  }
  return main
}

/** The node arguments that run the CLI; the command and its options follow. */
export const JT808: readonly string[] = [await compiledCli()]
