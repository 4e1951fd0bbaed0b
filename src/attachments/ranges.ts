/** Received byte ranges of a file: sorted, disjoint, merged half-open [start, end) pairs. */
export class RangeSet {
  private readonly r: Array<[number, number]> = []

  add(start: number, end: number): void {
    if (end <= start) return
    const r = this.r
    let i = 0
    while (i < r.length && r[i][1] < start) i++
    let j = i
    let s = start
    let e = end
    while (j < r.length && r[j][0] <= e) {
      s = Math.min(s, r[j][0])
      e = Math.max(e, r[j][1])
      j++
    }
    r.splice(i, j - i, [s, e])
  }

  /** Bytes covered. */
  get covered(): number {
    let n = 0
    for (const [s, e] of this.r) n += e - s
    return n
  }

  /** The gaps in [0, size) as (offset, length). */
  missing(size: number): Array<{ offset: number; length: number }> {
    const out: Array<{ offset: number; length: number }> = []
    let at = 0
    for (const [s, e] of this.r) {
      if (s > at) out.push({ offset: at, length: Math.min(s, size) - at })
      at = Math.max(at, e)
      if (at >= size) break
    }
    if (at < size) out.push({ offset: at, length: size - at })
    return out
  }
}
