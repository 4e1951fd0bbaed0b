/**
 * Timing rounds shared by the codec benchmarks (bench/decode.ts, bench/decode809.ts): warm a
 * function up, then measure its CPU time per call over a round.
 */
export const ROUND_MS = Number(process.env.BENCH_MS ?? 300)

/** Every result is added here so the JIT cannot drop the calls; read it once at the end. */
let sink = 0
export const sinkValue = (): number => sink

/** CPU ns per call of fn over ~ROUND_MS (CPU time of this process: user + system, not wall time). */
export function round(fn: (b: Buffer) => number, src: Buffer, batch: number): number {
  const end = Date.now() + ROUND_MS
  let calls = 0
  const c0 = process.cpuUsage()
  while (Date.now() < end) {
    for (let i = 0; i < batch; i++) sink += fn(src)
    calls += batch
  }
  const c = process.cpuUsage(c0)
  return ((c.user + c.system) * 1000) / calls
}

/** Warms fn up (lets the JIT settle) and returns a batch size of ~10 ms. */
export function warm(fn: (b: Buffer) => number, src: Buffer): number {
  let batch = 1000
  for (let pass = 0; ; pass++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) sink += fn(src)
    const ns = Number(process.hrtime.bigint() - t0)
    if (ns > 10e6 && pass > 3) return batch
    if (ns <= 10e6) batch *= 2
  }
}
