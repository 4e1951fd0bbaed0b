/**
 * JT/T 809 WARN_TYPE (0x1402 alarm report, 0x9401 督办): the codes, and how our terminal alarm bits
 * and anomaly types map onto them. Sources (the standard's text was not at hand; the tables below
 * are where public references agree — docs/platforms.md names them and where they disagree):
 *   0x0001 overspeed        0x0002 fatigue           0x0003 emergency         0x0004 entering an area
 *   0x0005 leaving an area  0x0006 road congestion   0x0007 dangerous section 0x0008 out of bounds
 *   0x0009 theft (盗警)      0x000A robbery (劫警)     0x000B route deviation   0x000C vehicle moved
 *   0x000D driving overtime
 *   2019 adds 0x0010 illegal driving (违规行驶), 0x0011 forward collision, 0x0012 lane departure,
 *   0x0013 tyre pressure, 0x0014 dynamic-information anomaly, and "other" is 0x00FF; the 2011
 *   "other" is 0x000E in the 2011-era references (0x00FF in others: see the docs).
 */
import type { Anomaly } from '../domain.js'

export type Edition809 = 2011 | 2019

export const WARN_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x0001: '超速报警 overspeed',
  0x0002: '疲劳驾驶报警 fatigue driving',
  0x0003: '紧急报警 emergency',
  0x0004: '进入指定区域报警 entering an area',
  0x0005: '离开指定区域报警 leaving an area',
  0x0006: '路段堵塞报警 road congestion',
  0x0007: '危险路段报警 dangerous road section',
  0x0008: '越界报警 out of bounds',
  0x0009: '盗警 theft',
  0x000a: '劫警 robbery',
  0x000b: '偏离路线报警 route deviation',
  0x000c: '车辆移动报警 vehicle moved',
  0x000d: '超时驾驶报警 driving overtime',
  0x000e: '其他报警 other (2011)',
  0x0010: '违规行驶报警 illegal driving (2019)',
  0x0011: '前撞报警 forward collision (2019)',
  0x0012: '车道偏离报警 lane departure (2019)',
  0x0013: '胎压异常报警 tyre pressure (2019)',
  0x0014: '动态信息异常报警 dynamic information anomaly (2019)',
  0x00ff: '其他报警 other (2019)',
}

/** "Other alarm" per edition. */
export function otherWarnType(edition: Edition809): number {
  return edition === 2019 ? 0x00ff : 0x000e
}

/** JT/T 808 alarm bit (table 24/25 of 808-2013/2019) → WARN_TYPE, both editions. */
const BIT_TO_WARN: Readonly<Record<number, number>> = {
  0: 0x0003, // emergency
  1: 0x0001, // overspeed
  2: 0x0002, // fatigue driving
  18: 0x000d, // driving time of the day exceeded
  20: 0x0004, // area in/out (the bit does not say which way: entering assumed)
  23: 0x000b, // route deviation
  26: 0x0009, // stolen (anti-theft device)
  28: 0x000c, // illegal displacement
}
/** 2019 codes for bits the 2011 table has none for. */
const BIT_TO_WARN_2019: Readonly<Record<number, number>> = {
  15: 0x0010, // illegal driving (808-2019 bit 15)
}

export function warnTypeOfBit(bit: number, edition: Edition809): number {
  return BIT_TO_WARN[bit] ?? (edition === 2019 ? BIT_TO_WARN_2019[bit] : undefined) ?? otherWarnType(edition)
}

const ANOMALY_TO_WARN: Partial<Record<Anomaly['type'], number>> = {
  OVERSPEED: 0x0001,
  FATIGUE_DRIVING: 0x0002,
  NIGHT_FATIGUE_DRIVING: 0x0002,
  DAILY_DRIVING_EXCEEDED: 0x000d,
  ROUTE_DEVIATION: 0x000b,
}
const ANOMALY_TO_WARN_2019: Partial<Record<Anomaly['type'], number>> = {
  NIGHT_DRIVING_RESTRICTED: 0x0010,
  POSITION_DRIFT: 0x0014,
}

/**
 * An anomaly's WARN_TYPE: by its type; a TERMINAL_ALARM by its alarm bit, or (reported to us by a
 * lower platform) the WARN_TYPE it came with; anything else "other".
 */
export function warnTypeOfAnomaly(a: Pick<Anomaly, 'type' | 'evidence'>, edition: Edition809): number {
  if (a.type === 'TERMINAL_ALARM') {
    if (a.evidence.source === 'platform' && typeof a.evidence.warnType === 'number') return a.evidence.warnType
    if (typeof a.evidence.bit === 'number') return warnTypeOfBit(a.evidence.bit, edition)
    return otherWarnType(edition)
  }
  return ANOMALY_TO_WARN[a.type] ?? (edition === 2019 ? ANOMALY_TO_WARN_2019[a.type] : undefined) ?? otherWarnType(edition)
}
