/**
 * bench/attachments: N terminals upload one photo each to the attachment server at once.
 *
 *   node --import tsx bench/attachments.ts [--terminals 500] [--kb 200] [--chunk-kb 64]
 *
 * The server (attachment server + store + file-system object store, as `serve` builds it) runs
 * in a child process, so its memory is its own; the terminals run here. Each terminal connects,
 * sends 0x1210, 0x1211, the photo as stream frames and 0x1212, and waits for 0x9212 result 0.
 * Prints: MB/s stored (bytes of completed files / wall time), completion time p50 / p99 (connect
 * → 0x9212), and the server's peak RSS and heap. Embedded PGlite unless DATABASE_URL is set.
 * Baseline, in the same run: the same terminals write the same bytes to a bare sink in the same
 * child (accepts and counts, stores and answers nothing): what the sockets alone carry here.
 * Record the figures in bench/RESULTS.md.
 */
import { fork } from 'node:child_process'
import { connect, createServer, type AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    terminals: { type: 'string', default: '500' },
    kb: { type: 'string', default: '200' },
    'chunk-kb': { type: 'string', default: '64' },
  },
})

interface Ready {
  port: number
  sinkPort: number
  alarms: Array<{ phone: string; alarmNumber: string; alarmFlag: unknown }>
}
interface Done {
  peakRss: number
  peakHeap: number
  completed: number
  bytes: number
}

async function server(): Promise<void> {
  const { pino } = await import('pino')
  const { Registry } = await import('prom-client')
  const { DEFAULTS } = await import('../src/config/index.js')
  const { openStore } = await import('../src/store/index.js')
  const { MemoryState } = await import('../src/state/index.js')
  const { createAttachments } = await import('../src/attachments/index.js')
  const dataDir = process.env.BENCH_DATA_DIR as string
  const config = { ...structuredClone(DEFAULTS), dataDir, databaseUrl: process.env.DATABASE_URL ?? null, attachmentsPort: 0, attachmentsHost: '127.0.0.1', nodeId: 'bench' }
  const store = await openStore(config, config.databaseUrl ? { schema: `bench_att_${process.pid}` } : { embedded: 'memory' })
  const state = new MemoryState()
  const registry = new Registry()
  const att = await createAttachments({ config, store, state, registry, logger: pino({ level: 'warn' }), commander: null, retention: false })
  const address = await att.listen(true)
  // the baseline: a sink that only reads, and says when it has read `expect` bytes
  let sunk = 0
  let expect = Infinity
  const sink = createServer((s) => {
    s.on('data', (b: Buffer) => {
      sunk += b.length
      if (sunk >= expect) process.send?.({ sunk })
    })
    s.on('error', () => undefined)
  })
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()))
  const n = Number(values.terminals)
  const alarms: Ready['alarms'] = []
  const now = Date.now()
  const time = new Date(now + 8 * 3600_000).toISOString().slice(0, 19) + '+08:00'
  for (let i = 0; i < n; i++) {
    const phone = String(13900000000 + i)
    const alarmFlag = { terminalId: 'BENCH01', time, serial: i & 0xff, attachmentCount: 1, reserved: 0 }
    const alarmNumber = `${String(i).padStart(8, '0')}${'b'.repeat(24)}`
    await store.insertAttachmentAlarm({
      alarmNumber,
      alarmKey: `bench-${i}`,
      phone,
      vehicleId: i + 1,
      plate: `苏A${i}`,
      plateColor: 2,
      enterpriseLicenseNo: null,
      variant: 'jsatl12',
      kind: 'dsm',
      alarmType: 2,
      alarmLevel: 2,
      alarmId: alarmFlag,
      deviceTime: now,
      expectedFiles: 1,
      anomalyId: `bench-${i}`,
      state: 'instructed',
      createdAt: now,
      updatedAt: now,
    })
    alarms.push({ phone, alarmNumber, alarmFlag })
  }
  let peakRss = 0
  let peakHeap = 0
  const sample = () => {
    const m = process.memoryUsage()
    peakRss = Math.max(peakRss, m.rss)
    peakHeap = Math.max(peakHeap, m.heapUsed)
  }
  const timer = setInterval(sample, 50)
  process.send?.({ port: address?.port, sinkPort: (sink.address() as AddressInfo).port, alarms } satisfies Partial<Ready>)
  process.on('message', async (m: { expect?: number } | string) => {
    if (typeof m === 'object' && m.expect !== undefined) {
      expect = m.expect
      if (sunk >= expect) process.send?.({ sunk })
      return
    }
    sink.close()
    clearInterval(timer)
    sample()
    const completed = (await registry.getSingleMetric('jt808_attachment_uploads_completed_total')?.get())?.values[0]?.value ?? 0
    const bytes = (await registry.getSingleMetric('jt808_attachment_bytes_total')?.get())?.values[0]?.value ?? 0
    process.send?.({ peakRss, peakHeap, completed, bytes } satisfies Done)
    await att.close()
    if (config.databaseUrl) await store.sql.query(`DROP SCHEMA IF EXISTS bench_att_${process.pid} CASCADE`)
    await store.close()
    process.exit(0)
  })
}

