/**
 * One position's whole journey, as a reader of the code follows it: a terminal's 0x0200 over TCP
 * → gateway (decode, auth) → ingest (commit, then ack) → matcher (rules) → anomaly stored →
 * REST list and live SSE feed; and back down: a supervisor's 0x8203 alarm confirmation through
 * the REST API → gateway → terminal, which closes the TERMINAL_ALARM anomaly. Run on the embedded
 * defaults (PGlite + in-process state) and on the servers (PostgreSQL + Redis).
 */
import t from 'tap'
import { BACKENDS, eventually, fixAt, online, openBackends, provision, startGateway } from '../gateway/harness.js'

const TOKEN = 'e2e-supervisor-token-0123456789'
const KM_PER_DEG_LON = 111.32 * Math.cos((36.65 * Math.PI) / 180)

interface AnomalyItem {
  id: string
  type: string
  status: string
  plate: string
  evidence: Record<string, unknown>
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const gw = await startGateway(backends, { bootstrapToken: TOKEN })
    t.teardown(() => gw.close())
    const base = `http://127.0.0.1:${gw.app.http.port}/api/v1`
    const api = (path: string, init: RequestInit = {}) => fetch(base + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } })

    const vehicle = await provision(backends.store)
    const { client } = await online(gw.port, vehicle)
    t.teardown(() => client.close())

    // The live feed, opened before anything happens.
    const sse = await api('/anomalies/stream', { headers: { accept: 'text/event-stream' } })
    t.equal(sse.status, 200, 'SSE stream open')
    const reader = sse.body!.getReader()
    let feed = ''
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
        if (done) return
        feed += new TextDecoder().decode(value)
      }
    })()
    t.teardown(async () => {
      await reader.cancel().catch(() => undefined)
      await pump
    })

    // Two minutes of device time at 95 km/h (limit 80) eastwards, a fix every 5 s, the emergency
    // alarm (bit 0) raised from the 11th fix on. Every fix is acknowledged only after commit.
    const start = Date.now() - 30 * 60_000
    const stepDeg = (95 * 5) / 3600 / KM_PER_DEG_LON
    for (let i = 0; i <= 24; i++) {
      const loc = fixAt(start + i * 5000, { speed: 95, longitude: 117.12 + i * stepDeg, alarm: i >= 10 ? 1 : 0 })
      t.equal(await client.reportPosition(loc), 0, `fix ${i} acknowledged`)
    }
    t.equal(await backends.store.countPositions(vehicle.vehicleId), 25, 'every acknowledged fix is stored')

    const byType = async () => {
      const res = await api(`/anomalies?plate=${encodeURIComponent(vehicle.plate)}`)
      const { items } = (await res.json()) as { items: AnomalyItem[] }
      return new Map(items.map((a) => [a.type, a]))
    }
    const opened = await eventually(
      async () => {
        const m = await byType()
        return m.has('OVERSPEED') && m.has('TERMINAL_ALARM') ? m : null
      },
      15_000,
      100,
    )
    const overspeed = opened.get('OVERSPEED')!
    t.equal(overspeed.plate, vehicle.plate)
    t.ok(Number(overspeed.evidence.maxSpeedKmh ?? overspeed.evidence.maxSpeed) >= 95, 'evidence carries the top speed')
    t.equal(opened.get('TERMINAL_ALARM')!.status, 'open')

    await eventually(() => feed.includes('event: anomaly.opened') && feed.includes(overspeed.id), 10_000, 50)
    t.pass('the opening reached the live feed')

    // Supervisor confirms the emergency alarm: 0x8203 to the terminal, which answers 0x0001.
    const res = await api(`/terminals/${vehicle.phone}/commands`, { method: 'POST', body: JSON.stringify({ type: 'confirm-alarm', alarmSerial: 0, alarmTypes: 1 }) })
    t.equal(res.status, 200, 'the terminal answered the confirmation')
    const closed = await eventually(
      async () => {
        const a = (await byType()).get('TERMINAL_ALARM')
        return a?.status === 'closed' ? a : null
      },
      15_000,
      100,
    )
    t.equal(closed.status, 'closed', 'the confirmed alarm is closed')
  })
}
