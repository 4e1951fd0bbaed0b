/**
 * What route modules receive besides the fastify instance (built by buildApi in server.ts). Its
 * own module, so that the route files and the server do not import each other.
 */
import type { Vehicle } from '../domain.js'
import type { SelfCheckResult } from '../matcher/self-check.js'
import type { ApiDeps } from './deps.js'
import type { AnomalyFeed } from './feed.js'
import type { ApiActiveWaybill, ApiLiveState } from './present.js'
import type { QrSigner } from './qr.js'

export interface ApiContext {
  deps: ApiDeps
  now: () => number
  feed: AnomalyFeed
  qr: QrSigner
  /** waybill lookups the vehicle views need (wired to the waybill store) */
  waybills: { activeFor(vehicle: Vehicle): Promise<ApiActiveWaybill | null> }
  liveState(vehicle: Vehicle): Promise<ApiLiveState>
  selfCheck(vehicle: Vehicle): Promise<SelfCheckResult>
  /** A token was revoked: stop trusting its cached principal at once. */
  revokedToken(tokenId: string): void
}
