/**
 * One geometry: the API's geofence test and the matcher's zones give the same answer for the
 * same fence, and corridor passages are counted from fixes by pure functions.
 */
import t from 'tap'
import { boxAround, KM_PER_DEG, prepareArea, type FenceGeometry } from '../../src/geo.js'
import { geofenceArea } from '../../src/api/geo.js'
import { countPassages, passagesThrough, PASSAGE_GAP_MS, type PassageFix } from '../../src/matcher/passages.js'
import { zonesFromGeofences } from '../../src/matcher/zones.js'

const bridge: FenceGeometry = {
  type: 'LineString',
  coordinates: [
    [120.14, 36.0],
    [120.16, 36.0],
  ],
}
const yard: FenceGeometry = {
  type: 'Polygon',
  coordinates: [
    [
      [117, 36],
      [117.1, 36],
      [117.1, 36.1],
      [117, 36.1],
      [117, 36],
    ],
    [
      [117.04, 36.04],
      [117.06, 36.04],
      [117.06, 36.06],
      [117.04, 36.06],
      [117.04, 36.04],
    ],
  ],
}

t.test('the API and the matcher answer "inside" the same way', async (t) => {
  const stored = [
    { id: 1, name: 'bridge', roadClass: null, speedLimit: 40, geometry: bridge as { type: 'LineString'; coordinates: number[][] }, bufferMeters: 100 },
    { id: 2, name: 'yard', roadClass: null, speedLimit: 30, geometry: yard as { type: 'Polygon'; coordinates: number[][][] }, bufferMeters: null },
  ]
  const zones = zonesFromGeofences(stored)
  let inside = 0
  for (const g of stored) {
    const area = geofenceArea(g)!
    // a grid over the box and around it: every point gets the same answer from both
    const [w, s, e, n] = area.box
    for (let i = -5; i <= 45; i++) {
      for (let j = -5; j <= 45; j++) {
        const lon = w + ((e - w) * i) / 40
        const lat = s + ((n - s) * j) / 40
        const a = area.contains(lon, lat)
        if (a) inside++
        if (a !== zones.inZone(String(g.id), lon, lat)) t.fail(`${g.name} at ${lon},${lat}: API ${a}, matcher ${!a}`)
      }
    }
  }
  t.ok(inside > 100, `${inside} grid points inside, all agreed`)
  // the corridor's edge is at bufferMeters on the shared sphere
  const edge = 0.1 / KM_PER_DEG
  const area = geofenceArea(stored[0])!
  t.ok(area.contains(120.15, 36 + edge * 0.99), 'just inside 100 m')
  t.notOk(area.contains(120.15, 36 + edge * 1.01), 'just outside 100 m')
  t.notOk(geofenceArea(stored[1])!.contains(117.05, 36.05), 'a hole is outside')
})

t.test('a box widened by a buffer holds every point within the buffer', async (t) => {
  const [w, s, e, n] = boxAround(bridge.coordinates, 0.1)
  const area = prepareArea(bridge, 0.1)!
  for (let k = 0; k < 360; k += 5) {
    const r = 0.0999 / KM_PER_DEG
    const lat = 36 + r * Math.sin((k * Math.PI) / 180)
    const lon = 120.16 + (r * Math.cos((k * Math.PI) / 180)) / Math.cos((lat * Math.PI) / 180)
    if (!area.contains(lon, lat) || lon > e || lon < w || lat > n || lat < s) t.fail(`bearing ${k}`)
  }
  t.pass('a circle of 99.9 m round the end is inside the area and its box')
  t.equal(prepareArea({ type: 'LineString', coordinates: [[1, 1]] }, 1), null, 'one point encloses nothing')
})

t.test('passages: a vehicle inside again within the gap is the same passage', async (t) => {
  const area = prepareArea(bridge, 0.1)!
  const at = (vehicleId: number, deviceTime: number, inside = true): PassageFix => ({ vehicleId, deviceTime, longitude: 120.15, latitude: inside ? 36 : 36.01 })
  const fixes = [
    at(1, 0),
    at(1, 30_000),
    at(1, 60_000, false),
    at(1, 30_000 + PASSAGE_GAP_MS), // one passage: inside again exactly the gap after the last fix inside
    at(1, 60_000 + 3 * PASSAGE_GAP_MS), // back later: a second
    at(2, 10_000, false),
    at(2, 20_000), // another vehicle
  ]
  const got = passagesThrough(area, fixes)
  t.same(got, [
    { vehicleId: 1, at: 0 },
    { vehicleId: 1, at: 60_000 + 3 * PASSAGE_GAP_MS },
    { vehicleId: 2, at: 20_000 },
  ])
  t.same(
    countPassages([
      { vehicleId: 1, hazardClasses: ['3', '3', '8'] },
      { vehicleId: 1, hazardClasses: null },
      { vehicleId: 2, hazardClasses: ['3'] },
    ]),
    { passages: 3, vehicles: 2, byHazardClass: { 3: 2, 8: 1 }, withoutWaybill: 1 },
  )
})
