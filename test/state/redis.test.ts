import { randomUUID } from 'node:crypto'
import t from 'tap'
import { RedisState } from '../../src/state/redis.js'
import { stateContract } from './contract.js'
import { REDIS_URL as url } from '../backends.js'

stateContract(t, async (n) => {
  const prefix = `test:state:${randomUUID()}:`
  const nodes = Array.from({ length: n }, () => new RedisState(url, { prefix }))
  return {
    nodes,
    dispose: async () => {
      await nodes[0].clear()
      await Promise.all(nodes.map((s) => s.close()))
    },
  }
})
