/**
 * What the multi-process benchmarks (bench/connections, bench/storm) share: the message shape of
 * their IPC, the generator processes spawned under a raised fd limit, request/reply over IPC, the
 * per-process fd limits, and a registered fleet (N vehicles with their terminals, one auth code).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Store } from '../src/store/port.js'

export type Msg = { type: string; [k: string]: unknown }

/** The i-th terminal's phone: the prefix, then i zero-padded to 11 digits in all (BCD[6] holds 12). */
export function phoneOf(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(11 - prefix.length, '0')}`
}

/** Spawns `script` in a role, with its fd soft limit raised to `fds` (a shell wrapper: Node cannot setrlimit). */
export function spawnRole(script: string, role: string, fds: number, extra: string[], execArgv: string[] = []): ChildProcess {
  const cmd = [process.execPath, '--import', 'tsx', ...execArgv, script, '--role', role, ...extra].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  return spawn('sh', ['-c', `ulimit -n ${fds} && exec ${cmd}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env })
}

/** The next message of `type` from the child; rejects if it exits first. */
export function waitFor<T = void>(c: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (r: Msg) => {
      if (r.type !== type) return
      c.off('message', on)
      resolve(r as T)
    }
    c.on('message', on)
    c.once('exit', (code) => reject(new Error(`${type}: child exited with ${code}`)))
  })
}

/** Sends m and resolves with the child's `reply`. */
export function request<T>(c: ChildProcess, m: Msg, reply: string): Promise<T> {
  const answer = waitFor<T>(c, reply)
  c.send(m)
  return answer
}

/** This process's open-file limits (/proc/self/limits). */
export function fdLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))!
  const [soft, hard] = line
    .trim()
    .split(/\s+/)
    .slice(3, 5)
    .map((v) => (v === 'unlimited' ? Infinity : Number(v)))
  return { soft: soft!, hard: hard! }
}

/**
 * Registers n vehicles (plates `${plateHead}000000`…) with their terminals (phones of `prefix`),
 * all with the same auth code hash, 1,000 at a time; returns the vehicle ids in terminal order.
 */
export async function provisionFleet(store: Store, n: number, plateHead: string, prefix: string, authCodeHash: string): Promise<number[]> {
  const vehicleOf: number[] = new Array(n)
  for (let from = 0; from < n; from += 1000) {
    const chunk = Array.from({ length: Math.min(1000, n - from) }, (_, j) => ({ plate: `${plateHead}${String(from + j).padStart(6, '0')}`, plateColor: 2, terminalPhone: phoneOf(prefix, from + j) }))
    const ids = await store.upsertVehicles(chunk)
    for (const [j, id] of ids.entries()) vehicleOf[from + j] = id
    await Promise.all(
      ids.map((vehicleId, j) =>
        store.saveTerminal({
          phone: phoneOf(prefix, from + j),
          terminalId: null,
          vehicleId,
          authCodeHash,
          protocolVersion: 2013,
          manufacturer: null,
          model: null,
          imei: null,
          firmware: null,
          registeredAt: Date.now(),
        }),
      ),
    )
  }
  return vehicleOf
}
