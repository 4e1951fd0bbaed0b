/** Small platform settings as JSON by key, such as the SM2 key pair that signs waybill QR codes. */
import { fromJson } from './convert.js'
import type { SettingStore } from './port.js'
import type { Sql } from './sql.js'

export function settingQueries(sql: Sql): SettingStore {
  return {
    async getSetting<T>(key: string) {
      const { rows } = await sql.query<{ value: unknown }>(`SELECT value FROM platform_settings WHERE key = $1`, [key])
      return rows.length ? fromJson<T>(rows[0].value) : null
    },

    async putSettingIfAbsent<T>(key: string, value: T) {
      await sql.query(`INSERT INTO platform_settings (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO NOTHING`, [key, JSON.stringify(value)])
      const { rows } = await sql.query<{ value: unknown }>(`SELECT value FROM platform_settings WHERE key = $1`, [key])
      return fromJson<T>(rows[0].value)
    },
  }
}
