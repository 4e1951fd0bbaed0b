/**
 * 005_plate_key: plates compared in one canonical form (canonicalPlate, src/domain.ts) beside the
 * display form. vehicles.plate_key with the registry's identity (plate_key, plate_color) unique, so
 * "浙b 82001" can no longer be registered beside "浙B82001"; anomalies.plate_key for the plate
 * filter; waybills.plate / trailer_plate (already upper case without spaces) brought to the same form.
 *
 * The keys are computed here with the same function the application uses (not a SQL copy of it).
 * Vehicles registered twice under one canonical plate before this migration: the first registered
 * keeps the key; each later one gets "<key>#<id>" — kept with its history and terminal binding,
 * but no longer found by plate, so an operator decides which is real.
 */
import { canonicalPlate } from '../../domain.js'
import type { Sql } from '../sql.js'
import type { Migration } from './index.js'

async function setKeys(sql: Sql, table: string, keyColumn: string, matchColumn: string, pairs: Array<[string | number, string]>, cast: string): Promise<void> {
  if (!pairs.length) return
  await sql.query(`UPDATE ${table} t SET ${keyColumn} = u.key FROM unnest($1::${cast}[], $2::text[]) AS u(match, key) WHERE t.${matchColumn} = u.match`, [
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
  ])
}

export const migration: Migration = {
  id: '005_plate_key',
  async up(sql) {
    await sql.query(`ALTER TABLE vehicles ADD COLUMN IF NOT EXISTS plate_key text`)
    const { rows: vehicles } = await sql.query<{ id: number; plate: string; plate_color: number }>(`SELECT id, plate, plate_color FROM vehicles ORDER BY id`)
    const taken = new Set<string>()
    const keys: Array<[number, string]> = vehicles.map((v) => {
      const key = canonicalPlate(v.plate)
      const identity = `${key}|${v.plate_color}`
      if (taken.has(identity)) return [Number(v.id), `${key}#${v.id}`]
      taken.add(identity)
      return [Number(v.id), key]
    })
    await setKeys(sql, 'vehicles', 'plate_key', 'id', keys, 'int4')
    await sql.query(`ALTER TABLE vehicles ALTER COLUMN plate_key SET NOT NULL`)
    await sql.query(`ALTER TABLE vehicles DROP CONSTRAINT IF EXISTS vehicles_plate_plate_color_key`)
    await sql.query(`CREATE UNIQUE INDEX IF NOT EXISTS vehicles_plate_key ON vehicles (plate_key, plate_color)`)

    await sql.query(`ALTER TABLE anomalies ADD COLUMN IF NOT EXISTS plate_key text`)
    const { rows: anomalyPlates } = await sql.query<{ plate: string }>(`SELECT DISTINCT plate FROM anomalies`)
    await setKeys(
      sql,
      'anomalies',
      'plate_key',
      'plate',
      anomalyPlates.map((r) => [r.plate, canonicalPlate(r.plate)]),
      'text',
    )
    await sql.query(`CREATE INDEX IF NOT EXISTS anomalies_plate_key ON anomalies (plate_key, seq)`)
    await sql.query(`DROP INDEX IF EXISTS anomalies_plate`)

    for (const column of ['plate', 'trailer_plate']) {
      const { rows } = await sql.query<{ plate: string }>(`SELECT DISTINCT ${column} AS plate FROM waybills WHERE ${column} IS NOT NULL`)
      const changed = rows.filter((r) => canonicalPlate(r.plate) !== r.plate).map((r): [string, string] => [r.plate, canonicalPlate(r.plate)])
      await setKeys(sql, 'waybills', column, column, changed, 'text')
    }
  },
}
