/**
 * Terminal lifecycle: 0x0100 register → 0x8100, 0x0102 authenticate → 0x8001, 0x0002 heartbeat,
 * 0x0003 deregister, 0x0004 server time (2019).
 */
import type { Message } from '../../../protocol/index.js'
import type { Auth } from '../../../protocol/messages/0102-auth.js'
import type { Register } from '../../../protocol/messages/0100-register.js'
import { RegisterResult } from '../../../protocol/messages/8100-register-reply.js'
import { canonicalPhone, type Terminal, type Vehicle } from '../../domain.js'
import { hashAuthCode, newAuthCode, verifyAuthCode } from '../auth-code.js'
import type { Connection } from '../connection.js'
import type { GatewayContext, Handler } from './context.js'

interface Decision {
  result: number
  vehicle: Vehicle | null
  terminal: Terminal | null
}

/**
 * The registration rules, in order:
 * 1. the terminal is registered to another vehicle → 3
 * 2. no vehicle with this plate and colour → 2 (registry mode) / enrolled (open mode)
 * 3. the vehicle is bound to another terminal → 1
 * 4. registry mode and the registry knows this terminal neither as a terminal row nor as the
 *    vehicle's terminal, or its terminal id differs from (or omits) the registry's → 4
 * A retired vehicle (in either mode) → 2: it is out of service until a supervisor reinstates it.
 * Re-registering the same terminal to the same vehicle succeeds with a new auth code.
 */
async function decide(ctx: GatewayContext, phone: string, b: Register): Promise<Decision> {
  const plate = b.plate.trim()
  const [found, terminal] = await Promise.all([ctx.store.findVehicle(plate, b.plateColor), ctx.store.getTerminal(phone)])
  let vehicle = found
  const open = ctx.config.registrationMode === 'open'
  const registeredElsewhere = !!terminal?.authCodeHash && terminal.vehicleId !== null && terminal.vehicleId !== vehicle?.id
  if (vehicle?.retiredAt != null) return { result: RegisterResult.NO_SUCH_VEHICLE, vehicle, terminal }
  if (vehicle && registeredElsewhere) return { result: RegisterResult.TERMINAL_ALREADY_REGISTERED, vehicle, terminal }
  if (!vehicle) {
    if (!open) return { result: RegisterResult.NO_SUCH_VEHICLE, vehicle, terminal }
    if (registeredElsewhere) return { result: RegisterResult.TERMINAL_ALREADY_REGISTERED, vehicle, terminal }
    const [id] = await ctx.store.upsertVehicles([{ plate, plateColor: b.plateColor, terminalPhone: phone, terminalId: b.terminalId.trim() || null }])
    vehicle = await ctx.store.getVehicle(id)
    if (!vehicle) throw new Error(`vehicle ${id} vanished after enrolment`)
    return { result: RegisterResult.OK, vehicle, terminal }
  }
  if (vehicle.terminalPhone && canonicalPhone(vehicle.terminalPhone) !== phone) {
    return { result: RegisterResult.VEHICLE_ALREADY_REGISTERED, vehicle, terminal }
  }
  if (!open) {
    const known = vehicle.terminalPhone !== null || (terminal !== null && (terminal.vehicleId === null || terminal.vehicleId === vehicle.id))
    // When the registry knows the terminal id, the registration must present it: a blank id would let
    // anyone who knows the phone and plate take the terminal's place (and lock the real one out).
    const idMatches = !vehicle.terminalId || sameId(vehicle.terminalId, b.terminalId)
    if (!known || !idMatches) return { result: RegisterResult.NO_SUCH_TERMINAL, vehicle, terminal }
  }
  // (Open mode binds an existing, unbound vehicle: saveTerminal sets its terminal phone.)
  return { result: RegisterResult.OK, vehicle, terminal }
}

function sameId(a: string, b: string): boolean {
  return a.trim().toUpperCase() === b.trim().toUpperCase()
}

export const register: Handler = {
  beforeAuth: true,
  async handle(ctx, conn, m) {
    const b = m.body as Register
    const phone = canonicalPhone(m.phone)
    let authCode: string | undefined
    const d = await admitted(ctx, conn, async () => {
      const d = await decide(ctx, phone, b)
      if (d.result !== RegisterResult.OK || !d.vehicle) return d
      authCode = newAuthCode()
      const prev = d.terminal
      await ctx.store.saveTerminal({
        phone,
        terminalId: b.terminalId.trim() || null,
        vehicleId: d.vehicle.id,
        authCodeHash: hashAuthCode(authCode),
        protocolVersion: m.version,
        manufacturer: b.manufacturer.trim() || null,
        model: b.model.trim() || null,
        imei: prev?.imei ?? null,
        firmware: prev?.firmware ?? null,
        registeredAt: ctx.now(),
      })
      return d
    })
    ctx.metrics.registrations.inc({ result: String(d.result) })
    const body = authCode === undefined ? { replySerial: m.serial, result: d.result } : { replySerial: m.serial, result: d.result, authCode }
    if (conn.send(0x8100, body, m.phone) >= 0) ctx.metrics.acks.inc({ msg_id: '0x8100', result: String(d.result) })
    // The auth code is never logged.
    conn.log.info({ plate: b.plate.trim(), plateColor: b.plateColor, result: d.result, vehicleId: d.vehicle?.id ?? null }, 'terminal registration')
  },
}

