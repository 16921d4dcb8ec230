/**
 * Sealed payloads on IPFS (paper Alg. 2 line 2, Alg. 4): EIoT = Enc(Ik, IoT)
 * and Enc(dk_ij, diag), both AES-256-GCM with a fresh 96-bit nonce passed in.
 * The AAD binds each ciphertext to its context — a batch to (ID_U, epoch), a
 * diagnosis to (ID_D, first cause htxI) — so a ciphertext moved to another
 * transaction does not open. Layout: nonce ‖ ciphertext ‖ tag.
 */
import { checkBytes, concatBytes, utf8Bytes } from './codec.ts'
import { epochBytes } from './tx/common.ts'
import { HASH_BYTES, ID_BYTES, openBox, sealBox } from './crypto.ts'
import { InvalidFieldError, LimitExceededError } from './errors.ts'
import { MAX_EPOCH } from './limits.ts'
import { checkUint } from './codec.ts'

/** Largest sealed payload stored for one transaction (DESIGN §4: 1 MiB batches). */
export const MAX_SEALED_BYTES = 1024 * 1024
const BATCH_TAG = utf8Bytes('healthchain/batch/v1\0')
const DIAG_TAG = utf8Bytes('healthchain/diagnosis/v1\0')

function batchAad (user: Uint8Array, epoch: number): Uint8Array {
  checkBytes('user', user, ID_BYTES)
  checkUint('epoch', epoch, MAX_EPOCH)
  if (epoch < 1) throw new InvalidFieldError('epoch', 'key epochs start at 1')
  return concatBytes(BATCH_TAG, user, epochBytes(epoch))
}

function diagAad (doctor: Uint8Array, cause: Uint8Array): Uint8Array {
  return concatBytes(DIAG_TAG, checkBytes('doctor', doctor, ID_BYTES), checkBytes('cause', cause, HASH_BYTES))
}

function checkSize (field: string, b: Uint8Array): Uint8Array {
  checkBytes(field, b)
  if (b.length > MAX_SEALED_BYTES) throw new LimitExceededError(field, MAX_SEALED_BYTES, b.length)
  return b
}

export function sealBatch (ik: Uint8Array, nonce: Uint8Array, user: Uint8Array, epoch: number, plaintext: Uint8Array): Uint8Array {
  return sealBox(ik, nonce, checkSize('batch', plaintext), batchAad(user, epoch))
}

export function openBatch (ik: Uint8Array, user: Uint8Array, epoch: number, sealed: Uint8Array): Uint8Array {
  return openBox(ik, checkSize('sealed batch', sealed), batchAad(user, epoch))
}

export function sealDiagnosis (dk: Uint8Array, nonce: Uint8Array, doctor: Uint8Array, firstCause: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return sealBox(dk, nonce, checkSize('diagnosis', plaintext), diagAad(doctor, firstCause))
}

export function openDiagnosis (dk: Uint8Array, doctor: Uint8Array, firstCause: Uint8Array, sealed: Uint8Array): Uint8Array {
  return openBox(dk, checkSize('sealed diagnosis', sealed), diagAad(doctor, firstCause))
}
