/**
 * Transport between the configured accounting nodes (paper §IV-B2 network
 * layer). PBFT messages are signed end to end (core/pbft/envelope.ts), so the
 * transport only moves bytes: the libp2p stream transport of the network
 * issue plugs in behind this interface; MemoryNetwork is the in-process one
 * used by tests and the bench until then.
 */
import { equalBytes, toHex } from '../../core/index.ts'

export interface PbftTransport {
  /** Send to one accounting node, or to every other one when `to` is null. */
  send: (to: Uint8Array | null, bytes: Uint8Array) => void
  /** Register the handler of incoming messages (one per transport). */
  onMessage: (handler: (bytes: Uint8Array) => void) => void
  close: () => Promise<void>
}

/** An in-process network: asynchronous, ordered per link, lossless. */
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

/**
 * The same transport, logging every PBFT message it moves ("pbft > kind" sent,
 * "pbft < kind" received; `kind` names it): for tracing where a commit's time
 * goes (`HEALTHCHAIN_PBFT_TRACE=1 healthchain accounting …`).
 */
export function tracedTransport (t: PbftTransport, log: (line: string) => void, kind: (bytes: Uint8Array) => string): PbftTransport {
  return {
    send: (to, bytes) => { log(`pbft > ${kind(bytes)} ${to === null ? 'all' : toHex(to).slice(0, 8)}`); t.send(to, bytes) },
    onMessage: (h) => { t.onMessage((bytes) => { log(`pbft < ${kind(bytes)}`); h(bytes) }) },
    close: async () => { await t.close() }
  }
}
