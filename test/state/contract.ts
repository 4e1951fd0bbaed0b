/**
 * The State contract: one suite run over every implementation (memory.test.ts, redis.test.ts).
 * `cluster(n)` gives n "nodes" sharing one state: for Redis, n RedisState connections under one
 * fresh prefix; for memory, the same instance n times (in-process state is one process).
 */
import type { Test } from 'tap'
import type { CommittedPosition } from '../../src/domain.js'
import type { NodeEnvelope, NodeMessage, SessionInfo, State } from '../../src/state/port.js'

export interface Cluster {
  nodes: State[]
  /** removes everything the test stored and closes the nodes */
  dispose(): Promise<void>
}

export type ClusterFactory = (n: number) => Promise<Cluster>

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export function position(vehicleId: number, deviceTime: number, extra: Partial<CommittedPosition> = {}): CommittedPosition {
  return {
    vehicleId,
    deviceTime,
    receivedAt: deviceTime + 500,
    latitude: 31.2304,
    longitude: 121.4737,
    altitude: 12,
    speed: 62.5,
    direction: 270,
    alarm: 0,
    status: 3,
    mileage: 1234.5,
    extras: { '0x30': 28 },
    blindArea: false,
    sourceMsgId: 0x0200,
    phone: '013800138000',
    plate: '沪A12345',
    plateColor: 2,
    enterpriseLicenseNo: '310000123456',
    ...extra,
  }
}

function session(phone: string, nodeId: string): SessionInfo {
  return { phone, nodeId, since: 1_718_000_000_000, address: '10.0.0.7:50123', vehicleId: 7, plate: '沪A12345' }
}

/** Waits until `pred` holds, polling; fails the test after timeoutMs. */
export async function until(t: Test, what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await pred()) return
    await sleep(10)
  }
  t.fail(`timed out waiting for ${what}`)
}

