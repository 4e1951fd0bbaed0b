/** Shared helpers for the JT/T 809 tests: fixtures, deframing a byte string. */
import { readFileSync } from 'node:fs'
import { Deframer809, type EncryptionKeys } from '../../../protocol/jt809/index.js'
import type { CodecError } from '../../../protocol/errors.js'

export interface Fixture809 {
  name: string
  /** built: assembled by us from the standard's layouts (no public capture found), labelled as such */
  kind: 'capture' | 'library-vector' | 'built'
  source: string
  hex: string
  keys?: EncryptionKeys
  notes?: string
  expect: { msgId: string; edition: number; dataType?: string; quirks: string[] }
}

export const FIXTURES_809 = (JSON.parse(readFileSync(new URL('../../../fixtures/jt809-frames.json', import.meta.url), 'utf8')) as { frames: Fixture809[] }).frames

export function fixture809(name: string): Fixture809 {
  const f = FIXTURES_809.find((x) => x.name === name)
  if (!f) throw new Error(`no fixture "${name}"`)
  return f
}

export interface Piece {
  content: Buffer
  unescaped: boolean
}

/** Deframes bytes fed in chunks cut at the given offsets (default: one chunk). */
export function deframe809(bytes: Buffer, cuts: number[] = [], max?: number): { frames: Piece[]; errors: CodecError[]; stray: number } {
  const frames: Piece[] = []
  const errors: CodecError[] = []
  const d = new Deframer809({ maxFrameLength: max, onFrame: (c, i) => frames.push({ content: Buffer.from(c), unescaped: i.unescaped }), onError: (e) => errors.push(e) })
  let at = 0
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c <= at || c >= bytes.length) continue
    d.push(bytes.subarray(at, c))
    at = c
  }
  d.push(bytes.subarray(at))
  return { frames, errors, stray: d.strayBytes }
}

export const hexId = (n: number): string => '0x' + n.toString(16).padStart(4, '0')
