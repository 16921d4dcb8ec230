/**
 * Real nodes for the accounting-admission regression tests: a devnet
 * Userchain on a core node (LevelDB) where patients publish their tx_key
 * (grants, revocations), prepay the consortium and publish tx_IoT, mined for
 * real; and four AccountingNodes running PBFT (each with its own LevelDB)
 * that read that Userchain through the same UserchainView and CreditBook as
 * `healthchain accounting`, on the in-process transport.
 */
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { join } from 'node:path'
import {
  buildTxCoin, buildTxDiag, buildTxIoT, DEVNET, sha256, toHex, txId, utf8Bytes,
  type DoctorKey, type Identity, type Tx, type TxDiag, type TxIoT
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { CreditBook, DIAGNOSIS_PRICE, type CreditState } from '../../hub/src/roles/consortium/credit.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { who } from './core.ts'
import { startMemoryConsortium } from './memory-consortium.ts'
import { mine } from './doctor-world.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface Patient {
  readonly id: Identity
  readonly keys: UserKeys
  /** Publishes a tx_key, a prepayment or a tx_IoT on Userchain (mined by `confirm`). */
  readonly send: (tx: Tx) => Promise<void>
  /** A tx_IoT sealed under the current epoch, sent. */
  readonly iot: () => Promise<TxIoT>
}

export interface AdmissionWorld {
  readonly core: CoreNode
  readonly credit: CreditBook
  readonly nodes: readonly AccountingNode[]
  readonly doctors: readonly Identity[]
  /** A patient with a first (doctor-less) epoch and `prepaid` diagnoses paid to the consortium (not yet mined). */
  readonly patient: (label: string, prepaid: number) => Promise<Patient>
  /** Mines what was sent. */
  readonly confirm: () => Promise<void>
  /** A fresh tx_diag by `doctor` citing `causes`. */
  readonly diag: (doctor: Identity, causes: readonly TxIoT[]) => TxDiag
}

/** One tx_diag that must be refused for want of a grant: who sends it, and the epoch the reason must name. */
export interface Refusal { readonly who: string, readonly tx: TxDiag, readonly epoch: number }

/**
 * Submits each refusal to the accounting nodes in turn and asserts it is
 * refused with ERR_NOT_GRANTED naming the doctor, `user` and the epoch;
 * then that nothing reached Docchain and the user's credit is `paid` still.
 */
export async function assertNotGranted (t: Test, w: AdmissionWorld, user: Uint8Array, refusals: readonly Refusal[], paid: CreditState): Promise<void> {
  for (const [i, r] of refusals.entries()) {
    const receipt = await w.nodes[i % w.nodes.length]!.submit(r.tx)
    t.notOk(receipt.ok, `${r.who}: refused`)
    if (receipt.ok) continue
    t.equal(receipt.code, 'ERR_NOT_GRANTED', `${r.who}: ${receipt.reason}`)
    t.match(receipt.reason, new RegExp(`doctor ${toHex(r.tx.doctor)} holds no key of user ${toHex(user)}'s epoch ${r.epoch}`), 'the reason names the doctor, the user and the epoch')
  }
  t.equal(w.nodes[0]!.height, 0, 'nothing reached Docchain')
  t.same(await w.credit.state(user), paid, 'the patient\'s credit is unchanged')
}


export async function admissionWorld (t: Teardown, dir: string, label: string): Promise<AdmissionWorld> {
  const core = await CoreNode.open({ dir: join(dir, 'userchain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const doctors = [who(`${label}-doctor-0`), who(`${label}-doctor-1`), who(`${label}-doctor-2`)]
  const consortium = who(`${label}-consortium`)
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey })).find((k) => toHex(k.id) === toHex(id)) }
  const miner = who(`${label}-miner`)
  await mine(core, miner.id)
  const view = new UserchainView(core.store)
  const credit = new CreditBook(core.store, consortium.id)
  const members = [0, 1, 2, 3].map((i) => who(`${label}-accounting-${i}`))
  const { nodes } = await startMemoryConsortium(t, { dir, members, consortium, doctors, view, credit, tune: { replica: { batchDelayMs: 2, requestTimeoutMs: 1000, viewChangeTimeoutMs: 1000 }, tickMs: 5 } })
  // Committed Dblocks consume credit in the CreditBook too (the consortium's settlement reads it).
  let credited = Promise.resolve()
  for (const n of nodes.slice(0, 1)) n.onCommit = (b) => { credited = credited.then(async () => { await credit.onDblock(b, async (h) => await view.userOf(h)) }) }
  const now = (): number => Math.floor(Date.now() / 1000) - 5
  let batch = 0
  return {
    core,
    credit,
    nodes,
    doctors,
    patient: async (name, prepaid) => {
      const id = who(`${label}-${name}`)
      const keys = new UserKeys(id, { rng: (n) => new Uint8Array(randomBytes(n)), now, directory })
      const send = async (tx: Tx): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(`Userchain refused a ${tx.kind}: ${r.reason}`) }
      await mine(core, id.id) // the coinbase it prepays from
      await send(keys.init())
      if (prepaid > 0) await send(buildTxCoin(id, { to: consortium.id, amount: prepaid * DIAGNOSIS_PRICE, fee: 10, nonce: 0 }))
      return {
        id, keys, send,
        iot: async () => {
          const tx = buildTxIoT(id, { ts: now(), heiot: sha256(utf8Bytes(`${label}-${name}-batch-${batch++}`)), epoch: keys.history().at(-1)!.epoch })
          await send(tx)
          return tx
        }
      }
    },
    confirm: async () => { await mine(core, miner.id); await credited },
    diag: (doctor, causes) => buildTxDiag(doctor, { ts: now(), causes: causes.map((c) => txId(c)), hedm: sha256(randomBytes(16)) })
  }
}
