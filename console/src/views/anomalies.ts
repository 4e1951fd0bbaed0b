/**
 * Anomalies: the live list (SSE, see live.ts) with filters; the detail shows the evidence on a
 * small map (its sample points [t, lon, lat, speed], else the vehicle's last fix) and the handling
 * loop notify → rectify → confirm / dismiss with its history. Opening the list clears the badge.
 */
import { api, ApiError, apiBlobUrl } from '../api.js'
import { createMap, STATE_COLORS } from '../basemap.js'
import { clear, fmtTime, h, table } from '../dom.js'
import { t } from '../i18n.js'
import type { Anomaly } from '../live.js'
import type { View } from '../main.js'

interface Handling {
  id: string
  action: string
  note: string | null
  at: string
  by: { tokenId: string | null; role: string | null; enterpriseLicenseNo: string | null }
}

/** Which steps may follow the current one (mirrors the API's rule; the API has the last word). */
const NEXT: Record<string, string[]> = { none: ['notify', 'dismiss'], notify: ['rectify', 'notify', 'dismiss'], rectify: ['confirm', 'notify', 'dismiss'], confirm: [], dismiss: [] }

export const anomaliesView: View = (root, session, args) => {
  const severity = h(
    'select',
    { id: 'sev-filter' },
    h('option', { value: '' }, t('severity')),
    ['critical', 'warning', 'info'].map((s) => h('option', { value: s }, t(`sev.${s}`))),
  )
  const status = h('select', { id: 'status-filter' }, h('option', { value: '' }, t('all')), h('option', { value: 'open' }, t('open')), h('option', { value: 'closed' }, t('closed')))
  const plate = h('input', { type: 'search', placeholder: t('searchPlate'), id: 'anomaly-plate' })
  const listEl = h('div', { class: 'anomaly-list', id: 'anomaly-list' })
  const detail = h('section', { class: 'detail', id: 'anomaly-detail' })
  clear(root, h('div', { class: 'split wide-left' }, h('div', { class: 'panel' }, h('div', { class: 'row filters' }, severity, status, plate), listEl), detail))
  const selected: string | null = args[0] ?? null
  let detailCleanup: (() => void) | null = null

  function paintList() {
    const q = plate.value.trim().toUpperCase()
    const rows = session.live
      .list()
      .filter((a) => (!severity.value || a.severity === severity.value) && (!status.value || a.status === status.value) && (!q || a.plate.toUpperCase().includes(q)))
      .slice(0, 300)
    if (!rows.length) return clear(listEl, h('p', { class: 'muted' }, t('noData')))
    const tbl = table(
      [t('severity'), t('type'), t('plate'), t('started'), t('status'), t('handling')],
      rows,
      (a) => [h('span', { class: `sev ${a.severity}` }, t(`sev.${a.severity}`)), t(`type.${a.type}`), a.plate, fmtTime(a.startedAt), t(`st.${a.status}`), t(`h.${a.handling ?? 'none'}`)],
      (a) => {
        location.hash = `#/anomalies/${encodeURIComponent(a.id)}`
      },
    )
    tbl.querySelectorAll('tbody tr').forEach((tr, i) => {
      tr.setAttribute('data-id', rows[i].id)
      if (rows[i].id === selected) tr.classList.add('selected')
    })
    clear(listEl, tbl)
  }

  async function showDetail(id: string) {
    detailCleanup?.()
    detailCleanup = null
    window.__console.evidence = null
    let a: Anomaly & { handlingHistory: Handling[] }
    try {
      a = await api(`/anomalies/${encodeURIComponent(id)}`)
    } catch (err) {
      clear(detail, h('p', { class: 'error' }, (err as Error).message))
      return
    }
    const mapEl = h('div', { class: 'map small', id: 'evidence-map' })
    const note = h('textarea', { id: 'handling-note', rows: 2, placeholder: t('note') })
    const error = h('p', { class: 'error', role: 'alert' })
    const allowed = (NEXT[a.handling ?? 'none'] ?? []).filter((x) => (session.me.role === 'enterprise' ? x === 'rectify' : session.me.role === 'supervisor' ? x !== 'rectify' : false))
    const buttons = allowed.map((action) =>
      h(
        'button',
        {
          type: 'button',
          class: action === 'dismiss' ? '' : 'primary',
          'data-action': action,
          onclick: async () => {
            try {
              await api(`/anomalies/${encodeURIComponent(a.id)}/handling`, { method: 'POST', body: { action, ...(note.value.trim() ? { note: note.value.trim() } : {}) } })
              session.live.update({ ...a, handling: action })
              await showDetail(a.id)
              paintList()
            } catch (err) {
              error.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)
            }
          },
        },
        t(`act.${action}`),
      ),
    )
    const ev = Object.entries(a.evidence).filter(([k]) => k !== 'points' && k !== 'attachments')
    const files = attachmentsOf(a)
    const gallery = h('div', { class: 'attachments', id: 'attachments' })
    clear(
      detail,
      h('h2', {}, h('span', { class: `sev ${a.severity}` }, t(`sev.${a.severity}`)), ' ', t(`type.${a.type}`), ' · ', h('a', { href: `#/vehicle/${encodeURIComponent(a.plate)}` }, a.plate)),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, t('status')),
        h('dd', { id: 'anomaly-status' }, t(`st.${a.status}`), ' · ', h('b', { id: 'anomaly-handling' }, t(`h.${a.handling ?? 'none'}`))),
        h('dt', {}, t('started')),
        h('dd', {}, fmtTime(a.startedAt)),
        h('dt', {}, t('lastSeen')),
        h('dd', {}, fmtTime(a.lastSeenAt)),
        h('dt', {}, t('waybill')),
        h('dd', {}, a.waybillNo ?? t('none')),
        h('dt', {}, t('enterprise')),
        h('dd', {}, a.enterpriseLicenseNo ?? '—'),
      ),
      h('h3', {}, t('evidence')),
      mapEl,
      ev.length
        ? h(
            'dl',
            { class: 'facts' },
            ev.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))]),
          )
        : null,
      Array.isArray(a.evidence.attachments) ? [h('h3', {}, t('attachments')), files.length ? gallery : h('p', { class: 'muted', id: 'attachments' }, t('attachmentsPending'))] : null,
      h('h3', {}, t('handling')),
      buttons.length ? h('div', {}, note, h('div', { class: 'row' }, buttons), error) : null,
      h('h3', {}, t('history')),
      a.handlingHistory.length
        ? h(
            'ol',
            { class: 'history', id: 'handling-history' },
            a.handlingHistory.map((x) =>
              h(
                'li',
                { 'data-action': x.action },
                h('b', {}, t(`h.${x.action}`)),
                ` ${fmtTime(x.at)} · ${x.by.role ?? ''}${x.by.enterpriseLicenseNo ? ` ${x.by.enterpriseLicenseNo}` : ''}`,
                x.note ? h('div', { class: 'muted' }, x.note) : null,
              ),
            ),
          )
        : h('p', { class: 'muted', id: 'handling-history' }, t('noData')),
    )
    const urls: string[] = []
    void showAttachments(files, gallery, urls)
    const points = await evidencePoints(a)
    const map = await createMap(mapEl, { center: points[0] ?? [108, 34], zoom: points.length ? 11 : 3 })
    detailCleanup = () => {
      map.remove()
      urls.forEach((u) => URL.revokeObjectURL(u))
    }
    if (points.length) {
      map.addSource('evidence', {
        type: 'geojson',
        data: {
          type: 'FeatureCollection',
          features: [
            { type: 'Feature', geometry: { type: 'LineString', coordinates: points }, properties: {} },
            ...points.map((c) => ({ type: 'Feature' as const, geometry: { type: 'Point' as const, coordinates: c }, properties: {} })),
          ],
        },
      })
      map.addLayer({ id: 'evidence-line', type: 'line', source: 'evidence', paint: { 'line-color': STATE_COLORS.alarm, 'line-width': 2 } })
      map.addLayer({
        id: 'evidence-points',
        type: 'circle',
        source: 'evidence',
        filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 5, 'circle-color': STATE_COLORS.alarm, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
      })
      if (points.length > 1) {
        const lons = points.map((p) => p[0])
        const lats = points.map((p) => p[1])
        map.fitBounds(
          [
            [Math.min(...lons), Math.min(...lats)],
            [Math.max(...lons), Math.max(...lats)],
          ],
          { padding: 30, maxZoom: 14, duration: 0 },
        )
      }
    }
    map.once('idle', () => (window.__console.evidence = points.length))
  }

  /** Photos as images, clips as players, anything else as a download; each fetched with the token. */
  async function showAttachments(files: AttachmentRef[], gallery: HTMLElement, urls: string[]) {
    let shown = 0
    for (const f of files) {
      const kind = f.contentType.startsWith('image/') ? 'image' : f.contentType.startsWith('video/') ? 'video' : 'file'
      const item = h('figure', { class: 'attachment', 'data-kind': kind, 'data-name': f.name })
      gallery.append(item)
      try {
        const url = await apiBlobUrl(f.href)
        urls.push(url)
        const media = kind === 'image' ? h('img', { src: url, alt: f.name }) : kind === 'video' ? h('video', { src: url, controls: true, preload: 'metadata' }) : null
        clear(item, media, h('figcaption', {}, h('a', { href: url, download: f.name }, f.name), ` · ${Math.ceil(f.size / 1024)} KB`))
        shown++
      } catch (err) {
        clear(item, h('figcaption', { class: 'error' }, `${f.name}: ${(err as Error).message}`))
      }
    }
    window.__console.attachments = shown
  }

  async function evidencePoints(a: Anomaly): Promise<[number, number][]> {
    const e = a.evidence as { points?: unknown; longitude?: unknown; latitude?: unknown }
    if (Array.isArray(e.points)) return e.points.filter((p): p is number[] => Array.isArray(p) && p.length >= 3).map((p) => [p[1], p[2]])
    if (typeof e.longitude === 'number' && typeof e.latitude === 'number') return [[e.longitude, e.latitude]]
    try {
      const v = await api<{ live: { lastPosition: { longitude: number; latitude: number } | null } }>(`/vehicles/${encodeURIComponent(a.plate)}`, { query: { plateColor: a.plateColor } })
      return v.live.lastPosition ? [[v.live.lastPosition.longitude, v.live.lastPosition.latitude]] : []
    } catch {
      return []
    }
  }

  for (const el of [severity, status]) el.addEventListener('change', paintList)
  plate.addEventListener('input', paintList)
  session.live.seen()
  const off = session.live.on(() => {
    session.live.seen()
    paintList()
  })
  paintList()
  if (selected) void showDetail(selected)
  else clear(detail, h('p', { class: 'muted' }, t('anomalies')))
  return () => {
    off()
    detailCleanup?.()
  }
}

interface AttachmentRef {
  id: string
  name: string
  contentType: string
  size: number
  href: string
}

/** The stored files an anomaly's evidence lists (active-safety alarms), checked field by field. */
function attachmentsOf(a: Anomaly): AttachmentRef[] {
  const list = (a.evidence as { attachments?: unknown }).attachments
  if (!Array.isArray(list)) return []
  return list.filter(
    (x): x is AttachmentRef =>
      typeof x === 'object' &&
      x !== null &&
      typeof x.href === 'string' &&
      x.href.startsWith('/api/v1/attachments/') &&
      typeof x.name === 'string' &&
      typeof x.contentType === 'string' &&
      typeof x.size === 'number',
  )
}
