/**
 * `jt808 import vehicles|waybills FILE`: loads registry rows or waybills from CSV or NDJSON.
 * Every line is validated first and every bad line reported (line number, field, reason); the
 * import then happens all at once in one transaction, or not at all: nothing is half-imported.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { canonicalPlate, parseWaybill, waybillFromFlat, type NewVehicle, type Vehicle, type Waybill, type WaybillInput } from '../../domain.js'
import { CONFIG_FLAGS, loadConfig, type Config } from '../../config/index.js'
import type { Store } from '../../store/port.js'
import { parseOptions } from '../../sim/cli.js'
import { UsageError, type CliIO, type Command } from '../command.js'
import { classifyVehicle, classifyWaybill, type Classified, type ImportOutcome } from '../import-outcome.js'
import { ApiClient, ServerError, serverTarget } from '../server-client.js'

const USAGE = `usage: jt808 import vehicles|waybills FILE [--format csv|ndjson] [--dry-run] [--update] [--json]
                    [--database-url URL | --data-dir DIR | --server URL --token T]

Loads vehicles (the terminal registry) or electronic waybills from CSV (a header row, then one
row per record) or NDJSON (one JSON object per line). FILE "-" reads standard input; the format
follows the file extension (.csv, .ndjson/.jsonl/.json), else the first character ({ = NDJSON).

Every line is checked first and every problem is listed as "line N: field: reason". When any
line fails, nothing is imported and the exit status is 1. Each record is then compared with what
is stored (vehicles by plate and colour, waybills by number) and reported per line as created,
unchanged (the same content again: nothing written) or conflicting (stored with other values;
the fields are named). Any conflict imports nothing, unless --update: conflicting vehicles, and
waybills still "created", are then overwritten ("updated"). New and updated records are written
in one transaction.

vehicles columns / keys:
  plate (required), plateColor (JT/T 415 code; default 2 = yellow, hazmat), terminalPhone (up to
  20 digits), terminalId, enterpriseLicenseNo, enterpriseName, transportCertNo,
  transportCertValidUntil (yyyy-mm-dd), businessScope (hazard classes; in CSV separated by ; or |)
  snake_case headers (plate_color, terminal_phone, …) are accepted too.
waybills: the 29 fields of the electronic waybill (see docs); in CSV one goods entry per row via
  unNumber, goodsName, hazardClass, packingGroup, specification, quantity, unit, or several as
  goods[0].unNumber, goods[1].unNumber, …, or a "goods" column holding JSON.

options:
  --format F      csv or ndjson (default: from the name or content)
  --dry-run       check every line, import nothing (nothing is compared with the database either)
  --update        overwrite conflicting records instead of refusing the import
  --json          report as JSON: {"imported":n,"created":n,"updated":n,"unchanged":n,"conflicting":n,"failed":n,
                  "errors":[{"line":n,"field":"…","message":"…"}],"lines":[{"line":n,"key":"…","outcome":"created","fields":[]}]}

The database is the one "jt808 serve" uses: DATABASE_URL / --database-url, else the embedded
one in --data-dir (JT808_DATA_DIR, default ./data). While a server runs on that embedded
directory the records go through its API (POST /vehicles/lookup or /waybills/lookup to compare,
POST /vehicles or /waybills/import to write; up to 10,000 per request); --server URL with a supervisor --token T (or JT808_TOKEN) sends them to that
server.

exit status: 0 imported (or all unchanged), 1 a line failed or conflicted (nothing imported) or the
database refused, 2 bad usage.`

export interface LineError {
  line: number
  field: string
  message: string
}

export interface ImportDeps {
  /** Opens the store (tests pass their own; default openStore from src/store). */
  openStore?: (config: Config) => Promise<Store>
}

/** What storing waybills needs from the store; the port does not have it yet in every build. */
interface WaybillWriter {
  upsertWaybills(waybills: WaybillInput[]): Promise<unknown>
}

/** Many records compared in one request (a running server's lookup routes). */
interface BulkLookup {
  findVehicles(keys: Array<{ plate: string; plateColor: number }>): Promise<Array<Vehicle | null>>
  getWaybills(waybillNos: string[]): Promise<Array<Waybill | null>>
}

/** Where the records are compared and go: the store, or a running server's API. */
type ImportSink = Pick<Store, 'upsertVehicles' | 'findVehicle' | 'getWaybill' | 'close'> & Partial<WaybillWriter> & Partial<BulkLookup>

/** Requests of at most the API's import size; each request is one transaction on the server. */
const REMOTE_CHUNK = 10_000

