/**
 * Key-epoch changes (paper Alg. 3; §IV-B5 Key management) as the keys node
 * drives them. A runtime carrying its own `keyEpochs` — the hub's key
 * service, or a hub reached through its control API — is used as it is, so
 * a grant from Node-RED is the same call as one from the CLI or the page.
 * Otherwise (a runtime of bare parts, as the tests build) one is made over
 * its UserKeys and mempool: the tx_key is built here and withdrawn if the
 * mempool refuses it.
 */
import { fromHex, toHex, type TxKey } from '../core/index.ts'
import { publishEpoch, type UserKeys } from '../roles/user/keys.ts'
import { BadMessageError } from './errors.ts'
import { need, type HealthchainRuntime, type KeyEpochs, type PublishedEpoch, type TxSubmitter } from './runtime.ts'

function doctorId (x: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/i.test(x)) throw new BadMessageError('payload.doctor', 'must be the doctor\'s 32-byte ID in hex')
  return fromHex('payload.doctor', x)
}

export function localKeyEpochs (keys: UserKeys, txs: TxSubmitter): KeyEpochs {
  const publish = async (tx: TxKey): Promise<PublishedEpoch> => {
    const { id } = await publishEpoch(keys, tx, async (x) => await txs.submit(x))
    return { epoch: tx.epoch, tx: id, doctors: tx.envelopes.map((e) => toHex(e.doctor)), txKey: tx }
  }
  return {
    init: async () => await publish(keys.init()),
    grant: async (d, scope) => await publish(keys.grant(doctorId(d), scope)),
    revoke: async (d) => await publish(keys.revoke(doctorId(d))),
    rotate: async () => await publish(keys.rotate()),
    doctors: async () => ({ epoch: keys.current?.epoch ?? 0, doctors: keys.doctors().map(toHex) })
  }
}

/** The runtime's key-epoch changes: its own, else over its keys and mempool. */
export function keyEpochsOf (rt: HealthchainRuntime): KeyEpochs { return rt.keyEpochs ?? localKeyEpochs(need(rt, 'keys'), need(rt, 'txs')) }
