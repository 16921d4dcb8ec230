/**
 * Everything a doctor daemon talks to, on loopback, for the doctor tests
 * (test/integration/doctor-daemon.test.ts in-process, doctor-cli.test.ts
 * as a child process): a devnet Userchain on a core node served over libp2p
 * (a patient's tx_key granting an AI and a human doctor, its prepayment to
 * the consortium, then its tx_IoT as `batch` publishes them), a Helia
 * storage node holding the sealed batches, and four AccountingNodes running
 * PBFT on an in-process transport with member 0 reachable over its own
 * libp2p node — which answers the diag protocol and serves Docchain only
 * once `serve` is called, and counts every tx_diag it receives. The
 * registry also holds an emergency doctor (the emergency role, granted
 * nothing) and publishes the members' identity records, so the patient can
 * opt in to emergency access (`keys.prepareEscrowed`: 3 of the 4 members).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import {
  buildIdentityRecord, buildTxCoin, buildTxIoT, DEVNET, encodeIdentityRecord, sealBatch, solveUblockHeader, toHex, txId,
  type DoctorKey, type Identity, type Tx, type TxIoT
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { serveDocchain } from '../../hub/src/net/docchain.ts'
import { AccountingNode } from '../../hub/src/roles/accounting/node.ts'
import { UserchainView } from '../../hub/src/roles/accounting/userchain-view.ts'
import { serveDiagSubmissions } from '../../hub/src/roles/accounting/diag-protocol.ts'
import { CreditBook, DIAGNOSIS_PRICE } from '../../hub/src/roles/consortium/credit.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { createIpfsLibp2p, digestOfCid, uploadBatch } from '../../hub/src/ipfs/index.ts'
import { encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { addr, ipfsNode, storageNode } from './ipfs.ts'
import { who } from './core.ts'
import { startMemoryConsortium } from './memory-consortium.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const now = (): number => Math.floor(Date.now() / 1000) - 5

/** Mines one devnet block on the tip paying `to` (about a thousand hashes). */
export async function mine (core: CoreNode, to: Uint8Array): Promise<void> {
  const tpl = core.template(to)
  let header = null
  for (let nonce = 0; header === null; nonce += 1_000_000) header = solveUblockHeader({ ...tpl.header, nonce }, 1_000_000)
  const r = await core.submitBlock({ header, txs: tpl.txs })
  if (!r.accepted) throw new Error(`mined block rejected: ${r.reason}`)
}

