/**
 * The README's configuration table and the settings table (src/config/index.ts) say the same:
 * every setting's variable is in the README table (a row may group several as JT808_RETENTION_*_DAYS),
 * and every variable the table names is a setting.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { CONFIG_FLAGS } from '../../src/config/index.js'

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** The variables named in the first column of the table headed "| variable | default | meaning |". */
function tableVariables(): string[] {
  const lines = README.split('\n')
  const start = lines.findIndex((l) => /^\|\s*variable\s*\|\s*default\s*\|\s*meaning\s*\|/.test(l))
  if (start < 0) throw new Error('README has no "| variable | default | meaning |" table')
  const names: string[] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    const first = line.split('|')[1] ?? ''
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_*]+)`/g)) names.push(m[1])
  }
  return names
}

const asPattern = (name: string) => new RegExp(`^${name.replace(/\*/g, '[A-Z0-9_]+')}$`)

t.test('every setting is documented in the README configuration table', async (t) => {
  const documented = tableVariables().map(asPattern)
  for (const { env } of CONFIG_FLAGS) t.ok(documented.some((p) => p.test(env)), `${env} is in the README table`)
})

t.test('every variable of the README configuration table is a setting', async (t) => {
  const envs = CONFIG_FLAGS.map((f) => f.env)
  for (const name of tableVariables()) t.ok(envs.some((e) => asPattern(name).test(e)), `${name} is a setting`)
})
