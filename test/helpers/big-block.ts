/**
 * Ublocks of about 1 MiB of signed tx_IoT (some 7,400 signatures), with or
 * without their proof of work: what a peer attacking block validation sends
 * (test/security/bad-pow-block.test.ts, bench/hardening.ts).
 */
import { buildTxIoT, meetsTarget, sha256, ublockHash, ublockTemplate, utf8Bytes, MAX_BLOCK_BODY_BYTES, type NetworkParams, type Ublock, type UblockHeader } from '../../hub/src/core/index.ts'
import { who } from './core.ts'
import { NETTEST, NOW } from '../integration/net-helpers.ts'

/** A Ublock on `tip` filling about 1 MiB with signed tx_IoT, its header left unsolved unless `solve`. */
export function bigBlock (tip: { header: UblockHeader, hash: Uint8Array }, bits: number, salt: string, params: NetworkParams = NETTEST, now = NOW): Ublock {
  const users = Array.from({ length: 16 }, (_, i) => who(`bad-pow-user-${i}`))
  const txs = []
  let size = 0
  for (let i = 0; size < MAX_BLOCK_BODY_BYTES - 4096; i++) {
    const tx = buildTxIoT(users[i % users.length]!, { ts: now - 10, heiot: sha256(utf8Bytes(`${salt}-${i}`)), epoch: 1 })
    txs.push(tx)
    size += 140
  }
  return ublockTemplate({ prev: tip.header, prevHash: tip.hash, gtime: now, bits, miner: who('bad-pow-miner').id, reward: params.blockReward, txs })
}

/** The same block with a nonce whose header hash misses the target. */
export function withoutPow (b: Ublock): Ublock {
  for (let nonce = 0; ; nonce++) {
    const header = { ...b.header, nonce }
    if (!meetsTarget(ublockHash(header), header.bits)) return { ...b, header }
  }
}

