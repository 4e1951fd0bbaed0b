/**
 * One vehicle: live state (session, last fix, active waybill), the pre-trip self-check, and a
 * track for a chosen period played back on the map, with speed shown and the period's anomalies
 * marked where they started.
 */
import { api } from '../api.js'
import { createMap, maplibregl, STATE_COLORS } from '../basemap.js'
import { clear, fmtTime, h } from '../dom.js'
import { t } from '../i18n.js'
import type { Anomaly } from '../live.js'
import type { View } from '../main.js'

interface Position {
  deviceTime: string
  latitude: number
  longitude: number
  speed: number
  direction: number
}

interface VehicleAnswer {
  vehicle: { plate: string; plateColor: number; enterpriseLicenseNo: string | null; enterpriseName: string | null; terminalPhone: string | null; transportCertNo: string | null }
  live: {
    online: boolean
    session: { nodeId: string; since: string; address: string } | null
    lastPosition: Position | null
    activeWaybill: { waybillNo: string; status: string; loadingDate: string; expectedArrivalDate: string; destination: string } | null
  }
}

const localInput = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000)
  return d.toISOString().slice(0, 16)
}

export const vehicleView: View = async (root, session, args) => {
  const plate = args[0]
  if (!plate) {
    const input = h('input', { type: 'search', placeholder: t('searchPlate'), id: 'vehicle-plate' })
    const form = h(
      'form',
      { class: 'row', onsubmit: (e: Event) => (e.preventDefault(), (location.hash = `#/vehicle/${encodeURIComponent(input.value.trim())}`)) },
      input,
      h('button', { class: 'primary' }, t('load')),
    )
    clear(root, h('section', { class: 'page' }, form))
    return
  }
  let v: VehicleAnswer
  try {
    v = await api<VehicleAnswer>(`/vehicles/${encodeURIComponent(plate)}`)
  } catch (err) {
    clear(root, h('section', { class: 'page' }, h('p', { class: 'error' }, (err as Error).message)))
    return
  }
  const now = Date.now()
  const from = h('input', { type: 'datetime-local', id: 'track-from', value: localInput(now - 6 * 3_600_000) })
  const to = h('input', { type: 'datetime-local', id: 'track-to', value: localInput(now + 60_000) })
  const playBtn = h('button', { type: 'button', id: 'track-play', disabled: true }, t('play'))
  const slider = h('input', { type: 'range', id: 'track-slider', min: 0, max: 0, value: 0, disabled: true })
  const readout = h('span', { class: 'readout', id: 'track-readout' })
  const selfCheck = h('div', { id: 'self-check' })
  const mapEl = h('div', { class: 'map', id: 'vehicle-map' })
  const lp = v.live.lastPosition
  const commands = session.me.role !== 'inspector' && v.vehicle.terminalPhone ? commandPanel(v.vehicle.terminalPhone, (lon, lat) => marker.setLngLat([lon, lat]).addTo(map)) : null
  clear(
    root,
    h(
      'div',
      { class: 'split' },
      h(
        'aside',
        { class: 'panel' },
        h('h2', {}, v.vehicle.plate),
        h(
          'dl',
          { class: 'facts', id: 'live-state' },
          h('dt', {}, t('enterprise')),
          h('dd', {}, v.vehicle.enterpriseName ?? v.vehicle.enterpriseLicenseNo ?? '—'),
          h('dt', {}, t('liveState')),
          h('dd', {}, v.live.online ? `● ${t('online')}` : `○ ${t('offline')}`),
          h('dt', {}, t('lastPosition')),
          h('dd', {}, lp ? `${lp.longitude.toFixed(5)}, ${lp.latitude.toFixed(5)} · ${lp.speed} km/h · ${fmtTime(lp.deviceTime)}` : t('none')),
          h('dt', {}, t('activeWaybill')),
          h(
            'dd',
            {},
            v.live.activeWaybill
              ? h('a', { href: `#/waybills/${encodeURIComponent(v.live.activeWaybill.waybillNo)}` }, `${v.live.activeWaybill.waybillNo} → ${v.live.activeWaybill.destination}`)
              : t('none'),
          ),
        ),
        h('h3', {}, t('selfCheck')),
        selfCheck,
        h('h3', {}, t('track')),
        h('label', {}, t('from'), from),
        h('label', {}, t('to'), to),
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', id: 'track-load', onclick: () => void loadTrack() }, t('load')), playBtn),
        slider,
        readout,
        commands ? h('h3', {}, t('commands')) : null,
        commands,
      ),
      mapEl,
    ),
  )
  void api<{ pass: boolean; checks: { name: string; pass: boolean; reason: string | null }[] }>(`/vehicles/${encodeURIComponent(plate)}/self-check`)
    .then((r) => {
      clear(
        selfCheck,
        r.checks.map((c) => h('div', { class: c.pass ? 'ok' : 'bad' }, c.pass ? '✔ ' : '✘ ', c.name, c.reason ? h('span', { class: 'muted' }, ` ${c.reason}`) : null)),
      )
    })
    .catch((err) => clear(selfCheck, h('span', { class: 'muted' }, (err as Error).message)))

  const map = await createMap(mapEl, lp ? { center: [lp.longitude, lp.latitude], zoom: 11 } : {})
  window.__console.map = map
  const marker = new maplibregl.Marker({ color: STATE_COLORS.moving })
  if (lp) marker.setLngLat([lp.longitude, lp.latitude]).addTo(map)
  map.addSource('track', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } })
  map.addSource('track-anomalies', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } })
  map.addLayer({ id: 'track-line', type: 'line', source: 'track', paint: { 'line-color': '#2b6cb0', 'line-width': 3, 'line-opacity': 0.8 } })
  map.addLayer({
    id: 'track-anomalies',
    type: 'circle',
    source: 'track-anomalies',
    paint: { 'circle-radius': 7, 'circle-color': STATE_COLORS.alarm, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 },
  })

  let points: Position[] = []
  let index = 0
  let playing = false
  let frame = 0
  let lastStep = 0
  const state = { index: 0, total: 0, playing: false }
  window.__console.playback = state

  function show(i: number) {
    index = i
    const p = points[i]
    if (!p) return
    marker.setLngLat([p.longitude, p.latitude]).addTo(map)
    slider.value = String(i)
    readout.textContent = `${i + 1}/${points.length} · ${fmtTime(p.deviceTime)} · ${t('speed')} ${p.speed} km/h`
    state.index = i
  }

  function tick(ts: number) {
    if (!playing) return
    // about 20 fixes a second, whatever the reporting interval
    if (ts - lastStep >= 50) {
      lastStep = ts
      if (index >= points.length - 1) return stop()
      show(index + 1)
    }
    frame = requestAnimationFrame(tick)
  }
  function stop() {
    playing = false
    state.playing = false
    playBtn.textContent = t('play')
    cancelAnimationFrame(frame)
  }
  playBtn.addEventListener('click', () => {
    if (playing) return stop()
    if (index >= points.length - 1) show(0)
    playing = true
    state.playing = true
    playBtn.textContent = t('pause')
    frame = requestAnimationFrame(tick)
  })
  slider.addEventListener('input', () => show(Number(slider.value)))

  async function loadTrack() {
    stop()
    const range = { from: new Date(from.value).toISOString(), to: new Date(to.value).toISOString() }
    const [track, anomalies] = await Promise.all([
      api<{ points: Position[]; truncated: boolean }>(`/vehicles/${encodeURIComponent(plate)}/track`, { query: range }),
      api<{ items: Anomaly[] }>('/anomalies', { query: { plate, ...range, limit: 200 } }).catch(() => ({ items: [] as Anomaly[] })),
    ])
    points = track.points
    state.total = points.length
    ;(map.getSource('track') as maplibregl.GeoJSONSource).setData({
      type: 'FeatureCollection',
      features: points.length > 1 ? [{ type: 'Feature', geometry: { type: 'LineString', coordinates: points.map((p) => [p.longitude, p.latitude]) }, properties: {} }] : [],
    })
    // an anomaly is marked at the track point nearest its start
    const marks = anomalies.items.flatMap((a) => {
      const at = Date.parse(a.startedAt)
      let best: Position | null = null
      for (const p of points) if (!best || Math.abs(Date.parse(p.deviceTime) - at) < Math.abs(Date.parse(best.deviceTime) - at)) best = p
      return best ? [{ type: 'Feature' as const, geometry: { type: 'Point' as const, coordinates: [best.longitude, best.latitude] }, properties: { type: a.type } }] : []
    })
    ;(map.getSource('track-anomalies') as maplibregl.GeoJSONSource).setData({ type: 'FeatureCollection', features: marks })
    slider.max = String(Math.max(0, points.length - 1))
    slider.disabled = playBtn.disabled = points.length === 0
    if (!points.length) {
      readout.textContent = t('noTrack')
      return
    }
    const lons = points.map((p) => p.longitude)
    const lats = points.map((p) => p.latitude)
    map.fitBounds(
      [
        [Math.min(...lons), Math.min(...lats)],
        [Math.max(...lons), Math.max(...lats)],
      ],
      { padding: 40, maxZoom: 15, duration: 0 },
    )
    show(0)
  }
  await loadTrack()

  return () => {
    stop()
    map.remove()
  }
}

