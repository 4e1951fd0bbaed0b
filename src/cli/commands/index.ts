import type { Command } from '../command.js'
import { tokenCommand } from './token.js'

/** Every sub-command, in the order `jt808 --help` lists them. */
export const COMMANDS: Command[] = [tokenCommand]
