/**
 * Quality and grades: data-quality rates per enterprise (bars) and per day (lines), per vehicle
 * (a table, from GET /stats/quality?groupBy=vehicle: vehicle-days added up over the period),
 * red/yellow/green grades (pie + table), per period.
 */
import * as echarts from 'echarts/core'
import { BarChart, LineChart, PieChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'
import { api } from '../api.js'
import { clear, h, table } from '../dom.js'
import { t } from '../i18n.js'
import type { View } from '../main.js'

echarts.use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent, CanvasRenderer])

interface GroupQuality {
  enterpriseLicenseNo: string | null
  day: string | null
  networkRate: number | null
  onlineRate: number | null
  completeness: number | null
  validRate: number | null
  driftRate: number | null
}

interface Grade {
  subject: string
  grade: 'red' | 'yellow' | 'green'
  score: number
  units: number
  anomalies: number
  reasons: string[]
}

/** one vehicle-day as GET /stats/quality?groupBy=vehicle gives it */
interface VehicleDay {
  plate: string | null
  plateColor: number | null
  enterpriseLicenseNo: string | null
  day: string
  points: number
  validPoints: number
  driftPoints: number
  online: boolean
  totalKm: number
  completeKm: number
  gaps: number
}

interface VehicleQuality {
  plate: string
  enterpriseLicenseNo: string | null
  days: number
  onlineDays: number
  points: number
  validPoints: number
  driftPoints: number
  totalKm: number
  completeKm: number
  gaps: number
}

/** The period's figures of each vehicle: sums over its days; rates from the sums (not an average of daily rates). */
export function perVehicle(days: VehicleDay[]): VehicleQuality[] {
  const out = new Map<string, VehicleQuality>()
  for (const d of days) {
    const key = `${d.plate ?? '?'}/${d.plateColor ?? ''}`
    const v = out.get(key) ?? {
      plate: d.plate ?? '?',
      enterpriseLicenseNo: d.enterpriseLicenseNo,
      days: 0,
      onlineDays: 0,
      points: 0,
      validPoints: 0,
      driftPoints: 0,
      totalKm: 0,
      completeKm: 0,
      gaps: 0,
    }
    v.days++
    if (d.online) v.onlineDays++
    v.points += d.points
    v.validPoints += d.validPoints
    v.driftPoints += d.driftPoints
    v.totalKm += d.totalKm
    v.completeKm += d.completeKm
    v.gaps += d.gaps
    out.set(key, v)
  }
  return [...out.values()].sort((a, b) => a.plate.localeCompare(b.plate))
}

const ratio = (a: number, b: number) => (b > 0 ? `${(Math.round((a / b) * 1000) / 10).toFixed(1)}%` : '—')

const RATES = ['onlineRate', 'completeness', 'validRate', 'driftRate'] as const
const GRADE_COLORS = { red: '#d7263d', yellow: '#f4c430', green: '#1b998b' }
const pct = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 10)
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

