/**
 * Stream entry ids as Redis writes them: "<ms>-<seq>", ordered by ms then seq. Readers may pass
 * the short forms Redis accepts ("0", "1718000000000" meaning "<ms>-0").
 */

export interface StreamId {
  ms: number
  seq: number
}

export class InvalidStreamIdError extends Error {
  override readonly name = 'InvalidStreamIdError'
  readonly code = 'INVALID_STREAM_ID'
  constructor(readonly id: string) {
    super(`invalid stream id ${JSON.stringify(id)}: expected "<ms>-<seq>" or "<ms>"`)
  }
}

const ID = /^(\d{1,16})(?:-(\d{1,16}))?$/

export function parseStreamId(id: string): StreamId {
  const m = ID.exec(id)
  if (!m) throw new InvalidStreamIdError(id)
  return { ms: Number(m[1]), seq: m[2] === undefined ? 0 : Number(m[2]) }
}

export function formatStreamId(id: StreamId): string {
  return `${id.ms}-${id.seq}`
}

export function compareStreamIds(a: StreamId, b: StreamId): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq
}

export const ZERO_ID: StreamId = { ms: 0, seq: 0 }

/** Reads take a positive page size (Redis treats COUNT 0 as "no limit", which would be unbounded). */
export function checkReadCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`read count must be a positive integer, got ${count}`)
}

/**
 * The JSON text of each value to append, checked before any is appended (a bad value appends
 * nothing), and the trim bound validated: the rules both states share.
 */
export function streamTexts(values: readonly unknown[], maxLen: number): string[] {
  if (!(maxLen >= 1)) throw new RangeError(`stream maxLen must be >= 1, got ${maxLen}`)
  return values.map((value) => {
    const json = JSON.stringify(value)
    if (json === undefined) throw new TypeError('stream value is not JSON-serialisable')
    return json
  })
}
