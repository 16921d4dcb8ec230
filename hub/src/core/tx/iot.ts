/**
 * tx_IoT (paper §IV-B1, Eq. 1; Alg. 2) = {ID_U, ts, HEIoT, keyRef, Sig}.
 * HEIoT is the IPFS CID of the AES-256-GCM ciphertext of one batch of readings,
 * stored as the 32-byte digest of a CIDv1 raw sha2-256 (cid.ts rebuilds it).
 * keyRef is the key epoch (the tx_key of this user with that epoch) whose IoT
 * key Ik encrypts the batch: DESIGN §4 points from data to key, because a key
 * exists before the data it encrypts. htxI = H(encoding incl. Sig).
 */
import type { Reader, Writer } from '../codec.ts'
import { HASH_BYTES, ID_BYTES, type Identity } from '../crypto.ts'
import { InvalidFieldError } from '../errors.ts'
import { MAX_EPOCH, MAX_TIMESTAMP } from '../limits.ts'
import { defaultTag, signBody, type TxCodec } from './common.ts'

export interface TxIoT {
  readonly kind: 'iot'
  /** ID_U: the user's Ed25519 public key. */
  readonly user: Uint8Array
  /** ts_1, seconds since 1970. */
  readonly ts: number
  /** HEIoT: sha2-256 digest of the encrypted batch (its CIDv1 raw). */
  readonly heiot: Uint8Array
  /** keyRef: the key epoch whose Ik encrypts the batch (≥ 1). */
  readonly epoch: number
  readonly sig: Uint8Array
}

export const txIoTCodec: TxCodec<TxIoT> = {
  kind: 'iot',
  tag: defaultTag('iot'),
  writeBody (w: Writer, tx: TxIoT) {
    w.fixed('user', tx.user, ID_BYTES)
      .varint('ts', tx.ts, MAX_TIMESTAMP)
      .fixed('heiot', tx.heiot, HASH_BYTES)
      .varint('epoch', tx.epoch, MAX_EPOCH)
    if (tx.epoch < 1) throw new InvalidFieldError('epoch', 'key epochs start at 1')
  },
  readBody (r: Reader) {
    const user = r.fixed('user', ID_BYTES)
    const ts = r.varint('ts', MAX_TIMESTAMP)
    const heiot = r.fixed('heiot', HASH_BYTES)
    const epoch = r.varint('epoch', MAX_EPOCH)
    if (epoch < 1) throw new InvalidFieldError('epoch', 'key epochs start at 1')
    return { kind: 'iot', user, ts, heiot, epoch }
  },
  signer: (tx) => tx.user
}

/** Alg. 2 lines 4–7: timestamp, sign. (Encryption and upload happen before, in roles/.) */
export function buildTxIoT (user: Identity, fields: { ts: number, heiot: Uint8Array, epoch: number }): TxIoT {
  return signBody(txIoTCodec, { kind: 'iot', user: user.id, ts: fields.ts, heiot: fields.heiot, epoch: fields.epoch }, user.signing)
}
