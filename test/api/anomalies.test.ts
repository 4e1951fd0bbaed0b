/**
 * Anomalies over both backends: list with filters, stable order and cursor; one anomaly; the
 * handling loop with its history, roles and 409s; enterprise scope on every route.
 */
import t from 'tap'
import type { Anomaly } from '../../src/domain.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B } from './harness.js'

const T0 = Date.parse('2025-03-01T00:00:00Z')

function anomaly(id: string, licence: string, i: number, extra: Partial<Anomaly> = {}): Anomaly {
  return {
    id,
    type: i % 2 ? 'OVERSPEED' : 'FATIGUE_DRIVING',
    status: i % 3 === 0 ? 'closed' : 'open',
    severity: i % 2 ? 'warning' : 'critical',
    vehicleId: licence === LICENCE_A ? 1 : 2,
    plate: licence === LICENCE_A ? '浙A40001' : '浙B40001',
    plateColor: 2,
    waybillNo: i === 1 ? 'WB-1' : null,
    enterpriseLicenseNo: licence,
    startedAt: T0 + i * 3_600_000,
    endedAt: i % 3 === 0 ? T0 + i * 3_600_000 + 600_000 : null,
    lastSeenAt: T0 + i * 3_600_000 + 600_000,
    evidence: { maxSpeed: 90 + i, points: [[120.1, 30.2]] },
    ...extra,
  }
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend)
    const { app, auth, tokens } = f
    const get = (url: string, token = tokens.supervisor) => app.inject({ method: 'GET', url, headers: auth(token) })
    // 8 of A's and 4 of B's, inserted in this order (the stable order is newest insert first).
    const rows = [...Array.from({ length: 8 }, (_, i) => anomaly(`a-${i}`, LICENCE_A, i)), ...Array.from({ length: 4 }, (_, i) => anomaly(`b-${i}`, LICENCE_B, i))]
    for (const r of rows) await f.store.upsertAnomalies([r])

    t.test('list: the documented shape, stable order, cursor, filters, scope', async (t) => {
      const all = await get('/api/v1/anomalies?limit=100')
      t.equal(all.statusCode, 200, all.body)
      const items = all.json().items
      t.equal(items.length, 12)
      t.same(
        Object.keys(items[0]).sort(),
        ['enterpriseLicenseNo', 'endedAt', 'evidence', 'handling', 'id', 'lastSeenAt', 'plate', 'plateColor', 'resolvedByLateData', 'severity', 'startedAt', 'status', 'type', 'waybillNo'].sort(),
      )
      t.match(
        items.find((a: { id: string }) => a.id === 'a-1'),
        {
          type: 'OVERSPEED',
          status: 'open',
          severity: 'warning',
          plate: '浙A40001',
          plateColor: 2,
          waybillNo: 'WB-1',
          enterpriseLicenseNo: LICENCE_A,
          startedAt: new Date(T0 + 3_600_000).toISOString(),
          endedAt: null,
          evidence: { maxSpeed: 91 },
          handling: null,
        },
      )

      const pages: string[] = []
      let cursor: string | null = null
      do {
        const res = await get(`/api/v1/anomalies?limit=5${cursor ? `&cursor=${cursor}` : ''}`, tokens.entA)
        pages.push(...res.json().items.map((a: { id: string }) => a.id))
        cursor = res.json().nextCursor
      } while (cursor)
      t.same(pages, ['a-7', 'a-6', 'a-5', 'a-4', 'a-3', 'a-2', 'a-1', 'a-0'], 'A sees its own, each once, in a stable order')

      // An update does not move an anomaly in the order.
      await f.store.upsertAnomalies([{ ...rows[0], status: 'closed', endedAt: T0 + 1000 }])
      const again = await get('/api/v1/anomalies?limit=100&enterprise=' + LICENCE_A)
      t.same(
        again.json().items.map((a: { id: string }) => a.id),
        pages,
      )

      const ids = async (q: string, token = tokens.supervisor) =>
        (await get(`/api/v1/anomalies?${q}`, token))
          .json()
          .items.map((a: { id: string }) => a.id)
          .sort()
      t.same(await ids('type=OVERSPEED&enterprise=' + LICENCE_A), ['a-1', 'a-3', 'a-5', 'a-7'])
      t.same(await ids('type=OVERSPEED&type=FATIGUE_DRIVING&plate=' + encodeURIComponent('浙B40001')), ['b-0', 'b-1', 'b-2', 'b-3'])
      t.same(await ids('status=open&severity=critical', tokens.entB), ['b-2'])
      t.same(
        await ids(`from=${new Date(T0 + 5.5 * 3_600_000).toISOString()}&to=${new Date(T0 + 7 * 3_600_000).toISOString()}&enterprise=${LICENCE_A}`),
        ['a-1', 'a-2', 'a-4', 'a-5', 'a-6', 'a-7'],
        'open ones and those ended inside the range',
      )
      t.same(await ids('waybillNo=WB-1'), ['a-1', 'b-1'])

      t.equal((await get(`/api/v1/anomalies?enterprise=${LICENCE_B}`, tokens.entA)).statusCode, 403)
      t.equal((await get('/api/v1/anomalies?type=SPEEDING')).statusCode, 400)
      t.equal((await get('/api/v1/anomalies?status=maybe')).statusCode, 400)
      t.equal((await get('/api/v1/anomalies?limit=0')).statusCode, 400)
      t.equal((await get('/api/v1/anomalies?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z')).statusCode, 400)
      t.equal((await get('/api/v1/anomalies?cursor=x1')).statusCode, 400)
    })

    t.test('one anomaly: scope and 404', async (t) => {
      const one = await get('/api/v1/anomalies/a-2', tokens.entA)
      t.equal(one.statusCode, 200)
      t.match(one.json(), { id: 'a-2', handling: null, handlingHistory: [] })
      t.equal((await get('/api/v1/anomalies/a-2', tokens.entB)).statusCode, 404, 'another carrier’s anomaly looks unknown')
      t.equal((await get('/api/v1/anomalies/a-2', tokens.inspector)).statusCode, 200)
      t.equal((await get('/api/v1/anomalies/nope')).statusCode, 404)
    })

    t.test('handling: notify → rectify → confirm, with history; wrong order 409; roles and scope', async (t) => {
      const step = (id: string, body: unknown, token = tokens.supervisor) => app.inject({ method: 'POST', url: `/api/v1/anomalies/${id}/handling`, headers: auth(token), payload: body as object })
      const early = await step('a-4', { action: 'confirm' })
      t.equal(early.statusCode, 409)
      t.match(early.json().error, { code: 'CONFLICT', details: { current: null, allowed: ['notify', 'dismiss'] } })
      t.equal((await step('a-4', { action: 'notify' }, tokens.entA)).statusCode, 403, 'notifying is the supervisor’s')
      t.equal((await step('a-4', { action: 'notify' }, tokens.inspector)).statusCode, 403)

      const n = await step('a-4', { action: 'notify', note: '请立即整改超时驾驶' })
      t.equal(n.statusCode, 201, n.body)
      t.match(n.json(), { anomalyId: 'a-4', handling: 'notify', step: { action: 'notify', note: '请立即整改超时驾驶', by: { role: 'supervisor' } } })
      t.equal((await step('a-4', { action: 'rectify' }, tokens.entB)).statusCode, 404, 'B cannot answer for A (nor learn it exists)')
      const r = await step('a-4', { action: 'rectify', note: '已安排换班，驾驶员休息' }, tokens.entA)
      t.equal(r.statusCode, 201, r.body)
      t.equal(r.json().step.by.enterpriseLicenseNo, LICENCE_A)
      const c = await step('a-4', { action: 'confirm' })
      t.equal(c.statusCode, 201)
      t.same(
        c.json().history.map((h: { action: string }) => h.action),
        ['notify', 'rectify', 'confirm'],
      )
      const after = await step('a-4', { action: 'notify' })
      t.equal(after.statusCode, 409, 'confirmed handling is closed')

      const one = await get('/api/v1/anomalies/a-4', tokens.entA)
      t.equal(one.json().handling, 'confirm')
      t.same(
        one.json().handlingHistory.map((h: { action: string; note: string | null }) => [h.action, h.note]),
        [
          ['notify', '请立即整改超时驾驶'],
          ['rectify', '已安排换班，驾驶员休息'],
          ['confirm', null],
        ],
      )
      const listed = (await get('/api/v1/anomalies?limit=100', tokens.entA)).json().items.find((a: { id: string }) => a.id === 'a-4')
      t.equal(listed.handling, 'confirm', 'the list shows the handling state')

      t.equal((await step('b-1', { action: 'dismiss', note: '误报' })).statusCode, 201)
      t.equal((await step('b-1', { action: 'rectify' }, tokens.entB)).statusCode, 409)
      t.equal((await step('a-5', { action: 'escalate' })).statusCode, 400)
      t.equal((await step('nope', { action: 'notify' })).statusCode, 404)

      // Two concurrent notifications of a fresh anomaly followed by two concurrent confirms: the store serialises them.
      await step('a-6', { action: 'notify' })
      await step('a-6', { action: 'rectify' }, tokens.entA)
      const both = await Promise.all([step('a-6', { action: 'confirm' }), step('a-6', { action: 'confirm' })])
      t.same(both.map((b) => b.statusCode).sort(), [201, 409], 'exactly one confirm wins')

      const audit = await f.store.listAudit({ limit: 200 })
      t.ok(
        audit.some((a) => a.target === 'a-4' && a.details.action === 'rectify' && a.enterpriseLicenseNo === LICENCE_A && a.status === 201),
        'handling steps are audited',
      )
    })
  })
}
