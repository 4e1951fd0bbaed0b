/**
 * Accept lanes (src/gateway/accept-lanes.ts): extra descriptors of one listening socket, each
 * accepting on its own. The copies come from a real second process, as under node:cluster: the
 * listening handle goes to a child over IPC and comes back as new descriptors. Connections are
 * opened by a third process while this one's event loop is blocked, so they wait in the kernel's
 * accept queue, and the test counts how many the first turn after the block takes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync } from 'node:fs'
import net, { type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { isListeningHandle, openAcceptLanes, serverHandle, type ListenerCopies, type ListeningHandle } from '../../src/gateway/accept-lanes.js'

/** A process that sends back every handle it receives `times` times. */
const ECHO = `process.on('message', async (m, h) => {
  for (let i = 0; i < m.times; i++) await new Promise((r) => process.send({ copy: true }, h, r))
  h.close()
  process.send({ done: true })
})`

function echoCopies(child: ChildProcess): ListenerCopies {
  return (handle, count) =>
    new Promise((resolve) => {
      const copies: ListeningHandle[] = []
      const onMessage = (m: { copy?: boolean; done?: boolean }, h: unknown) => {
        if (m.copy && isListeningHandle(h)) copies.push(h)
        if (m.done) {
          child.off('message', onMessage)
          resolve(copies)
        }
      }
      child.on('message', onMessage)
      child.send({ times: count }, handle as never)
    })
}

/** Opens `n` connections to `port` from another process, writes `ready` once the kernel has completed them all, and keeps them open until killed. */
function connector(port: number, n: number, ready: string): ChildProcess {
  const code = `const net = require('node:net'); const fs = require('node:fs'); const keep = []; let up = 0
for (let i = 0; i < ${n}; i++) {
  const s = net.connect(${port}, '127.0.0.1')
  s.on('error', () => {})
  s.on('connect', () => { if (++up === ${n}) fs.writeFileSync(${JSON.stringify(ready)}, 'up') })
  keep.push(s)
}
setInterval(() => {}, 1000)`
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' })
}

async function listening(): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = []
  const server = net.createServer((s) => accepted.push(s))
  server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 })
  await once(server, 'listening')
  return { server, port: (server.address() as net.AddressInfo).port, accepted }
}

/**
 * Blocks the loop until `n` connections wait in the kernel's accept queue (the connector says so
 * through a file, read synchronously), then resolves with how many the first turn after took.
 */
async function firstTurn(port: number, accepted: Socket[], n: number): Promise<{ firstTurn: number; all: Socket[]; child: ChildProcess }> {
  const ready = join(mkdtempSync(join(tmpdir(), 'lanes-')), 'ready')
  const child = connector(port, n, ready)
  const end = Date.now() + 20_000
  // in a timer: the next phase of the loop is the poll that accepts, then the check phase that counts
  const taken = await new Promise<number>((resolve) =>
    setTimeout(() => {
      while (!existsSync(ready) && Date.now() < end);
      setImmediate(() => resolve(accepted.length))
    }, 0),
  )
  while (accepted.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  return { firstTurn: taken, all: accepted, child }
}

t.test('one descriptor: one connection per turn of the event loop (what the lanes are for)', async (t) => {
  const { server, port, accepted } = await listening()
  t.teardown(() => server.close())
  const { firstTurn: n, all, child } = await firstTurn(port, accepted, 40)
  t.teardown(() => child.kill())
  t.equal(n, 1, 'Node accepted one of the 40 queued connections in the first turn')
  t.equal(all.length, 40, 'and the rest in later turns')
  for (const s of all) s.destroy()
})

t.test('eight lanes: eight connections in the first turn, each a working socket; close() stops them all', async (t) => {
  const echo = spawn(process.execPath, ['-e', ECHO], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  t.teardown(() => echo.kill())
  const { server, port, accepted } = await listening()
  const errors: Error[] = []
  let viaCopies = 0
  const lanes = await openAcceptLanes(
    server,
    8,
    1024,
    echoCopies(echo),
    (s) => {
      viaCopies++
      accepted.push(s)
    },
    (e) => errors.push(e),
  )
  t.equal(lanes.count, 8, 'the server’s own descriptor and 7 copies')
  const { firstTurn: n, all, child } = await firstTurn(port, accepted, 40)
  t.teardown(() => child.kill())
  t.ok(n >= 8, `the first turn took ${n} of 40 queued connections (8 lanes)`)
  t.equal(all.length, 40, 'every connection was accepted')
  t.same(errors, [])

  // a socket taken by a lane is an ordinary net.Socket: it reads and writes
  t.ok(viaCopies > 0, `${viaCopies} of them came through the copies`)
  const probe = net.connect(port, '127.0.0.1')
  await once(probe, 'connect')
  const served = await new Promise<Socket>((resolve) => {
    const check = () => (accepted.length > 40 ? resolve(accepted[40]!) : setTimeout(check, 10))
    check()
  })
  served.on('data', (d) => served.write(`echo:${d}`))
  probe.write('ping')
  const [reply] = (await once(probe, 'data')) as [Buffer]
  t.equal(reply.toString(), 'echo:ping')
  probe.destroy()
  for (const s of all) s.destroy()

  lanes.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  echo.kill()
  await once(echo, 'exit')
  // every descriptor of the socket is closed: nothing listens any more
  const refused = net.connect(port, '127.0.0.1')
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
  t.equal(err.code, 'ECONNREFUSED', 'the port is closed once the server and its lanes are')
})

t.test('no copies to be had: one lane, as before', async (t) => {
  const { server } = await listening()
  t.teardown(() => server.close())
  t.ok(serverHandle(server), 'a plain server holds a real descriptor')
  const lanesFrom = (copies: ListenerCopies, lanes = 8) =>
    openAcceptLanes(
      server,
      lanes,
      1024,
      copies,
      () => undefined,
      () => undefined,
    )
  const none = await lanesFrom(async () => [])
  t.equal(none.count, 1)
  const failing = await lanesFrom(() => Promise.reject(new Error('no primary')))
  t.equal(failing.count, 1, 'a source that fails leaves the server on its own descriptor')
  const unasked = await lanesFrom(() => Promise.reject(new Error('not called')), 1)
  t.equal(unasked.count, 1)
})
