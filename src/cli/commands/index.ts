import type { Command } from '../command.js'

/** Every sub-command, in the order `jt808 --help` lists them. */
export const COMMANDS: Command[] = []
