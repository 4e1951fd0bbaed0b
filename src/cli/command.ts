/** Shape of a `jt808` sub-command. Each lives in src/cli/commands/<name>.ts and is listed in commands/index.ts. */
export interface CliIO {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

export interface Command {
  name: string
  /** one line for `jt808 --help` */
  summary: string
  /** full text for `jt808 <name> --help` */
  usage: string
  /** Resolves with the process exit code. */
  run(argv: string[], io: CliIO): Promise<number>
}

/** Thrown for bad command-line usage: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}