async function main(): Promise<void> {
  const { AttachmentUploader } = await import('../src/terminal/attachments.js')
  const n = Number(values.terminals)
  const size = Number(values.kb) * 1024
  const chunk = Number(values['chunk-kb']) * 1024
  const dataDir = await mkdtemp(join(tmpdir(), 'jt808-bench-att-'))
  const child = fork(new URL(import.meta.url).pathname, ['server', ...process.argv.slice(2)], {
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_SERVER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SERVER_PROFILE}`] : [])],
    env: { ...process.env, BENCH_DATA_DIR: dataDir },
  })
  const ready = await new Promise<Ready>((resolve) => child.once('message', (m) => resolve(m as Ready)))
  // a JPEG head (the server checks it), random bytes after: one photo, shared by every terminal
  const photo = Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), randomBytes(size - 10)])
  // baseline: every terminal's bytes (0x1210, 0x1211, stream frames, 0x1212) to the sink
  const { encodeMessage, encodeStreamFrame } = await import('../protocol/index.js')
  const bytesOf = (a: Ready['alarms'][number]): Buffer[] => {
    const name = `${a.alarmNumber}_0.jpg`
    const frame = (msgId: number, body: unknown) => {
      const f = encodeMessage({ msgId, phone: a.phone, serial: 1, body } as never)
      if (!f.ok) throw new Error(f.error.message)
      return f.value
    }
    const out = [
      frame(0x1210, { variant: 'jsatl12', terminalId: 'BENCH01', alarmFlag: a.alarmFlag, alarmNumber: a.alarmNumber, infoType: 0, files: [{ name, size }] }),
      frame(0x1211, { name, fileType: 0, size }),
    ]
    for (let at = 0; at < size; at += chunk) {
      const s = encodeStreamFrame({ name, offset: at, data: photo.subarray(at, Math.min(size, at + chunk)) })
      if (s.ok) out.push(s.value)
    }
    out.push(frame(0x1212, { name, fileType: 0, size }))
    return out
  }
  const perTerminal = ready.alarms.map(bytesOf)
  const total = perTerminal.reduce((n, parts) => n + parts.reduce((m, p) => m + p.length, 0), 0)
  const sunk = new Promise((resolve) => child.once('message', resolve))
  child.send({ expect: total })
  const b0 = performance.now()
  await Promise.all(
    perTerminal.map(
      (parts) =>
        new Promise<void>((resolve, reject) => {
          const s = connect(ready.sinkPort, '127.0.0.1', () => {
            for (const p of parts) s.write(p)
            s.end(() => resolve())
          })
          s.on('error', reject)
        }),
    ),
  )
  await sunk
  const baselineMBs = total / 1e6 / ((performance.now() - b0) / 1000)

  const times: number[] = []
  let failed = 0
  const t0 = performance.now()
  await Promise.all(
    ready.alarms.map(async (a) => {
      const start = performance.now()
      try {
        const up = await AttachmentUploader.connect('127.0.0.1', ready.port, a.phone, { timeoutMs: 120_000 })
        const name = `${a.alarmNumber}_0.jpg`
        const r = await up.alarmInfo({ variant: 'jsatl12', terminalId: 'BENCH01', alarmFlag: a.alarmFlag as never, alarmNumber: a.alarmNumber, infoType: 0, files: [{ name, size }] })
        if (r !== 0) throw new Error(`0x1210 result ${r}`)
        await up.upload(name, 0, photo, { chunkBytes: chunk })
        times.push(performance.now() - start)
        await up.close()
      } catch (e) {
        failed++
        if (failed <= 3) console.error((e as Error).message)
      }
    }),
  )
  const wall = (performance.now() - t0) / 1000
  child.send('stop')
  const done = await new Promise<Done>((resolve) => child.once('message', (m) => resolve(m as Done)))
  await new Promise((r) => child.once('exit', r))
  await rm(dataDir, { recursive: true, force: true })
  times.sort((x, y) => x - y)
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? NaN
  const mb = done.bytes / 1e6
  console.log(`terminals ${n}, photo ${Number(values.kb)} KB, chunks ${Number(values['chunk-kb'])} KB, store ${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}`)
  console.log(`completed ${done.completed} of ${n} (client failures ${failed}) in ${wall.toFixed(2)} s`)
  console.log(`stored ${mb.toFixed(1)} MB → ${(mb / wall).toFixed(1)} MB/s; baseline (bare sink, same bytes) ${baselineMBs.toFixed(1)} MB/s; ratio ${(mb / wall / baselineMBs).toFixed(3)}`)
  console.log(`completion (connect → 0x9212 result 0): p50 ${pct(50).toFixed(0)} ms, p99 ${pct(99).toFixed(0)} ms, max ${pct(100).toFixed(0)} ms`)
  console.log(`server peak RSS ${(done.peakRss / 2 ** 20).toFixed(1)} MiB, peak heap ${(done.peakHeap / 2 ** 20).toFixed(1)} MiB`)
}

if (positionals[0] === 'server') void server()
else void main()
