/**
 * Actions toward a platform from any worker of `jt808 serve --workers 2` (real processes,
 * PostgreSQL + Redis): a lower platform logs in to one worker, and the API requests go on a
 * connection to the other one — 查岗 (0x9301), a waybill request (0x920B), text and photo
 * commands to its vehicle (0x9503 / 0x9502, answered by the platform's 0x1500), 督办 (0x9401) —
 * and the answer to a superior's 查岗 on a connection to a worker that does not run the
 * superiors' links. Each reaches its link through the primary, and the holder's result comes
 * back. With the platform logged in nowhere: 409 saying so; foreign resources still look absent.
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { Agent, request } from 'node:http'
import type { Socket } from 'node:net'
import t from 'tap'
import type { Message809 } from '../../protocol/jt809/index.js'
import { newPlatform } from '../../src/platform/admin.js'
import { toPosition809 } from '../../src/platform/positions.js'
import { FakeSuperior } from '../../src/sim/superior.js'
import { RedisState } from '../../src/state/index.js'
import { openStore } from '../../src/store/index.js'
import { DATABASE_URL, eventually, REDIS_URL, testConfig } from '../gateway/harness.js'
import { freePort, LICENCE, TOKEN } from './helpers.js'
import { RawPlatform } from './raw-platform.js'
import { JT808 } from '../cli-process.js'

type Json = Record<string, unknown> & { id?: number | string; status?: string; error?: { code: string; message: string; details: { reason?: string } | null } }
type Reply = { status: number; json: Json }

/** One kept-alive HTTP connection: every request on it reaches the same worker. */
class Connection {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 })
  private socket: Socket | null = null
  constructor(private readonly port: number) {}

  send(method: string, path: string, body?: unknown, token = TOKEN): Promise<Reply> {
    const data = body === undefined ? undefined : JSON.stringify(body)
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: `/api/v1${path}`,
          method,
          agent: this.agent,
          headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (text += c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Json) : {} }))
        },
      )
      req.on('error', reject)
      req.on('socket', (s: Socket) => {
        this.socket ??= s
        // a new socket could reach the other worker: the test would prove nothing
        if (s !== this.socket) req.destroy(new Error('the kept-alive connection was replaced'))
      })
      req.end(data)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