function remoteSink(api: ApiClient): ImportSink {
  /** The API's record, or null for its 404. */
  const found = async <T>(path: string): Promise<T | null> => {
    try {
      return (await api.json<T>('GET', path)).body
    } catch (e) {
      if (e instanceof ServerError && e.status === 404) return null
      throw e
    }
  }
  return {
    async findVehicle(plate, plateColor) {
      const color = plateColor === undefined ? '' : `?plateColor=${plateColor}`
      return (await found<{ vehicle: Vehicle }>(`/api/v1/vehicles/${encodeURIComponent(plate)}${color}`))?.vehicle ?? null
    },
    // (its times are ISO strings here; the comparison leaves status, times and history out)
    getWaybill: (no) => found<Waybill>(`/api/v1/waybills/${encodeURIComponent(no)}`),
    // One request per 10,000 records to compare, not one each.
    async findVehicles(keys) {
      const out: Array<Vehicle | null> = []
      for (let i = 0; i < keys.length; i += REMOTE_CHUNK) {
        const items = keys.slice(i, i + REMOTE_CHUNK).map(({ plate, plateColor }) => ({ plate, plateColor }))
        out.push(...(await api.json<{ items: Array<Vehicle | null> }>('POST', '/api/v1/vehicles/lookup', { items })).body.items)
      }
      return out
    },
    async getWaybills(waybillNos) {
      const out: Array<Waybill | null> = []
      for (let i = 0; i < waybillNos.length; i += REMOTE_CHUNK) {
        out.push(...(await api.json<{ items: Array<Waybill | null> }>('POST', '/api/v1/waybills/lookup', { waybillNos: waybillNos.slice(i, i + REMOTE_CHUNK) })).body.items)
      }
      return out
    },
    async upsertVehicles(vehicles) {
      const ids: number[] = []
      for (let i = 0; i < vehicles.length; i += REMOTE_CHUNK) {
        const { body } = await api.json<{ items: Array<{ id: number }> }>('POST', '/api/v1/vehicles', vehicles.slice(i, i + REMOTE_CHUNK))
        ids.push(...body.items.map((v) => v.id))
      }
      return ids
    },
    async upsertWaybills(waybills) {
      for (let i = 0; i < waybills.length; i += REMOTE_CHUNK) await api.json('POST', '/api/v1/waybills/import', { items: waybills.slice(i, i + REMOTE_CHUNK) })
    },
    close: async () => undefined,
  }
}

export const importCommand: Command = {
  name: 'import',
  summary: 'import vehicles or waybills from CSV or NDJSON (all or nothing, per-line errors)',
  usage: USAGE,
  run: (argv, io) => runImport(argv, io),
}

