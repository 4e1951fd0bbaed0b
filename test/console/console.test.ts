/**
 * The operator console in a real browser (Debian's Chromium through playwright-core) against the
 * whole pipeline: terminals report over TCP → gateway → ingest → matcher → API, the console
 * signs in with a token and shows it. Embedded backends (PGlite + in-process state): the console
 * reads only the API, whose backends the API tests cover on both kinds.
 * Screenshots of each view land in test/console/artifacts/ (not committed).
 */
import t from 'tap'
import { waybill } from '../api/harness.js'
import { eventually, fixAt, online, openBackends, provision, startGateway } from '../gateway/harness.js'
import { bundled, go, hook, launch, mapPositions, missingBrowser, screenshot, signIn } from './browser.js'

const TOKEN = 'console-supervisor-token-0123456789'
const LICENCE_A = '370100000001'
const LICENCE_B = '370100000002'

// a browser, the whole pipeline and eight views: more than the suite's default 120 s per file on a busy machine
t.setTimeout(300_000)

t.test('console', { timeout: 280_000, skip: missingBrowser() ?? false }, async (t) => {
  const backends = await openBackends('embedded')
  t.teardown(() => backends.close())
  const gw = await startGateway(backends, { bootstrapToken: TOKEN })
  t.teardown(() => gw.close())
  const base = `http://127.0.0.1:${gw.app.http.port}`
  const api = async <T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.token ?? TOKEN}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      body: init.body ? JSON.stringify(init.body) : undefined,
    })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const tokenFor = async (licence: string) =>
    (await api<{ token: string }>('/tokens', { method: 'POST', body: { role: 'enterprise', enterpriseLicenseNo: licence, label: `console ${licence}` } })).token
  const entA = await tokenFor(LICENCE_A)
  const entB = await tokenFor(LICENCE_B)

  // Two vehicles of enterprise A, one of B, each with its terminal online.
  const a1 = await provision(backends.store)
  const a2 = await provision(backends.store)
  const b1 = await provision(backends.store)
  await backends.store.upsertVehicles([{ plate: b1.plate, plateColor: 2, terminalPhone: b1.phone, terminalId: null, enterpriseLicenseNo: LICENCE_B }])
  const clients = await Promise.all([a1, a2, b1].map((v) => online(gw.port, v).then((o) => o.client)))
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  const [ca1, ca2, cb1] = clients

  const start = Date.now() - 10 * 60_000
  // a1 drives east at 60 km/h, a fix every 10 s; a2 and b1 stand in two other cities
  const KM_PER_DEG_LON = 111.32 * Math.cos((36.65 * Math.PI) / 180)
  const stepDeg = (60 * 10) / 3600 / KM_PER_DEG_LON
  for (let i = 0; i < 20; i++) t.equal(await ca1.reportPosition(fixAt(start + i * 10_000, { speed: 60, longitude: 117.0 + i * stepDeg })), 0)
  t.equal(await ca2.reportPosition(fixAt(start, { latitude: 31.23, longitude: 121.47, speed: 0 })), 0)
  t.equal(await cb1.reportPosition(fixAt(start, { latitude: 30.27, longitude: 120.15, speed: 30 })), 0)

  await bundled(base)
  const browser = await launch()
  t.teardown(() => browser.close())
  const errors: string[] = []
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' })
    const page = await context.newPage()
    page.on('pageerror', (err) => errors.push(err.message))
    return page
  }

  const sup = await newPage()
  await t.test('sign in', async (t) => {
    await sup.goto(`${base}/?poll=1000`)
    await sup.locator('#token').waitFor()
    await screenshot(sup, 'signin')
    await sup.locator('#token').fill('not-a-token')
    await sup.locator('form.signin button[type=submit]').click()
    await sup.locator('.signin .error').waitFor()
    t.match(await sup.locator('.signin .error').textContent(), /令牌无效|Unknown/, 'a wrong token is refused on the form')
    await signIn(sup, base, TOKEN)
    t.equal(await sup.locator('main#view').getAttribute('data-view'), 'map', 'lands on the fleet map')
    t.match(await sup.locator('header .who').textContent(), /supervisor/)
  })

  await t.test('fleet map: vehicles appear, move, and render', async (t) => {
    const seen = await eventually(
      async () => {
        const m = await mapPositions(sup)
        return [a1, a2, b1].every((v) => m.has(v.plate)) ? m : null
      },
      20_000,
      250,
    )
    t.same(seen.get(a2.plate), [121.47, 31.23], 'a2 at its reported position')
    const before = seen.get(a1.plate)!
    // a new fix moves a1 on the map without a reload
    t.equal(await ca1.reportPosition(fixAt(Date.now() - 1000, { speed: 60, longitude: 117.5 })), 0)
    const moved = await eventually(async () => ((await mapPositions(sup)).get(a1.plate)?.[0] === 117.5 ? true : null), 20_000, 250)
    t.ok(moved && before[0] !== 117.5, 'a1 moved on the map')
    const rendered = await eventually(
      () =>
        sup.evaluate(() => {
          const map = (globalThis as unknown as { __console: { map: { queryRenderedFeatures(o: { layers: string[] }): unknown[] } } }).__console.map
          const n = map.queryRenderedFeatures({ layers: ['clusters', 'vehicles'] }).length
          return n > 0 ? n : null
        }),
      20_000,
      250,
    )
    t.ok(rendered > 0, 'points or clusters are drawn')
    t.equal(await sup.locator('[data-count=no_waybill]').textContent(), '3', 'three running without a waybill')
    // search by plate narrows the list and the map
    await sup.locator('#plate-search').fill(a2.plate)
    t.same([...(await mapPositions(sup)).keys()], [a2.plate], 'search keeps the one plate')
    await sup.locator('#plate-search').fill('')
    await sup.locator('#state-filter').selectOption('alarm')
    t.same([...(await mapPositions(sup)).keys()], [], 'state filter: nobody has a critical anomaly yet')
    await sup.locator('#state-filter').selectOption('')
    await screenshot(sup, 'map')
  })

  let anomalyId = ''
  await t.test('a live anomaly appears without reload and goes through its handling loop', async (t) => {
    await go(sup, '#/anomalies')
    await sup.locator('#anomaly-list').waitFor()
    t.equal(await sup.locator(`#anomaly-list tr:has-text("${a2.plate}")`).count(), 0, 'nothing for a2 yet')
    // a2 presses the emergency button (alarm bit 0): TERMINAL_ALARM opens
    for (let i = 1; i <= 3; i++) t.equal(await ca2.reportPosition(fixAt(Date.now() - (4 - i) * 1000, { latitude: 31.23, longitude: 121.47, speed: 0, alarm: 1 })), 0)
    const row = sup.locator(`#anomaly-list tbody tr:has-text("${a2.plate}")`).first()
    await row.waitFor({ timeout: 20_000 })
    t.pass('the anomaly reached the open page through the feed')
    anomalyId = (await row.getAttribute('data-id')) ?? ''
    t.ok(anomalyId, 'row carries the anomaly id')
    await row.click()
    await sup.locator('#anomaly-detail h2').waitFor()
    await sup.locator('#evidence-map canvas').waitFor()
    await sup.locator('[data-action=notify]').waitFor()
    await sup.locator('#handling-note').fill('请立即核实')
    await sup.locator('[data-action=notify]').click()
    await eventually(async () => ((await sup.locator('#handling-history li[data-action=notify]').count()) === 1 ? true : null), 10_000, 100)
    t.pass('notify recorded')

    // enterprise A reports the rectification from its own console
    const ent = await newPage()
    await signIn(ent, base, entA, `/#/anomalies/${encodeURIComponent(anomalyId)}`)
    await ent.locator('[data-action=rectify]').waitFor({ timeout: 20_000 })
    t.equal(await ent.locator('[data-action=confirm]').count(), 0, 'an enterprise cannot confirm')
    await ent.locator('[data-action=rectify]').click()
    await ent.locator('#handling-history li[data-action=rectify]').waitFor()
    await ent.context().close()

    await sup.reload()
    await sup.locator('[data-action=confirm]').waitFor({ timeout: 20_000 })
    await sup.locator('[data-action=confirm]').click()
    await sup.locator('#handling-history li[data-action=confirm]').waitFor()
    t.equal(await sup.locator('[data-action]:is(button)').count(), 0, 'confirmed: no further step offered')
    const stored = await api<{ handling: string; handlingHistory: { action: string }[] }>(`/anomalies/${encodeURIComponent(anomalyId)}`)
    t.same(
      stored.handlingHistory.map((h) => h.action),
      ['notify', 'rectify', 'confirm'],
      'the API holds the whole loop',
    )
    t.equal(await eventually(() => hook<number>(sup, 'evidence'), 20_000, 100), 1, 'the evidence map shows the vehicle')
    await screenshot(sup, 'anomalies')
  })

  await t.test('a new critical anomaly: badge in the header, red on the map', async (t) => {
    await go(sup, '#/map')
    await sup.locator('#fleet-map canvas').waitFor()
    t.ok(await sup.locator('#critical-badge').isHidden(), 'no badge: the last one was seen')
    // b1 presses the emergency button while the supervisor looks at the map
    for (let i = 1; i <= 3; i++) t.equal(await cb1.reportPosition(fixAt(Date.now() - (4 - i) * 1000, { latitude: 30.27, longitude: 120.15, speed: 0, alarm: 1 })), 0)
    await eventually(async () => ((await sup.locator('#critical-badge').textContent()) === '1' ? true : null), 20_000, 100)
    t.pass('the badge counts the new critical anomaly')
    const state = await eventually(
      async () => {
        const fc = await hook<{ features: { properties: { plate: string; state: string } }[] }>(sup, 'fleet')
        const s = fc?.features.find((f) => f.properties.plate === b1.plate)?.properties.state
        return s === 'alarm' ? s : null
      },
      20_000,
      250,
    )
    t.equal(state, 'alarm', 'b1 is drawn in the alarm colour')
    await go(sup, '#/anomalies')
    await sup.locator(`#anomaly-list tbody tr:has-text("${b1.plate}")`).first().waitFor()
    t.ok(await sup.locator('#critical-badge').isHidden(), 'opening the list clears the badge')
  })

  await t.test('the live list resumes after a drop with Last-Event-ID: nothing missed', async (t) => {
    await go(sup, '#/anomalies')
    await sup.locator('#anomaly-list').waitFor()
    const a1Alarm = `#anomaly-list tbody tr:has-text("${a1.plate}"):has-text("终端报警")`
    t.equal(await sup.locator(a1Alarm).count(), 0, 'no terminal alarm for a1 yet')
    await sup.evaluate('__console.feed.pause()')
    await sup.locator('.feed-status.down').waitFor()
    // while the console is cut off, a1 raises the emergency alarm
    for (let i = 1; i <= 3; i++) t.equal(await ca1.reportPosition(fixAt(Date.now() - (4 - i) * 1000, { speed: 60, longitude: 117.5, alarm: 1 })), 0)
    await eventually(
      async () => {
        const r = await api<{ items: { type: string }[] }>(`/anomalies?plate=${encodeURIComponent(a1.plate)}&status=open`)
        return r.items.some((a) => a.type === 'TERMINAL_ALARM') ? true : null
      },
      20_000,
      100,
    )
    t.equal(await sup.locator(a1Alarm).count(), 0, 'the disconnected page has not heard of it')
    await sup.evaluate('__console.feed.resume()')
    await sup.locator(a1Alarm).first().waitFor({ timeout: 20_000 })
    t.pass('after the reconnect the missed anomaly is replayed into the list')
    t.ok(await sup.locator('.feed-status:not(.down)').isVisible(), 'the header shows the feed live again')
  })

  await t.test('a track plays back', async (t) => {
    await go(sup, `#/vehicle/${encodeURIComponent(a1.plate)}`)
    await sup.locator('#live-state').waitFor()
    const loaded = await eventually(
      async () => {
        const s = await hook<{ total: number }>(sup, 'playback')
        return s && s.total >= 20 ? s : null
      },
      20_000,
      200,
    )
    t.ok(loaded.total >= 20, `track of ${loaded.total} points loaded`)
    await sup.locator('#track-play').click()
    const end = await eventually(
      async () => {
        const s = await hook<{ index: number; total: number; playing: boolean }>(sup, 'playback')
        return s && s.index === s.total - 1 ? s : null
      },
      20_000,
      100,
    )
    t.equal(end.index, loaded.total - 1, 'the marker reached the last fix')
    t.match(await sup.locator('#track-readout').textContent(), new RegExp(`^${loaded.total}/${loaded.total} `), 'the readout follows the playback')
    // commands through the API to the terminal, which answers
    await sup.locator('#command-text').fill('前方施工，请减速')
    await sup.locator('#command-send-text').click()
    await sup.locator('#command-result[data-status=answered]').waitFor({ timeout: 15_000 })
    t.pass('text delivered and acknowledged by the terminal')
    await sup.locator('#command-locate').click()
    await eventually(async () => (/\d+\.\d+, \d+\.\d+/.test((await sup.locator('#command-result').textContent()) ?? '') ? true : null), 15_000, 100)
    t.pass('the locate answer carries a position')
    await screenshot(sup, 'vehicle')
  })

  await t.test('an enterprise token sees only its own vehicles and anomalies', async (t) => {
    const page = await newPage()
    await signIn(page, base, entB)
    const plates = await eventually(
      async () => {
        const m = await mapPositions(page)
        return m.size ? [...m.keys()] : null
      },
      20_000,
      250,
    )
    t.same(plates, [b1.plate], 'B sees its one vehicle')
    t.ok(await page.locator('#enterprise-filter').isHidden(), 'no enterprise filter for an enterprise')
    await go(page, '#/anomalies')
    await page.locator('#anomaly-list').waitFor()
    await page.locator(`#anomaly-list tbody tr:has-text("${b1.plate}")`).first().waitFor()
    t.pass('B sees its own anomaly')
    t.equal(await page.locator(`#anomaly-list tr:has-text("${a2.plate}")`).count(), 0, "A's anomaly is not listed for B")
    await go(page, `#/anomalies/${encodeURIComponent(anomalyId)}`)
    await page.locator('#anomaly-detail .error').waitFor()
    t.equal(await page.locator('#anomaly-detail h2').count(), 0, "A's anomaly does not open for B")
    t.equal(await page.locator('header nav a[data-nav=admin]').count(), 0, 'no admin view for an enterprise')
    await page.context().close()
  })

  await t.test('waybills: list, detail with QR code, a lifecycle move', async (t) => {
    const day = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '')
    await api('/waybills', { method: 'POST', body: waybill('WB-CONSOLE-1', LICENCE_A, { plate: a1.plate, loadingDate: day(Date.now()), expectedArrivalDate: day(Date.now() + 86_400_000) }) })
    await api('/waybills/WB-CONSOLE-1', { method: 'PATCH', body: { status: 'dispatched' } })
    await go(sup, '#/waybills')
    await sup.locator('#waybill-list tr:has-text("WB-CONSOLE-1")').waitFor()
    await screenshot(sup, 'waybills')
    await sup.locator('#waybill-list tr:has-text("WB-CONSOLE-1")').click()
    await sup.locator('.qr img').waitFor()
    await sup.locator('[data-move=in_transit]').click()
    await eventually(async () => ((await sup.locator('#waybill-state').textContent()) === 'in_transit' ? true : null), 10_000, 100)
    t.equal((await api<{ status: string }>('/waybills/WB-CONSOLE-1')).status, 'in_transit', 'the move reached the API')
    await screenshot(sup, 'waybill')
    const fleet = await api<{ items: { plate: string; state: string; waybillNo: string | null }[] }>('/fleet')
    // (the locate answer above carried alarm 0, which may have closed a1's terminal alarm)
    const open = await api<{ items: { severity: string }[] }>(`/anomalies?plate=${encodeURIComponent(a1.plate)}&status=open`)
    const expected = open.items.some((a) => a.severity === 'critical') ? 'alarm' : 'moving'
    t.match(
      fleet.items.find((v) => v.plate === a1.plate),
      { state: expected, waybillNo: 'WB-CONSOLE-1' },
      `a1 is on its waybill (${expected})`,
    )
  })

  await t.test('quality and admin views render', async (t) => {
    await go(sup, '#/quality')
    await sup.locator('#quality-chart canvas').waitFor({ timeout: 20_000 })
    // the canvases exist before the figures come: wait for the view to say it drew its charts
    await sup.waitForFunction(() => (globalThis as unknown as { __console?: { charts?: number } }).__console?.charts === 3, undefined, { timeout: 20_000 }).catch(() => undefined)
    t.equal(await hook<number>(sup, 'charts'), 3, 'three charts drawn')
    await screenshot(sup, 'quality')
    await go(sup, '#/admin')
    await sup.locator('#tokens table').waitFor()
    t.ok((await sup.locator('#tokens tbody tr').count()) >= 2, 'tokens listed')
    await sup.locator('#audit table').waitFor()
    t.ok((await sup.locator('#audit tbody tr:has-text("/api/v1/anomalies/:id/handling")').count()) >= 3, 'the handling steps are in the audit log')
    await screenshot(sup, 'admin')
    // English is available
    await sup.locator('header button.lang').click()
    await sup.locator('header nav a[data-nav=map]', { hasText: 'Fleet map' }).waitFor()
    t.pass('switched to English')
  })

  t.same(errors, [], 'no script errors in the pages')
})