export const qualityView: View = async (root) => {
  const now = Date.now()
  const from = h('input', { type: 'date', id: 'quality-from', value: day(now - 7 * 86_400_000) })
  const to = h('input', { type: 'date', id: 'quality-to', value: day(now + 86_400_000) })
  const month = h('input', { type: 'month', id: 'grades-period', value: day(now).slice(0, 7) })
  const byEnterprise = h('div', { class: 'chart', id: 'quality-chart' })
  const byDay = h('div', { class: 'chart', id: 'quality-days' })
  const gradesPie = h('div', { class: 'chart', id: 'grades-chart' })
  const gradesTable = h('div', { id: 'grades-table' })
  const vehiclesTable = h('div', { id: 'quality-vehicles' })
  const error = h('p', { class: 'error' })
  clear(
    root,
    h(
      'section',
      { class: 'page' },
      h('h2', {}, t('dataQuality')),
      h('div', { class: 'row filters' }, h('label', {}, t('from'), from), h('label', {}, t('to'), to), h('button', { type: 'button', class: 'primary', onclick: () => void loadQuality() }, t('load'))),
      error,
      h('div', { class: 'cols' }, byEnterprise, byDay),
      h('h3', {}, t('qualityPerVehicle')),
      vehiclesTable,
      h('h2', {}, t('grades')),
      h('div', { class: 'row filters' }, h('label', {}, t('period'), month), h('button', { type: 'button', class: 'primary', onclick: () => void loadGrades() }, t('load'))),
      h('div', { class: 'cols' }, gradesPie, gradesTable),
    ),
  )
  const charts = [byEnterprise, byDay, gradesPie].map((el) => echarts.init(el))
  const resize = () => charts.forEach((c) => c.resize())
  window.addEventListener('resize', resize)

  async function loadQuality() {
    error.textContent = ''
    try {
      const range = { from: new Date(from.value).toISOString(), to: new Date(to.value).toISOString() }
      const [r, v] = await Promise.all([
        api<{ items: GroupQuality[] }>('/stats/quality', { query: { ...range, groupBy: 'enterprise' } }),
        api<{ items: VehicleDay[] }>('/stats/quality', { query: { ...range, groupBy: 'vehicle' } }),
      ])
      const vehicles = perVehicle(v.items)
      clear(
        vehiclesTable,
        vehicles.length
          ? table([t('plate'), t('enterprise'), t('onlineDays'), t('pointCount'), t('validRate'), t('completeness'), t('driftPoints'), t('gaps'), 'km'], vehicles, (x) => [
              h('a', { href: `#/vehicle/${encodeURIComponent(x.plate)}` }, x.plate),
              x.enterpriseLicenseNo ?? '—',
              `${x.onlineDays}/${x.days}`,
              x.points,
              ratio(x.validPoints, x.points),
              ratio(x.completeKm, x.totalKm),
              x.driftPoints,
              x.gaps,
              Math.round(x.totalKm * 10) / 10,
            ])
          : h('p', { class: 'muted' }, t('noData')),
      )
      const whole = r.items.filter((x) => x.day === null)
      const names = whole.map((x) => x.enterpriseLicenseNo ?? t('all'))
      charts[0].setOption(
        {
          animation: false,
          title: { text: t('dataQuality'), left: 8, textStyle: { fontSize: 14 } },
          tooltip: { trigger: 'axis' },
          legend: { top: 4, right: 8 },
          grid: { top: 64, left: 48, right: 16, bottom: 48 },
          xAxis: { type: 'category', data: names, axisLabel: { rotate: names.length > 4 ? 30 : 0 } },
          yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
          series: RATES.map((k) => ({ name: k, type: 'bar', data: whole.map((x) => pct(x[k])) })),
        },
        true,
      )
      const days = [...new Set(r.items.filter((x) => x.day).map((x) => x.day as string))].sort()
      const ents = [...new Set(r.items.filter((x) => x.day).map((x) => x.enterpriseLicenseNo ?? t('all')))]
      charts[1].setOption(
        {
          animation: false,
          title: { text: 'completeness', left: 8, textStyle: { fontSize: 14 } },
          tooltip: { trigger: 'axis' },
          legend: { top: 4, right: 8 },
          grid: { top: 64, left: 48, right: 16, bottom: 32 },
          xAxis: { type: 'category', data: days },
          yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
          series: ents.map((e) => ({
            name: e,
            type: 'line',
            connectNulls: true,
            data: days.map((d) => pct(r.items.find((x) => x.day === d && (x.enterpriseLicenseNo ?? t('all')) === e)?.completeness ?? null)),
          })),
        },
        true,
      )
    } catch (err) {
      error.textContent = (err as Error).message
    }
  }

  async function loadGrades() {
    try {
      const r = await api<{ items: Grade[] }>('/stats/grades', { query: { period: month.value } })
      const counts = { red: 0, yellow: 0, green: 0 }
      for (const g of r.items) counts[g.grade]++
      charts[2].setOption(
        {
          animation: false,
          title: { text: t('grades'), left: 8, textStyle: { fontSize: 14 } },
          legend: { bottom: 4 },
          tooltip: { trigger: 'item' },
          series: [
            {
              type: 'pie',
              radius: ['40%', '70%'],
              data: (['red', 'yellow', 'green'] as const).filter((g) => counts[g] > 0).map((g) => ({ name: g, value: counts[g], itemStyle: { color: GRADE_COLORS[g] } })),
            },
          ],
        },
        true,
      )
      clear(
        gradesTable,
        r.items.length
          ? table([t('enterprise'), t('grade'), t('score'), t('anomalies'), t('reasons')], r.items, (g) => [
              g.subject,
              h('span', { class: `grade ${g.grade}` }, g.grade),
              g.score,
              g.anomalies,
              g.reasons.join('; '),
            ])
          : h('p', { class: 'muted' }, t('noData')),
      )
    } catch (err) {
      clear(gradesTable, h('p', { class: 'error' }, (err as Error).message))
    }
  }

  await Promise.all([loadQuality(), loadGrades()])
  window.__console.charts = charts.length
  return () => {
    window.removeEventListener('resize', resize)
    charts.forEach((c) => c.dispose())
  }
}
