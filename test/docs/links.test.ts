/**
 * The documentation stays inside the repository: every relative link in a Markdown file resolves
 * to a file of the checkout (the rule catalogue used to be linked at ../shared/rules.md, outside
 * it), and every matcher setting the rule catalogue names exists.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import { DEFAULT_MATCHER_CONFIG } from '../../src/matcher/config.js'

const ROOT = resolve(new URL('../..', import.meta.url).pathname)

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name.startsWith('.') || name === 'data' || name === 'dist') return []
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return markdownFiles(path)
    return name.endsWith('.md') ? [path] : []
  })
}

t.test('relative links in Markdown resolve inside the repository', async (t) => {
  const files = markdownFiles(ROOT)
  t.ok(
    files.some((f) => relative(ROOT, f) === 'docs/rules.md'),
    'the rule catalogue is part of the repository',
  )
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split('#')[0]
      if (!target || /^[a-z]+:/i.test(target)) continue
      const path = resolve(dirname(file), target)
      const where = `${relative(ROOT, file)} → ${m[1]}`
      t.ok(path.startsWith(ROOT + '/'), `${where} stays inside the repository`)
      t.ok(existsSync(path), `${where} exists`)
    }
    t.notMatch(text, /shared\/rules\.md/, `${relative(ROOT, file)} does not point at the shared notes`)
  }
})

t.test('every matcher setting the rule catalogue names exists', async (t) => {
  const text = readFileSync(join(ROOT, 'docs/rules.md'), 'utf8')
  const named = [...text.matchAll(/`([a-z][A-Za-z]+(?:\.[A-Z_]+)?)`/g)].map((m) => m[1])
  t.ok(named.length >= 20, `${named.length} settings named`)
  const config = DEFAULT_MATCHER_CONFIG as unknown as Record<string, unknown>
  for (const name of named) {
    const [key, sub] = name.split('.')
    const value = config[key]
    t.ok(value !== undefined && (sub === undefined || (value as Record<string, unknown>)[sub] !== undefined), `${name} is a matcher setting`)
  }
})
