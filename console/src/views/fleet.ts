/**
 * Fleet map: every vehicle at its last position coloured by state, clustered (GeoJSON source with
 * cluster: true) so tens of thousands stay smooth; polled from GET /fleet; search by plate,
 * filters by enterprise and state. Cluster rings turn red when they hold a critical anomaly.
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
/** ?poll=<ms> in the page URL overrides (the bench polls every second). */
const POLL_MS = Math.max(500, Number(new URLSearchParams(location.search).get('poll')) || 5000)

export const fleetView: View = async (root, session) => {
  const mapEl = h('div', { class: 'map', id: 'fleet-map' })
  const search = h('input', { type: 'search', id: 'plate-search', placeholder: t('searchPlate') })
  const enterprise = h('select', { id: 'enterprise-filter' }, h('option', { value: '' }, t('allEnterprises')))
  const stateSel = h('select', { id: 'state-filter' }, h('option', { value: '' }, t('allStates')), STATES.map((s) => h('option', { value: s }, t(`state.${s}`))))
  const legend = h('ul', { class: 'legend' })
  const list = h('ul', { class: 'vehicle-list', id: 'vehicle-list' })
  if (session.me.role === 'enterprise') enterprise.hidden = true
  clear(root, h('div', { class: 'split' }, h('aside', { class: 'panel' }, search, enterprise, stateSel, legend, list), mapEl))

  const map = await createMap(mapEl)
  let items: FleetItem[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  window.__console.map = map

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
      'circle-color': ['match', ['get', 'state'], 'alarm', STATE_COLORS.alarm, 'moving', STATE_COLORS.moving, 'no_waybill', STATE_COLORS.no_waybill, 'no_position', STATE_COLORS.no_position, STATE_COLORS.offline],
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
    const v = items.find((x) => x.plate === plate)
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

  const visible = () => {
    const q = search.value.trim().toUpperCase()
    return items.filter((v) => (!q || v.plate.toUpperCase().includes(q)) && (!enterprise.value || v.enterpriseLicenseNo === enterprise.value) && (!stateSel.value || v.state === stateSel.value))
  }

  function paint() {
    const shown = visible()
    const data: GeoJSON.FeatureCollection = {
      type: 'FeatureCollection',
      features: shown
        .filter((v) => v.position)
        .map((v) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [v.position!.longitude, v.position!.latitude] }, properties: { plate: v.plate, state: v.state } })),
    }
    ;(map.getSource('fleet') as maplibregl.GeoJSONSource).setData(data)
    window.__console.fleet = data
    const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<string, number>
    for (const v of items) counts[v.state]++
    clear(
      legend,
      STATES.map((s) => h('li', {}, h('span', { class: 'dot', style: `background:${STATE_COLORS[s]}` }), `${t(`state.${s}`)} `, h('b', { 'data-count': s }, counts[s]))),
      h('li', { class: 'muted' }, `${items.length} ${t('vehicles')}`),
    )
    clear(
      list,
      shown.slice(0, 200).map((v) =>
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
      const r = await api<{ items: FleetItem[] }>('/fleet')
      if (stopped) return
      items = r.items
      const known = new Set([...enterprise.options].map((o) => o.value))
      for (const v of items)
        if (v.enterpriseLicenseNo && !known.has(v.enterpriseLicenseNo)) {
          known.add(v.enterpriseLicenseNo)
          enterprise.append(h('option', { value: v.enterpriseLicenseNo }, v.enterpriseName ?? v.enterpriseLicenseNo))
        }
      paint()
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
