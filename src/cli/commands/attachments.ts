/**
 * `jt808 attachments`: the active-safety attachment server alone, for deployments that keep the
 * file traffic off the gateway hosts. The gateways then run with JT808_ATTACHMENTS_SERVER=separate
 * and name this server in 0x9208 (JT808_ATTACHMENTS_ADVERTISE, JT808_ATTACHMENTS_PORT); both
 * share the database, the object store (S3, or one file system) and the state (the feed).
 */
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { createAttachments } from '../../attachments/index.js'
import { ConfigError, loadConfig, type Config } from '../../config/index.js'
import { openState } from '../../state/index.js'
import { openStore } from '../../store/index.js'
import type { CliIO, Command } from '../command.js'
import { parseServeFlags } from './serve.js'

const USAGE = `usage: jt808 attachments [options]

Runs only the active-safety attachment server (T/JSATL12 / T/GDRTA upload of alarm photos and
clips) on JT808_ATTACHMENTS_PORT (default 7612), storing files in JT808_ATTACHMENTS_STORE (default
the data directory) and their records in the database. Takes the same options as "jt808 serve"
(see "jt808 serve --help"); the attachments-* ones and DATABASE_URL / REDIS_URL matter here.
SIGINT / SIGTERM stop it; files not yet complete are given up (terminals re-send them).`

export const attachmentsCommand: Command = {
  name: 'attachments',
  summary: 'run the active-safety attachment server alone',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    let config: Config
    try {
      config = loadConfig(io.env, parseServeFlags(argv))
    } catch (e) {
      if (e instanceof ConfigError) {
        io.stderr.write(`jt808 attachments: ${e.message}\n`)
        return 2
      }
      throw e
    }
    const logger = pino({ level: config.logLevel, base: { node: config.nodeId } })
    const store = await openStore(config)
    const state = await openState(config, { onError: (err) => logger.error({ err }, 'redis connection error') })
    const attachments = await createAttachments({ config, store, state, registry: new Registry(), logger, commander: null })
    const address = await attachments.listen(true)
    io.stdout.write(`jt808 attachment server listening on tcp://${address?.address}:${address?.port} (files: ${attachments.objects.kind})\n`)
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    io.stdout.write(`jt808 attachments: ${signal}, stopping\n`)
    await attachments.close()
    await state.close()
    await store.close()
    return 0
  },
}
