/**
 * `engines.node` in package.json is a promise: every package `npm ci` installs (package-lock.json)
 * must accept the oldest Node it declares, or `npm ci` warns EBADENGINE and the package may not
 * run there (content-disposition 3, cookie 2 and swagger-parser 13.1 needed Node 22).
 */
import { readFileSync } from 'node:fs'
import semver from 'semver'
import t from 'tap'

const root = new URL('../../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>
}

t.test('every locked package runs on the oldest Node the project declares', async (t) => {
  const oldest = semver.minVersion(pkg.engines.node)
  t.ok(oldest, `engines.node ${pkg.engines.node} has a lowest version`)
  if (!oldest) return
  t.equal(oldest.major, 20, 'Node 20 is still supported')
  const refusing: string[] = []
  for (const [path, info] of Object.entries(lock.packages)) {
    const range = info.engines && !Array.isArray(info.engines) ? info.engines.node : undefined
    if (path && range && !semver.satisfies(oldest, range)) refusing.push(`${path.replace(/^.*node_modules\//, '')}@${info.version}: ${range}`)
  }
  t.same(refusing, [], `packages refusing Node ${oldest.version}`)
})
