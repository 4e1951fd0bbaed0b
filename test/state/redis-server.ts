/**
 * A redis-server of the test's own on a free loopback port, to kill and start again (outage
 * tests cannot stop the shared one). No persistence: a restart comes back empty, as a replaced
 * server or a failover to an empty replica would.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'

export interface OwnRedis {
  readonly port: number
  readonly url: string
  /** SIGKILL, and resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>
  /** SIGSTOP / SIGCONT: a server that holds its connections and answers nothing (a hung host). */
  freeze(): void
  thaw(): void
  /** Kills it for good (teardown). */
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => {
        s.end()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`redis-server on ${port} did not accept within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort()
  let child: ChildProcess | null = null
  const start = async () => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    child = c
    await accepting(port, 10_000)
  }
  const kill = async () => {
    const c = child
    child = null
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const gone = once(c, 'exit')
    c.kill('SIGKILL')
    await gone
  }
  await start()
  const signal = (sig: NodeJS.Signals) => {
    if (!child) throw new Error('redis-server is not running')
    child.kill(sig)
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    stop: async () => {
      if (child && child.signalCode === null && child.exitCode === null) child.kill('SIGCONT')
      await kill()
    },
  }
}
