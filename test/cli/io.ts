/** A CliIO whose output the test reads back. */
import { PassThrough, Readable } from 'node:stream'
import type { CliIO } from '../../src/cli/command.js'

export function captureIO(stdinText = ''): { io: CliIO; stdout: () => string; stderr: () => string } {
  const out: string[] = []
  const err: string[] = []
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  stdout.on('data', (c: Buffer) => out.push(c.toString()))
  stderr.on('data', (c: Buffer) => err.push(c.toString()))
  return {
    io: { stdin: Readable.from([stdinText]), stdout, stderr, env: {} },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  }
}
