/**
 * Run as a separate process by feed.test.ts: appends anomaly events to the shared Redis stream
 * the way the matcher service does, then prints the entry ids (one per line) and exits.
 *   node --import tsx test/api/append-process.ts REDIS_URL PREFIX EVENTS_JSON
 */
import { ANOMALY_EVENTS_STREAM, type AnomalyEvent } from '../../src/domain.js'
import { RedisState } from '../../src/state/redis.js'

const [url, prefix, json] = process.argv.slice(2)
const state = new RedisState(url, { prefix })
try {
  for (const event of JSON.parse(json) as AnomalyEvent[]) process.stdout.write((await state.append(ANOMALY_EVENTS_STREAM, event)) + '\n')
} finally {
  await state.close()
}
