/**
 * Transport between the configured accounting nodes (paper §IV-B2 network
 * layer). PBFT messages are signed end to end (core/pbft/envelope.ts), so the
 * transport only moves bytes: the libp2p stream transport
 * (libp2p-transport.ts) is the one the daemons use.
 */
import { toHex } from '../../core/index.ts'

export interface PbftTransport {
  /** Send to one accounting node, or to every other one when `to` is null. */
  send: (to: Uint8Array | null, bytes: Uint8Array) => void
  /** Register the handler of incoming messages (one per transport). */
  onMessage: (handler: (bytes: Uint8Array) => void) => void
  close: () => Promise<void>
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
