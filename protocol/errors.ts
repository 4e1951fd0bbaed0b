/** Codec failures are values, never exceptions: every decoder returns a Result. */
export type CodecErrorCode = 'BAD_CHECKSUM' | 'BAD_ESCAPE' | 'LENGTH_MISMATCH' | 'TRUNCATED' | 'FRAME_TOO_LONG' | 'BAD_FIELD'

export interface CodecError {
  code: CodecErrorCode
  message: string
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: CodecError }

export function ok<T>(value: T): Result<T> {
  return { ok: true, value }
}

export function fail<T = never>(code: CodecErrorCode, message: string): Result<T> {
  return { ok: false, error: { code, message } }
}

/**
 * Thrown only inside the codec (by BodyReader on a short body) and caught at the
 * decodeFrame boundary, where it becomes a Result. Callers never see it.
 */
export class CodecFault extends Error {
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message)
  }
}
