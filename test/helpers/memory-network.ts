/**
 * An in-process PBFT transport for tests and the in-process bench arms:
 * asynchronous, ordered per link, lossless, with links that can be cut.
 * The daemons use the libp2p transport (hub/src/roles/accounting/libp2p-transport.ts).
 */
import { equalBytes, toHex } from '../../hub/src/core/index.ts'
import type { PbftTransport } from '../../hub/src/roles/accounting/transport.ts'

export class MemoryNetwork {
  private readonly handlers = new Map<string, (bytes: Uint8Array) => void>()
  private readonly ids: Uint8Array[] = []
  /** Links that drop everything (to simulate a crash or a partition). */
  readonly down = new Set<string>()
  delivered = 0

  join (id: Uint8Array): PbftTransport {
    const k = toHex(id)
    if (!this.ids.some((x) => equalBytes(x, id))) this.ids.push(id)
    return {
      send: (to, bytes) => {
        if (this.down.has(k)) return
        for (const peer of to === null ? this.ids.filter((x) => !equalBytes(x, id)) : [to]) {
          const pk = toHex(peer)
          setImmediate(() => {
            if (this.down.has(pk) || this.down.has(k)) return
            const h = this.handlers.get(pk)
            if (h !== undefined) { this.delivered++; h(bytes) }
          })
        }
      },
      onMessage: (handler) => { this.handlers.set(k, handler) },
      close: async () => { this.handlers.delete(k) }
    }
  }
}