export async function runImport(argv: string[], io: CliIO, deps: ImportDeps = {}): Promise<number> {
  const configOptions = Object.fromEntries(CONFIG_FLAGS.map((f) => [f.flag.slice(2), { type: 'string' as const }]))
  const { values, positionals } = parseOptions(
    argv,
    { ...configOptions, format: { type: 'string' }, 'dry-run': { type: 'boolean' }, update: { type: 'boolean' }, json: { type: 'boolean' }, server: { type: 'string' }, token: { type: 'string' } },
    true,
  )
  const [kind, file, ...extra] = positionals
  if (kind !== 'vehicles' && kind !== 'waybills') throw new UsageError(kind ? `cannot import "${kind}": vehicles or waybills` : 'import what: vehicles or waybills?')
  if (!file) throw new UsageError('which file? ("-" reads standard input)')
  if (extra.length) throw new UsageError(`one file at a time (got ${positionals.length - 1})`)
  const format = (values.format as string | undefined) ?? formatFromName(file)
  if (format !== undefined && format !== 'csv' && format !== 'ndjson') throw new UsageError(`--format must be csv or ndjson, got "${format}"`)

  const input = file === '-' ? io.stdin : createReadStream(file)
  const records: Array<{ line: number; record: Record<string, unknown> }> = []
  const errors: LineError[] = []
  try {
    await readRecords(input, format, kind, records, errors)
  } catch (e) {
    io.stderr.write(`jt808 import: cannot read ${file}: ${(e as Error).message}\n`)
    return 1
  }

  const vehicles: NewVehicle[] = []
  const waybills: WaybillInput[] = []
  for (const { line, record } of records) {
    if (kind === 'vehicles') {
      const v = parseVehicle(record)
      if (v.ok) vehicles.push(v.value)
      else for (const e of v.errors) errors.push({ line, ...e })
    } else {
      const w = parseWaybill(record)
      if (w.ok) waybills.push(w.value)
      else for (const e of w.errors) errors.push({ line, field: e.field, message: e.message })
    }
  }
  const good = kind === 'vehicles' ? vehicles.length : waybills.length
  // Duplicate keys in one file: the later row would silently win; say so instead.
  if (kind === 'vehicles') duplicates(records, vehicles, (v) => `${canonicalPlate(v.plate)}/${v.plateColor}`, 'plate', errors)
  else duplicates(records, waybills, (w) => w.waybillNo, 'waybillNo', errors)
  errors.sort((a, b) => a.line - b.line)
  const failedLines = new Set(errors.map((e) => e.line)).size

  const outcomes: LineOutcome[] = []
  const count = (o: ImportOutcome) => outcomes.filter((x) => x.outcome === o).length
  const report = (imported: number, note?: string) => {
    const tally = { created: count('created'), updated: count('updated'), unchanged: count('unchanged'), conflicting: count('conflicting') }
    if (values.json) {
      io.stdout.write(
        JSON.stringify({ kind, imported, ...tally, failed: failedLines, checked: records.length + countUnparsed(errors, records), errors, lines: outcomes, ...(note ? { note } : {}) }) + '\n',
      )
      return
    }
    for (const e of errors) io.stderr.write(`line ${e.line}: ${e.field ? e.field + ': ' : ''}${e.message}\n`)
    for (const o of outcomes)
      io.stdout.write(
        `line ${o.line}: ${o.outcome} ${o.key}${o.fields.length ? ` (${o.fields.join(', ')} ${o.outcome === 'updated' ? 'changed' : 'differ from what is stored'})` : ''}${o.note ? `: ${o.note}` : ''}\n`,
      )
    if (note) io.stderr.write(note + '\n')
    const parts = Object.entries(tally)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
    const tail = failedLines ? `, ${failedLines} line${failedLines > 1 ? 's' : ''} failed: nothing imported` : tally.conflicting ? ': nothing imported' : ''
    io.stdout.write(`${imported} ${kind} imported${parts.length ? ` (${parts.join(', ')})` : ''}${tail}${values['dry-run'] ? ' (dry run: nothing written)' : ''}\n`)
  }

  if (failedLines > 0 || records.length === 0) {
    report(0, records.length === 0 && failedLines === 0 ? `no records in ${file}` : undefined)
    return 1
  }
  if (values['dry-run']) {
    report(0, `${good} ${kind} valid`)
    return 0
  }

  const configFlags = Object.fromEntries(Object.entries(values).filter(([k, v]) => k in configOptions && v !== undefined)) as Record<string, string>
  const config = loadConfig(io.env, configFlags)
  const open = deps.openStore ?? (async (c: Config) => (await import('../../store/index.js')).openStore(c))
  const target = deps.openStore ? null : serverTarget(config, { server: values.server as string | undefined, token: values.token as string | undefined }, io.env)
  const store: ImportSink = target ? remoteSink(new ApiClient(target)) : await open(config)
  try {
    // Compare each record with what is stored: a record imported again is "unchanged", not "imported" again.
    const lines = records.map((r) => r.line)
    if (kind === 'vehicles') {
      const stored = store.findVehicles ? await store.findVehicles(vehicles) : await inOrder(vehicles, (v) => store.findVehicle(v.plate, v.plateColor))
      for (const [i, v] of vehicles.entries()) {
        const c = classifyVehicle(v, stored[i] ?? null)
        outcomes.push(decide(lines[i], `${v.plate}/${v.plateColor}`, c, values.update === true))
      }
    } else {
      const nos = waybills.map((w) => w.waybillNo)
      const storedAll = store.getWaybills ? await store.getWaybills(nos) : await inOrder(nos, (no) => store.getWaybill(no))
      for (const [i, w] of waybills.entries()) {
        const stored = storedAll[i] ?? null
        const c = classifyWaybill(w, stored)
        // a waybill's fields may change only before it is dispatched
        const updatable = values.update === true && stored?.status === 'created'
        const o = decide(lines[i], w.waybillNo, c, updatable)
        if (o.outcome === 'conflicting' && values.update && stored) o.note = `status ${stored.status}: its fields no longer change`
        outcomes.push(o)
      }
    }
    if (count('conflicting') > 0) {
      const hint = values.update ? '' : ` (--update overwrites them${kind === 'waybills' ? ' while still "created"' : ''})`
      report(0, `${count('conflicting')} ${kind} conflicting with what is stored${hint}: nothing imported`)
      return 1
    }
    const toWrite = outcomes.flatMap((o, i) => (o.outcome === 'created' || o.outcome === 'updated' ? [i] : []))
    if (kind === 'vehicles') await store.upsertVehicles(toWrite.map((i) => vehicles[i]))
    else {
      const writer = store as Partial<WaybillWriter>
      if (typeof writer.upsertWaybills !== 'function') {
        report(0, `every waybill is valid, but this build's store cannot save waybills yet (needs upsertWaybills): nothing imported`)
        return 1
      }
      if (toWrite.length) await writer.upsertWaybills(toWrite.map((i) => waybills[i]))
    }
    report(toWrite.length)
  } catch (e) {
    io.stderr.write(`jt808 import: the database refused the import, nothing imported: ${(e as Error).message}\n`)
    return 1
  } finally {
    if (!deps.openStore) await store.close()
  }
  return 0
}

