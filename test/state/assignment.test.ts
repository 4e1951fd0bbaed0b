/**
 * Partition assignment: deterministic, even, and sticky — a member joining or leaving moves about
 * its share of partitions, not all of them (issue 19 point 3: `p % |members|` moved 64 of 64).
 */
import t from 'tap'
import { assignPartitions, partitionsOf } from '../../src/state/assignment.js'

const P = 64
const names = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `gw-${from + i}`)
const moved = (a: string[], b: string[]) => a.filter((x, i) => x !== b[i]).length

t.test('deterministic and independent of the order members are listed in', async (t) => {
  const m = names(5)
  const a = assignPartitions(P, m)
  t.same(assignPartitions(P, [...m].reverse()), a)
  t.same(assignPartitions(P, [...m, m[0]]), a, 'duplicates ignored')
  t.equal(a.length, P)
  t.ok(
    a.every((x) => m.includes(x)),
    'every partition has a live owner',
  )
  t.same(assignPartitions(P, []), [])
})

t.test('even: every member holds floor or ceil of P / n', async (t) => {
  for (const n of [1, 2, 3, 5, 7, 64, 100]) {
    const m = names(n)
    const a = assignPartitions(P, m)
    const loads = m.map((x) => a.filter((o) => o === x).length)
    t.ok(Math.max(...loads) <= Math.ceil(P / n) && Math.min(...loads) >= Math.floor(P / n), `n=${n}: loads ${Math.min(...loads)}..${Math.max(...loads)}`)
    t.equal(
      loads.reduce((s, x) => s + x, 0),
      P,
    )
    // partitionsOf agrees with the full map
    t.same(
      [...partitionsOf(P, m, m[0])].sort((x, y) => x - y),
      a.flatMap((o, p) => (o === m[0] ? [p] : [])),
    )
  }
  t.same([...partitionsOf(P, names(3), 'not-a-member')], [])
})

t.test('sticky: a join or a leave moves about 1/n of the partitions', async (t) => {
  for (const n of [2, 3, 4, 8]) {
    const joinShare = P / (n + 1)
    const leaveShare = P / n
    let joinMoves = 0
    let leaveMoves = 0
    let moduloMoves = 0
    const trials = 100
    for (let k = 0; k < trials; k++) {
      // node ids differ per deployment: many member sets, each deterministic
      const m = Array.from({ length: n }, (_, i) => `gw-${k}-${i}`)
      const before = assignPartitions(P, m)
      // a restarted worker comes back under a new name (node ids carry the pid)
      const joined = assignPartitions(P, [...m, `gw-${k}-restarted`])
      const took = joined.filter((o) => o === `gw-${k}-restarted`).length
      if (took < 0.8 * joinShare) t.fail(`n=${n} set ${k}: the newcomer took only ${took}`)
      const j = moved(before, joined)
      if (j > 2.5 * joinShare) t.fail(`n=${n} set ${k}: a join moved ${j}`)
      joinMoves += j
      const left = assignPartitions(P, m.slice(1))
      const l = moved(before, left)
      if (l < before.filter((o) => o === m[0]).length) t.fail('every partition of the leaver moves')
      if (l > 2.5 * leaveShare) t.fail(`n=${n} set ${k}: a leave moved ${l}`)
      leaveMoves += l
      // the old rule, for comparison
      const modulo = (ms: string[]) => Array.from({ length: P }, (_, p) => [...ms].sort()[p % ms.length])
      moduloMoves += moved(modulo(m), modulo([...m, `gw-${k}-restarted`]))
    }
    t.ok(joinMoves / trials <= 1.75 * joinShare, `n=${n}: a join moves ${(joinMoves / trials).toFixed(1)} on average (share ${joinShare.toFixed(1)})`)
    t.ok(leaveMoves / trials <= 1.75 * leaveShare, `n=${n}: a leave moves ${(leaveMoves / trials).toFixed(1)} on average (share ${leaveShare.toFixed(1)})`)
    t.ok(moduloMoves > 1.5 * joinMoves, `n=${n}: p % |members| moved ${(moduloMoves / trials).toFixed(1)} on average`)
  }
})

t.test('a member that leaves and comes back gets the same partitions again', async (t) => {
  const m = names(4)
  const before = assignPartitions(P, m)
  assignPartitions(P, m.slice(1))
  t.same(assignPartitions(P, m), before)
})
