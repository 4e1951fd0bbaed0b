/** Two gateway instances over JT/T 809 on loopback: L (lower role) forwards to U (upper role). */
import { createServer } from 'node:net'
import type { Test } from 'tap'
import { newPlatform } from '../../src/platform/admin.js'
import type { PlatformEncryption } from '../../src/store/platforms.js'
import { startGateway, type Backend, type Backends, type TestGateway } from '../gateway/harness.js'

export const TOKEN = 'platform-exchange-token-0123456789'
export const LICENCE = '370100000001'
export const KEYS: PlatformEncryption = { m1: 30_000_000, ia1: 20_000_000, ic1: 10_000_000, key: 123_456 }
export const KM_PER_DEG_LON = 111.32 * Math.cos((36.65 * Math.PI) / 180)
/** short idle timeout: link tests every second */
export const LINK = { platformIdleSeconds: 3 }

export interface Combo {
  edition: 2011 | 2019
  encryption: PlatformEncryption | null
  variant: Backend
}

export async function upper(t: Test, b: Backends, combo: Omit<Combo, 'variant'>, port = 0): Promise<TestGateway> {
  if (!(await b.store.findLowerPlatform(1001))) {
    await b.store.createPlatform(
      newPlatform({
        role: 'lower',
        name: 'Enterprise platform A',
        accessCode: 1001,
        userId: 77,
        password: 'pw123456',
        edition: combo.edition,
        encryption: combo.encryption,
        enterpriseLicences: [LICENCE],
      }),
      Date.now(),
    )
  }
  const u = await startGateway(b, { ...LINK, platformPort: port, platformHost: '127.0.0.1', bootstrapToken: TOKEN })
  t.teardown(() => u.close())
  return u
}

export async function lower(t: Test, b: Backends, combo: Omit<Combo, 'variant'>, superiorPort: number): Promise<TestGateway> {
  const l = await startGateway(b, { ...LINK, platformPort: 0, platformHost: '127.0.0.1', bootstrapToken: TOKEN })
  t.teardown(() => l.close())
  await b.store.createPlatform(
    newPlatform({
      role: 'superior',
      name: 'Provincial platform',
      accessCode: 1001,
      userId: 77,
      password: 'pw123456',
      edition: combo.edition,
      encryption: combo.encryption,
      host: '127.0.0.1',
      port: superiorPort,
      enterpriseLicences: [LICENCE],
    }),
    Date.now(),
  )
  await l.app.platforms.reload()
  return l
}

export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

/** yyyymmdd in Beijing time, `days` from now. */
function beijingDay(days: number): string {
  return new Date(Date.now() + 8 * 3600_000 + days * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '')
}

/** A valid waybill of carrier LICENCE for the vehicle, active today and tomorrow (Beijing dates). */
export function waybill(no: string, plate: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const today = beijingDay(0)
  return {
    waybillNo: no,
    issueDate: `${today.slice(0, 4)}-${today.slice(4, 6)}-${today.slice(6)}`,
    consignorName: '济南某化工有限公司',
    consigneeName: '青岛某加油站',
    loadingPlace: '济南市历城区化工园区',
    loadingDate: today,
    destination: '青岛市黄岛区',
    expectedArrivalDate: beijingDay(1),
    carrierName: '济南甲危货运输有限公司',
    carrierLicenseNo: LICENCE,
    plate,
    plateColor: 2,
    transportCertNo: '370100123456',
    driverName: '张三',
    driverQualificationNo: '370102198001011234',
    escortName: '李四',
    escortQualificationNo: '370102198502021234',
    goods: [{ unNumber: '1203', name: '汽油', hazardClass: '3', quantity: 25.5, unit: 't' }],
    ...extra,
  }
}
