/**
 * Debian's Chromium driven by playwright-core, for the console tests and bench. The tests skip
 * (with the reason) only when no Chromium is installed; .ci/run installs it.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')

/** null when there is no browser to drive: say why. */
export function missingBrowser(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH): browser tests skipped`
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
    timeout: 30_000,
  })
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `${name}.png`)
  await page.screenshot({ path })
  return path
}

/**
 * Has the gateway bundle the console (esbuild, on the first request) before a page asks for it:
 * on a busy machine that can take longer than a page load may.
 */
export async function bundled(base: string): Promise<void> {
  const res = await fetch(`${base}/console/app.js`)
  if (!res.ok) throw new Error(`console bundle: ${res.status}`)
  await res.arrayBuffer()
}

/** Signs in on the page with `token` and waits for the shell. */
export async function signIn(page: Page, base: string, token: string, path = '/?poll=1000'): Promise<void> {
  await page.goto(base + path)
  await page.locator('#token').fill(token)
  await page.locator('form.signin button[type=submit]').click()
  await page.locator('header nav').waitFor({ timeout: 20_000 })
}

/** Navigates within the signed-in console (hash route, no reload). */
export async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
}

/** A JSON value the console exposes to tests (window.__console[name]). */
export async function hook<T>(page: Page, name: string): Promise<T | undefined> {
  return page.evaluate((n) => (globalThis as unknown as { __console?: Record<string, unknown> }).__console?.[n], name) as Promise<T | undefined>
}

/** The fleet map's source data: plate → [lon, lat]. */
export async function mapPositions(page: Page): Promise<Map<string, [number, number]>> {
  const fc = await hook<{ features: { geometry: { coordinates: [number, number] }; properties: { plate: string } }[] }>(page, 'fleet')
  return new Map((fc?.features ?? []).map((f) => [f.properties.plate, f.geometry.coordinates]))
}