/** One lookup after another (the embedded store answers in-process). */
async function inOrder<T, R>(items: T[], f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (const t of items) out.push(await f(t))
  return out
}

interface LineOutcome {
  line: number
  /** plate/colour or waybill number */
  key: string
  outcome: ImportOutcome
  /** fields that differ from the stored record (conflicting, updated) */
  fields: string[]
  note?: string
}

function decide(line: number, key: string, c: Classified, update: boolean): LineOutcome {
  const outcome: ImportOutcome = c.outcome === 'conflicting' && update ? 'updated' : c.outcome
  return { line, key, outcome, fields: c.fields }
}

function formatFromName(file: string): 'csv' | 'ndjson' | undefined {
  if (/\.csv$/i.test(file)) return 'csv'
  if (/\.(ndjson|jsonl|json)$/i.test(file)) return 'ndjson'
  return undefined
}

/** Lines that did not even become records are in errors only; count them as checked. */
function countUnparsed(errors: LineError[], records: Array<{ line: number }>): number {
  const recordLines = new Set(records.map((r) => r.line))
  return new Set(errors.filter((e) => !recordLines.has(e.line)).map((e) => e.line)).size
}

function duplicates<T>(records: Array<{ line: number }>, items: T[], key: (t: T) => string, field: string, errors: LineError[]): void {
  // items align with records only when every record parsed; called after parsing, so map by order of success.
  const failed = new Set(errors.map((e) => e.line))
  const okLines = records.filter((r) => !failed.has(r.line)).map((r) => r.line)
  const seen = new Map<string, number>()
  items.forEach((item, i) => {
    const k = key(item)
    const first = seen.get(k)
    if (first !== undefined) errors.push({ line: okLines[i], field, message: `"${k}" already on line ${first}` })
    else seen.set(k, okLines[i])
  })
}

// ---------------------------------------------------------------- reading

async function readRecords(
  input: NodeJS.ReadableStream,
  format: 'csv' | 'ndjson' | undefined,
  kind: 'vehicles' | 'waybills',
  records: Array<{ line: number; record: Record<string, unknown> }>,
  errors: LineError[],
): Promise<void> {
  const rl = createInterface({ input, crlfDelay: Infinity })
  let mode = format
  let header: string[] | null = null
  let lineNo = 0
  // A quoted CSV field may span lines: gather them into one record.
  let pending: { text: string; line: number } | null = null
  for await (const raw of rl) {
    lineNo++
    const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw
    if (pending === null && line.trim() === '') continue
    if (mode === undefined) mode = line.trimStart().startsWith('{') ? 'ndjson' : 'csv'
    if (mode === 'ndjson') {
      if (line.trim().startsWith('#')) continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch (e) {
        errors.push({ line: lineNo, field: '', message: `not JSON: ${(e as Error).message}` })
        continue
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) errors.push({ line: lineNo, field: '', message: 'expected a JSON object' })
      else records.push({ line: lineNo, record: value as Record<string, unknown> })
      continue
    }
    const text: string = pending ? pending.text + '\n' + line : line
    const at: number = pending ? pending.line : lineNo
    const cells = splitCsv(text)
    if (cells === null) {
      pending = { text, line: at }
      continue
    }
    pending = null
    if (header === null) {
      header = cells.map((c) => c.trim())
      continue
    }
    if (cells.length !== header.length) {
      errors.push({ line: at, field: '', message: `${cells.length} columns, the header has ${header.length}` })
      continue
    }
    const row: Record<string, string> = {}
    header.forEach((h, i) => (row[h] = cells[i]))
    records.push({ line: at, record: kind === 'waybills' ? waybillFromFlat(row) : row })
  }
  if (pending) errors.push({ line: pending.line, field: '', message: 'unterminated quoted field' })
  if (mode === 'csv' && header === null && lineNo > 0) errors.push({ line: 1, field: '', message: 'no header row' })
}

