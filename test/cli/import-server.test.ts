/**
 * `jt808 import --server`: the records are compared in bulk (POST /vehicles/lookup,
 * /waybills/lookup: one request per 10,000 records, not one GET each), with the same outcomes as
 * against the store; the lookup routes answer null for unknown and foreign records alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { runImport } from '../../src/cli/commands/import.js'
import { apiFixture, BACKENDS, LICENCE_A, LICENCE_B, vehicleInput, waybill } from '../api/harness.js'
import { captureIO } from './io.js'

/** Requests the API served per route (from its request-duration histogram). */
async function served(registry: import('prom-client').Registry, route: string): Promise<number> {
  const m = await registry.getSingleMetric('jt808_http_request_duration_seconds')!.get()
  return m.values.filter((v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.labels.route === route).reduce((a, v) => a + v.value, 0)
}

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const f = await apiFixture(t, backend)
    const url = await f.listen()
    const dir = mkdtempSync(join(tmpdir(), 'jt808-import-server-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const post = (path: string, body: unknown, token = f.tokens.supervisor) => f.app.inject({ method: 'POST', url: path, headers: f.auth(token), payload: body as object })
    t.equal((await post('/api/v1/vehicles', [vehicleInput('浙A81001', LICENCE_A), vehicleInput('浙B81002', LICENCE_B)])).statusCode, 200)
    t.equal((await post('/api/v1/waybills', waybill('WB-LOOKUP-B', LICENCE_B, { plate: '浙B81002' }))).statusCode, 201)

    t.test('lookup routes: any spelling, null for unknown and for another carrier’s', async (t) => {
      const items = [{ plate: '浙a 81001', plateColor: 2 }, { plate: '浙B81002', plateColor: 2 }, { plate: '浙Z81009' }]
      const sup = await post('/api/v1/vehicles/lookup', { items })
      t.equal(sup.statusCode, 200, sup.body)
      t.same(
        sup.json().items.map((v: { plate: string } | null) => v?.plate ?? null),
        ['浙A81001', '浙B81002', null],
      )
      const entA = await post('/api/v1/vehicles/lookup', { items }, f.tokens.entA)
      t.same(
        entA.json().items.map((v: { plate: string } | null) => v?.plate ?? null),
        ['浙A81001', null, null],
        'B’s truck looks unknown to A',
      )
      const wbA = await post('/api/v1/waybills/lookup', { waybillNos: ['WB-LOOKUP-B', 'WB-LOOKUP-NONE'] }, f.tokens.entA)
      t.same(wbA.json().items, [null, null], 'B’s waybill looks unknown to A')
      const wbB = await post('/api/v1/waybills/lookup', { waybillNos: ['WB-LOOKUP-B'] }, f.tokens.entB)
      t.match(wbB.json().items, [{ waybillNo: 'WB-LOOKUP-B', status: 'created' }])
      t.equal((await post('/api/v1/vehicles/lookup', { items: [{ plate: true }] })).statusCode, 400, 'bodies are not coerced')
    })

    t.test('import through the server: one lookup request for the file, outcomes per line', async (t) => {
      const file = join(dir, 'v.ndjson')
      const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ plate: `浙A8${String(2000 + i)}`, enterpriseLicenseNo: LICENCE_A }))
      lines.push(JSON.stringify({ plate: '浙a 81001', enterpriseLicenseNo: LICENCE_A }))
      writeFileSync(file, lines.join('\n') + '\n')
      const run = async () => {
        const c = captureIO()
        const code = await runImport(['vehicles', file, '--json', '--server', url, '--token', f.tokens.supervisor], c.io)
        return { code, out: c.stdout() ? JSON.parse(c.stdout()) : null, err: c.stderr() }
      }
      const gets = () => served(f.registry, '/api/v1/vehicles/:plate')
      const lookups = () => served(f.registry, '/api/v1/vehicles/lookup')
      const [gets0, lookups0] = [await gets(), await lookups()]
      const first = await run()
      t.equal(first.code, 0, first.err)
      t.same([first.out.created, first.out.unchanged, first.out.conflicting], [50, 1, 0], 'the existing vehicle, spelled differently, is unchanged')
      t.equal((await lookups()) - lookups0, 1, 'one lookup request')
      t.equal((await gets()) - gets0, 0, 'no GET per record')
      const again = await run()
      t.same([again.out.created, again.out.unchanged], [0, 51])

      const wfile = join(dir, 'w.ndjson')
      writeFileSync(wfile, [JSON.stringify(waybill('WB-LOOKUP-A1', LICENCE_A, { plate: '浙A81001' })), JSON.stringify(waybill('WB-LOOKUP-A2', LICENCE_A, { plate: '浙A81001' }))].join('\n') + '\n')
      const wl0 = await served(f.registry, '/api/v1/waybills/lookup')
      const c = captureIO()
      t.equal(await runImport(['waybills', wfile, '--json', '--server', url, '--token', f.tokens.supervisor], c.io), 0, c.stderr())
      t.equal(JSON.parse(c.stdout()).created, 2)
      t.equal((await served(f.registry, '/api/v1/waybills/lookup')) - wl0, 1, 'one waybill lookup request')
      t.equal(await served(f.registry, '/api/v1/waybills/:waybillNo'), 0, 'no GET per waybill')
    })
  })
}
