/**
 * The README's configuration table and the settings table (src/config/index.ts) say the same:
 * every setting's variable is in the README table (a row may group several as JT808_RETENTION_*_DAYS),
 * and every variable the table names is a setting.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { CONFIG_FLAGS } from '../../src/config/index.js'

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

const ENVS = CONFIG_FLAGS.map((f) => f.env)

/**
 * The variables named in the first column of the table headed "| variable | default | meaning |",
 * each as the patterns it may stand for: `X_*_DAYS` is a wildcard, and a shorthand `_HOST` after
 * `JT808_ATTACHMENTS_PORT` in one row is that name's prefix (cut at any "_") followed by it.
 */
function tableVariables(): Array<{ name: string; patterns: RegExp[] }> {
  const lines = README.split('\n')
  const start = lines.findIndex((l) => /^\|\s*variable\s*\|\s*default\s*\|\s*meaning\s*\|/.test(l))
  if (start < 0) throw new Error('README has no "| variable | default | meaning |" table')
  const out: Array<{ name: string; patterns: RegExp[] }> = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    const names = [...(line.split('|')[1] ?? '').matchAll(/`(_?[A-Z][A-Z0-9_*]+)`/g)].map((m) => m[1])
    const full = names.find((n) => !n.startsWith('_')) ?? ''
    const parts = full.split('_')
    for (const name of names) {
      const forms = name.startsWith('_') ? parts.slice(1).map((_, k) => parts.slice(0, k + 1).join('_') + name) : [name]
      out.push({ name, patterns: forms.map((f) => new RegExp(`^${f.replace(/\*/g, '[A-Z0-9_]+')}$`)) })
    }
  }
  return out
}

t.test('every setting is documented in the README configuration table', async (t) => {
  const documented = tableVariables().flatMap((v) => v.patterns)
  for (const env of ENVS)
    t.ok(
      documented.some((p) => p.test(env)),
      `${env} is in the README table`,
    )
})

t.test('every variable of the README configuration table is a setting', async (t) => {
  for (const { name, patterns } of tableVariables())
    t.ok(
      ENVS.some((e) => patterns.some((p) => p.test(e))),
      `${name} is a setting`,
    )
})