export function stateContract(t: Test, cluster: ClusterFactory): void {
  const withNodes = (n: number, name: string, fn: (t: Test, nodes: State[]) => Promise<void>) =>
    t.test(name, async (t) => {
      const c = await cluster(n)
      t.teardown(() => c.dispose())
      await fn(t, c.nodes)
    })

  withNodes(2, 'sessions: put, get, TTL expiry, refresh, and ownership', async (t, [a, b]) => {
    t.equal(await a.getSession('p1'), null, 'unknown terminal has no session')
    await a.putSession(session('p1', 'node-a'), 200)
    t.same(await b.getSession('p1'), session('p1', 'node-a'), 'another node sees the session as stored')
    t.equal(await b.countSessions(), 1)

    t.equal(await b.refreshSession('p1', 'node-b', 10_000), false, 'a node that does not hold it cannot refresh it')
    t.equal(await a.refreshSession('p1', 'node-a', 600), true, 'the holder refreshes it')
    await sleep(300)
    t.ok(await a.getSession('p1'), 'refreshed session outlives its first TTL')
    await sleep(400)
    t.equal(await a.getSession('p1'), null, 'session expires without refresh')
    t.equal(await a.countSessions(), 0, 'expired sessions are not counted')
    t.equal(await a.refreshSession('p1', 'node-a', 1000), false, 'an expired session cannot be refreshed back')

    // Supersede: the terminal reconnects to node b; node a's late cleanup must not remove it.
    await a.putSession(session('p2', 'node-a'), 10_000)
    await b.putSession({ ...session('p2', 'node-b'), address: '10.0.0.8:40000' }, 10_000)
    await a.removeSession('p2', 'node-a')
    t.same(await a.getSession('p2'), { ...session('p2', 'node-b'), address: '10.0.0.8:40000' }, 'removal by the old node leaves the newer session')
    t.equal(await a.countSessions(), 1)
    await b.removeSession('p2', 'node-b')
    t.equal(await a.getSession('p2'), null, 'the holder removes it')
    t.equal(await a.countSessions(), 0)

    await a.putSession(session('p3', 'node-a'), 10_000)
    await a.putSession(session('p4', 'node-b'), 10_000)
    await a.putSession(session('p3', 'node-a'), 10_000)
    t.equal(await b.countSessions(), 2, 'a re-put session counts once')
  })

  withNodes(1, 'last position: newest device time wins, late fixes never replace it', async (t, [s]) => {
    t.equal(await s.getLastPosition(7), null)
    await s.setLastPosition(position(7, 2_000))
    await s.setLastPosition(position(7, 1_000, { blindArea: true, sourceMsgId: 0x0704 }))
    t.same(await s.getLastPosition(7), position(7, 2_000), 'a blind-area fix from earlier does not overwrite')
    await s.setLastPosition(position(7, 3_000, { speed: 0 }))
    t.same(await s.getLastPosition(7), position(7, 3_000, { speed: 0 }))
    await s.setLastPosition(position(8, 500))
    t.equal((await s.getLastPosition(7))?.deviceTime, 3_000, 'vehicles are independent')
    t.equal((await s.getLastPosition(8))?.deviceTime, 500)
    const got = await s.getLastPosition(7)
    got!.speed = 999
    t.equal((await s.getLastPosition(7))?.speed, 0, 'a returned position is a copy')
  })

  withNodes(1, 'last positions in a batch: per vehicle the newest, stored ones not overtaken by older', async (t, [s]) => {
    await s.setLastPosition(position(21, 5_000))
    const batch = [position(21, 4_000), position(22, 1_000), position(22, 3_000, { speed: 7 }), position(22, 2_000)]
    // more vehicles than one Redis script call takes
    for (let v = 100; v < 1_300; v++) batch.push(position(v, v))
    await s.setLastPositions(batch)
    t.equal((await s.getLastPosition(21))?.deviceTime, 5_000, 'an older fix in the batch does not replace the stored one')
    t.same(await s.getLastPosition(22), position(22, 3_000, { speed: 7 }), 'the newest of the batch wins whatever its place')
    t.equal((await s.getLastPosition(1_299))?.deviceTime, 1_299)
    t.equal((await s.getLastPosition(100))?.deviceTime, 100)
    batch[2]!.speed = 999
    t.equal((await s.getLastPosition(22))?.speed, 7, 'stored positions do not follow later changes to the caller’s objects')
    await s.setLastPositions([])
  })

  withNodes(2, 'pub/sub: a command reaches the node that subscribed, the reply comes back', async (t, [a, b]) => {
    const atB: NodeEnvelope[] = []
    const atA: NodeEnvelope[] = []
    const offB = await b.subscribe('node:b', (m) => {
      atB.push(m)
      if (m.kind === 'command') void b.publish(m.replyTo, { kind: 'command-result', id: m.id, outcome: { result: 0 } })
    })
    const offA = await a.subscribe('node:a', (m) => atA.push(m))
    const cmd: NodeMessage = { kind: 'command', id: 'c1', phone: '013800138000', msgId: 0x8300, body: { text: '注意安全' }, timeoutMs: 5000, replyTo: 'node:a' }
    await a.publish('node:b', cmd)
    await until(t, 'the reply', () => atA.length === 1)
    t.same(atB, [cmd], 'node b got the command once, intact')
    t.same(atA, [{ kind: 'command-result', id: 'c1', outcome: { result: 0 } }])
    await b.publish('node:a', { kind: 'supersede', phone: '013800138000', nodeId: 'node-b', since: 1_718_000_000_000 })
    await until(t, 'the supersede notice', () => atA.length === 2)
    t.same(atA[1], { kind: 'supersede', phone: '013800138000', nodeId: 'node-b', since: 1_718_000_000_000 })

    // A throwing handler does not stop the other handlers of the channel.
    const second: unknown[] = []
    const offBad = await b.subscribe('node:b', () => {
      throw new Error('handler bug')
    })
    const offSecond = await b.subscribe('node:b', (m) => second.push(m))
    await a.publish('node:b', { ...cmd, id: 'c2' })
    await until(t, 'the second handler', () => second.length === 1 && atB.length === 2)

    await offB()
    await offBad()
    await a.publish('node:b', { ...cmd, id: 'c3' })
    await until(t, 'the remaining handler', () => second.length === 2)
    t.equal(atB.length, 2, 'an unsubscribed handler gets nothing more')
    await offSecond()
    await offA()
    await a.publish('node:b', { ...cmd, id: 'c4' })
    await sleep(50)
    t.equal(second.length, 2, 'nothing delivered after the last unsubscribe')
  })

  withNodes(2, 'streams: append, read from the start, resume from an id, trim, blocking read', async (t, [a, b]) => {
    t.same(await a.read('anomalies', '0', 10), [], 'an unknown stream reads empty')
    t.same(await a.streamInfo('anomalies'), { length: 0, firstId: '0-0', lastId: '0-0' })
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await a.append('anomalies', { n: i, type: 'OVERSPEED' }))
    for (const id of ids) t.match(id, /^\d+-\d+$/, 'ids look like Redis stream ids')
    const sorted = [...ids].sort((x, y) => {
      const [xm, xs] = x.split('-').map(Number)
      const [ym, ys] = y.split('-').map(Number)
      return xm - ym || xs - ys
    })
    t.same(sorted, ids, 'ids increase')
    t.same(new Set(ids).size, 5)

    const all = await b.read<{ n: number }>('anomalies', '0', 100)
    t.same(
      all.map((e) => e.value.n),
      [0, 1, 2, 3, 4],
      'another node reads them in order',
    )
    t.same(
      all.map((e) => e.id),
      ids,
    )
    t.same(
      (await b.read<{ n: number }>('anomalies', ids[1], 2)).map((e) => e.value.n),
      [2, 3],
      'resume after an id, limited by count',
    )
    t.same(await b.read('anomalies', ids[4], 10), [], 'nothing after the last id')
    t.same(await b.streamInfo('anomalies'), { length: 5, firstId: ids[0], lastId: ids[4] })

    // A blocking read wakes up when another node appends.
    const started = Date.now()
    const pending = b.read<{ n: number }>('anomalies', ids[4], 10, 3000)
    await sleep(100)
    const id5 = await a.append('anomalies', { n: 5 })
    const woke = await pending
    t.same(woke, [{ id: id5, value: { n: 5 } }], 'the blocked reader gets the new entry')
    t.ok(Date.now() - started < 2500, 'without waiting for its timeout')

    const t0 = Date.now()
    t.same(await b.read('anomalies', id5, 10, 200), [], 'a blocking read with nothing new returns empty')
    t.ok(Date.now() - t0 >= 150, 'after about blockMs')

    const fromNow = b.read<{ n: number }>('anomalies', '$', 10, 3000)
    await sleep(100)
    await a.append('anomalies', { n: 6 })
    t.same(
      (await fromNow).map((e) => e.value.n),
      [6],
      '"$" reads only what is appended after the call',
    )

    // Concurrent blocking readers do not wait for one another (each holds its own connection).
    const t1 = Date.now()
    const readers = ['w0', 'w1', 'w2', 'w3'].map((s) => b.read<{ s: string }>(s, '$', 10, 3000))
    await sleep(100)
    for (const s of ['w3', 'w2', 'w1', 'w0']) await a.append(s, { s })
    t.same(
      (await Promise.all(readers)).map((r) => r.map((e) => e.value.s)),
      [['w0'], ['w1'], ['w2'], ['w3']],
      'four blocked readers all wake',
    )
    t.ok(Date.now() - t1 < 2000, 'promptly')

    await t.rejects(a.read('anomalies', 'yesterday', 10), { code: 'INVALID_STREAM_ID' }, 'a malformed id is a typed error')
    await t.rejects(a.read('anomalies', '0', 0), RangeError, 'a read needs a positive count')
    await t.rejects(a.readGroup('anomalies', 'g', 'c', 0), RangeError)

    // Bounded: Redis trims approximately (whole nodes of ~100 entries), memory exactly.
    for (let i = 0; i < 600; i++) await a.append('bounded', { i }, 50)
    const info = await a.streamInfo('bounded')
    t.ok(info.length >= 50 && info.length <= 250, `trimmed to about maxLen (${info.length})`)
    const tail = await a.read<{ i: number }>('bounded', '0', 1000)
    t.equal(tail.length, info.length)
    t.equal(tail[tail.length - 1].value.i, 599, 'the newest entries are kept')
    t.equal(tail[0].id, info.firstId)
  })

  withNodes(2, 'streams: appendMany keeps order and ids, wakes readers, refuses a bad value whole', async (t, [a, b]) => {
    const before = await a.append('many', { n: -1 })
    const waiting = b.read<{ n: number }>('many', before, 10, 3000)
    await sleep(50)
    const ids = await a.appendMany(
      'many',
      [0, 1, 2, 3].map((n) => ({ n })),
    )
    t.equal(ids.length, 4)
    const read = await b.read<{ n: number }>('many', before, 10)
    t.same(
      read.map((e) => e.id),
      ids,
      'the ids returned are the entries’ ids, in order',
    )
    t.same(
      read.map((e) => e.value.n),
      [0, 1, 2, 3],
    )
    t.ok((await waiting).length >= 1, 'a blocked reader wakes')
    t.same(await a.appendMany('many', []), [], 'nothing to append: no entry')
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await t.rejects(a.appendMany('many', [{ n: 9 }, cyclic]), TypeError, 'an unserialisable value is refused')
    t.equal((await a.streamInfo('many')).length, 5, 'and nothing of that call was appended')
  })

  withNodes(2, 'consumer groups: delivery once per group, pending until acked, blocking', async (t, [a, b]) => {
    for (let i = 0; i < 6; i++) await a.append('positions', { i })
    const first = await a.readGroup<{ i: number }>('positions', 'matcher', 'c1', 4)
    t.same(
      first.map((e) => e.value.i),
      [0, 1, 2, 3],
      'a new group starts at the beginning',
    )
    t.ok(first.every((e) => e.stream === 'positions'))
    const second = await b.readGroup<{ i: number }>('positions', 'matcher', 'c2', 10)
    t.same(
      second.map((e) => e.value.i),
      [4, 5],
      'another consumer of the group gets only the rest',
    )
    t.same(await a.readGroup('positions', 'matcher', 'c1', 10), [], 'nothing is delivered twice')
    const other = await b.readGroup<{ i: number }>('positions', 'feed', 'x', 10)
    t.equal(other.length, 6, 'another group gets everything')

    t.same(
      (await b.pendingGroup<{ i: number }>('positions', 'matcher', 'c1', 10)).map((e) => e.value.i),
      [0, 1, 2, 3],
      'unacked entries stay pending for their consumer',
    )
    t.equal(await a.ackGroup('positions', 'matcher', [first[0].id, first[1].id]), 2)
    t.equal(await a.ackGroup('positions', 'matcher', [first[0].id]), 0, 'an entry is acked once')
    t.same(
      (await a.pendingGroup<{ i: number }>('positions', 'matcher', 'c1', 10)).map((e) => e.value.i),
      [2, 3],
    )
    t.same(
      (await a.pendingGroup<{ i: number }>('positions', 'matcher', 'c1', 1)).map((e) => e.value.i),
      [2],
      'pending honours count',
    )
    t.same(await a.pendingGroup('positions', 'matcher', 'nobody', 10), [])

    // Several streams in one read; a blocked read wakes on an append to any of them.
    const blocked = a.readGroup<{ p: number }>(['part:0', 'part:1'], 'matcher', 'c1', 10, 3000)
    await sleep(100)
    await b.append('part:1', { p: 1 })
    const got = await blocked
    t.same(
      got.map((e) => [e.stream, e.value.p]),
      [['part:1', 1]],
      'the entry comes with its stream',
    )
    await b.append('part:0', { p: 0 })
    await b.append('part:1', { p: 11 })
    const both = await a.readGroup<{ p: number }>(['part:0', 'part:1'], 'matcher', 'c1', 10)
    t.same(both.map((e) => [e.stream, e.value.p]).sort(), [
      ['part:0', 0],
      ['part:1', 11],
    ])
    const t0 = Date.now()
    t.same(await a.readGroup(['part:0', 'part:1'], 'matcher', 'c1', 10, 150), [], 'nothing new: empty after blockMs')
    t.ok(Date.now() - t0 >= 100)
  })

  withNodes(2, 'leases: exclusive, renewed only by the holder, expire, released by the holder', async (t, [a, b]) => {
    t.equal(await a.acquireLease('part:0', 'c1', 300), true)
    t.equal(await b.acquireLease('part:0', 'c2', 300), false, 'held by another')
    t.equal(await a.acquireLease('part:0', 'c1', 300), true, 're-acquiring your own lease extends it')
    t.equal(await b.renewLease('part:0', 'c2', 300), false)
    t.equal(await b.releaseLease('part:0', 'c2'), false, 'only the holder releases')
    t.equal(await a.renewLease('part:0', 'c1', 300), true)
    await sleep(450)
    t.equal(await a.renewLease('part:0', 'c1', 300), false, 'an expired lease cannot be renewed')
    t.equal(await b.acquireLease('part:0', 'c2', 5000), true, 'an expired lease can be taken')
    t.equal(await b.releaseLease('part:0', 'c2'), true)
    t.equal(await a.acquireLease('part:0', 'c1', 5000), true, 'a released lease is free at once')
  })

  withNodes(2, 'membership: live members, expiry, leave', async (t, [a, b]) => {
    t.same(await a.heartbeatMember('matcher', 'm-b', 300), ['m-b'])
    t.same(await b.heartbeatMember('matcher', 'm-a', 5000), ['m-a', 'm-b'], 'sorted')
    await sleep(450)
    t.same(await a.heartbeatMember('matcher', 'm-a', 5000), ['m-a'], 'a member that stops heartbeating drops out')
    await a.heartbeatMember('matcher', 'm-c', 5000)
    await b.leaveMembership('matcher', 'm-a')
    t.same(await b.heartbeatMember('matcher', 'm-c', 5000), ['m-c'])
  })

  withNodes(1, 'clear removes everything and the state stays usable', async (t, [s]) => {
    await s.putSession(session('p9', 'n'), 10_000)
    await s.setLastPosition(position(1, 1))
    await s.append('st', { a: 1 })
    await s.readGroup('st', 'g', 'c', 10)
    await s.clear()
    t.equal(await s.getSession('p9'), null)
    t.equal(await s.countSessions(), 0)
    t.equal(await s.getLastPosition(1), null)
    t.same(await s.read('st', '0', 10), [])
    await s.append('st', { a: 2 })
    t.same(
      (await s.readGroup<{ a: number }>('st', 'g', 'c', 10)).map((e) => e.value.a),
      [2],
      'groups are recreated after clear',
    )
  })
}
