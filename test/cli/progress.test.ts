import t from 'tap'
import { PassThrough } from 'node:stream'
import { Progress, formatDuration, parseDuration } from '../../src/sim/progress.js'
import { LatencyHistogram, RunStats, formatSummary } from '../../src/sim/stats.js'

function sink(tty: boolean) {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number }
  s.isTTY = tty
  s.columns = 120
  const chunks: string[] = []
  s.on('data', (c: Buffer) => chunks.push(c.toString()))
  return { s, text: () => chunks.join('') }
}

t.test('a bar redrawn in place on a terminal, plain lines otherwise', async (t) => {
  const tty = sink(true)
  const p = new Progress({ stream: tty.s, label: 'replay', intervalMs: 100 })
  p.update({ done: 0, total: 1000, acked: 0, unanswered: 0, errors: 0, elapsedMs: 0 })
  p.update({ done: 250, total: 1000, acked: 240, unanswered: 0, errors: 0, elapsedMs: 50 }) // throttled
  p.update({ done: 500, total: 1000, acked: 490, unanswered: 1, errors: 0, elapsedMs: 1000 })
  p.finish()
  const bar = tty.text()
  t.equal(bar.split('\r').length - 1, 2, 'two redraws, the throttled one skipped')
  t.match(bar, /replay \[#+\.+\] 500\/1000 frames {2}\d+\/s {2}acked 490 {2}unanswered 1 {2}errors 0 {2}ETA \d+s/)
  t.ok(bar.endsWith('\n'))

  const plain = sink(false)
  const q = new Progress({ stream: plain.s, intervalMs: 1000 })
  q.update({ done: 10, total: null, acked: 10, unanswered: 0, errors: 0, elapsedMs: 1000, remainingMs: 59_000 })
  q.finish()
  t.match(plain.text(), /^1s elapsed, 10 frames, \d+\/s, acked 10, unanswered 0, errors 0, ETA 59s\n$/)
  t.notMatch(plain.text(), /\r/)

  const off = sink(true)
  new Progress({ stream: off.s, enabled: false }).update({ done: 1, total: 1, acked: 1, unanswered: 0, errors: 0, elapsedMs: 10_000 })
  t.equal(off.text(), '')
})

t.test('durations, percentiles, summary', async (t) => {
  t.equal(parseDuration('90'), 90_000)
  t.equal(parseDuration('1h30m'), 5_400_000)
  t.equal(parseDuration('250ms'), 250)
  t.equal(parseDuration('soon'), null)
  t.equal(parseDuration('5m tomorrow'), null)
  t.equal(formatDuration(3_725_000), '1h02m05s')
  const h = new LatencyHistogram()
  t.equal(h.quantile(0.5), null)
  for (let i = 1; i <= 1000; i++) h.record(i / 10) // 0.1 … 100 ms
  t.ok(Math.abs((h.quantile(0.5) as number) - 50) / 50 < 0.02, `p50 ${h.quantile(0.5)} within 2 %`)
  t.ok(Math.abs((h.quantile(0.99) as number) - 99) / 99 < 0.02, `p99 ${h.quantile(0.99)} within 2 %`)
  t.equal(h.quantile(1), 100)
  let now = 0
  const s = new RunStats(() => now)
  s.sent(0x0200, true)
  s.sent(0x0200, true)
  s.sent(0x0001, false)
  s.acked(0, 2)
  s.acked(1, 4)
  now = 2000
  const sum = s.summary()
  t.same(sum.acksByResult, { '0': 1, '1': 1 })
  t.same(sum.framesById, { '0x0001': 1, '0x0200': 2 })
  t.equal(sum.framesPerSecond, 2)
  t.match(formatSummary(sum, 'title'), /answers\s+1 ok \(0\), 1 failure \(1\)/)
})