t.test('--workers 2: actions toward a platform work from the worker not holding its link', async (t) => {
  const schema = `calls_${randomUUID().replace(/-/g, '').slice(0, 12)}`
  const store = await openStore(testConfig({ databaseUrl: DATABASE_URL }), { schema })
  t.teardown(async () => {
    await store.sql.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await store.close()
  })
  const url = new URL(DATABASE_URL)
  url.searchParams.set('options', `-c search_path=${schema},public`)
  const redisUrl = new URL(REDIS_URL)
  redisUrl.pathname = '/11'

  const superior = new FakeSuperior()
  const superiorPort = await superior.start()
  t.teardown(() => superior.stop())
  const sup = await store.createPlatform(
    newPlatform({ role: 'superior', name: 'Provincial platform', accessCode: 2002, userId: 77, password: 'pw123456', host: '127.0.0.1', port: superiorPort, enterpriseLicences: [LICENCE] }),
    Date.now(),
  )
  const lower = await store.createPlatform(newPlatform({ role: 'lower', name: 'Enterprise platform A', accessCode: 1001, userId: 77, password: 'pw123456', enterpriseLicences: [LICENCE] }), Date.now())
  const absent = await store.createPlatform(newPlatform({ role: 'lower', name: 'Never logs in', accessCode: 1003, userId: 77, password: 'pw123456' }), Date.now())
  // a vehicle of no terminal of ours, reported by the lower platform, with an open anomaly
  const plate = '鲁A77001'
  const [vehicleId] = await store.upsertVehicles([{ plate, plateColor: 2, enterpriseLicenseNo: LICENCE }])
  const anomalyId = `OVERSPEED:${vehicleId}:${Date.now()}`
  await store.upsertAnomalies([
    {
      id: anomalyId,
      type: 'OVERSPEED',
      status: 'open',
      severity: 'warning',
      vehicleId: vehicleId!,
      plate,
      plateColor: 2,
      waybillNo: null,
      enterpriseLicenseNo: LICENCE,
      startedAt: Date.now() - 60_000,
      endedAt: null,
      lastSeenAt: Date.now(),
      evidence: {},
    },
  ])

  const platformPort = await freePort()
  const child = spawn(
    process.execPath,
    [
      ...JT808,
      'serve',
      ...['--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1', '--attachments-port', '0', '--attachments-host', '127.0.0.1'],
      // one accept lane: node:cluster's round-robin alternates the API connections between the workers (with lanes the kernel picks)
      ...['--platform-port', String(platformPort), '--platform-host', '127.0.0.1', '--workers', '2', '--accept-lanes', '1'],
    ],
    {
      env: { ...process.env, JT808_LOG_LEVEL: 'warn', DATABASE_URL: url.toString(), REDIS_URL: redisUrl.toString(), JT808_BOOTSTRAP_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = once(child, 'exit')
  t.teardown(() => {
    if (!t.passing()) t.comment(`serve output:\n${out}`)
    child.kill('SIGKILL')
  })
  t.teardown(async () => {
    const state = new RedisState(redisUrl.toString(), { prefix: 'jt808:' })
    await state.clear()
    await state.close()
  })
  const httpPort = Number((await eventually(() => /with 2 workers, API on http:\/\/[^:]+:(\d+)/.exec(out), 90_000, 50))[1])
  await eventually(() => superior.logins > 0, 20_000, 50)

  const raw = await RawPlatform.open(platformPort, 1001, 2011)
  t.teardown(() => raw.close())
  t.equal(await raw.login(77, 'pw123456'), 0, 'the lower platform logged in (to one of the workers)')

  // connections until one reaches the worker without the lower platform's link, and one the worker without the superiors'
  const connections: Connection[] = []
  t.teardown(() => {
    for (const c of connections) c.close()
  })
  const find = async (wanted: (links: { lower: unknown[]; superior: unknown[] }) => boolean): Promise<Connection> => {
    for (let i = 0; i < 20; i++) {
      const c = new Connection(httpPort)
      connections.push(c)
      const links = await c.send('GET', '/platforms/links')
      if (wanted(links.json as { lower: unknown[]; superior: unknown[] })) return c
    }
    throw new Error('no connection reached the other worker')
  }
  const other = await find((l) => l.lower.length === 0)
  const holder = await find((l) => l.lower.length === 1)
  const notForwarder = await find((l) => l.superior.length === 0)

  const frame = (msgId: number, dataType: number, after = 0) =>
    eventually(() => raw.received.slice(after).find((m) => m.msgId === msgId && (m.body as { dataType: number }).dataType === dataType), 10_000, 20) as Promise<
      Message809 & { body: { dataType: number; data: Record<string, unknown> } }
    >

  // 查岗: sent by the holder, answered by the platform, recorded
  const pq = await other.send('POST', `/platforms/${lower.id}/post-queries`, { question: '请值班人员报告在岗情况' })
  t.equal(pq.status, 202, JSON.stringify(pq.json))
  const asked = await frame(0x9300, 0x9301)
  t.equal(asked.body.data.infoId, pq.json.infoId, '0x9301 reached the platform with the recorded INFO_ID')
  raw.send(0x1300, { dataType: 0x1301, data: { objectType: 0, objectId: '1001', infoId: asked.body.data.infoId, content: '张三在岗' } })
  await eventually(async () => {
    const list = await other.send('GET', `/platforms/post-queries?platform=${lower.id}`)
    return (list.json.items as Array<{ id: number; answer: string | null }>).find((q) => q.id === pq.json.id && q.answer === '张三在岗')
  }, 10_000)
  t.pass('its 0x1301 answer recorded')

  // waybill request: the MSG_SN the holder sent
  const wr = await other.send('POST', `/platforms/${lower.id}/waybill-requests`, { plate, plateColor: 2 })
  t.equal(wr.status, 202, JSON.stringify(wr.json))
  t.equal((await frame(0x9200, 0x920b)).sn, wr.json.msgSn, '0x920B went out under the MSG_SN answered')

  // text and photo: the platform's reply is the answer, through the holder
  const to = `/vehicles/${encodeURIComponent(plate)}/commands?plateColor=2`
  let seen = raw.received.length
  const text = other.send('POST', to, { type: 'text', text: '前方事故，注意避让', timeoutSeconds: 15 })
  const textFrame = await frame(0x9500, 0x9503, seen)
  raw.send(0x1500, { plate, plateColor: 2, dataType: 0x1503, data: { msgId: textFrame.body.data.msgSequence, result: 0 } })
  const textReply = await text
  t.equal(textReply.status, 200, JSON.stringify(textReply.json))
  t.match(textReply.json, { status: 'answered', via: 'platform', platformId: lower.id, reply: { msgId: '0x1503', body: { result: 0 } } }, 'text answered by the platform')
  t.match((await other.send('GET', `/commands/${textReply.json.id}`)).json, { status: 'answered', vehicleId, platformId: lower.id })
  seen = raw.received.length
  const photo = other.send('POST', to, { type: 'photo', lensId: 1, sizeType: 2, timeoutSeconds: 15 })
  await frame(0x9500, 0x9502, seen)
  const position = toPosition809(
    {
      vehicleId: vehicleId!,
      deviceTime: Math.floor(Date.now() / 1000) * 1000,
      receivedAt: 0,
      latitude: 36.65,
      longitude: 117.12,
      altitude: 30,
      speed: 0,
      direction: 0,
      alarm: 0,
      status: 3,
      mileage: null,
      extras: {},
      blindArea: false,
      sourceMsgId: 0x0801,
    },
    2011,
  )
  raw.send(0x1500, { plate, plateColor: 2, dataType: 0x1502, data: { photoRspFlag: 1, position, lensId: 1, sizeType: 2, type: 1, photo: 'ffd8ffe0ffd9' } })
  const photoReply = await photo
  t.match(photoReply, { status: 200, json: { status: 'answered', via: 'platform', reply: { msgId: '0x1502', body: { photoRspFlag: 1, photo: 'ffd8ffe0ffd9' } } } }, 'photo answered with the image')

  // 督办: the notify step reaches the platform holding the vehicle's link
  seen = raw.received.length
  const notify = await other.send('POST', `/anomalies/${encodeURIComponent(anomalyId)}/handling`, { action: 'notify' })
  t.equal(notify.status, 201, JSON.stringify(notify.json))
  const supervision = await frame(0x9400, 0x9401, seen)
  const recorded = await eventually(async () => (await store.listSupervisions(anomalyId))[0], 10_000)
  t.match(recorded, { platformId: lower.id, supervisionId: supervision.body.data.supervisionId }, '0x9401 sent and recorded')

  // the answer to a superior's 查岗, from a worker that does not run the superiors' links
  t.equal(superior.postQuery(4242, '请报告平台值守情况'), 1)
  const incoming = await eventually(async () => (await store.listPostQueries({ platformId: sup.id, direction: 'in', limit: 10 }))[0], 10_000)
  const answered = await notForwarder.send('POST', `/platforms/post-queries/${incoming.id}/answer`, { answer: '李四值守' })
  t.equal(answered.status, 200, JSON.stringify(answered.json))
  t.match(answered.json, { answer: '李四值守', direction: 'in' })
  const up = await eventually(() => superior.received.find((m) => m.msgId === 0x1300), 10_000)
  t.match(up.body, { dataType: 0x1301, data: { infoId: 4242, content: '李四值守' } }, '0x1301 went up on the forwarder’s link')

  // scoping is unchanged: unknown and foreign resources look absent, whoever holds what
  t.equal((await other.send('POST', '/platforms/9999/post-queries', { question: 'x' })).status, 404, 'no such platform')
  t.equal((await other.send('POST', `/platforms/${sup.id}/post-queries`, { question: 'x' })).status, 404, 'a superior is no lower platform')
  const foreign = await other.send('POST', '/tokens', { role: 'enterprise', enterpriseLicenseNo: '999999999999' })
  t.equal((await other.send('POST', to, { type: 'text', text: 'x' }, foreign.json.token as string)).status, 404, 'another enterprise’s vehicle looks absent')

  // logging in again on the other worker ends the first session there, as a second login does in one process
  const lowerLinks = async (c: Connection) => ((await c.send('GET', '/platforms/links')).json.lower as unknown[]).length
  const logins: RawPlatform[] = [raw]
  for (let i = 0; i < 4 && (await lowerLinks(other)) === 0; i++) {
    const again = await RawPlatform.open(platformPort, 1001, 2011)
    t.teardown(() => again.close())
    t.equal(await again.login(77, 'pw123456'), 0)
    logins.push(again)
    await eventually(() => logins.slice(0, -1).every((r) => r.closed), 10_000)
  }
  t.equal(await lowerLinks(other), 1, 'logged in again on the other worker')
  await eventually(async () => (await lowerLinks(holder)) === 0, 10_000)
  t.ok(
    logins.slice(0, -1).every((r) => r.closed),
    'the first worker ended its session: one worker holds the platform',
  )
  const last = logins.at(-1)!
  const pq2 = await holder.send('POST', `/platforms/${lower.id}/post-queries`, { question: '再次查岗' })
  t.equal(pq2.status, 202, 'the worker that held it first now routes to the new holder')
  t.ok(await eventually(() => last.received.find((m) => m.msgId === 0x9300), 10_000))

  // logged in nowhere: 409, saying so
  const nowhere = await other.send('POST', `/platforms/${absent.id}/post-queries`, { question: 'x' })
  t.match(nowhere, { status: 409, json: { error: { code: 'CONFLICT', details: { reason: 'not-logged-in' } } } }, 'a platform logged in to no worker: 409 not-logged-in')
  last.close()
  const gone = await eventually(async () => {
    const r = await other.send('POST', `/platforms/${lower.id}/waybill-requests`, { plate, plateColor: 2 })
    return r.status === 409 ? r : null
  }, 10_000)
  t.match(gone.json.error, { code: 'CONFLICT', message: /not logged in to any gateway process/, details: { reason: 'not-logged-in' } }, 'once its link is gone: 409')

  child.kill('SIGTERM')
  t.equal((await exited)[0], 0, 'clean exit')
})
