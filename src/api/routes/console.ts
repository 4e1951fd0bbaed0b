/**
 * The operator console (console/) served at `/`: one HTML page, one script and one stylesheet
 * bundled with esbuild on the first request (in memory, kept for the life of the process, so a
 * fresh clone needs no build step and a read-only install still works), MapLibre's worker, the
 * offline base map (Natural Earth country outlines from the world-atlas package) and the base-map
 * settings. Every asset comes from this process: no CDN, nothing from the internet. The page holds
 * no data; it signs in with an API token and uses only /api/v1.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ApiContext } from '../context.js'

const HERE = dirname(fileURLToPath(import.meta.url))
/** console/ at the repository root: three levels up from src/api/routes, four from the compiled dist/src/api/routes. */
const CONSOLE_DIR = [join(HERE, '../../../console'), join(HERE, '../../../../console')].find((d) => existsSync(join(d, 'src/main.ts'))) ?? join(HERE, '../../../console')
const require = createRequire(import.meta.url)

/** Each file as built and gzipped (the script is ~1.7 MB, ~0.5 MB gzipped: matters on a provincial WAN). */
interface Packed {
  raw: Uint8Array
  gz: Uint8Array
}

interface Bundle {
  js: Packed
  css: Packed
}

const pack = (raw: Uint8Array): Packed => ({ raw, gz: gzipSync(raw) })

let bundling: Promise<Bundle> | null = null
let outlines: Promise<string> | null = null

/** Bundles console/src/main.ts (and the CSS it imports) once per process. */
export function consoleBundle(): Promise<Bundle> {
  bundling ??= (async () => {
    const esbuild = await import('esbuild')
    const result = await esbuild.build({
      entryPoints: [join(CONSOLE_DIR, 'src/main.ts')],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      minify: true,
      write: false,
      outdir: '/console',
      entryNames: 'app',
      logLevel: 'silent',
      legalComments: 'none',
    })
    const js = result.outputFiles.find((f) => f.path.endsWith('.js'))
    const css = result.outputFiles.find((f) => f.path.endsWith('.css'))
    if (!js || !css) throw new Error('console bundle: esbuild produced no app.js/app.css')
    return { js: pack(js.contents), css: pack(css.contents) }
  })().catch((err) => {
    bundling = null // let the next request try again (e.g. after the source was fixed)
    throw err
  })
  return bundling
}

/** Natural Earth 1:50m country outlines as GeoJSON (world-atlas ships them as TopoJSON). */
function baseOutlines(): Promise<string> {
  outlines ??= (async () => {
    const { feature } = await import('topojson-client')
    const topo = JSON.parse(await readFile(require.resolve('world-atlas/countries-50m.json'), 'utf8'))
    return JSON.stringify(feature(topo, topo.objects.countries))
  })()
  return outlines
}

const INDEX_HTML = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>危险货物道路运输监管台</title>
<link rel="stylesheet" href="/console/app.css">
</head>
<body>
<div id="app"></div>
<script type="module" src="/console/app.js"></script>
</body>
</html>
`

const CSP = "default-src 'self'; img-src 'self' data: blob: *; media-src 'self' blob:; connect-src 'self' *; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self'"

function asset(reply: FastifyReply, type: string, body: string | Uint8Array, cache = 'no-cache') {
  return reply
    .header('content-type', type)
    .header('cache-control', cache)
    .header('x-content-type-options', 'nosniff')
    .send(typeof body === 'string' ? body : Buffer.from(body))
}

function packed(request: FastifyRequest, reply: FastifyReply, type: string, file: Packed) {
  reply.header('vary', 'accept-encoding')
  if (!/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return asset(reply, type, file.raw)
  return asset(reply.header('content-encoding', 'gzip'), type, file.gz)
}

export function consoleRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const hide = { hide: true }
  app.get('/', { schema: hide }, async (_request, reply) => asset(reply.header('content-security-policy', CSP), 'text/html; charset=utf-8', INDEX_HTML))
  app.get('/console/app.js', { schema: hide }, async (request, reply) => packed(request, reply, 'text/javascript; charset=utf-8', (await consoleBundle()).js))
  app.get('/console/app.css', { schema: hide }, async (request, reply) => packed(request, reply, 'text/css; charset=utf-8', (await consoleBundle()).css))
  app.get('/console/maplibre-gl-worker.js', { schema: hide }, async (_request, reply) =>
    asset(reply, 'text/javascript; charset=utf-8', await readFile(require.resolve('maplibre-gl/dist/maplibre-gl-worker.mjs')), 'max-age=86400'),
  )
  app.get('/console/outlines.geojson', { schema: hide }, async (_request, reply) => asset(reply, 'application/geo+json', await baseOutlines(), 'max-age=86400'))
  app.get('/console/settings.json', { schema: hide }, async (_request, reply) =>
    asset(reply, 'application/json', JSON.stringify({ baseMapUrl: ctx.deps.config.baseMapUrl ?? null, baseMapAttribution: ctx.deps.config.baseMapAttribution ?? null })),
  )
}
