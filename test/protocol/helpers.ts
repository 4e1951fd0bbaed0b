/** Shared helpers for the protocol tests: fixture loading, deframing a byte string. */
import { readFileSync } from 'node:fs'
import { Deframer, type CodecError } from '../../protocol/index.js'

export interface FixtureFrame {
  name: string
  kind: 'capture' | 'library-vector' | 'derived'
  source: string
  hex: string
  expect: Expectation | { pieces: Expectation[] }
  notes?: string
}
export type Expectation = { msgId: string; version: number } | { error: string; lenient: { msgId: string; version: number; checksumOk: boolean; declaredBodyLength?: number } | { error: string } }

export interface FixtureStream {
  name: string
  source: string
  hex: string
  expect: string[]
}

const file = JSON.parse(readFileSync(new URL('../../fixtures/frames.json', import.meta.url), 'utf8')) as {
  frames: FixtureFrame[]
  streams: FixtureStream[]
}
export const FRAMES = file.frames
export const STREAMS = file.streams

export function fixture(name: string): FixtureFrame {
  const f = FRAMES.find((x) => x.name === name)
  if (!f) throw new Error(`no fixture "${name}"`)
  return f
}

/** The bytes between the delimiters of a single-frame fixture. */
export function inner(hex: string): Buffer {
  const b = Buffer.from(hex, 'hex')
  return b.subarray(1, b.length - 1)
}

/** Deframes a byte string fed in the given chunk sizes (default: one chunk). */
export function deframe(bytes: Buffer, cuts: number[] = [], max?: number): { frames: Buffer[]; errors: CodecError[] } {
  const frames: Buffer[] = []
  const errors: CodecError[] = []
  const d = new Deframer({ maxFrameLength: max, onFrame: (f) => frames.push(Buffer.from(f)), onError: (e) => errors.push(e) })
  let at = 0
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c <= at || c >= bytes.length) continue
    d.push(bytes.subarray(at, c))
    at = c
  }
  d.push(bytes.subarray(at))
  return { frames, errors }
}

export const hexId = (n: number): string => '0x' + n.toString(16).padStart(4, '0')
