/** The console shell: sign-in, header with navigation, language and the critical-anomaly badge, and a hash router. */
import './style.css'
import { api, ApiError, setOnUnauthorized, token, type Me } from './api.js'
import { clear, h } from './dom.js'
import { lang, setLang, t } from './i18n.js'
import { LiveAnomalies, sound } from './live.js'
import { fleetView } from './views/fleet.js'
import { anomaliesView } from './views/anomalies.js'
import { vehicleView } from './views/vehicle.js'
import { waybillsView } from './views/waybills.js'
import { qualityView } from './views/quality.js'
import { adminView } from './views/admin.js'
import { platformsView } from './views/platforms.js'

export interface Session {
  me: Me
  live: LiveAnomalies
}

/** A view renders into `root` and returns what to do when it is left. */
export type View = (root: HTMLElement, session: Session, args: string[]) => Promise<(() => void) | void> | (() => void) | void

const VIEWS: Record<string, { view: View; label: string; supervisorOnly?: boolean; hidden?: boolean }> = {
  map: { view: fleetView, label: 'map' },
  anomalies: { view: anomaliesView, label: 'anomalies' },
  vehicle: { view: vehicleView, label: 'vehicle', hidden: true },
  waybills: { view: waybillsView, label: 'waybills' },
  quality: { view: qualityView, label: 'quality' },
  platforms: { view: platformsView, label: 'platforms', supervisorOnly: true },
  admin: { view: adminView, label: 'admin', supervisorOnly: true },
}

const app = document.getElementById('app')!
let session: Session | null = null
let leave: (() => void) | void

/** Hooks for the browser tests and the bench (read-only views of what is on screen). */
declare global {
  interface Window {
    __console: Record<string, unknown>
  }
}
window.__console = {}

setLang(lang)
setOnUnauthorized(() => signOut())

function signOut(): void {
  token.clear()
  session?.live.close()
  session = null
  renderSignIn()
}

function renderSignIn(error?: string): void {
  leave?.()
  leave = undefined
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: t('tokenLabel'), spellcheck: 'false' })
  const form = h(
    'form',
    {
      class: 'signin',
      onsubmit: (e: Event) => {
        e.preventDefault()
        token.set(input.value.trim())
        void start()
      },
    },
    h('h1', {}, t('title')),
    h('p', { class: 'muted' }, t('tokenHint')),
    h('label', { for: 'token' }, t('tokenLabel')),
    input,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, t('signIn')),
      langButton(() => renderSignIn(error)),
    ),
  )
  clear(app, form)
  input.focus()
}

function langButton(rerender: () => void): HTMLButtonElement {
  return h('button', { type: 'button', class: 'lang', onclick: () => (setLang(lang === 'zh' ? 'en' : 'zh'), rerender()) }, t('language'))
}

async function start(): Promise<void> {
  if (!token.get()) return renderSignIn()
  try {
    const me = await api<Me>('/me')
    const live = new LiveAnomalies()
    session = { me, live }
    await live.start()
    if (!location.hash || location.hash === '#/') location.hash = '#/map'
    await route()
  } catch (err) {
    token.clear()
    renderSignIn(err instanceof ApiError && err.status === 401 ? t('badToken') : String((err as Error).message))
  }
}

/** Bumped by every route(): a view that finishes mounting after a newer route started is left at once. */
let generation = 0

async function route(): Promise<void> {
  if (!session) return
  const mine = ++generation
  leave?.()
  leave = undefined
  const [name, ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  const entry = VIEWS[name] && !(VIEWS[name].supervisorOnly && session.me.role !== 'supervisor') ? VIEWS[name] : VIEWS.map
  const current = VIEWS[name] === entry ? name : 'map'
  const main = h('main', { id: 'view', 'data-view': current })
  clear(app, header(session, current), main)
  const cleanup = await entry.view(main, session, args)
  // start() sets the hash and routes, and the hashchange routes again: without this the first
  // view would stay mounted off-screen, polling, with nothing to stop it
  if (mine !== generation) return cleanup?.()
  leave = cleanup
}

function header(s: Session, current: string): HTMLElement {
  const badge = h('span', { class: 'badge', id: 'critical-badge', title: t('newCritical') })
  const status = h('span', { class: 'feed-status' })
  const paint = () => {
    badge.textContent = s.live.unseenCritical ? String(s.live.unseenCritical) : ''
    badge.hidden = s.live.unseenCritical === 0
    status.textContent = s.live.connected ? `● ${t('live')}` : `○ ${t('disconnected')}`
    status.classList.toggle('down', !s.live.connected)
  }
  paint()
  const off = s.live.on(paint)
  const nav = h(
    'nav',
    {},
    Object.entries(VIEWS)
      .filter(([, v]) => !v.hidden && !(v.supervisorOnly && s.me.role !== 'supervisor'))
      .map(([name, v]) => h('a', { href: `#/${name}`, class: name === current ? 'active' : null, 'data-nav': name }, t(v.label), name === 'anomalies' ? badge : null)),
  )
  const soundBox = h('input', {
    type: 'checkbox',
    checked: sound.on,
    onchange: (e: Event) => {
      sound.on = (e.target as HTMLInputElement).checked
      localStorage.setItem('jt808.console.sound', sound.on ? 'on' : 'off')
    },
  })
  const el = h(
    'header',
    {},
    h('strong', { class: 'brand' }, t('title')),
    nav,
    h('span', { class: 'spacer' }),
    status,
    h('label', { class: 'sound' }, soundBox, t('sound')),
    h('span', { class: 'who' }, `${s.me.role}${s.me.enterpriseLicenseNo ? ` · ${s.me.enterpriseLicenseNo}` : ''}`),
    langButton(() => void route()),
    h('button', { type: 'button', onclick: signOut, id: 'signout' }, t('signOut')),
  )
  // the header lives as long as the view: stop painting it once it is replaced
  const observer = new MutationObserver(() => {
    if (!el.isConnected) {
      off()
      observer.disconnect()
    }
  })
  observer.observe(app, { childList: true })
  return el
}

window.addEventListener('hashchange', () => void route())
void start()
