/**
 * One matcher worker process for test/matcher/failover.test.ts: the real PostgreSQL (schema from
 * FO_SCHEMA) and Redis (prefix FO_PREFIX), the partitioned stream, and a simulated clock the test
 * writes to stdin (one number per line: ms), so device time can run compressed. Prints one JSON
 * line per change of the partitions it owns. SIGTERM closes it gracefully; the test also kills it
 * with SIGKILL.
 */
import { DEFAULTS } from '../../src/config/index.js'
import { MatcherService } from '../../src/matcher/service.js'
import { RedisState } from '../../src/state/redis.js'
import { openStore } from '../../src/store/index.js'

const env = (k: string) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}

let now = Number(env('FO_START'))
let buf = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk: string) => {
  buf += chunk
  const lines = buf.split('\n')
  buf = lines.pop()!
  for (const l of lines) if (l) now = Math.max(now, Number(l))
})

const store = await openStore({ ...structuredClone(DEFAULTS), databaseUrl: env('FO_DATABASE_URL') }, { schema: env('FO_SCHEMA'), migrate: false, poolSize: 3 })
const state = new RedisState(env('FO_REDIS_URL'), { prefix: env('FO_PREFIX') })
const service = new MatcherService({
  store,
  state,
  clock: () => now,
  tickMs: 200,
  waybillPollMs: 3_600_000,
  zonesRefreshMs: 0,
  checkpointMs: Number(env('FO_CHECKPOINT_MS')),
})
await service.start({ streams: { partitions: Number(env('FO_PARTITIONS')), consumer: env('FO_NAME'), leaseMs: Number(env('FO_LEASE_MS')), blockMs: 50, batch: 64 } })

let last = ''
const report = setInterval(() => {
  const owned = service.ownedPartitions().join(',')
  if (owned !== last) {
    last = owned
    process.stdout.write(JSON.stringify({ owned: service.ownedPartitions(), at: Date.now() }) + '\n')
  }
}, 20)

process.on('SIGTERM', () => {
  clearInterval(report)
  void (async () => {
    await service.close()
    await state.close()
    await store.close()
    process.stdout.write(JSON.stringify({ closed: true }) + '\n')
    process.exit(0)
  })()
})
