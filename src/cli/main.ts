#!/usr/bin/env node
/** `jt808` entry point: dispatches to src/cli/commands/<name>.ts. */
import { UsageError, type CliIO } from './command.js'
import { COMMANDS } from './commands/index.js'

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(help())
    return name ? 0 : 2
  }
  const cmd = COMMANDS.find((c) => c.name === name)
  if (!cmd) {
    io.stderr.write(`jt808: unknown command "${name}"\n\n${help()}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(cmd.usage.endsWith('\n') ? cmd.usage : cmd.usage + '\n')
    return 0
  }
  try {
    return await cmd.run(rest, io)
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`jt808 ${name}: ${e.message}\n\n${cmd.usage}\n`)
      return 2
    }
    // the clear line only; the stack is for JT808_LOG_LEVEL=debug|trace
    const verbose = /^(debug|trace)$/.test(io.env.JT808_LOG_LEVEL ?? '')
    io.stderr.write(`jt808 ${name}: ${(e as Error).message}\n${verbose && e instanceof Error && e.stack ? `${e.stack}\n` : ''}`)
    return 1
  }
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length), 8)
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
  return `usage: jt808 <command> [options]   (jt808 <command> --help for details)\n\ncommands:\n${lines.join('\n')}\n`
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (isEntry) {
  // `jt808 … | head`: the reader left, so there is nobody to tell; stop quietly as a shell tool does.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e
    process.exit(process.exitCode ?? 0)
  })
  main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code
    },
    (e: unknown) => {
      process.stderr.write(`jt808: ${(e as Error).stack ?? String(e)}\n`)
      process.exitCode = 1
    },
  )
}
