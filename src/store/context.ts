/**
 * What every query module of the store receives. A module is a function (ctx) => { methods },
 * spread into the Store object in src/store/index.ts.
 */
import type { Config } from '../config/index.js'
import type { Sql } from './sql.js'

export interface StoreContext {
  sql: Sql
  config: Config
  /** Set by detection/migration: true when the schema uses TimescaleDB hypertables. */
  mode: { timescale: boolean }
  /** 'auto' detects TimescaleDB; true requires it; false forces native partitions. */
  timescaleOption: 'auto' | boolean
  /** Plain PostgreSQL: names of partitions known to exist (saves a catalog lookup per batch). */
  knownPartitions: Set<string>
}
