/** Admin (supervisors): tokens (create, revoke), the audit log, terminal sessions. */
import { api, ApiError } from '../api.js'
import { clear, fmtTime, h, table } from '../dom.js'
import { t } from '../i18n.js'
import type { View } from '../main.js'

interface Token {
  id: string
  role: string
  enterpriseLicenseNo: string | null
  label: string | null
  createdAt: string
  revokedAt: string | null
}

interface AuditEntry {
  at: string
  role: string | null
  enterpriseLicenseNo: string | null
  method: string
  route: string
  target: string | null
  status: number
}

interface TerminalSession {
  phone: string
  since: string
  address: string
  node: string
  plate: string | null
}

export const adminView: View = async (root) => {
  const tokens = h('div', { id: 'tokens' })
  const audit = h('div', { id: 'audit' })
  const sessions = h('div', { id: 'sessions' })
  const role = h(
    'select',
    { id: 'new-token-role' },
    ['supervisor', 'enterprise', 'inspector'].map((r) => h('option', { value: r }, r)),
  )
  const licence = h('input', { id: 'new-token-licence', placeholder: t('enterprise') })
  const label = h('input', { id: 'new-token-label', placeholder: t('label') })
  const created = h('p', { class: 'secret', id: 'new-token-secret' })
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const r = await api<{ token: string }>('/tokens', {
        method: 'POST',
        body: { role: role.value, enterpriseLicenseNo: role.value === 'enterprise' ? licence.value.trim() : null, label: label.value.trim() || null },
      })
      created.textContent = r.token
      await Promise.all([loadTokens(), loadAudit()])
    } catch (err) {
      created.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)
    }
  }
  clear(
    root,
    h(
      'section',
      { class: 'page' },
      h('h2', {}, t('tokens')),
      h('form', { class: 'row filters', onsubmit: create }, role, licence, label, h('button', { class: 'primary' }, t('newToken'))),
      created,
      tokens,
      h('h2', {}, t('sessions')),
      sessions,
      h('h2', {}, t('audit')),
      audit,
    ),
  )

  async function loadTokens() {
    const r = await api<{ items: Token[] }>('/tokens')
    clear(
      tokens,
      table(['id', t('role'), t('enterprise'), t('label'), t('created'), t('revoked'), ''], r.items, (x) => [
        x.id,
        x.role,
        x.enterpriseLicenseNo ?? '',
        x.label ?? '',
        fmtTime(x.createdAt),
        x.revokedAt ? fmtTime(x.revokedAt) : '',
        x.revokedAt
          ? ''
          : h('button', { type: 'button', onclick: async () => (await api(`/tokens/${encodeURIComponent(x.id)}`, { method: 'DELETE' }), await Promise.all([loadTokens(), loadAudit()])) }, t('revoke')),
      ]),
    )
  }
  async function loadAudit() {
    const r = await api<{ items: AuditEntry[] }>('/audit', { query: { limit: 50 } })
    clear(
      audit,
      r.items.length
        ? table([t('time'), t('role'), 'method', t('route'), t('target'), t('status')], r.items, (x) => [
            fmtTime(x.at),
            `${x.role ?? ''} ${x.enterpriseLicenseNo ?? ''}`,
            x.method,
            x.route,
            x.target ?? '',
            x.status,
          ])
        : h('p', { class: 'muted' }, t('noData')),
    )
  }
  async function loadSessions() {
    const r = await api<{ items: TerminalSession[] }>('/terminals/sessions', { query: { limit: 200 } })
    clear(
      sessions,
      r.items.length
        ? table([t('phone'), t('plate'), t('node'), t('since'), t('address')], r.items, (x) => [x.phone, x.plate ?? '', x.node, fmtTime(x.since), x.address])
        : h('p', { class: 'muted' }, t('noData')),
    )
  }
  await Promise.all([loadTokens(), loadAudit(), loadSessions()]).catch((err) => clear(audit, h('p', { class: 'error' }, (err as Error).message)))
}
