/**
 * `jt808 attachments`: the attachment server alone, as a process — it listens, answers terminals,
 * and stops on SIGTERM with exit code 0; a bad setting stops it at once with code 2.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { AttachmentUploader } from '../../src/terminal/attachments.js'
import { JT808 } from '../cli-process.js'

function run(args: string[]) {
  const child = spawn(process.execPath, [...JT808, 'attachments', ...args], { env: { ...process.env, JT808_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, out: () => out, err: () => err, exited }
}

t.test('bad settings: exit 2 with the setting named', async (t) => {
  const r = run(['--attachments-variant', 'zhejiang'])
  t.equal(await r.exited, 2)
  t.match(r.err(), /--attachments-variant: expected one of "jsatl12", "gdrta", got "zhejiang"/)
})

t.test('listens, answers, stops on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'jt808-att-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const r = run(['--attachments-port', '0', '--attachments-host', '127.0.0.1', '--data-dir', dir])
  t.teardown(() => r.child.kill('SIGKILL'))
  const end = Date.now() + 90_000
  let port = 0
  while (!port) {
    const m = /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(r.out())
    if (m) port = Number(m[1])
    else if (r.child.exitCode !== null || Date.now() > end) throw new Error(`not listening: ${r.out()} ${r.err()}`)
    else await new Promise((res) => setTimeout(res, 50))
  }
  const up = await AttachmentUploader.connect('127.0.0.1', port, '13900000001', { timeoutMs: 10_000 })
  t.equal(await up.client.heartbeat(), 0)
  const flag = { terminalId: 'T1', time: '2024-01-01T00:00:00+08:00', serial: 1, attachmentCount: 1, reserved: 0 }
  t.equal(await up.alarmInfo({ variant: 'jsatl12', terminalId: 'T1', alarmFlag: flag, alarmNumber: '0'.repeat(32), infoType: 0, files: [] }), 1, 'an alarm it never instructed')
  await up.close()
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 0)
  t.match(r.out(), /SIGTERM, stopping/)
})
