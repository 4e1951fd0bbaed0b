/**
 * Fleet map: every vehicle at its last position coloured by state, clustered (GeoJSON source with
 * cluster: true) so tens of thousands stay smooth; search by plate, filters by enterprise and
 * state. Cluster rings turn red when they hold a critical anomaly. The first GET /fleet brings the
 * whole fleet; every poll after it asks only for what changed (`since=<cursor>`) and hands the map
 * a diff (updateData), so a poll costs what moved, not the fleet.
 */
import { api } from '../api.js'
import { createMap, maplibregl, STATE_COLORS } from '../basemap.js'
import { clear, h } from '../dom.js'
import { t } from '../i18n.js'
import type { View } from '../main.js'

export interface FleetItem {
  plate: string
  plateColor: number
  enterpriseLicenseNo: string | null
  enterpriseName: string | null
  state: keyof typeof STATE_COLORS
  online: boolean
  waybillNo: string | null
  criticalAnomalies: number
  position: { longitude: number; latitude: number; speed: number; direction: number; deviceTime: string } | null
}

const STATES = ['alarm', 'moving', 'no_waybill', 'no_position', 'offline'] as const
const PAGE_QUERY = new URLSearchParams(location.search)
/** ?poll=<ms> in the page URL overrides (the bench polls every second). */
const POLL_MS = Math.max(500, Number(PAGE_QUERY.get('poll')) || 5000)
/** ?delta=0: refetch the whole fleet on every poll (the bench compares both) */
const DELTAS = PAGE_QUERY.get('delta') !== '0'

interface FleetAnswer {
  cursor: string
  full: boolean
  items: FleetItem[]
  removed: { plate: string; plateColor: number }[]
}

const keyOf = (v: { plate: string; plateColor: number }) => `${v.plate}/${v.plateColor}`

