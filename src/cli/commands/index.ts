import type { Command } from '../command.js'
import { tokenCommand } from './token.js'
import { serveCommand } from './serve.js'
import { replayCommand } from './replay.js'
import { simulateCommand } from './simulate.js'
import { importCommand } from './import.js'
import { decodeCommand } from './decode.js'
import { encodeCommand } from './encode.js'
import { migrateCommand } from './migrate.js'
import { exportRawCommand } from './export-raw.js'
import { adminCommand } from './admin.js'
import { attachmentsCommand } from './attachments.js'

/** Every sub-command, in the order `jt808 --help` lists them. */
export const COMMANDS: Command[] = [
  serveCommand,
  attachmentsCommand,
  migrateCommand,
  importCommand,
  tokenCommand,
  adminCommand,
  decodeCommand,
  encodeCommand,
  replayCommand,
  simulateCommand,
  exportRawCommand,
]
