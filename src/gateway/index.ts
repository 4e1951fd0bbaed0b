/**
 * The gateway: TCP server for JT/T 808 terminals, sessions, downlink commands.
 *
 *   const gateway = createGateway({ config, store, state, ingest, logger, registry })
 *   await gateway.listen()
 *   await gateway.sendCommand('13912345678', { msgId: 0x8300, body: { flags: 0x08, text: '…' } })
 */
export { Gateway, createGateway, type GatewayStats } from './server.js'
export {
  CommandError,
  CONFIRMABLE_ALARM_BITS,
  type AlarmConfirmation,
  type CommandOutcome,
  type ConfirmableAlarm,
  type DownlinkMessage,
  type GatewayDeps,
  type IngestPort,
  type SendCommandOptions,
} from './types.js'
export type { GatewayEvents } from './handlers/index.js'
export { SPECIFIC_REPLIES } from './commands.js'
export { RegisterResult } from '../../protocol/messages/8100-register-reply.js'
export { hashAuthCode, newAuthCode, verifyAuthCode } from './auth-code.js'
export { isListeningHandle, type ListenerCopies, type ListeningHandle } from './accept-lanes.js'
export { createGatewayMetrics, type GatewayMetrics } from './metrics.js'
