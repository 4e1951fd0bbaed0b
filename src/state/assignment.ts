/**
 * Which live member owns which partition: rendezvous (highest-random-weight) hashing with a load
 * bound. Every member computes the same answer from the same sorted member list, with no
 * coordination; a joining or leaving member moves only about its share of partitions, so a
 * restarted worker takes its 1/n back instead of reshuffling every vehicle (issue 19: with
 * `p % |members|` all 64 partitions changed holder when one worker rejoined).
 *
 * Each (partition, member) pair has a pseudo-random weight; pairs are taken heaviest first and a
 * partition goes to the member of the pair unless it already has one or the member is full
 * (floor(P / n) partitions, P mod n members one more). The bound keeps the split even (plain
 * rendezvous hashing put up to 43 of 64 on one of two members, over 200 member sets); the
 * weights keep it sticky.
 *
 * Why not a broker's ownership: Redis 7 consumer groups hand out entries, not partitions (no
 * per-vehicle order or state locality); RabbitMQ 3.10's single active consumer gives each queue
 * to its first subscriber, so one process would hold all 64; NATS 2.9 JetStream has no
 * partition ownership. The lease protocol with this assignment is kept, and
 * test/matcher/failover.test.ts kills a worker process to prove the hand-over.
 */

/** FNV-1a over the member name and the partition, then murmur3's finaliser (good avalanche). */
function weight(member: string, partition: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < member.length; i++) {
    h ^= member.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  for (let s = 0; s < 32; s += 8) {
    h ^= ((partition >>> s) & 0xff) + 1
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The owner of every partition (index = partition) among `members` (any order; duplicates
 * ignored). Empty members: an empty array.
 */
export function assignPartitions(partitions: number, members: readonly string[]): string[] {
  const names = [...new Set(members)].sort()
  if (!names.length) return []
  // exactly P mod n members hold one more than floor(P / n): a newcomer always gets its share
  const cap = Math.floor(partitions / names.length)
  let extra = partitions % names.length
  const pairs: Array<{ w: number; p: number; m: number }> = []
  for (let p = 0; p < partitions; p++) for (let m = 0; m < names.length; m++) pairs.push({ w: weight(names[m], p), p, m })
  // ties (rare) broken by partition, then member: the order is total, so everyone agrees
  pairs.sort((a, b) => b.w - a.w || a.p - b.p || a.m - b.m)
  const owner = new Array<string>(partitions)
  const load = new Array<number>(names.length).fill(0)
  let left = partitions
  for (const { p, m } of pairs) {
    if (owner[p] !== undefined || load[m] > cap) continue
    if (load[m] === cap) {
      if (extra === 0) continue
      extra--
    }
    owner[p] = names[m]
    load[m]++
    if (--left === 0) break
  }
  return owner
}

/** The partitions `member` owns under assignPartitions (empty when it is not among the members). */
export function partitionsOf(partitions: number, members: readonly string[], member: string): Set<number> {
  const out = new Set<number>()
  const owner = assignPartitions(partitions, members)
  for (let p = 0; p < owner.length; p++) if (owner[p] === member) out.add(p)
  return out
}
