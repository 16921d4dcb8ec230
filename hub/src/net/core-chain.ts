/**
 * The NetChain view of a core user node (roles/core CoreNode on the
 * classic-level ChainStore). Only a type import of the role: the network
 * layer never reaches into the store's internals.
 */
import { fromHex, type BodyTx } from '../core/index.ts'
import type { CoreNode } from '../roles/core/node.ts'
import type { AddResult } from '../store/chain.ts'
import type { ChainTip, NetChain, Verdict } from './chain.ts'

export function coreChain (node: CoreNode): NetChain {
  const tip = (): ChainTip => {
    const e = node.store.tip
    return { hash: e.hash, height: e.height, header: e.header, work: e.work }
  }
  return {
    network: node.params.name,
    tip,
    hashAt: (h) => node.store.hashAt(h),
    header: (hash) => {
      const e = node.store.entry(hash)
      return e === undefined || e.status === 'invalid' ? undefined : { header: e.header, height: e.height }
    },
    isOnMainChain: (hash) => node.store.isOnMainChain(hash),
    getBlockBytes: async (hash) => await node.store.getBlockBytes(hash),
    async submitTx (bytes, peer, banned): Promise<Verdict> {
      const r = await node.submitTx(bytes, peer, banned)
      return r.accepted ? { accepted: true } : { accepted: false, code: r.code, reason: r.reason }
    },
    async submitBlock (bytes, decoded): Promise<Verdict> {
      const r = await node.submitBlock(bytes, decoded)
      if (!r.accepted) return { accepted: false, code: r.code, reason: r.reason }
      if (r.status === 'invalid') return { accepted: false, code: 'ERR_INVALID_BLOCK', reason: r.reason ?? 'invalid' }
      return { accepted: true, duplicate: r.status === 'duplicate', tipChanged: r.tipChanged }
    },
    userTxProofs: async (user, limit, fromHeight = 0) => await node.store.userTxProofs(user, limit, fromHeight),
    mempoolTxs (maxBytes) {
      const out: Uint8Array[] = []
      let n = 0
      for (const e of node.mempool.list()) {
        if (n + e.size > maxBytes) break
        out.push(e.bt.bytes)
        n += e.size
      }
      return out
    },
    mempoolBodyTxs: () => node.mempool.txs(),
    hasTx: (id) => node.mempool.has(id) || node.store.isConfirmed(id),
    onTip (fn) {
      const h = (): void => { fn(tip()) }
      node.on('tip', h)
      return () => { node.off('tip', h) }
    },
    onTx (fn) {
      const h = (hex: string): void => {
        const e: { bt: BodyTx } | undefined = node.mempool.get(hex)
        if (e !== undefined) fn(e.bt.bytes)
      }
      node.on('tx', h)
      return () => { node.off('tx', h) }
    },
    onBlock (fn) {
      const h = (r: AddResult): void => { if (r.status === 'connected' || r.status === 'side') fn(fromHex('hash', r.hash)) }
      node.on('block', h)
      return () => { node.off('block', h) }
    }
  }
}
