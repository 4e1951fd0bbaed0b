/**
 * Authentications waiting at once share one registry query. A reconnect storm is thousands of
 * handshakes a second; looked up one by one, each takes a pooled connection and a round trip, and
 * the admission line advances only as fast as those round trips. Lookups asked within one turn of
 * the event loop (the handshakes the admission gate lets in together) go as one query of up to
 * MAX_BATCH phones.
 */
import type { Store, TerminalWithVehicle } from '../store/port.js'

const MAX_BATCH = 500

interface Ask {
  phone: string
  resolve: (found: TerminalWithVehicle | null) => void
  reject: (err: unknown) => void
}

export class TerminalLookup {
  private asked: Ask[] = []

  constructor(private readonly store: Pick<Store, 'getTerminalsWithVehicles'>) {}

  /** The terminal by canonical phone, with its vehicle; null when unknown. */
  get(phone: string): Promise<TerminalWithVehicle | null> {
    return new Promise((resolve, reject) => {
      if (this.asked.push({ phone, resolve, reject }) === 1) setImmediate(() => this.flush())
    })
  }

  private flush(): void {
    const asked = this.asked
    this.asked = []
    for (let i = 0; i < asked.length; i += MAX_BATCH) {
      const batch = asked.slice(i, i + MAX_BATCH)
      this.store.getTerminalsWithVehicles(batch.map((a) => a.phone)).then(
        (found) => {
          for (const a of batch) a.resolve(found.get(a.phone) ?? null)
        },
        (err: unknown) => {
          for (const a of batch) a.reject(err)
        },
      )
    }
  }
}
