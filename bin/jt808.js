#!/usr/bin/env node
// Runs the compiled CLI when built (npm run build), else the TypeScript sources through tsx.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const compiled = join(root, 'dist', 'src', 'cli', 'main.js')
const entry = existsSync(compiled) ? compiled : join(root, 'src', 'cli', 'main.ts')
if (!existsSync(compiled)) await import('tsx/esm/api').then((m) => m.register())
const { main } = await import(pathToFileURL(entry).href)
process.exitCode = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
