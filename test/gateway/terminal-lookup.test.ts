import t from 'tap'
import type { TerminalWithVehicle } from '../../src/store/port.js'
import { TerminalLookup } from '../../src/gateway/terminal-lookup.js'

const row = (phone: string): TerminalWithVehicle => ({
  terminal: { phone, terminalId: null, vehicleId: null, authCodeHash: null, protocolVersion: null, manufacturer: null, model: null, imei: null, firmware: null, registeredAt: 0 },
  vehicle: null,
})

function fakeStore(known: string[], fail = false) {
  const queries: string[][] = []
  return {
    queries,
    store: {
      async getTerminalsWithVehicles(phones: readonly string[]) {
        queries.push([...phones])
        if (fail) throw new Error('registry down')
        return new Map(phones.filter((p) => known.includes(p)).map((p) => [p, row(p)]))
      },
    },
  }
}

t.test('lookups asked in one turn of the event loop share one query; later ones get their own', async (t) => {
  const { store, queries } = fakeStore(['1', '2', '3'])
  const lookup = new TerminalLookup(store)
  const together = await Promise.all([lookup.get('1'), lookup.get('2'), lookup.get('9')])
  t.same(queries, [['1', '2', '9']])
  t.same(
    together.map((f) => f?.terminal.phone ?? null),
    ['1', '2', null],
    'each asker gets its own row, an unknown phone null',
  )
  t.equal((await lookup.get('3'))?.terminal.phone, '3')
  t.same(queries, [['1', '2', '9'], ['3']])
})

t.test('a storm is split into queries of at most 500 phones', async (t) => {
  const { store, queries } = fakeStore([])
  const lookup = new TerminalLookup(store)
  await Promise.all(Array.from({ length: 1200 }, (_, i) => lookup.get(String(i))))
  t.same(
    queries.map((q) => q.length),
    [500, 500, 200],
  )
})

t.test('a failed query fails every lookup it carried, and the next one is tried afresh', async (t) => {
  const failing = fakeStore([], true)
  const lookup = new TerminalLookup(failing.store)
  const outcomes = await Promise.allSettled([lookup.get('1'), lookup.get('2')])
  t.same(
    outcomes.map((o) => o.status),
    ['rejected', 'rejected'],
  )
  t.equal(failing.queries.length, 1)
})
