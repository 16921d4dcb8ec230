/**
 * The user and doctor transactions of paper §IV-B1 behind one interface:
 * encode, strict decode, signature verification and id. Dispatch is by the
 * type byte; each kind's layout lives in its own file.
 */
import { Reader, Writer } from '../codec.ts'
import { ID_BYTES, SIG_BYTES, sha256, verify } from '../crypto.ts'
import { BadSignatureError, LimitExceededError, UnknownVersionError } from '../errors.ts'
import { MAX_TX_BYTES } from '../limits.ts'
import { readVersion, signedMessage, TX_TYPES, writeHead, writeSignedMessage, type TxCodec, type TxKind } from './common.ts'
import { txIoTCodec, type TxIoT } from './iot.ts'
import { txKeyCodec, type TxKey } from './key.ts'
import { txDiagCodec, type TxDiag } from './diag.ts'
import { txCoinCodec, type TxCoin } from './coin.ts'
import { txCoinbaseCodec, type TxCoinbase } from './coinbase.ts'
import { txRegCodec, type TxReg } from './reg.ts'
import { txEmergencyCodec, type TxEmergency } from './emergency.ts'
import { txReleaseCodec, type TxRelease } from './release.ts'
import { txWithdrawalCodec, type TxWithdrawal } from './withdrawal.ts'

export type Tx = TxIoT | TxKey | TxDiag | TxCoin | TxCoinbase | TxReg | TxEmergency | TxRelease | TxWithdrawal
/** The transactions a Dblock may hold (paper §IV-B1 tx_diag; the consortium's doctor-registry records; emergency requests and their share releases; patients' withdrawals of consent). */
export type DocTx = TxDiag | TxReg | TxEmergency | TxRelease | TxWithdrawal
export type { TxKind }

const CODECS: Record<TxKind, TxCodec<any>> = {
  iot: txIoTCodec, key: txKeyCodec, diag: txDiagCodec, coin: txCoinCodec, coinbase: txCoinbaseCodec, reg: txRegCodec, emergency: txEmergencyCodec, release: txReleaseCodec, withdrawal: txWithdrawalCodec
}
const BY_TYPE = new Map<number, TxCodec<any>>(Object.entries(TX_TYPES).map(([k, t]) => [t, CODECS[k as TxKind]]))

function codecOf (tx: Tx): TxCodec<Tx> {
  const c = CODECS[tx?.kind as TxKind]
  if (c === undefined) throw new UnknownVersionError('kind', Number.NaN)
  return c
}

export function encodeTx (tx: Tx): Uint8Array {
  const codec = codecOf(tx)
  const w = new Writer(256)
  writeHead(w, codec, tx)
  codec.writeBody(w, tx)
  if (codec.tag !== null) w.fixed('sig', tx.sig, SIG_BYTES)
  const out = w.finish()
  if (out.length > MAX_TX_BYTES) throw new LimitExceededError('tx', MAX_TX_BYTES, out.length)
  return out
}

/** Strict decode: unknown type/version, truncation, trailing bytes and oversize all throw typed errors. */
export function decodeTx (bytes: Uint8Array): Tx {
  const r = new Reader(bytes)
  if (bytes.length > MAX_TX_BYTES) throw new LimitExceededError('tx', MAX_TX_BYTES, bytes.length)
  const type = r.u8('type')
  const codec = BY_TYPE.get(type)
  if (codec === undefined) throw new UnknownVersionError('type', type)
  const body = codec.readBody(r, readVersion(r, codec))
  const sig = codec.tag !== null ? r.fixed('sig', SIG_BYTES) : new Uint8Array(0)
  r.end('tx')
  return { ...body, sig } as Tx
}

/** htxI / htxk / htxd: SHA-256 of the full encoding, signature included (Eq. 1–3). */
export function txId (tx: Tx | Uint8Array): Uint8Array {
  return sha256(tx instanceof Uint8Array ? tx : encodeTx(tx))
}

/** The signer's public key, or null for unsigned kinds. */
export function txSigner (tx: Tx): Uint8Array | null {
  return codecOf(tx).signer(tx)
}

/** The exact message whose signature a tx carries (for batch verification in workers). */
export function txSigningMessage (tx: Tx): Uint8Array | null {
  const codec = codecOf(tx)
  return codec.tag === null ? null : signedMessage(codec, tx)
}

// verifyTx's message buffer: verify reads it synchronously, and a fresh one per
// call (an external ArrayBuffer) cost 3× the encoding itself.
const SCRATCH = new Writer(1024)

/**
 * True when the signature verifies (always true for unsigned kinds); the hot
 * loop of the signature workers. `bytes`, when given, must be the tx's
 * canonical encoding (what it was strictly decoded from, or encodeTx of it):
 * the signed message is then its tag and those bytes less the trailing
 * signature, copied rather than encoded again.
 */
export function verifyTx (tx: Tx, bytes?: Uint8Array): boolean {
  const codec = codecOf(tx)
  if (codec.tag === null) return true
  const signer = codec.signer(tx)!
  if (signer.length !== ID_BYTES) return false
  let w: Writer
  if (bytes === undefined) w = writeSignedMessage(SCRATCH.reset(), codec, tx)
  else {
    if (bytes.length < SIG_BYTES) return false
    const unsigned = bytes.subarray(0, bytes.length - SIG_BYTES)
    w = SCRATCH.reset().fixed('tag', codec.tag, codec.tag.length).fixed('tx', unsigned, unsigned.length)
  }
  return verify(signer, w.view(), tx.sig)
}

export function assertTxSignature (tx: Tx): void {
  if (!verifyTx(tx)) throw new BadSignatureError('sig')
}

export { TX_TYPES, TX_VERSION } from './common.ts'
export * from './iot.ts'
export * from './key.ts'
export * from './diag.ts'
export * from './coin.ts'
export * from './coinbase.ts'
export * from './reg.ts'
export * from './escrow.ts'
export * from './emergency.ts'
export * from './release.ts'
export * from './withdrawal.ts'
