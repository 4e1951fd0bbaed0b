/** Matcher configuration from the deployment, and geofences as speed-limit zones. */
import t from 'tap'
import { DEFAULT_MATCHER_CONFIG, loadMatcherConfig, MatcherConfigError } from '../../src/matcher/config.js'
import { zonesFromGeofences, ZoneIndex } from '../../src/matcher/zones.js'

t.test('JT808_MATCHER_CONFIG: inline JSON or a file, merged over the defaults, every problem reported', async (t) => {
  t.same(loadMatcherConfig(null), DEFAULT_MATCHER_CONFIG)
  const c = loadMatcherConfig('{"defaultSpeedLimitKmh": 70, "enabled": {"NIGHT_DRIVING_RESTRICTED": true}, "nightBans": [{"id": "sd", "from": "19:00", "to": "06:00", "zone": "shandong-highways"}]}')
  t.equal(c.defaultSpeedLimitKmh, 70)
  t.equal(c.enabled.NIGHT_DRIVING_RESTRICTED, true)
  t.equal(c.enabled.OVERSPEED, true, 'other switches keep their defaults')
  t.equal(c.nightBans[0].zone, 'shandong-highways')
  const fromFile = loadMatcherConfig('/etc/jt808/matcher.json', (p) => (p === '/etc/jt808/matcher.json' ? '{"minRestMs": 900000}' : ''))
  t.equal(fromFile.minRestMs, 900_000)
  try {
    loadMatcherConfig('{"speedLimit": 80, "gapMs": "5min", "severity": {"OVERSPEED": "high"}, "enabled": {"NOPE": true}, "nightBans": [{"id": 1, "from": "7pm"}], "minRestMs": -1}')
    t.fail('should throw')
  } catch (e) {
    t.type(e, MatcherConfigError)
    t.same((e as MatcherConfigError).problems, [
      'speedLimit: not a matcher setting',
      'gapMs: expected a number',
      'severity.OVERSPEED: expected info, warning or critical',
      'enabled.NOPE: not a known key',
      'nightBans[0].id: expected a string',
      'nightBans[0].from: expected "HH:MM"',
      'nightBans[0].to: expected "HH:MM"',
      'minRestMs: must not be negative',
    ])
  }
  t.throws(() => loadMatcherConfig('{nope'), MatcherConfigError)
})

t.test('zones: polygons and buffered lines, the lowest limit wins, zones by id and name', async (t) => {
  const z = zonesFromGeofences([
    {
      id: 1,
      name: 'ring-road',
      roadClass: 'other',
      speedLimit: null,
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [117, 36],
            [117.2, 36],
            [117.2, 36.2],
            [117, 36.2],
            [117, 36],
          ],
        ],
      },
      bufferMeters: null,
    },
    {
      id: 2,
      name: 'bridge',
      roadClass: null,
      speedLimit: 40,
      geometry: {
        type: 'LineString',
        coordinates: [
          [117.1, 36.1],
          [117.15, 36.1],
        ],
      },
      bufferMeters: 100,
    },
    {
      id: 3,
      name: 'expressway',
      roadClass: 'highway',
      speedLimit: null,
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [118, 36],
            [118.2, 36],
            [118.2, 36.2],
            [118, 36],
          ],
        ],
      },
      bufferMeters: null,
    },
  ])
  t.same(z.speedLimitAt(117.05, 36.05), { limitKmh: 60, zoneId: '1' }, 'other roads: 60')
  t.same(z.speedLimitAt(117.12, 36.1005), { limitKmh: 40, zoneId: '2' }, 'on the bridge (55 m off its axis): 40 wins')
  t.same(z.speedLimitAt(117.12, 36.102), { limitKmh: 60, zoneId: '1' }, '220 m off the bridge: the area again')
  t.equal(z.speedLimitAt(118.15, 36.05), null, 'a highway marking without its own limit leaves the default')
  t.equal(z.speedLimitAt(100, 30), null)
  t.ok(z.inZone('bridge', 117.12, 36.1))
  t.ok(z.inZone('2', 117.12, 36.1))
  t.notOk(z.inZone('bridge', 117.12, 36.11))
  t.equal(new ZoneIndex([]).speedLimitAt(117, 36), null)
})
