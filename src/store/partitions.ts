/**
 * Native partition upkeep for plain PostgreSQL (TimescaleDB manages its chunks itself).
 * Partitions are created ahead by ensurePartitions(), and on demand for late data (blind-area
 * uploads days old) by ensurePartitionsCovering() before a batch is written.
 */
import type { StoreContext } from './context.js'
import type { Sql } from './sql.js'
import { partitionEnd, partitionName, parsePartitionName, type TimeTableSpec } from './time-tables.js'

export interface PartitionInfo {
  name: string
  start: number
  end: number
}

/** Our partitions of spec.table in the current schema. */
export async function listPartitions(sql: Sql, spec: TimeTableSpec): Promise<PartitionInfo[]> {
  const { rows } = await sql.query<{ name: string }>(
    `SELECT c.relname AS name
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE p.relname = $1 AND n.nspname = current_schema()`,
    [spec.table],
  )
  const out: PartitionInfo[] = []
  for (const r of rows) {
    const start = parsePartitionName(spec, r.name)
    if (start !== null) out.push({ name: r.name, start, end: partitionEnd(spec, start) })
  }
  return out.sort((a, b) => a.start - b.start)
}

export async function tableExists(sql: Sql, table: string): Promise<boolean> {
  const { rows } = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = $1 AND n.nspname = current_schema()`,
    [table],
  )
  return (rows[0]?.n ?? 0) > 0
}

/** Creates the partitions starting at `starts` that are missing. Returns the names created. */
export async function ensurePartitionsCovering(ctx: StoreContext, spec: TimeTableSpec, starts: number[]): Promise<string[]> {
  const missing = starts.filter((s) => !ctx.knownPartitions.has(partitionName(spec, s)))
  if (!missing.length) return []
  // Refresh from the catalog first: another process may have made them.
  for (const p of await listPartitions(ctx.sql, spec)) ctx.knownPartitions.add(p.name)
  const created: string[] = []
  for (const start of missing) {
    const name = partitionName(spec, start)
    if (ctx.knownPartitions.has(name)) continue
    const from = new Date(start).toISOString()
    const to = new Date(partitionEnd(spec, start)).toISOString()
    try {
      // CREATE TABLE … PARTITION OF would take an ACCESS EXCLUSIVE lock on the parent and stall
      // every insert and read of it meanwhile; CREATE + ATTACH PARTITION needs only SHARE UPDATE
      // EXCLUSIVE (PostgreSQL ≥ 12), so ingest keeps flowing while a day is added.
      await ctx.sql.transaction(async (tx) => {
        await tx.query(`CREATE TABLE ${name} (LIKE ${spec.table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING STORAGE)`)
        await tx.query(`ALTER TABLE ${spec.table} ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`)
      })
      created.push(name)
    } catch (e) {
      // 42P07 / 23505 (pg_class name index): a concurrent process created it first — the outcome we wanted.
      const code = (e as { code?: string }).code
      if (code !== '42P07' && code !== '23505') throw e
    }
    ctx.knownPartitions.add(name)
  }
  return created
}

/** Drops partitions whose whole range is older than `cutoff`. Returns the names dropped. */
export async function dropPartitionsBefore(ctx: StoreContext, spec: TimeTableSpec, cutoff: number): Promise<string[]> {
  const dropped: string[] = []
  for (const p of await listPartitions(ctx.sql, spec)) {
    if (p.end > cutoff) continue
    await ctx.sql.query(`DROP TABLE IF EXISTS ${p.name}`)
    ctx.knownPartitions.delete(p.name)
    dropped.push(p.name)
  }
  return dropped
}
