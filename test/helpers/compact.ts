/**
 * Fixtures for compact block relay on loopback (real libp2p, LevelDB,
 * signature checks): a sender and a receiver whose mempools hold the same
 * transactions, blocks built on the sender without announcing them, and
 * hand-made cmpctblock messages (a liar's, or what a short-id collision
 * looks like to the receiver).
 */
import { randomBytes } from 'node:crypto'
import {
  bodyTx, compactFromUblockBytes, COMPACT_NONCE_BYTES, encodeCompactBlock, encodeUblock, merkleRoot, solveUblockHeader, toHex, ublockHash,
  type BodyTx, type CompactBlock, type Ublock
} from '../../hub/src/core/index.ts'
import { aliceIot, aliceKey, meshed, mine, startPeer, until, type Peer } from '../integration/net-helpers.ts'
import { who } from './core.ts'

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export const alice = who('alice')
const doctor = who('doctor')

/** `sender` and `receiver`, connected, alice's key confirmed, `n` of her tx_IoT in both mempools. */
export async function compactPair (t: Teardown, n: number, first = 0): Promise<{ sender: Peer, receiver: Peer, txs: BodyTx[] }> {
  const sender = await startPeer(t, 'sender')
  const receiver = await startPeer(t, 'receiver', { bootstrap: [sender.addr] })
  await meshed([sender, receiver])
  await sender.node.submitTx(aliceKey(alice, doctor))
  await mine(sender)
  await until('receiver follows', () => receiver.node.store.tip.hex === sender.node.store.tip.hex)
  const txs = await inBothMempools(sender, receiver, n, first)
  return { sender, receiver, txs }
}

/** `n` fresh tx_IoT (batches first, first + 1, …) submitted to `sender`, once gossip has put them in `receiver`'s mempool too. */
export async function inBothMempools (sender: Peer, receiver: Peer, n: number, first: number): Promise<BodyTx[]> {
  const txs = Array.from({ length: n }, (_, i) => bodyTx(aliceIot(alice, first + i)))
  for (const tx of txs) {
    const r = await sender.node.submitTx(tx.bytes)
    if (!r.accepted) throw new Error(`sender refused a tx: ${r.reason}`)
  }
  await until('txs reach the receiver', () => txs.every((x) => receiver.node.mempool.has(x.id)))
  return txs
}

/** A solved block on the sender's tip holding `txs`, stored by the sender without announcing it (as a liar keeps its own counsel). */
export async function storedQuietly (sender: Peer, txs: readonly BodyTx[], store = true): Promise<{ block: Ublock, bytes: Uint8Array, hex: string }> {
  const tpl = sender.node.template(who('miner-sender').id)
  const tplTxs = new Set(txs.map((x) => toHex(x.id)))
  const chosen = tpl.txs.filter((x, i) => i === 0 || tplTxs.has(toHex(x.id)))
  const block = { header: solveUblockHeader({ ...tpl.header, userroot: merkleRoot(chosen.map((x) => x.id)) }, 1_000_000)!, txs: chosen }
  const bytes = encodeUblock(block)
  const hash = ublockHash(block.header)
  if (store) {
    sender.cnet.gossip.markBlockSeen(hash)
    const r = await sender.node.submitBlock(bytes)
    if (!r.accepted || r.status !== 'connected') throw new Error(`sender refused its own block: ${r.accepted ? r.status : r.reason}`)
  }
  return { block, bytes, hex: toHex(hash) }
}

/** Publishes on the cmpct topic the compact form of `bytes`, edited by `edit` (a fresh nonce each time, so gossip never drops it as a repeat). */
export async function announce (sender: Peer, bytes: Uint8Array, edit: (cb: CompactBlock) => CompactBlock = (cb) => cb): Promise<void> {
  await sender.cnet.gossip.publish('cmpct', encodeCompactBlock(edit(compactFromUblockBytes(bytes, randomBytes(COMPACT_NONCE_BYTES)))))
}
