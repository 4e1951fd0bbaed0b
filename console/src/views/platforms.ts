/**
 * JT/T 809 platforms (supervisors): each configured platform with the state of its links (lower
 * platforms that log in to us: main and sub link; superiors we forward to: forwarding state,
 * backlog), and the post queries 查岗 both ways — sent to a lower platform with its answer, who
 * answered and how late; asked by a superior, answered from here. Reads GET /platforms,
 * /platforms/links and /platforms/post-queries; refreshed every 5 s.
 */
import { api, ApiError } from '../api.js'
import { clear, fmtTime, h, table } from '../dom.js'
import { t } from '../i18n.js'
import type { View } from '../main.js'

interface Platform {
  id: number
  role: 'lower' | 'superior'
  name: string
  accessCode: number
  host: string | null
  port: number | null
  enabled: boolean
}

interface Link {
  up: boolean
  since: number
  lastMessageAt: number | null
  framesIn: number
  framesOut: number
  remote: string | null
}

interface LinkStates {
  lower: { platformId: number; main: Link; sub: Link | null; loggedInAt: number; positionsIn: number; latePositions: number }[]
  superior: { platformId: number; state: string; since: number; main: Link | null; sub: Link | null; positionsOut: number; backlogRows: number }[]
}

interface PostQuery {
  id: number
  platformId: number
  direction: 'out' | 'in'
  question: string
  sentAt: string
  deadlineAt: string
  answeredAt: string | null
  answer: string | null
  responder: string | null
  responderTel: string | null
  delayMs: number | null
  overdue: boolean
}

const REFRESH_MS = 5000
const at = (ms: number | null | undefined) => (ms ? new Date(ms).toLocaleString() : '—')
const linkText = (l: Link | null | undefined) => (l ? `${l.up ? t('linkUp') : t('linkDown')} · ${at(l.since)}${l.remote ? ` · ${l.remote}` : ''}` : '—')

export const platformsView: View = async (root) => {
  const platformsEl = h('div', { id: 'platform-list' })
  const queriesEl = h('div', { id: 'post-queries' })
  const target = h('select', { id: 'post-query-platform' })
  const question = h('input', { type: 'text', id: 'post-query-question', placeholder: t('question'), maxlength: 1000 })
  const error = h('p', { class: 'error', role: 'alert' })
  clear(
    root,
    h(
      'section',
      { class: 'page' },
      h('h2', {}, t('platformLinks')),
      platformsEl,
      h('h2', {}, t('postQueries')),
      h('div', { class: 'row filters' }, target, question, h('button', { type: 'button', class: 'primary', id: 'post-query-send', onclick: () => void send() }, t('sendPostQuery'))),
      error,
      queriesEl,
    ),
  )

  let names = new Map<number, string>()
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false

  async function refresh(auto = false) {
    // someone typing an answer: leave the table alone until the next round
    if (auto && queriesEl.contains(document.activeElement)) {
      timer = setTimeout(() => void refresh(true), REFRESH_MS)
      return
    }
    try {
      const [platforms, links, queries] = await Promise.all([
        api<{ items: Platform[] }>('/platforms'),
        api<LinkStates>('/platforms/links'),
        api<{ items: PostQuery[] }>('/platforms/post-queries', { query: { limit: 100 } }),
      ])
      if (stopped) return
      names = new Map(platforms.items.map((p) => [p.id, p.name]))
      const lower = new Map(links.lower.map((l) => [l.platformId, l]))
      const superior = new Map(links.superior.map((l) => [l.platformId, l]))
      clear(
        platformsEl,
        platforms.items.length
          ? table([t('name'), t('role'), t('accessCode'), t('linkState'), t('mainLink'), t('subLink'), t('positions')], platforms.items, (p) => {
              const lo = lower.get(p.id)
              const su = superior.get(p.id)
              const state = !p.enabled ? t('disabled') : p.role === 'lower' ? (lo ? t('loggedIn') : t('notLoggedIn')) : (su?.state ?? 'down')
              const up = p.enabled && (p.role === 'lower' ? !!lo : su?.state === 'live')
              return [
                p.name,
                t(`platformRole.${p.role}`),
                p.accessCode,
                h('span', { class: `link-state ${up ? 'up' : 'down'}`, 'data-platform': p.id, 'data-state': p.role === 'lower' ? (lo ? 'logged-in' : 'down') : (su?.state ?? 'down') }, state),
                linkText(lo?.main ?? su?.main),
                linkText(lo?.sub ?? su?.sub),
                lo ? `↓ ${lo.positionsIn}` : su ? `↑ ${su.positionsOut}${su.backlogRows ? ` (${t('backlog')} ${su.backlogRows})` : ''}` : '—',
              ]
            })
          : h('p', { class: 'muted' }, t('noData')),
      )
      // 查岗 can be sent to a lower platform that is logged in
      const current = target.value
      clear(
        target,
        platforms.items.filter((p) => p.role === 'lower' && lower.has(p.id)).map((p) => h('option', { value: p.id }, p.name)),
      )
      if (current) target.value = current
      clear(
        queriesEl,
        queries.items.length
          ? table([t('direction'), t('platform'), t('question'), t('sent'), t('answer'), t('responder'), t('delay')], queries.items, (q) => [
              h('span', { 'data-query': q.id, 'data-direction': q.direction }, t(`dir.${q.direction}`)),
              names.get(q.platformId) ?? q.platformId,
              q.question,
              fmtTime(q.sentAt),
              q.answer ?? (q.direction === 'in' ? answerForm(q) : h('span', { class: q.overdue ? 'error' : 'muted' }, q.overdue ? t('overdue') : t('waiting'))),
              q.responder ? `${q.responder}${q.responderTel ? ` ${q.responderTel}` : ''}` : '—',
              q.delayMs === null ? '—' : h('span', { class: q.overdue ? 'error' : '' }, `${Math.round(q.delayMs / 1000)} s`),
            ])
          : h('p', { class: 'muted' }, t('noData')),
      )
      window.__console.platforms = { platforms: platforms.items.length, queries: queries.items.length }
    } catch (err) {
      error.textContent = (err as Error).message
    }
    if (!stopped) timer = setTimeout(() => void refresh(true), REFRESH_MS)
  }

  /** A superior's 查岗 waiting for our answer: answered from here (sent as 0x1301). */
  function answerForm(q: PostQuery): HTMLElement {
    const input = h('input', { type: 'text', class: 'answer', 'data-answer-for': q.id, placeholder: t('answer'), maxlength: 1000 })
    const responder = h('input', { type: 'text', class: 'responder', placeholder: t('responder'), maxlength: 16 })
    return h(
      'form',
      {
        class: 'row',
        onsubmit: async (e: Event) => {
          e.preventDefault()
          try {
            await api(`/platforms/post-queries/${q.id}/answer`, { method: 'POST', body: { answer: input.value.trim(), ...(responder.value.trim() ? { responder: responder.value.trim() } : {}) } })
            clearTimeout(timer)
            await refresh()
          } catch (err) {
            error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)
          }
        },
      },
      input,
      responder,
      h('button', { type: 'submit' }, t('sendAnswer')),
    )
  }

  async function send() {
    error.textContent = ''
    if (!target.value || !question.value.trim()) return
    try {
      await api(`/platforms/${target.value}/post-queries`, { method: 'POST', body: { question: question.value.trim() } })
      question.value = ''
      clearTimeout(timer)
      await refresh()
    } catch (err) {
      error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)
    }
  }

  await refresh()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