/** RFC 4180 fields of one record; null when a quoted field is still open at the end of the text. */
export function splitCsv(text: string): string[] | null {
  const out: string[] = []
  let cur = ''
  let quoted = false
  let i = 0
  while (i < text.length) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cur += '"'
          i += 2
          continue
        }
        quoted = false
      } else cur += ch
      i++
      continue
    }
    if (ch === '"' && cur.trim() === '') {
      quoted = true
      cur = ''
    } else if (ch === ',') {
      out.push(cur)
      cur = ''
    } else cur += ch
    i++
  }
  if (quoted) return null
  out.push(cur)
  return out
}

// ---------------------------------------------------------------- vehicles

const VEHICLE_KEYS: Record<string, keyof NewVehicle> = {
  plate: 'plate',
  platecolor: 'plateColor',
  terminalphone: 'terminalPhone',
  terminalid: 'terminalId',
  enterpriselicenseno: 'enterpriseLicenseNo',
  enterprisename: 'enterpriseName',
  transportcertno: 'transportCertNo',
  transportcertvaliduntil: 'transportCertValidUntil',
  businessscope: 'businessScope',
}

/** Validates one registry row. Empty optional fields are left out (the stored value is kept). */
export function parseVehicle(input: Record<string, unknown>): { ok: true; value: NewVehicle } | { ok: false; errors: Array<{ field: string; message: string }> } {
  const errors: Array<{ field: string; message: string }> = []
  const v: Record<string, unknown> = {}
  for (const [rawKey, value] of Object.entries(input)) {
    const key = VEHICLE_KEYS[rawKey.replace(/[_\s-]/g, '').toLowerCase()]
    if (!key) {
      errors.push({ field: rawKey, message: 'unknown field' })
      continue
    }
    if (value === '' || value === null || value === undefined) continue
    v[key] = value
  }
  const text = (key: keyof NewVehicle, max: number, pattern?: RegExp, hint?: string) => {
    const value = v[key]
    if (value === undefined) return
    const s = typeof value === 'number' ? String(value) : value
    if (typeof s !== 'string') return void errors.push({ field: key, message: 'expected text' })
    const t = s.trim()
    if ([...t].length > max) return void errors.push({ field: key, message: `longer than ${max} characters` })
    if (pattern && !pattern.test(t)) return void errors.push({ field: key, message: hint ?? 'bad format' })
    v[key] = t
  }
  if (v.plate === undefined) errors.push({ field: 'plate', message: 'required' })
  text('plate', 35)
  text('terminalPhone', 20, /^\d{1,20}$/, 'digits only (up to 20)')
  text('terminalId', 30)
  text('enterpriseLicenseNo', 50)
  text('enterpriseName', 100)
  text('transportCertNo', 50)
  text('transportCertValidUntil', 10, /^\d{4}-\d{2}-\d{2}$/, 'a date as yyyy-mm-dd')
  if (typeof v.transportCertValidUntil === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v.transportCertValidUntil)) {
    const d = new Date(v.transportCertValidUntil + 'T00:00:00Z')
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v.transportCertValidUntil) errors.push({ field: 'transportCertValidUntil', message: 'not a real date' })
  }
  if (v.plateColor === undefined) v.plateColor = 2
  else {
    const n = typeof v.plateColor === 'number' ? v.plateColor : Number(String(v.plateColor).trim())
    if (!Number.isInteger(n) || n < 0 || n > 255) errors.push({ field: 'plateColor', message: 'a JT/T 415 colour code (1 blue, 2 yellow, 3 black, 4 white, 5 green, 9 other)' })
    else v.plateColor = n
  }
  if (v.businessScope !== undefined) {
    const list = typeof v.businessScope === 'string' ? v.businessScope.split(/[;|,]/) : v.businessScope
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) errors.push({ field: 'businessScope', message: 'a list of hazard classes' })
    else {
      const classes = list.map((x: string) => x.trim()).filter(Boolean)
      const bad = classes.find((c) => !/^[1-9](\.[1-6][A-SN]?)?$/.test(c))
      if (bad !== undefined) errors.push({ field: 'businessScope', message: `"${bad}" is not a hazard class (e.g. 2.1, 3, 8)` })
      v.businessScope = classes
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: v as unknown as NewVehicle }
}
