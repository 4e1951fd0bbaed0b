/**
 * Downlink commands on both backends: answered (0x0001 correlated by serial + id, or the
 * specific reply), failed, timeout, queued for an offline terminal and delivered after its
 * next authentication, routed between two gateways sharing the state, 0x8203 alarm
 * confirmation; and supersede across gateways.
 */
import t from 'tap'
import type { Message } from '../../protocol/index.js'
import { CommandError, type ConfirmableAlarm } from '../../src/gateway/index.js'
import { BACKENDS, connect, eventually, fixAt, online, openBackends, provision, startGateway } from './harness.js'

for (const backend of BACKENDS) {
  t.test(backend, async (t) => {
    const backends = await openBackends(backend)
    t.teardown(() => backends.close())
    const a = await startGateway(backends)
    t.teardown(() => a.close())
    const b = await startGateway(backends)
    t.teardown(() => b.close())
    const { store } = backends

    t.test('0x8300 text: the terminal 0x0001 answers it, matched by serial and id', async (t) => {
      const v = await provision(store)
      const seen: Message[] = []
      const { client } = await online(a.port, v, 2013, { onMessage: (m) => m.msgId === 0x8300 && seen.push(m) })
      t.teardown(() => client.close())
      const outcome = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0x08, text: '请注意：前方施工，减速慢行' } })
      t.equal(outcome.status, 'answered')
      t.equal(seen.length, 1, 'the terminal got one 0x8300')
      t.equal((seen[0].body as { text: string }).text, '请注意：前方施工，减速慢行', 'GBK text intact')
      if (outcome.status === 'answered') {
        t.equal(outcome.reply.msgId, 0x0001)
        t.same(outcome.reply.body, { replySerial: seen[0].serial, replyId: 0x8300, result: 0 }, 'the answer quotes our serial and id')
      }
    })

    t.test('2019 terminal: the command goes out in its version', async (t) => {
      const v = await provision(store)
      const seen: Message[] = []
      const { client } = await online(a.port, { ...v, phone: v.phone.padStart(20, '0') }, 2019, { onMessage: (m) => m.msgId === 0x8300 && seen.push(m) })
      t.teardown(() => client.close())
      const outcome = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0x08, type: 1, text: 'hello' } })
      t.equal(outcome.status, 'answered')
      t.equal(seen[0].version, 2019)
      t.equal((seen[0].body as { type?: number }).type, 1)
    })

    t.test('a failure result, a timeout, a specific reply', async (t) => {
      const v = await provision(store)
      let mode: 'fail' | 'silent' | 'default' = 'fail'
      const { client } = await online(a.port, v, 2013, {
        onDownlink: (m) => (mode === 'fail' ? { msgId: 0x0001, body: { replySerial: m.serial, replyId: m.msgId, result: 1 } } : mode === 'silent' ? null : undefined),
      })
      t.teardown(() => client.close())
      t.same(await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0, text: 'x' } }), { status: 'failed', result: 1 })
      mode = 'silent'
      const started = Date.now()
      t.same(await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0, text: 'x' } }, { timeoutMs: 300 }), { status: 'timeout' })
      t.ok(Date.now() - started >= 290, 'waited the timeout')
      mode = 'default'
      const located = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8201, body: {} })
      t.equal(located.status, 'answered')
      if (located.status === 'answered') t.equal(located.reply.msgId, 0x0201, '0x8201 answered by 0x0201')
      await eventually(async () => (await store.track(v.vehicleId, 0, Date.now() + 60_000)).some((p) => p.sourceMsgId === 0x0201))
      t.pass('the 0x0201 position is stored')
      const params = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8104, body: {} })
      t.equal(params.status === 'answered' && params.reply.msgId, 0x0104, '0x8104 answered by 0x0104')
    })

    t.test('a body that does not encode is refused; nothing is sent or queued', async (t) => {
      await t.rejects(a.app.gateway.sendCommand('13900000000', { msgId: 0x8300, body: { flags: 0, text: '长'.repeat(600) } }), { code: 'BAD_MESSAGE' }, 'too long for one frame')
      await t.rejects(a.app.gateway.sendCommand('13900000000', { msgId: 0x8300, body: null }), CommandError, 'no body')
      await t.rejects(a.app.gateway.sendCommand('13900000000', { msgId: 0x0200, body: {} }), { code: 'NOT_A_DOWNLINK' })
      t.same(await store.takePendingCommands('13900000000', Date.now()), [], 'nothing queued')
    })

    t.test('offline terminal: queued, delivered after its next authentication', async (t) => {
      const v = await provision(store)
      const first = await online(a.port, v)
      await first.client.close()
      await eventually(() => !a.app.gateway.isConnected(v.phone))
      const queued = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0x08, text: 'queued while offline' } })
      t.equal(queued.status, 'queued')
      if (queued.status === 'queued') t.ok(queued.expiresAt > Date.now(), 'with an expiry')
      const got: Message[] = []
      const again = await connect(b.port, v.phone, { onMessage: (m) => m.msgId === 0x8300 && got.push(m) })
      t.teardown(() => again.close())
      t.equal(await again.authenticate(first.authCode), 0)
      await eventually(() => got.length === 1)
      t.equal((got[0].body as { text: string }).text, 'queued while offline', 'delivered after authentication (on the other gateway)')
      t.same(await store.takePendingCommands(v.phone, Date.now()), [], 'and no longer queued')
      // The 202's id tells what became of it: the terminal's 0x0001 is kept as the answer.
      const id = queued.status === 'queued' ? queued.id : ''
      await eventually(async () => (await store.getCommandStatus(id, Date.now()))?.status === 'answered')
      t.match(await store.getCommandStatus(id, Date.now()), { status: 'answered', phone: v.phone, msgId: 0x8300, answer: { msgId: 0x0001, body: { replyId: 0x8300, result: 0 } } })
    })

    t.test('a queued command the terminal drops off without answering waits for its next session', async (t) => {
      const v = await provision(store)
      const first = await online(a.port, v)
      await first.client.close()
      await eventually(() => !a.app.gateway.isConnected(v.phone))
      const queued = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0x08, text: 'keep me' } })
      t.equal(queued.status, 'queued')
      const id = queued.status === 'queued' ? queued.id : ''
      t.equal((await store.getCommandStatus(id, Date.now()))?.status, 'queued')
      // A session that receives it but goes away without answering…
      const got: Message[] = []
      const silent = await connect(a.port, v.phone, { autoAnswer: false, onMessage: (m) => m.msgId === 0x8300 && got.push(m) })
      t.equal(await silent.authenticate(first.authCode), 0)
      await eventually(() => got.length === 1)
      t.equal((await store.getCommandStatus(id, Date.now()))?.status, 'delivered', 'delivered, not answered yet')
      await silent.close()
      await eventually(async () => (await store.getCommandStatus(id, Date.now()))?.status === 'queued')
      // …so the next one gets it again.
      const later: Message[] = []
      const again = await connect(a.port, v.phone, { onMessage: (m) => m.msgId === 0x8300 && later.push(m) })
      t.teardown(() => again.close())
      t.equal(await again.authenticate(first.authCode), 0)
      await eventually(() => later.length === 1)
      t.equal((later[0].body as { text: string }).text, 'keep me', 'redelivered')
      await eventually(async () => (await store.getCommandStatus(id, Date.now()))?.status === 'answered')
    })

    t.test('a terminal on gateway B answers a command sent through gateway A', async (t) => {
      const v = await provision(store)
      const { client } = await online(b.port, v)
      t.teardown(() => client.close())
      t.equal(a.app.gateway.isConnected(v.phone), false, 'not on A')
      const outcome = await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0x08, text: 'routed' } })
      t.equal(outcome.status, 'answered', 'routed through the state to B and back')
      const silent = await online(b.port, await provision(store), 2013, { autoAnswer: false })
      t.teardown(() => silent.client.close())
      t.same(await a.app.gateway.sendCommand(silent.client.phone, { msgId: 0x8300, body: { flags: 0, text: 'x' } }, { timeoutMs: 300 }), { status: 'timeout' })
    })

    t.test('supersede across gateways: authenticating on B closes the connection on A', async (t) => {
      const v = await provision(store)
      const first = await online(a.port, v)
      t.teardown(() => first.client.close())
      const second = await connect(b.port, v.phone)
      t.teardown(() => second.close())
      t.equal(await second.authenticate(first.authCode), 0)
      await eventually(() => first.client.isClosed)
      t.pass('A closed its stale connection')
      t.equal((await backends.newState().getSession(v.phone))?.nodeId, b.app.config.nodeId, 'B holds the session')
      t.equal((await a.app.gateway.sendCommand(v.phone, { msgId: 0x8300, body: { flags: 0, text: 'after move' } })).status, 'answered')
    })

    t.test('alarms needing confirmation are announced; 0x8203 confirms them', async (t) => {
      const v = await provision(store)
      const alarms: ConfirmableAlarm[] = []
      const listener = (e: ConfirmableAlarm) => e.phone === v.phone && alarms.push(e)
      a.app.gateway.on('alarm', listener)
      t.teardown(() => void a.app.gateway.off('alarm', listener))
      const seen: Message[] = []
      const { client } = await online(a.port, v, 2013, { onMessage: (m) => m.msgId === 0x8203 && seen.push(m) })
      t.teardown(() => client.close())
      t.equal(await client.reportPosition(fixAt(Date.now() - 5000, { alarm: 0b10 })), 0, 'overspeed bit: no confirmation needed')
      t.equal(await client.reportPosition(fixAt(Date.now() - 4000, { alarm: 0b11 })), 0, 'emergency bit raised')
      t.equal(alarms.length, 1)
      t.equal(alarms[0].raised, 1, 'only the emergency bit is new')
      const out = await a.app.gateway.confirmAlarm(v.phone, { alarmSerial: alarms[0].serial, alarmTypes: 1 })
      t.equal(out.status, 'answered')
      t.same(seen[0].body, { replySerial: alarms[0].serial, alarmType: 1 })
      await t.rejects(a.app.gateway.confirmAlarm(v.phone, { alarmSerial: 0, alarmTypes: 0b10 }), CommandError, 'overspeed is not a confirmable alarm')
    })
  })
}
