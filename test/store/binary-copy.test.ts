/** The binary COPY encoder against the real PostgreSQL and PGlite: every type, NULLs, edge values. */
import t from 'tap'
import { BinaryCopyWriter, type CopyType } from '../../src/store/binary-copy.js'
import { openTestStore } from './helpers.js'

const TYPES: CopyType[] = ['int2', 'int4', 'int8', 'float8', 'bool', 'timestamptz', 'jsonb', 'text', 'bytea']
const ROWS: unknown[][] = [
  [-32768, -2147483648, -(2 ** 53 - 1), -1.5e-300, false, Date.UTC(1999, 11, 31, 23, 59, 59, 999), { a: [1, 'x'], ü: null }, 'héllo 浙A', Buffer.from([0, 0x7e, 0xff])],
  [32767, 2147483647, 2 ** 53 - 1, 1e300, true, Date.UTC(2026, 2, 10, 6, 0, 0, 123), '{"raw":"json"}', '', Buffer.alloc(0)],
  [0, 0, 4294967295, 0, true, new Date(Date.UTC(2000, 0, 1)), [], 'x', Buffer.from('7e', 'hex')],
  [null, null, null, null, null, null, null, null, null],
]

/** One row of assorted types per driver, compared at the end. */
const typeRows: unknown[] = []
const TYPES_QUERY = `SELECT 9007199254740991::int8 AS big, ARRAY[1, 4294967295]::int8[] AS bigs, 1.25::numeric AS dec, '2026-01-02T03:04:05.678Z'::timestamptz AS ts,
              '{"a":[1]}'::jsonb AS j, '\\x00ff'::bytea AS b, 7::int2 AS small, true AS flag, NULL::int8 AS none`

for (const backend of ['pg', 'pglite'] as const) {
  t.test(backend, async (t) => {
    const store = await openTestStore(t, backend, undefined, { migrate: false })
    typeRows.push((await store.sql.query(TYPES_QUERY)).rows[0])
    await store.sql.query(`CREATE TABLE copy_types (a int2, b int4, c int8, d float8, e bool, f timestamptz, g jsonb, h text, i bytea)`)
    const w = new BinaryCopyWriter(TYPES, 16) // tiny initial buffer: exercises growth
    for (const r of ROWS) w.row(r)
    await store.sql.copyFrom(`COPY copy_types FROM STDIN WITH (FORMAT binary)`, w.finish())
    const { rows } = await store.sql.query<Record<string, unknown>>(`SELECT * FROM copy_types ORDER BY b NULLS LAST, a`)
    const expect = ROWS.map((r) => ({
      a: r[0],
      b: r[1],
      c: r[2],
      d: r[3],
      e: r[4],
      f: r[5] === null ? null : new Date(r[5] instanceof Date ? r[5].getTime() : (r[5] as number)),
      g: typeof r[6] === 'string' ? JSON.parse(r[6]) : r[6],
      h: r[7],
      i: r[8],
    }))
    const order = [0, 2, 1, 3] // by b: -2^31, 0, 2^31-1, null
    t.strictSame(
      rows,
      order.map((k) => expect[k]),
      'every value read back with the same JS type',
    )
    t.throws(() => new BinaryCopyWriter(['int4']).row([1, 2]), /expected 1/)
    t.throws(() => new BinaryCopyWriter(['int8']).row([2 ** 60]), RangeError)
  })
}

t.test('both drivers return the same JS types', async (t) => {
  t.equal(typeRows.length, 2)
  t.strictSame(typeRows[0], typeRows[1], 'pg and PGlite agree')
  t.strictSame(typeRows[0], {
    big: 9007199254740991,
    bigs: [1, 4294967295],
    dec: '1.25',
    ts: new Date('2026-01-02T03:04:05.678Z'),
    j: { a: [1] },
    b: Buffer.from([0, 0xff]),
    small: 7,
    flag: true,
    none: null,
  })
})

t.test('typed appends write the bytes row() writes', async (t) => {
  const types: CopyType[] = ['int2', 'int4', 'int8', 'float8', 'bool', 'timestamptz', 'jsonb']
  const rows: Array<[number, number, number, number | null, boolean, number, string]> = [
    [-32768, -2147483648, -(2 ** 53 - 1), -1.5e-300, false, Date.UTC(1999, 11, 31, 23, 59, 59, 999), '{"ü":null}'],
    [32767, 2147483647, 4294967296, null, true, Date.UTC(2026, 2, 10, 6, 0, 0, 123), '{}'],
  ]
  const generic = new BinaryCopyWriter(types, 16)
  const typed = new BinaryCopyWriter(types, 16)
  for (const r of rows) {
    generic.row(r)
    typed.beginRow(types.length)
    typed.int2(r[0])
    typed.int4(r[1])
    typed.int8(r[2])
    if (r[3] === null) typed.null()
    else typed.float8(r[3])
    typed.bool(r[4])
    typed.timestamptz(r[5])
    typed.jsonb(r[6])
  }
  t.same(typed.finish(), generic.finish())
})
