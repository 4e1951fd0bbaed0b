/** JT/T 809 exchange between two instances of ours, edition 2019, plain and encrypted (the scenario: exchange.ts). */
import t from 'tap'
import { exchangeTests } from './exchange.js'
import { KEYS } from './helpers.js'

// two gateway instances (each with its own embedded database) per case: more than the default 120 s on a loaded machine
t.setTimeout(300_000)

exchangeTests([
  { edition: 2019, encryption: null, variant: 'embedded' },
  { edition: 2019, encryption: KEYS, variant: 'servers' },
])
