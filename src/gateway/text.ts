/**
 * Text from terminals, made storable. PostgreSQL and PGlite refuse U+0000 in text and JSON (the
 * handler failed and the terminal got no answer), and no control character belongs in a plate,
 * a driver's name or a firmware version. Each is replaced with U+FFFD, so a plate sent as
 * "粤A1\0" + "2345" stays visibly damaged and never equals the registered "粤A12345"; tab, CR
 * and LF are kept, and ill-formed UTF-16 is made well-formed. The codec itself stays faithful to
 * the bytes (decode shows them as sent): this is the gateway's rule for what it keeps.
 */
const UNSAFE_SOURCE = '[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]'
const UNSAFE = new RegExp(UNSAFE_SOURCE, 'g')
const HAS_UNSAFE = new RegExp(UNSAFE_SOURCE)

export function safeText(s: string): string {
  return HAS_UNSAFE.test(s) ? s.replace(UNSAFE, '\ufffd') : s
}

/** Every string inside a decoded body (objects and arrays, in place), made safe; returns the body. */
export function safeTexts<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      if (typeof v === 'string') value[i] = safeText(v)
      else if (typeof v === 'object' && v !== null) safeTexts(v)
    }
    return value
  }
  const o = value as Record<string, unknown>
  for (const k of Object.keys(o)) {
    const v = o[k]
    if (typeof v === 'string') o[k] = safeText(v)
    else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) safeTexts(v)
  }
  return value
}
