/** CommandStore: downlink commands kept for terminals that are offline. */
import type { QueuedCommand } from '../domain.js'
import type { StoreContext } from './context.js'
import { iso, num, toMs } from './convert.js'
import type { CommandStore } from './port.js'

interface CommandRow {
  id: string
  phone: string
  msg_id: number
  body: unknown
  created_at: Date
  expires_at: Date
}

function toCommand(r: CommandRow): QueuedCommand {
  return { id: r.id, phone: r.phone, msgId: num(r.msg_id), body: r.body, createdAt: toMs(r.created_at), expiresAt: toMs(r.expires_at) }
}

export function commandQueries(ctx: StoreContext): CommandStore {
  const { sql } = ctx
  /** One statement for many terminals (a reconnect storm): a command is handed out once even if two sessions of the phone race. */
  async function takeOf(phones: string[], now: number): Promise<Map<string, QueuedCommand[]>> {
    const out = new Map<string, QueuedCommand[]>()
    if (phones.length === 0) return out
    const { rows } = await sql.query<CommandRow>(`DELETE FROM queued_commands WHERE phone = ANY($1::text[]) RETURNING id, phone, msg_id, body, created_at, expires_at`, [phones])
    const taken = rows.map(toCommand)
    const live = taken.filter((c) => c.expiresAt > now)
    const expired = taken.filter((c) => c.expiresAt <= now)
    if (taken.length) {
      await sql.query(
        `UPDATE command_status SET status = CASE WHEN id = ANY($1::text[]) THEN 'delivered' ELSE 'expired' END, updated_at = $3
          WHERE id = ANY($1::text[]) OR id = ANY($2::text[])`,
        [live.map((c) => c.id), expired.map((c) => c.id), iso(now)],
      )
    }
    live.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    for (const c of live) {
      const list = out.get(c.phone)
      if (list) list.push(c)
      else out.set(c.phone, [c])
    }
    return out
  }
  return {
    async enqueueCommand(cmd) {
      // The status row follows the command (GET /commands/{id}); a requeued command is queued again.
      await sql.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO queued_commands (id, phone, msg_id, body, created_at, expires_at)
           VALUES ($1, $2, $3, $4::text::jsonb, $5, $6) ON CONFLICT (id) DO NOTHING`,
          [cmd.id, cmd.phone, cmd.msgId, JSON.stringify(cmd.body ?? null), iso(cmd.createdAt), iso(cmd.expiresAt)],
        )
        await tx.query(
          `INSERT INTO command_status (id, phone, msg_id, status, created_at, expires_at, updated_at)
           VALUES ($1, $2, $3, 'queued', $4, $5, now()) ON CONFLICT (id) DO UPDATE SET status = 'queued', updated_at = now()`,
          [cmd.id, cmd.phone, cmd.msgId, iso(cmd.createdAt), iso(cmd.expiresAt)],
        )
      })
    },

    async takePendingCommands(phone, now) {
      return (await takeOf([phone], now)).get(phone) ?? []
    },

    takePendingCommandsOf: takeOf,
  }
}
