/**
 * Upload with replication (paper Alg. 2 lines 2–3; DESIGN §6): the user
 * node (or a doctor, Alg. 4 for EDM) stores the encrypted batch locally and
 * pushes it to the consortium's storage nodes, all at once (or stores it,
 * then announces it, for them to fetch), and waits until `replication` of
 * them acknowledge that they pinned it. Only
 * then may the caller publish tx_IoT / tx_diag. Every failed attempt and
 * every retry is reported through `onEvent`; if too few acknowledge, a
 * ReplicationError lists each node's last error.
 */
import type { CID } from 'multiformats/cid'
import { encodeUploadAuth, equalBytes, InvalidFieldError, signUploadAuth, storeUploadContext, type Identity } from '../core/index.ts'
import { ReplicationError } from './errors.ts'
import { okOrThrow, providerLabel, providerPeerId, VerifiedBlock } from './node.ts'
import type { IpfsNode, Provider } from './node.ts'
import { KIND } from './protocol.ts'
import type { PinningClient } from './pinning-client.ts'

export const DEFAULT_REPLICATION = 2

export interface UploadOptions {
  /** The consortium's storage nodes (multiaddrs or known PeerIds). */
  storageNodes: Provider[]
  /**
   * IPFS Pinning Service API endpoints (IPFS Cluster, a commercial service,
   * or our storage nodes' API): each is asked to pin the CID from this
   * node's addresses, and its `pinned` counts as an acknowledgement.
   */
  pinningServices?: PinningClient[]
  /** Acknowledgements required (default 2). */
  replication?: number
  /**
   * The uploader's identity (a user with a confirmed tx_key, or a registered
   * doctor): each request carries its UploadAuth for that block and that
   * storage node, which the consortium's storage nodes require (DESIGN §6).
   * Storage nodes must then be named with their /p2p/ peer id.
   */
  signer?: Identity
  /** 'push' sends the block in the request (default); 'announce' sends the CID and the node fetches it from us. */
  mode?: 'push' | 'announce'
  /** Further attempts per storage node after the first fails (default 2). */
  retries?: number
  /** Delay before the first retry, doubled each time (default 200 ms). */
  retryDelayMs?: number
  /** Per-request timeout (default the node's). */
  timeoutMs?: number
  signal?: AbortSignal
  onEvent?: (event: UploadEvent) => void
}

export type UploadEvent =
  | { type: 'ack', cid: string, peer: string, attempt: number }
  | { type: 'attempt-failed', cid: string, peer: string, attempt: number, error: Error, willRetry: boolean }

export interface UploadResult {
  cid: CID
  /** Storage nodes that acknowledged, in order of arrival. */
  acked: string[]
  /** Failed attempts (including ones later retried successfully). */
  failures: Array<{ peer: string, attempt: number, error: Error }>
}

/**
 * Stores `bytes` locally and returns once `replication` storage nodes have
 * acknowledged them. The local copy is GC-able cache (in announce mode it is
 * pinned until the upload ends, unless it was pinned before).
 */
