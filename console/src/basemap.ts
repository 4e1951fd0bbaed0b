/**
 * Maps on the configured base map. Default: Natural Earth country outlines served by the gateway
 * (no network needed). With JT808_BASEMAP_URL: raster tiles from that template (Tianditu, an
 * intranet tile server, OSM). Positions are WGS-84 and drawn as they are: right for the outlines,
 * OSM and Tianditu (CGCS2000 ≈ WGS-84); a GCJ-02 (Gaode/AMap) base map would need a shift, which
 * the console does not do yet.
 */
import * as maplibregl from 'maplibre-gl'
import type { StyleSpecification } from 'maplibre-gl'
import 'maplibre-gl/dist/maplibre-gl.css'

maplibregl.setWorkerUrl('/console/maplibre-gl-worker.js')

interface Settings {
  baseMapUrl: string | null
  baseMapAttribution: string | null
}

let settings: Promise<Settings> | null = null
const loadSettings = () => (settings ??= fetch('/console/settings.json').then((r) => r.json() as Promise<Settings>))

const OUTLINES_ATTRIBUTION = 'Made with Natural Earth (public domain), via world-atlas'

async function baseStyle(): Promise<StyleSpecification> {
  const s = await loadSettings()
  if (s.baseMapUrl) {
    return {
      version: 8,
      sources: { base: { type: 'raster', tiles: [s.baseMapUrl], tileSize: 256, attribution: s.baseMapAttribution ?? '' } },
      layers: [{ id: 'base', type: 'raster', source: 'base' }],
    }
  }
  return {
    version: 8,
    sources: { outlines: { type: 'geojson', data: '/console/outlines.geojson', attribution: OUTLINES_ATTRIBUTION } },
    layers: [
      { id: 'sea', type: 'background', paint: { 'background-color': '#dce8f1' } },
      { id: 'land', type: 'fill', source: 'outlines', paint: { 'fill-color': ['case', ['==', ['get', 'name'], 'China'], '#fbf8ef', '#eeeae0'] } },
      { id: 'borders', type: 'line', source: 'outlines', paint: { 'line-color': '#8f9aa6', 'line-width': 0.7 } },
    ],
  }
}

/** A map in `container`, centred on China, resolved once its style has loaded. */
export async function createMap(container: HTMLElement, opts: { center?: [number, number]; zoom?: number } = {}): Promise<maplibregl.Map> {
  const map = new maplibregl.Map({
    container,
    style: await baseStyle(),
    center: opts.center ?? [108, 34],
    zoom: opts.zoom ?? 3.3,
    attributionControl: { compact: false },
  })
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right')
  map.addControl(new maplibregl.ScaleControl({}), 'bottom-left')
  await new Promise<void>((resolve) => (map.loaded() ? resolve() : map.once('load', () => resolve())))
  return map
}

export const STATE_COLORS: Record<string, string> = {
  alarm: '#d7263d',
  moving: '#1b998b',
  no_waybill: '#f49d37',
  no_position: '#7b2cbf',
  offline: '#8d99ae',
}

export { maplibregl }
