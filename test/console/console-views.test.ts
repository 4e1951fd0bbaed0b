/**
 * The console's other views in a real browser (Debian's Chromium through playwright-core), a
 * file of its own so it runs beside console.test.ts: two gateways linked over JT/T 809 (a
 * provincial platform U and an enterprise platform L logged in to it) for the platform view —
 * link states, a 查岗 sent from U's console, answered from L's console, the answer back in U's;
 * an active-safety alarm whose photo and clip a terminal uploads, shown on the anomaly; quality
 * per vehicle; the language switch zh ↔ en.
 * Screenshots land in test/console/artifacts/ (not committed).
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { AttachmentUploader } from '../../src/terminal/attachments.js'
import { eventually, fixAt, online, openBackends, provision } from '../gateway/harness.js'
import { raiseAlarm } from '../attachments/helpers.js'
import { LICENCE, lower, TOKEN, upper } from '../platform/helpers.js'
import { bundled, go, hook, launch, missingBrowser, screenshot, signIn } from './browser.js'

const JPEG = readFileSync(new URL('../../fixtures/media/stripe.jpg', import.meta.url))
const CLIP = readFileSync(new URL('../../fixtures/media/clip.mp4', import.meta.url))

// two gateways, a browser and five views: more than the suite's default 120 s per file on a busy machine
t.setTimeout(300_000)

t.test('console views', { timeout: 280_000, skip: missingBrowser() ?? false }, async (t) => {
  const began = Date.now()
  const bU = await openBackends('embedded')
  t.teardown(() => bU.close())
  const bL = await openBackends('embedded')
  t.teardown(() => bL.close())
  const combo = { edition: 2019 as const, encryption: null }
  const u = await upper(t, bU, combo)
  const l = await lower(t, bL, combo, u.app.platforms.address()!.port)
  const baseU = `http://127.0.0.1:${u.app.http.port}`
  const baseL = `http://127.0.0.1:${l.app.http.port}`
  await eventually(() => l.app.platforms.states().superior[0]?.state === 'live', 15_000)

  // a vehicle of U's with a few fixes today (quality per vehicle), then a DSM alarm with a photo and a clip
  const v = await provision(bU.store)
  const day0 = Date.now() - 30 * 60_000
  const { client: reporter } = await online(u.port, v)
  t.teardown(() => reporter.close())
  for (let i = 0; i < 6; i++) t.equal(await reporter.reportPosition(fixAt(day0 + i * 10_000, { speed: 40, longitude: 117.0 + i * 0.001 })), 0)
  await reporter.close()
  const { client, instruction } = await raiseAlarm(u.port, v, Date.now() - 60_000, 2)
  t.teardown(() => client.close())
  const ins = await eventually(() => instruction(), 15_000)
  const files = [
    { name: `x_65_02_0_${ins.body.alarmNumber}.jpg`, size: JPEG.length },
    { name: `x_65_02_1_${ins.body.alarmNumber}.mp4`, size: CLIP.length },
  ]
  const up = await AttachmentUploader.connect('127.0.0.1', (u.app.attachments.address as AddressInfo).port, v.phone)
  t.teardown(() => up.destroy())
  t.equal(await up.alarmInfo({ variant: 'jsatl12', terminalId: 'DSM0001', alarmFlag: ins.body.alarmFlag, alarmNumber: ins.body.alarmNumber, infoType: 0, files }), 0)
  await up.upload(files[0].name, 0, JPEG)
  await up.upload(files[1].name, 2, CLIP)
  await up.close()
  const anomalyId = `AS-${v.phone}-${ins.body.alarmFlag.time.slice(2, 19).replace(/[-T:]/g, '')}-1-dsm`
  await eventually(async () => ((await bU.store.getAnomaly(anomalyId))?.evidence.attachments as unknown[] | undefined)?.length === 2 || null, 15_000)

  t.comment(`set up (two linked gateways, an alarm with two files uploaded) in ${Math.round((Date.now() - began) / 1000)} s`)
  await bundled(baseU)
  const browser = await launch()
  t.teardown(() => browser.close())
  const errors: string[] = []
  const newPage = async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' })).newPage()
    page.on('pageerror', (err) => errors.push(err.message))
    return page
  }
  const sup = await newPage()
  await signIn(sup, baseU, TOKEN)

  await t.test('active-safety attachments on the anomaly: the photo and the clip', async (t) => {
    await go(sup, `#/anomalies/${encodeURIComponent(anomalyId)}`)
    await sup.locator('#attachments figure[data-kind=image] img').waitFor({ timeout: 20_000 })
    await sup.locator('#attachments figure[data-kind=video] video').waitFor()
    t.equal(await eventually(() => hook<number>(sup, 'attachments'), 10_000, 100), 2, 'both files fetched with the token')
    const size = await eventually(
      // (as strings: the test's TypeScript has no DOM types)
      () =>
        sup.evaluate(`(() => {
        const img = document.querySelector('#attachments img')
        return img && img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight] : null
      })()`) as Promise<[number, number] | null>,
      10_000,
      100,
    )
    t.ok(size[0] > 0 && size[1] > 0, `the photo decodes (${size.join('×')})`)
    const duration = await eventually(
      () =>
        sup.evaluate(`(() => {
          const video = document.querySelector('#attachments video')
          return video && video.readyState >= 1 && Number.isFinite(video.duration) ? video.duration : null
        })()`) as Promise<number | null>,
      10_000,
      100,
    )
    t.ok(duration > 0, `the clip's metadata loads (${duration} s)`)
    await sup.locator('#attachments').scrollIntoViewIfNeeded()
    await screenshot(sup, 'attachments')
  })

  await t.test('quality per vehicle', async (t) => {
    await go(sup, '#/quality')
    const row = sup.locator(`#quality-vehicles tbody tr:has-text("${v.plate}")`)
    await row.waitFor({ timeout: 20_000 })
    const cells = await row.locator('td').allTextContents()
    t.equal(cells[0], v.plate)
    t.equal(cells[1], LICENCE, 'its enterprise')
    t.ok(Number(cells[3]) >= 6, `its fixes counted (${cells[3]})`)
    t.match(cells[4], /^\d+\.\d%$/, 'a valid rate')
    await screenshot(sup, 'quality-vehicles')
  })

  await t.test('platforms: link state, 查岗 sent, answered by the lower platform, the answer back', async (t) => {
    await go(sup, '#/platforms')
    await sup.locator('#platform-list [data-state=logged-in]').waitFor({ timeout: 20_000 })
    t.pass('U shows the enterprise platform logged in')
    await sup.locator('#post-query-platform option').first().waitFor({ state: 'attached' })
    await sup.locator('#post-query-question').fill('请回复在岗人员姓名')
    await sup.locator('#post-query-send').click()
    await sup.locator('#post-queries [data-direction=out]').first().waitFor()
    t.match(await sup.locator('#post-queries tbody tr').first().textContent(), /请回复在岗人员姓名/)

    // L's supervisor sees the superior's question and answers it from L's console
    const ent = await newPage()
    await signIn(ent, baseL, TOKEN, '/#/platforms')
    await ent.locator('#platform-list [data-state=live]').waitFor({ timeout: 20_000 })
    t.pass('L shows its superior link live')
    const answer = ent.locator('#post-queries input.answer').first()
    await answer.waitFor({ timeout: 20_000 })
    await answer.fill('张三在岗')
    await ent.locator('#post-queries input.responder').first().fill('张三')
    await ent.locator('#post-queries form button[type=submit]').first().click()
    await ent.locator('#post-queries tbody tr:has-text("张三在岗")').waitFor()
    await screenshot(ent, 'platforms-lower')
    await ent.context().close()

    // the answer reaches U over 809 (0x1301) and U's view shows it on its next refresh
    await sup.locator('#post-queries tbody tr:has-text("张三在岗")').waitFor({ timeout: 20_000 })
    t.pass('the answer is on U')
    await screenshot(sup, 'platforms')
  })

  await t.test('language: zh → en → zh in the browser, kept across a reload', async (t) => {
    await go(sup, '#/map')
    await sup.locator('header nav a[data-nav=map]', { hasText: '车辆地图' }).waitFor()
    t.equal(await sup.evaluate('document.documentElement.lang'), 'zh-CN')
    await sup.locator('header button.lang').click()
    await sup.locator('header nav a[data-nav=map]', { hasText: 'Fleet map' }).waitFor()
    t.equal(await sup.evaluate('document.documentElement.lang'), 'en')
    t.match(await sup.locator('header nav').textContent(), /Anomalies.*Platforms/, 'every tab in English')
    t.match(await sup.locator('#state-filter').textContent(), /All states/, 'the view too')
    await sup.reload()
    await sup.locator('header nav a[data-nav=map]', { hasText: 'Fleet map' }).waitFor({ timeout: 20_000 })
    t.pass('English kept across a reload')
    await sup.locator('header button.lang').click()
    await sup.locator('header nav a[data-nav=map]', { hasText: '车辆地图' }).waitFor()
    t.match(await sup.locator('header nav').textContent(), /异常告警.*平台互联/, 'back in Chinese')
    t.equal(await sup.evaluate('document.documentElement.lang'), 'zh-CN')
  })

  t.same(errors, [], 'no script errors in the pages')
})