interface CommandAnswer {
  status: string
  reply?: { msgId: string; body: Record<string, unknown> }
  result?: number
  reason?: string
  id?: string
}

/** Text to the driver's screen (0x8300) and a position query (0x8201), through POST /terminals/{phone}/commands. */
function commandPanel(phone: string, located: (lon: number, lat: number) => void): HTMLElement {
  const text = h('input', { id: 'command-text', placeholder: t('textToDriver'), maxlength: 1024 })
  const out = h('div', { id: 'command-result', class: 'muted' })
  const send = async (body: Record<string, unknown>) => {
    out.textContent = '…'
    try {
      const r = await api<CommandAnswer>(`/terminals/${encodeURIComponent(phone)}/commands`, { method: 'POST', body })
      const where = r.reply?.body?.location as { longitude?: number; latitude?: number } | undefined
      if (where && typeof where.longitude === 'number' && typeof where.latitude === 'number') located(where.longitude, where.latitude)
      out.textContent = `${t(`cmd.${r.status}`)}${where?.longitude !== undefined ? ` · ${where.longitude}, ${where.latitude}` : ''}${r.reason ? ` · ${r.reason}` : ''}`
      out.dataset.status = r.status
    } catch (err) {
      out.textContent = (err as Error).message
      out.dataset.status = 'error'
    }
  }
  return h(
    'div',
    {},
    text,
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'command-send-text', onclick: () => text.value.trim() && void send({ type: 'text', text: text.value.trim(), display: true, tts: true }) }, t('sendText')),
      h('button', { type: 'button', id: 'command-locate', onclick: () => void send({ type: 'query-location' }) }, t('locate')),
    ),
    out,
  )
}