export const authenticate: Handler = {
  beforeAuth: true,
  async handle(ctx, conn, m) {
    const b = m.body as Auth
    const phone = canonicalPhone(m.phone)
    // One connection is one terminal: authenticating as another phone would leave the first one's
    // session behind (routable, "online") with nobody to close it.
    if (conn.authenticated && conn.key !== phone) {
      authFailed(ctx, conn, m, 'phone_changed')
      return
    }
    // The whole authentication holds one admission slot (registry, then session state): with a limit
    // of N, at most N handshakes use the database, Redis and the event loop at once during a storm.
    const reason = await admitted(ctx, conn, async () => {
      const found = await ctx.terminals.get(phone)
      const terminal = found?.terminal ?? null
      if (!terminal?.authCodeHash) return 'not_registered'
      if (!verifyAuthCode(b.authCode, terminal.authCodeHash)) return 'wrong_code'
      const vehicle: Vehicle | null = found?.vehicle ?? null
      if (!vehicle) return 'no_vehicle'
      if (vehicle.retiredAt != null) return 'vehicle_retired'
      // What the terminal presented last time is in its row: written again only when it changed.
      const imei = b.imei?.trim() || terminal.imei
      const firmware = b.softwareVersion?.trim() || terminal.firmware
      if (imei !== terminal.imei || firmware !== terminal.firmware || terminal.protocolVersion !== m.version) {
        await ctx.store.saveTerminal({ ...terminal, imei, firmware, protocolVersion: m.version })
      }
      conn.authenticated = true
      conn.phone = m.phone
      conn.key = phone
      conn.vehicle = { id: vehicle.id, plate: vehicle.plate, plateColor: vehicle.plateColor, enterpriseLicenseNo: vehicle.enterpriseLicenseNo }
      conn.since = ctx.now()
      conn.authFailures = 0
      // The alarm word of the vehicle's last stored position (transitions continue across reconnects),
      // read while the session registers: one round trip to the state instead of two in a row. Later
      // frames of this connection wait for both (the connection is busy until the handler returns).
      // Registered first, acknowledged second: once the terminal holds its ack, it is routable.
      const [last] = await Promise.all([ctx.state.getLastPosition(vehicle.id).catch(() => null), ctx.sessionStarted(conn)])
      conn.lastAlarm = (last?.alarm ?? 0) >>> 0
      return null
    })
    if (reason !== null) {
      authFailed(ctx, conn, m, reason)
      return
    }
    conn.reply(m, 0)
  },
}

/**
 * Runs a handshake under admission control, the connection reading meanwhile (a terminal that gives
 * up is seen and its turn skipped), and times its stages for jt808_handshake_seconds.
 */
async function admitted<T>(ctx: GatewayContext, conn: Connection, fn: () => Promise<T>): Promise<T> {
  const stage = ctx.metrics.handshake
  const queuedAt = ctx.now()
  if (!conn.authenticated) stage.observe({ stage: 'accepted' }, (queuedAt - conn.openedAt) / 1000)
  return conn.inLine(() =>
    ctx.registryGate.run(
      async () => {
        const startedAt = ctx.now()
        stage.observe({ stage: 'line' }, (startedAt - queuedAt) / 1000)
        try {
          return await fn()
        } finally {
          stage.observe({ stage: 'run' }, (ctx.now() - startedAt) / 1000)
        }
      },
      () => conn.isClosed,
    ),
  )
}

function authFailed(ctx: GatewayContext, conn: Connection, m: Message, reason: string): void {
  ctx.metrics.authFailures.inc({ reason })
  conn.reply(m, 1)
  conn.authFailures++
  conn.log.warn({ reason, failures: conn.authFailures }, 'terminal authentication failed')
  if (conn.authFailures >= ctx.config.authFailuresBeforeClose) conn.close('auth_failures')
}

export const heartbeat: Handler = {
  beforeAuth: true,
  handle(_ctx, conn, m) {
    conn.reply(m, 0)
  },
}

/**
 * 0x0003 is "terminal deregistration" (终端注销): after it the terminal must register again
 * (JT/T 808-2013 §8.6 / 2019 §8.6). An authenticated terminal's auth code is revoked; before
 * authentication nothing is changed (anyone could claim any phone).
 */
export const deregister: Handler = {
  beforeAuth: true,
  async handle(ctx, conn, m) {
    const key = conn.key
    if (conn.authenticated && key && canonicalPhone(m.phone) === key) {
      await ctx.registryGate.run(async () => {
        const terminal = await ctx.store.getTerminal(key)
        if (terminal?.authCodeHash) await ctx.store.saveTerminal({ ...terminal, authCodeHash: null })
      })
      conn.log.info('terminal deregistered')
    }
    conn.reply(m, 0)
    conn.closeWhenSettled('deregistered')
  },
}

/** 0x0004 (2019): the platform's time, as UTC per JT/T 808-2019 §8.5. */
export const serverTime: Handler = {
  handle(ctx, conn, m) {
    const iso = new Date(ctx.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')
    if (conn.send(0x8004, { time: iso }, m.phone) >= 0) ctx.metrics.acks.inc({ msg_id: '0x8004', result: '0' })
  },
}
