/**
 * The upper-platform role against hand-driven lower platforms (raw 809 frames over loopback):
 * login result codes, garbage and bad frames (closing only the sender's link), vehicles of
 * enterprises the platform may not report for, unknown vehicles (refuse / enrol), history as late
 * data, logout, and a change through the API applied without a restart.
 */
import t from 'tap'
import { ANOMALY_EVENTS_STREAM } from '../../src/domain.js'
import { newPlatform } from '../../src/platform/admin.js'
import { eventually, openBackends, startGateway } from '../gateway/harness.js'
import { RawPlatform } from './raw-platform.js'

const TOKEN = 'platform-upper-token-0123456789'
const LICENCE = '370100000001'

t.test('upper role: logins, bad input, foreign vehicles, history, logout, changes without restart', async (t) => {
  const b = await openBackends('embedded')
  t.teardown(() => b.close())
  const st = b.store
  const now = Date.now()
  await st.createPlatform(newPlatform({ role: 'lower', name: 'A', accessCode: 2001, userId: 11, password: 'secretA', enterpriseLicences: [LICENCE] }), now)
  await st.createPlatform(newPlatform({ role: 'lower', name: 'B', accessCode: 2002, userId: 12, password: 'secretB', enterpriseLicences: [LICENCE], unknownVehicles: 'enrol' }), now)
  await st.createPlatform(newPlatform({ role: 'lower', name: 'C', accessCode: 2003, userId: 13, password: 'secretC', allowedAddresses: ['10.9.9.9'] }), now)
  const [own, foreign] = await st.upsertVehicles([
    { plate: '鲁A00001', plateColor: 2, enterpriseLicenseNo: LICENCE },
    { plate: '鲁A00002', plateColor: 2, enterpriseLicenseNo: '999999999999' },
  ])
  const gw = await startGateway(b, { platformPort: 0, platformHost: '127.0.0.1', platformIdleSeconds: 5, bootstrapToken: TOKEN })
  t.teardown(() => gw.close())
  const port = gw.app.platforms.address()!.port
  const metrics = async () => (await fetch(`http://127.0.0.1:${gw.app.http.port}/metrics`)).text()

  // login results: 2 unknown access code, 3 user, 4 password, 1 source address; the link closes after a refusal
  const results: number[] = []
  for (const [code, user, pw] of [
    [9999, 11, 'secretA'],
    [2001, 99, 'secretA'],
    [2001, 11, 'wrong'],
    [2003, 13, 'secretC'],
  ] as const) {
    const p = await RawPlatform.open(port, code)
    results.push(await p.login(user, pw))
    await eventually(() => p.closed, 5000)
  }
  t.same(results, [2, 3, 4, 1], 'refused with the standard result codes, link closed')

  // a sender of garbage loses its own link; a well-behaved platform meanwhile loses nothing
  const good = await RawPlatform.open(port, 2001)
  t.equal(await good.login(11, 'secretA'), 0, 'logged in')
  const bad = await RawPlatform.open(port, 2002)
  t.equal(await bad.login(12, 'secretB'), 0)
  for (let i = 0; i < 12; i++) {
    bad.socket.write(Buffer.from('5b00000020deadbeef00000000000000000000000000000000000000005d', 'hex'))
    bad.socket.write(Buffer.from('random noise between frames'))
  }
  const t0 = Date.now() - 50_000 // recent: not late
  for (let i = 0; i < 5; i++) good.position('鲁A00001', 2, t0 + i * 10_000)
  await eventually(() => bad.closed, 5000)
  t.pass('the garbage sender was closed after its bad frames')
  await eventually(async () => (await st.countPositions(own)) === 5, 10_000, 50)
  t.pass("the other platform's positions were committed meanwhile")
  t.match(await metrics(), /jt808_platform_bad_frames_total\{link="2002",code="[A-Z_]+"\} \d+/)

  // a burst for a vehicle not yet looked up costs one registry query; a failing lookup is tried again
  const [third] = await st.upsertVehicles([{ plate: '鲁A00003', plateColor: 2, enterpriseLicenseNo: LICENCE }])
  const realFind = st.findPlatformVehicle.bind(st)
  let finds = 0
  let failFirst = 2
  st.findPlatformVehicle = async (plate, color) => {
    finds++
    if (failFirst-- > 0) throw new Error('timeout exceeded when trying to connect')
    return realFind(plate, color)
  }
  for (let i = 0; i < 20; i++) good.position('鲁A00003', 2, t0 + i * 1000)
  await eventually(async () => (await st.countPositions(third)) === 20, 10_000, 50)
  t.equal(finds, 3, 'one lookup in flight for the whole burst: two failures, then found; nothing refused')
  st.findPlatformVehicle = realFind

  // a vehicle of an enterprise platform A may not report for; an unknown plate under "refuse"
  good.position('鲁A00002', 2, t0)
  good.position('鲁Z99999', 2, t0)
  await eventually(async () => /reason="unknown_vehicle"\} 1/.test(await metrics()), 5000)
  const m = await metrics()
  t.match(m, /jt808_platform_positions_refused_total\{link="2001",reason="foreign_enterprise"\} 1/)
  t.equal(await st.countPositions(foreign), 0, 'nothing stored for a foreign enterprise')
  t.equal(await st.findVehicle('鲁Z99999', 2), null, 'an unknown plate is not enrolled under "refuse"')

  // history (0x1203) two hours late: stored as history, counted late
  good.position('鲁A00001', 2, Date.now() - 2 * 3600_000, 40, 0x1203)
  await eventually(async () => (await st.countPositions(own)) === 6, 5000, 50)
  const hist = (await st.track(own, Date.now() - 3 * 3600_000, Date.now())).find((p) => p.sourceMsgId === 0x1203)
  t.ok(hist?.blindArea, '0x1203 stored as history (late data for the matcher)')
  t.match(await metrics(), /jt808_platform_late_positions_total\{link="2001"\} 1/)
  const state = gw.app.platforms.states().lower.find((l) => l.accessCode === 2001)!
  t.ok(state.maxLatenessMs >= 2 * 3600_000 - 60_000, 'how late, per link')

  // 0x1402 alarm report → a TERMINAL_ALARM anomaly with its source, stored then announced; a re-send is not announced twice
  const warnTime = Math.floor(Date.now() / 1000) - 30
  const report = { plate: '鲁A00001', plateColor: 2, dataType: 0x1402, data: { warnSrc: 1, warnType: 0x0001, warnTime, infoId: 7, content: '超速报警 96 km/h' } }
  good.send(0x1400, report)
  good.send(0x1400, report)
  const alarm = await eventually(async () => (await st.listAnomalies({ type: 'TERMINAL_ALARM' })).items.find((a) => a.evidence.source === 'platform'), 5000)
  t.same([alarm.vehicleId, alarm.status, alarm.startedAt, alarm.evidence.platform, alarm.evidence.content], [own, 'open', warnTime * 1000, 2001, '超速报警 96 km/h'])
  await new Promise((r) => setTimeout(r, 200))
  const announced = (await gw.app.state.read<{ event: string; anomaly: { id: string } }>(ANOMALY_EVENTS_STREAM, '0', 1000)).filter((e) => e.value.anomaly.id === alarm.id)
  t.equal(announced.length, 1, 'announced on the feed once')

  // 督办: notify on that anomaly sends 0x9401 to the reporting platform; its 0x1401 "done" enters the history
  const notify = await fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1/anomalies/${encodeURIComponent(alarm.id)}/handling`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'notify', note: '请立即核查' }),
  })
  t.equal(notify.status, 201)
  const sv = await good.reply(0x9400)
  const svd = sv.body as { dataType: number; data: { supervisionId: number; warnType: number } }
  t.same([svd.dataType, svd.data.warnType], [0x9401, 0x0001], '0x9401 with the alarm type')
  good.send(0x1400, { plate: '鲁A00001', plateColor: 2, dataType: 0x1401, data: { supervisionId: svd.data.supervisionId, result: 1 } })
  const history = await eventually(async () => {
    const h = await st.listHandling(alarm.id)
    return h.some((e) => e.action === 'rectify') ? h : null
  }, 5000)
  t.same(
    history.map((e) => e.action),
    ['notify', 'rectify'],
    "the platform's reply is in the anomaly's history",
  )
  t.match(history[1]!.note, /督办 \d+: platform A \(2001\) reports it handled/)
  t.same(
    (await st.listSupervisions(alarm.id)).map((x) => x.result),
    [1],
  )

  // 查岗: a supervisor's post query, the platform's answer, who and how long; an old unanswered one is flagged
  const api0 = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
  const aId = (await st.findLowerPlatform(2001))!.id
  const asked = await api0(`/platforms/${aId}/post-queries`, { method: 'POST', body: JSON.stringify({ question: '请回复在岗人员姓名' }) })
  t.equal(asked.status, 202)
  const sentQuery = (await asked.json()) as { id: number; infoId: number }
  const q = await good.reply(0x9300)
  const qd = q.body as { dataType: number; data: { infoId: number; content: string } }
  t.same([qd.dataType, qd.data.infoId, qd.data.content], [0x9301, sentQuery.infoId, '请回复在岗人员姓名'], 'the platform got the post query')
  await new Promise((r) => setTimeout(r, 30))
  good.send(0x1300, { dataType: 0x1301, data: { objectType: 0, objectId: '2001', infoId: qd.data.infoId, content: '张三在岗' } })
  const answered = await eventually(async () => {
    const { items } = (await (await api0(`/platforms/post-queries?platform=${aId}`)).json()) as { items: Array<{ id: number; answer: string | null; delayMs: number | null; overdue: boolean }> }
    return items.find((i) => i.id === sentQuery.id && i.answer !== null)
  }, 5000)
  t.equal(answered.answer, '张三在岗')
  t.ok(answered.delayMs! >= 30 && !answered.overdue, `answered in ${answered.delayMs} ms, in time`)
  await st.createPostQuery({
    platformId: aId,
    direction: 'out',
    infoId: 1,
    msgSn: 1,
    objectType: 0,
    objectId: '2001',
    question: 'old',
    askedBy: null,
    sentAt: Date.now() - 3600_000,
    deadlineAt: Date.now() - 3000_000,
  })
  const { items: open } = (await (await api0(`/platforms/post-queries?unanswered=true`)).json()) as { items: Array<{ question: string; overdue: boolean }> }
  t.same(
    open.map((i) => [i.question, i.overdue]),
    [['old', true]],
    'unanswered past its deadline: flagged',
  )
  const notIn = await api0(`/platforms/${(await st.findLowerPlatform(2003))!.id}/post-queries`, { method: 'POST', body: JSON.stringify({ question: 'x' }) })
  t.equal(notIn.status, 409, 'a platform not logged in cannot be asked')

  // 0x1209 history request: 0x9209 result, then the history as 0x9203; a foreign vehicle: result 1, nothing sent
  const since = Math.floor((t0 - 1000) / 1000)
  good.send(0x1200, { plate: '鲁A00001', plateColor: 2, dataType: 0x1209, data: { startTime: since, endTime: since + 120 } })
  const ack = await good.reply(0x9200)
  t.same((ack.body as { dataType: number; data: { result: number } }).data.result, 0, '0x9209 ok')
  const hist9203 = await eventually(() => {
    const got = good.received.filter((m) => m.msgId === 0x9200 && (m.body as { dataType: number }).dataType === 0x9203)
    return got.length === 1 ? got : null
  }, 5000)
  t.equal((hist9203[0]!.body as { data: { positions: unknown[] } }).data.positions.length, 5, 'the five stored positions of that window')
  good.received.length = 0
  good.send(0x1200, { plate: '鲁A00002', plateColor: 2, dataType: 0x1209, data: { startTime: since, endTime: since + 120 } })
  t.equal(((await good.reply(0x9200)).body as { data: { result: number } }).data.result, 1, 'not a vehicle it may see: result 1')

  // platform B enrols unknown vehicles as reported by it
  const b2 = await RawPlatform.open(port, 2002)
  t.equal(await b2.login(12, 'secretB'), 0)
  b2.position('鲁B77777', 2, t0)
  const enrolled = await eventually(async () => st.findPlatformVehicle('鲁B77777', 2), 5000)
  t.equal(enrolled.reportedByPlatform, (await st.findLowerPlatform(2002))!.id, 'enrolled as reported by platform B')
  await eventually(async () => (await st.countPositions(enrolled.id)) === 1, 5000)

  // link test and logout
  good.send(0x1005, {})
  await good.reply(0x1006)
  b2.send(0x1003, { userId: 12, password: 'secretB' })
  await b2.reply(0x1004)
  await eventually(() => b2.closed, 5000)
  t.pass('logout answered, link closed')

  // a password change through the API logs the platform out; the new password works at once
  const api = (path: string, init: RequestInit) =>
    fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
  const id = (await st.findLowerPlatform(2001))!.id
  const res = await api(`/platforms/${id}`, { method: 'PATCH', body: JSON.stringify({ password: 'newpass1' }) })
  t.equal(res.status, 200)
  t.notOk(JSON.stringify(await res.json()).includes('newpass1'), 'no secret in the answer')
  await eventually(() => good.closed, 5000)
  const again = await RawPlatform.open(port, 2001)
  t.equal(await again.login(11, 'secretA'), 4, 'the old password is refused')
  const fresh = await RawPlatform.open(port, 2001)
  t.equal(await fresh.login(11, 'newpass1'), 0, 'the new one works without a restart')
  fresh.close()
  const audit = await st.listAudit({ limit: 5 })
  t.ok(
    audit.some((a) => a.route.includes('/platforms/') && a.method === 'PATCH' && !JSON.stringify(a.details).includes('newpass1')),
    'audited, secret not logged',
  )
  const other = await fetch(`http://127.0.0.1:${gw.app.http.port}/api/v1/platforms`, { headers: { authorization: 'Bearer nobody' } })
  t.equal(other.status, 401)
})