export async function uploadBatch (node: IpfsNode, bytes: Uint8Array, opts: UploadOptions): Promise<UploadResult> {
  const replication = opts.replication ?? DEFAULT_REPLICATION
  if (!Number.isInteger(replication) || replication < 1) throw new InvalidFieldError('replication', 'must be a positive integer')
  const services = opts.pinningServices ?? []
  const ids = [...opts.storageNodes.map((p) => providerPeerId(p) ?? providerLabel(p)), ...services.map((s) => s.endpoint)]
  if (new Set(ids).size !== ids.length) throw new InvalidFieldError('storageNodes', 'a storage node is listed twice; each acknowledgement must come from a distinct node')
  if (opts.signer !== undefined) {
    const bare = opts.storageNodes.find((p) => providerPeerId(p) === undefined)
    if (bare !== undefined) throw new InvalidFieldError('storageNodes', `${providerLabel(bare)} has no /p2p/<peer id>: a signed upload names the storage node it is for`)
  }
  if (ids.length < replication) {
    throw new InvalidFieldError('storageNodes', `${ids.length} storage node(s) and pinning service(s) given, replication ${replication} needs at least that many`)
  }
  const block = VerifiedBlock.of(bytes)
  const cid = block.cid
  // announce, or a pinning service: stored and pinned before anyone is asked, so a GC cannot drop
  // what a storage node or a service may fetch from us; push: the request carries the bytes, and
  // the local copy is cache, written while the storage nodes store theirs
  const fetchesFromUs = opts.mode === 'announce' || services.length > 0
  const holdPin = fetchesFromUs && !await node.isPinned(cid)
  const local = node.put(block, holdPin ? { pin: { upload: 'pending' } } : {})
  if (fetchesFromUs) await local
  else local.catch(() => {}) // awaited below, after the pushes
  const cidStr = cid.toString()
  const digest = cid.multihash.digest
  const retries = opts.retries ?? 2
  const baseDelay = opts.retryDelayMs ?? 200
  const done = new AbortController()
  const signal = opts.signal === undefined ? done.signal : AbortSignal.any([done.signal, opts.signal])
  const acked: string[] = []
  const failures: UploadResult['failures'] = []
  const lastError = new Map<string, Error>()

  /** Up to retries + 1 attempts at one target; its acknowledgement, or its errors, recorded. */
  const attempts = async (peer: string, attempt1: () => Promise<void>): Promise<void> => {
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      if (signal.aborted) return
      try {
        await attempt1()
        acked.push(peer)
        opts.onEvent?.({ type: 'ack', cid: cidStr, peer, attempt })
        if (acked.length >= replication) done.abort()
        return
      } catch (err) {
        if (signal.aborted) return
        const willRetry = attempt <= retries
        failures.push({ peer, attempt, error: err as Error })
        lastError.set(peer, err as Error)
        opts.onEvent?.({ type: 'attempt-failed', cid: cidStr, peer, attempt, error: err as Error, willRetry })
        if (willRetry) await sleep(baseDelay * 2 ** (attempt - 1), signal)
      }
    }
  }
  const one = async (storage: Provider): Promise<void> => {
    const peer = providerLabel(storage)
    await attempts(peer, async () => {
      const auth = opts.signer === undefined
        ? undefined
        : encodeUploadAuth(signUploadAuth(opts.signer, 'store-upload', Math.floor(Date.now() / 1000), storeUploadContext(digest, providerPeerId(storage)!)))
      const signed = auth === undefined ? {} : { auth }
      const req = opts.mode === 'announce' ? { kind: KIND.ANNOUNCE, digest, ...signed } as const : { kind: KIND.PUT, block: bytes, ...signed } as const
      const res = okOrThrow(storage, await node.request(storage, req, { ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }), signal }))
      if (res.digest === undefined || !equalBytes(res.digest, digest)) throw new InvalidFieldError('ack', `${peer} acknowledged a different CID`)
    })
  }
  // a pinning service fetches from us: our addresses (with /p2p/) are the pin's origins
  const origins = [...new Set(node.multiaddrs.map(String).filter((a) => a.includes('/p2p/')))].slice(0, 20)
  const viaService = async (service: PinningClient): Promise<void> => {
    await attempts(service.endpoint, async () => {
      await service.pinAndWait({ cid: cidStr, origins }, { signal, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) })
    })
  }

  try {
    await Promise.all([...opts.storageNodes.map(one), ...services.map(viaService)])
    await local
  } finally {
    if (holdPin) await node.unpin(cid).catch(() => {})
  }
  opts.signal?.throwIfAborted()
  if (acked.length < replication) {
    throw new ReplicationError(cidStr, replication, acked, [...lastError].map(([peer, error]) => ({ peer, error })))
  }
  return { cid, acked, failures }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}
