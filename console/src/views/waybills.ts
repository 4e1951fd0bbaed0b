/** Waybills: list (newest first, by status and plate), detail with the 29 fields, goods, status history, signed QR code, and lifecycle moves. */
import { api, ApiError } from '../api.js'
import { clear, fmtTime, h, table } from '../dom.js'
import { t } from '../i18n.js'
import type { View } from '../main.js'

interface Waybill {
  waybillNo: string
  status: string
  plate: string
  carrierName: string
  carrierLicenseNo: string
  destination: string
  loadingDate: string
  expectedArrivalDate: string
  goods: { unNumber: string; name: string; hazardClass: string; quantity: number; unit: string }[]
  statusHistory: { status: string; at: string; by?: string; note?: string }[]
  [field: string]: unknown
}

const STATUSES = ['created', 'dispatched', 'in_transit', 'completed', 'cancelled']
/** The lifecycle (the API refuses anything else with 409). */
const NEXT: Record<string, string[]> = { created: ['dispatched', 'cancelled'], dispatched: ['in_transit', 'cancelled'], in_transit: ['completed', 'cancelled'], completed: [], cancelled: [] }
const HIDDEN = new Set(['goods', 'statusHistory', 'plannedRoute', 'loadingPoint', 'destinationPoint'])

export const waybillsView: View = async (root, session, args) => {
  if (args[0]) return detail(root, session.me.role !== 'inspector', args[0])
  const status = h(
    'select',
    { id: 'waybill-status' },
    h('option', { value: '' }, t('all')),
    STATUSES.map((s) => h('option', { value: s }, s)),
  )
  const plate = h('input', { type: 'search', placeholder: t('searchPlate'), id: 'waybill-plate' })
  const out = h('div', { id: 'waybill-list' })
  const load = async () => {
    try {
      const r = await api<{ items: Waybill[] }>('/waybills', { query: { status: status.value || undefined, plate: plate.value.trim() || undefined, limit: 200 } })
      clear(
        out,
        r.items.length
          ? table(
              [t('waybillNo'), t('status'), t('plate'), t('carrier'), t('destination'), t('window')],
              r.items,
              (w) => [w.waybillNo, w.status, w.plate, w.carrierName, w.destination, `${w.loadingDate} → ${w.expectedArrivalDate}`],
              (w) => (location.hash = `#/waybills/${encodeURIComponent(w.waybillNo)}`),
            )
          : h('p', { class: 'muted' }, t('noData')),
      )
    } catch (err) {
      clear(out, h('p', { class: 'error' }, (err as Error).message))
    }
  }
  status.addEventListener('change', load)
  plate.addEventListener('change', load)
  clear(root, h('section', { class: 'page' }, h('div', { class: 'row filters' }, status, plate), out))
  await load()
}

async function detail(root: HTMLElement, canWrite: boolean, no: string) {
  let w: Waybill
  try {
    w = await api<Waybill>(`/waybills/${encodeURIComponent(no)}`)
  } catch (err) {
    clear(root, h('section', { class: 'page' }, h('p', { class: 'error' }, (err as Error).message)))
    return
  }
  const qr = h('div', { class: 'qr' })
  const error = h('p', { class: 'error', role: 'alert' })
  api<{ svg: string }>(`/waybills/${encodeURIComponent(no)}/qrcode`)
    .then((r) => clear(qr, h('img', { alt: t('qrcode'), width: 180, height: 180, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.svg)}` })))
    .catch((err) => clear(qr, h('span', { class: 'muted' }, (err as Error).message)))
  const moves = canWrite
    ? (NEXT[w.status] ?? []).map((to) =>
        h(
          'button',
          {
            type: 'button',
            'data-move': to,
            onclick: async () => {
              try {
                await api(`/waybills/${encodeURIComponent(no)}`, { method: 'PATCH', body: { status: to } })
                await detail(root, canWrite, no)
              } catch (err) {
                error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)
              }
            },
          },
          `→ ${to}`,
        ),
      )
    : []
  const fields = Object.entries(w).filter(([k, v]) => !HIDDEN.has(k) && (typeof v === 'string' || typeof v === 'number'))
  clear(
    root,
    h(
      'section',
      { class: 'page' },
      h('p', {}, h('a', { href: '#/waybills' }, `← ${t('back')}`)),
      h('h2', {}, `${t('waybill')} ${w.waybillNo} · `, h('span', { id: 'waybill-state' }, w.status)),
      h('div', { class: 'row' }, moves, error),
      h(
        'div',
        { class: 'cols' },
        h(
          'dl',
          { class: 'facts' },
          fields.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]),
        ),
        qr,
      ),
      h('h3', {}, t('cargo')),
      table(['UN', 'name', 'class', 'quantity'], w.goods, (g) => [g.unNumber, g.name, g.hazardClass, `${g.quantity} ${g.unit}`]),
      h('h3', {}, t('statusHistory')),
      h(
        'ol',
        { class: 'history' },
        w.statusHistory.map((s) => h('li', {}, h('b', {}, s.status), ` ${fmtTime(s.at)} ${s.by ?? ''} ${s.note ?? ''}`)),
      ),
    ),
  )
}