export const fleetView: View = async (root, session) => {
  const mapEl = h('div', { class: 'map', id: 'fleet-map' })
  const search = h('input', { type: 'search', id: 'plate-search', placeholder: t('searchPlate') })
  const enterprise = h('select', { id: 'enterprise-filter' }, h('option', { value: '' }, t('allEnterprises')))
  const stateSel = h(
    'select',
    { id: 'state-filter' },
    h('option', { value: '' }, t('allStates')),
    STATES.map((s) => h('option', { value: s }, t(`state.${s}`))),
  )
  const legend = h('ul', { class: 'legend' })
  const list = h('ul', { class: 'vehicle-list', id: 'vehicle-list' })
  if (session.me.role === 'enterprise') enterprise.hidden = true
  clear(root, h('div', { class: 'split' }, h('aside', { class: 'panel' }, search, enterprise, stateSel, legend, list), mapEl))

  const map = await createMap(mapEl)
  /** the fleet as last heard, by plate/colour; `shown`: what the map source holds now, by feature id */
  const items = new Map<string, FleetItem>()
  const ids = new Map<string, number>()
  const shown = new Map<number, GeoJSON.Feature>()
  let cursor: string | null = null
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  window.__console.map = map
  // what the map draws, for the tests and the bench (built when read; set again on every paint, so the view on screen is the one read)
  const expose = () => {
    window.__console.map = map
    Object.defineProperty(window.__console, 'fleet', { configurable: true, enumerable: true, get: () => ({ type: 'FeatureCollection', features: [...shown.values()] }) })
  }

  map.addSource('fleet', {
    type: 'geojson',
    data: { type: 'FeatureCollection', features: [] },
    cluster: true,
    clusterRadius: 40,
    clusterMaxZoom: 11,
    clusterProperties: { alarms: ['+', ['case', ['==', ['get', 'state'], 'alarm'], 1, 0]] },
  })
  map.addLayer({
    id: 'clusters',
    type: 'circle',
    source: 'fleet',
    filter: ['has', 'point_count'],
    paint: {
      'circle-color': '#2b6cb0',
      'circle-opacity': 0.75,
      'circle-radius': ['step', ['get', 'point_count'], 9, 10, 13, 100, 18, 1000, 24],
      'circle-stroke-width': 3,
      'circle-stroke-color': ['case', ['>', ['get', 'alarms'], 0], STATE_COLORS.alarm, '#ffffff'],
    },
  })
  map.addLayer({
    id: 'vehicles',
    type: 'circle',
    source: 'fleet',
    filter: ['!', ['has', 'point_count']],
    paint: {
      'circle-radius': 6,
      'circle-color': [
        'match',
        ['get', 'state'],
        'alarm',
        STATE_COLORS.alarm,
        'moving',
        STATE_COLORS.moving,
        'no_waybill',
        STATE_COLORS.no_waybill,
        'no_position',
        STATE_COLORS.no_position,
        STATE_COLORS.offline,
      ],
      'circle-stroke-width': 1.5,
      'circle-stroke-color': '#ffffff',
    },
  })
  map.on('click', 'clusters', async (e) => {
    const f = e.features?.[0]
    if (!f) return
    const src = map.getSource('fleet') as maplibregl.GeoJSONSource
    const zoom = await src.getClusterExpansionZoom(f.properties.cluster_id as number)
    map.easeTo({ center: (f.geometry as GeoJSON.Point).coordinates as [number, number], zoom })
  })
  map.on('click', 'vehicles', (e) => {
    const f = e.features?.[0]
    if (f) showPopup(f.properties.plate as string)
  })
  for (const layer of ['clusters', 'vehicles']) {
    map.on('mouseenter', layer, () => (map.getCanvas().style.cursor = 'pointer'))
    map.on('mouseleave', layer, () => (map.getCanvas().style.cursor = ''))
  }

  let popup: maplibregl.Popup | null = null
  function showPopup(plate: string) {
    const v = [...items.values()].find((x) => x.plate === plate)
    if (!v?.position) return
    popup?.remove()
    const body = h(
      'div',
      { class: 'popup' },
      h('strong', {}, v.plate),
      h('div', {}, t(`state.${v.state}`)),
      h('div', {}, v.enterpriseName ?? v.enterpriseLicenseNo ?? ''),
      h('div', {}, `${t('speed')} ${v.position.speed} km/h`),
      v.waybillNo ? h('div', {}, `${t('waybill')} ${v.waybillNo}`) : null,
      h('a', { href: `#/vehicle/${encodeURIComponent(v.plate)}` }, `${t('vehicle')} →`),
    )
    popup = new maplibregl.Popup({ closeButton: true }).setLngLat([v.position.longitude, v.position.latitude]).setDOMContent(body).addTo(map)
  }

  const matches = (v: FleetItem, q = search.value.trim().toUpperCase()) =>
    (!q || v.plate.toUpperCase().includes(q)) && (!enterprise.value || v.enterpriseLicenseNo === enterprise.value) && (!stateSel.value || v.state === stateSel.value)
  const visible = () => [...items.values()].filter((v) => matches(v))
  const idOf = (key: string) => {
    let id = ids.get(key)
    if (id === undefined) ids.set(key, (id = ids.size + 1))
    return id
  }
  const featureOf = (v: FleetItem, id: number): GeoJSON.Feature | null =>
    v.position ? { type: 'Feature', id, geometry: { type: 'Point', coordinates: [v.position.longitude, v.position.latitude] }, properties: { plate: v.plate, state: v.state } } : null

  /** The whole picture again (first answer, a filter changed). */
  function paint() {
    shown.clear()
    for (const v of visible()) {
      const id = idOf(keyOf(v))
      const f = featureOf(v, id)
      if (f) shown.set(id, f)
    }
    void (map.getSource('fleet') as maplibregl.GeoJSONSource).setData({ type: 'FeatureCollection', features: [...shown.values()] })
    expose()
    paintPanel()
  }

  /** Only the vehicles an answer changed or removed: a diff for the map source. */
  function patch(changed: FleetItem[], removed: string[]) {
    const remove: number[] = []
    const add: GeoJSON.Feature[] = []
    for (const key of removed) {
      const id = ids.get(key)
      if (id !== undefined && shown.delete(id)) remove.push(id)
    }
    for (const v of changed) {
      const id = idOf(keyOf(v))
      if (shown.delete(id)) remove.push(id)
      const f = matches(v) ? featureOf(v, id) : null
      if (f) {
        shown.set(id, f)
        add.push(f)
      }
    }
    if (remove.length || add.length) void (map.getSource('fleet') as maplibregl.GeoJSONSource).updateData({ remove, add })
    expose()
    paintPanel()
  }

  function paintPanel() {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<string, number>
    for (const v of items.values()) counts[v.state]++
    clear(
      legend,
      STATES.map((s) => h('li', {}, h('span', { class: 'dot', style: `background:${STATE_COLORS[s]}` }), `${t(`state.${s}`)} `, h('b', { 'data-count': s }, counts[s]))),
      h('li', { class: 'muted' }, `${items.size} ${t('vehicles')}`),
    )
    const q = search.value.trim().toUpperCase()
    const listed: FleetItem[] = []
    for (const v of items.values()) {
      if (listed.length === 200) break
      if (matches(v, q)) listed.push(v)
    }
    clear(
      list,
      listed.map((v) =>
        h(
          'li',
          { 'data-plate': v.plate, onclick: () => focus(v) },
          h('span', { class: 'dot', style: `background:${STATE_COLORS[v.state]}` }),
          h('span', { class: 'plate' }, v.plate),
          h('span', { class: 'muted' }, v.position ? `${v.position.speed} km/h` : '—'),
        ),
      ),
    )
  }

  function focus(v: FleetItem) {
    if (!v.position) return
    map.flyTo({ center: [v.position.longitude, v.position.latitude], zoom: Math.max(map.getZoom(), 13), duration: 600 })
    map.once('moveend', () => showPopup(v.plate))
  }

  async function poll() {
    try {
      const r = await api<FleetAnswer>('/fleet', { query: { since: DELTAS ? cursor : null } })
      if (stopped) return
      cursor = r.cursor
      if (r.full) items.clear()
      for (const x of r.removed ?? []) items.delete(keyOf(x))
      for (const v of r.items) items.set(keyOf(v), v)
      const known = new Set([...enterprise.options].map((o) => o.value))
      for (const v of r.items)
        if (v.enterpriseLicenseNo && !known.has(v.enterpriseLicenseNo)) {
          known.add(v.enterpriseLicenseNo)
          enterprise.append(h('option', { value: v.enterpriseLicenseNo }, v.enterpriseName ?? v.enterpriseLicenseNo))
        }
      if (r.full) paint()
      else patch(r.items, (r.removed ?? []).map(keyOf))
      window.__console.fleetPolls = ((window.__console.fleetPolls as number) ?? 0) + 1
    } catch {
      // keep the last picture; the next poll retries
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS)
  }

  search.addEventListener('input', paint)
  search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return
    const hits = visible()
    if (hits.length) focus(hits[0])
  })
  enterprise.addEventListener('change', paint)
  stateSel.addEventListener('change', paint)
  await poll()

  return () => {
    stopped = true
    clearTimeout(timer)
    map.remove()
  }
}