/** Polls `probe` every 100 ms until it answers something, or fails naming `what`. */
export async function until<T> (what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export const patient = who('daemon-patient')
export const aiDoctor = who('daemon-ai-doctor')
export const humanDoctor = who('daemon-human-doctor')
export const erDoctor = who('daemon-er-doctor')
export const consortium = who('daemon-consortium')
export const members = [0, 1, 2, 3].map((i) => who(`daemon-accounting-${i}`))

export interface DoctorWorld {
  readonly core: CoreNode
  readonly accounting: readonly AccountingNode[]
  readonly acctP2p: Libp2p
  /** Ids (hex) of the tx_diag member 0 received over the diag protocol, in order. */
  readonly received: string[]
  /** While true, member 0 submits what it receives but the answer is lost (the request fails). */
  loseAnswers: boolean
  /** Member 0 answers the diag protocol and serves Docchain from now on. */
  serve: () => Promise<void>
  /**
   * A desaturation episode (urgent to the AI doctor: 60 SpO2 and 60 pulse readings of device ox-1,
   * 10 s apart from `from`, default 10 min ago) sealed as the hub seals batches, stored, named by a tx_IoT and mined.
   */
  batch: (spo2: number, from?: number) => Promise<TxIoT>
  /** The patient's key epochs (grant, revoke through `publish`). */
  readonly keys: UserKeys
  /** Submits a transaction of the patient's and mines it. */
  publish: (tx: Tx) => Promise<void>
  /** The patient's IPFS node (holds every batch it sealed) and the storage node's address. */
  readonly userIpfs: Awaited<ReturnType<typeof ipfsNode>>
  readonly storageAddr: string
  /** A doctor config file's content for this world (the test adds dataDir and mode). */
  readonly cfgFile: Record<string, unknown>
}

export async function doctorWorld (t: Teardown, dir: string): Promise<DoctorWorld> {
  const storage = await storageNode(t, join(dir, 'storage'))
  const userIpfs = await ipfsNode(t, join(dir, 'user-ipfs'))
  const core = await CoreNode.open({ dir: join(dir, 'userchain'), params: DEVNET, verifyThreads: 1 })
  t.teardown(async () => { await core.close() })
  const ucNet = await CoreNet.start({ chain: coreChain(core), params: DEVNET, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await ucNet.stop() })
  const ok = async (tx: Tx): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(`Userchain refused a ${tx.kind}: ${r.reason}`) }
  const doctors: Identity[] = [aiDoctor, humanDoctor]
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey })).find((k) => toHex(k.id) === toHex(id)) }
  let accountingRecords: () => Array<{ id: Uint8Array, x25519: Uint8Array }> = () => []
  const keys = new UserKeys(patient, { rng, now, directory, escrow: () => ({ threshold: 3, members: accountingRecords() }) })
  await mine(core, patient.id)
  await ok(keys.init())
  for (const d of doctors) await ok(keys.grant(d.id))
  await ok(buildTxCoin(patient, { to: consortium.id, amount: 5 * DIAGNOSIS_PRICE, fee: 10, nonce: 0 }))
  await mine(core, patient.id)

  const view = new UserchainView(core.store)
  const credit = new CreditBook(core.store, consortium.id)
  const record = (d: Identity): Uint8Array => encodeIdentityRecord(buildIdentityRecord(d, DEVNET.genesisTime))
  const records = [...doctors, erDoctor].map(record)
  const { nodes: accounting, registry } = await startMemoryConsortium(t, { dir, members, consortium, doctors: [...doctors, erDoctor], emergency: [erDoctor], view, credit })
  accountingRecords = () => registry.accounting().map((r) => ({ id: r.id, x25519: r.x25519 }))
  const acctP2p = await createIpfsLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await acctP2p.stop() })

  let seq = 0
  const world: DoctorWorld = {
    core,
    accounting,
    acctP2p,
    received: [],
    loseAnswers: false,
    serve: async () => {
      await serveDiagSubmissions(acctP2p, async (tx) => {
        world.received.push(toHex(txId(tx)))
        const r = await accounting[0]!.submit(tx)
        if (world.loseAnswers) throw new Error('the answer is lost')
        return r
      })
      await serveDocchain(acctP2p, DEVNET.name, accounting[0]!)
    },
    keys,
    userIpfs,
    storageAddr: addr(storage),
    publish: async (tx) => { await ok(tx); await mine(core, patient.id) },
    batch: async (spo2, from = Date.now() - 600_000) => {
      const readings = Array.from({ length: 60 }, (_, i) => [
        { d: 'ox-1', b: 1, s: seq++, t: 'spo2', v: spo2 + (i % 2), u: '%', ts: i * 10_000, at: from + i * 10_000 },
        { d: 'ox-1', b: 1, s: seq++, t: 'hr', v: 96 + (i % 3), u: '/min', ts: i * 10_000, at: from + i * 10_000 }
      ]).flat()
      const e = keys.current!
      const sealed = sealBatch(e.ik, rng(12), patient.id, e.epoch, encodeBatch(readings))
      const heiot = digestOfCid((await uploadBatch(userIpfs, sealed, { storageNodes: [addr(storage)], replication: 1 })).cid)
      const tx = buildTxIoT(patient, { ts: now(), heiot, epoch: e.epoch })
      await ok(tx)
      await mine(core, patient.id)
      return tx
    },
    cfgFile: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      userchain: { bootstrap: [ucNet.net.libp2p.getMultiaddrs()[0]!.toString()] },
      storageNodes: [addr(storage)],
      docchain: {
        members: members.map((m, i) => (i === 0 ? { id: toHex(m.id), addr: acctP2p.getMultiaddrs()[0]!.toString() } : { id: toHex(m.id) })),
        registry: { members: [toHex(consortium.id)], threshold: 1, doctors: records.map(toHex), emergency: [toHex(erDoctor.id)], accounting: members.map(record).map(toHex) },
        pollSeconds: 1
      },
      submit: { timeoutSeconds: 30, retrySeconds: 1 },
      consortium: toHex(consortium.id),
      http: { port: 0 }
    }
  }
  return world
}
