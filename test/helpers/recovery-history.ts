/**
 * A patient's generated history for the recovery test and bench: `hours`
 * batches, one an hour, ending now (a month = 720), each sealed under the
 * key epoch of its hour, stored on a real storage node (Helia) and named by
 * a tx_IoT mined into its own Ublock on a real core node (LevelDB, full
 * validation) — the network's copy of Userchain, which outlives the hub.
 * Key epochs: 1 at the start, the doctor granted in the first hour, a
 * second doctor granted on day 10 and revoked on day 20, a rotation every
 * 7 days. Every `diagEvery` hours the granted doctor diagnoses the latest
 * batch: its dk_ij from its own envelope, the diagnosis sealed and stored,
 * the tx_diag committed by four PBFT accounting nodes over libp2p
 * (test/helpers/docchain-members.ts). The patient's identity is in a
 * keystore in `hubDir`, with `guardians` guardians' keystores beside it.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import {
  buildIdentityRecord, buildTxDiag, buildTxIoT, encodeIdentityRecord, equalBytes, identityFromSeed, NETWORKS, openAsDoctor, openBatch, sealBatch, sealDiagnosis,
  solveUblockHeader, toHex, txId, utf8Bytes, type DoctorKey, type Identity, type Tx, type TxKey
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { cidFromDigest, digestOfCid } from '../../hub/src/ipfs/index.ts'
import { keyHistory } from '../../hub/src/roles/user/chain.ts'
import { PatientReader } from '../../hub/src/roles/user/diagnoses.ts'
import { saveKeystore, type ScryptParams } from '../../hub/src/store/keystore.ts'
import { analyze } from '../../hub/src/ai/analyzer.ts'
import { startDocchainMembers, type DocchainMembers } from './docchain-members.ts'

export const CHEAP_SCRYPT: ScryptParams = { N: 1024, r: 8, p: 1 }
export const PASSPHRASE = 'recovery test passphrase'
const HOUR = 3600

export interface HistoryBatch { readonly htxI: string, readonly epoch: number, readonly digest: Uint8Array, readonly plain: string }
export interface HistoryDiagnosis { readonly htxd: string, readonly cause: string, readonly text: string }

export interface History {
  readonly patient: Identity
  readonly hubDir: string
  /** The network's core node (Userchain as the hub's peers keep it). */
  readonly network: CoreNode
  readonly storage: StorageNode
  readonly members: DocchainMembers
  readonly batches: readonly HistoryBatch[]
  readonly diagnoses: readonly HistoryDiagnosis[]
  readonly epochs: number
  /** Guardians with their keystores (guardian i in <dir>/guardian-i). */
  readonly guardians: ReadonlyArray<{ readonly who: Identity, readonly keystore: string, readonly record: string }>
  stop: () => Promise<void>
}

export async function buildHistory (dir: string, o: { hours: number, diagEvery?: number, guardians?: number, label?: string }): Promise<History> {
  const label = o.label ?? 'rec'
  const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
  const patientSeed = rng(32)
  const patient = identityFromSeed(patientSeed)
  const hubDir = join(dir, 'hub')
  await saveKeystore(join(hubDir, 'keystore.json'), patientSeed, PASSPHRASE, { scrypt: CHEAP_SCRYPT })
  patientSeed.fill(0)
  const guardians = []
  for (let i = 1; i <= (o.guardians ?? 5); i++) {
    const keystore = join(dir, `guardian-${i}`, 'keystore.json')
    const who = await saveKeystore(keystore, rng(32), PASSPHRASE, { scrypt: CHEAP_SCRYPT })
    guardians.push({ who, keystore, record: toHex(encodeIdentityRecord(buildIdentityRecord(who, Math.floor(Date.now() / 1000)))) })
  }
  const stops: Array<() => Promise<void>> = []
  const stop = async (): Promise<void> => { for (const s of stops.splice(0).reverse()) await s().catch(() => {}) }
  try {
    const members = await startDocchainMembers(dir, label)
    stops.push(members.stop)
    const storage = await StorageNode.create({ dataDir: join(dir, 'storage'), admission: openAdmission })
    stops.push(async () => { await storage.stop() })
    const doctor = members.doctor
    const second = identityFromSeed(rng(32))
    const known: DoctorKey[] = [doctor, second].map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
    // the history's clock: `hours` hours ago, one step an hour
    let clock = Math.floor(Date.now() / 1000) - o.hours * HOUR - 60
    const network = await CoreNode.open({ dir: join(dir, 'network-userchain'), params: NETWORKS.devnet, now: () => clock, verifyThreads: 1 })
    stops.push(async () => { await network.close() })
    const keys = new UserKeys(patient, { rng, now: () => clock, directory: { lookup: (id) => known.find((d) => equalBytes(d.id, id)) } })
    const grants: TxKey[] = []
    const batches: HistoryBatch[] = []
    const diagnoses: HistoryDiagnosis[] = []
    const submit = async (tx: Tx): Promise<void> => {
      const r = await network.submitTx(tx)
      if (!r.accepted) throw new Error(`${tx.kind} refused: ${r.code ?? ''} ${r.reason ?? ''}`)
    }
    const mine = async (): Promise<void> => {
      const tpl = network.template(patient.id, clock)
      const r = await network.submitBlock({ header: solveUblockHeader(tpl.header, 100_000_000)!, txs: tpl.txs })
      if (!r.accepted) throw new Error(`block refused: ${r.reason ?? ''}`)
    }
    const publish = async (tx: TxKey): Promise<void> => { grants.push(tx); await submit(tx) }
    await publish(keys.init())
    for (let h = 0; h < o.hours; h++) {
      if (h === 1) await publish(keys.grant(doctor.id))
      if (h === 240) await publish(keys.grant(second.id))
      if (h === 480) await publish(keys.revoke(second.id))
      if (h > 0 && h % 168 === 0) await publish(keys.rotate())
      const e = keys.current!
      const plain = JSON.stringify([{ device: 'ox-1', type: 'spo2', value: 90 + (h % 9), ts: clock * 1000 }, { device: 'ox-1', type: 'hr', value: 60 + (h % 30), ts: clock * 1000 }])
      const digest = digestOfCid(await storage.ipfs.put(sealBatch(e.ik, rng(12), patient.id, e.epoch, utf8Bytes(plain))))
      const iot = buildTxIoT(patient, { ts: clock, heiot: digest, epoch: e.epoch })
      await submit(iot)
      batches.push({ htxI: toHex(txId(iot)), epoch: e.epoch, digest, plain })
      if (o.diagEvery !== undefined && h % o.diagEvery === o.diagEvery - 1) {
        // the doctor's dk_ij comes from its own envelope in the tx_key of this epoch
        const envelope = [...grants].reverse().find((g) => g.epoch <= e.epoch && g.envelopes.some((x) => equalBytes(x.doctor, doctor.id)))!
        const dk = openAsDoctor(envelope, doctor)!.dk
        const trace = Array.from({ length: 12 }, (_, i) => [{ t: 'spo2', v: 90 + ((h + i) % 9), ts: clock * 1000 + i * 10_000 }, { t: 'hr', v: 60 + ((h + i) % 40), ts: clock * 1000 + i * 10_000 }]).flat()
        const text = JSON.stringify(analyze(trace))
        const hedm = digestOfCid(await storage.ipfs.put(sealDiagnosis(dk, rng(12), doctor.id, txId(iot), utf8Bytes(text))))
        const diag = buildTxDiag(doctor, { ts: clock, causes: [txId(iot)], hedm })
        members.accept(txId(iot))
        const receipt = await members.nodes[0]!.submit(diag)
        if (!receipt.ok) throw new Error('tx_diag not committed')
        diagnoses.push({ htxd: toHex(txId(diag)), cause: toHex(txId(iot)), text })
      }
      await mine()
      clock += HOUR
    }
    return { patient, hubDir, network, storage, members, batches, diagnoses, epochs: keys.current!.epoch, guardians, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A fresh core node on `dir` that takes every block of `from`'s best chain in order (what `healthchain node --bootstrap` syncs). */
export async function syncUserchain (from: CoreNode, dir: string): Promise<void> {
  const node = await CoreNode.open({ dir, params: from.params, verifyThreads: 1 })
  try {
    for (let h = node.store.height + 1; h <= from.store.height; h++) {
      const r = await node.submitBlock((await from.store.getBlockBytes(from.store.hashAt(h)!))!)
      if (!r.accepted) throw new Error(`block ${h} refused: ${r.reason ?? ''}`)
    }
  } finally {
    await node.close()
  }
}

/**
 * What the recovered identity reads from the chains alone: every key epoch
 * from the tx_keys on the Userchain copy in `chainDir`, every batch of the
 * history fetched from the storage node and decrypted, and every diagnosis
 * in the accounting nodes' committed Dblocks (certificate checked, HEdm
 * fetched and opened with dk_ij; roles/user/diagnoses.ts).
 */
export async function readHistory (patient: Identity, chainDir: string, h: History): Promise<{ readonly epochs: number, readonly batches: number, readonly diagnoses: number }> {
  const core = await CoreNode.open({ dir: chainDir, params: NETWORKS.devnet, verifyThreads: 1 })
  try {
    const keys = UserKeys.fromChain(patient, await keyHistory(core.store, core.mempool, patient.id), { rng: (n) => new Uint8Array(randomBytes(n)), now: () => Math.floor(Date.now() / 1000), directory: { lookup: () => undefined } })
    let batches = 0
    for (const b of h.batches) {
      const sealed = await h.storage.ipfs.get(cidFromDigest(b.digest))
      if (new TextDecoder().decode(openBatch(keys.epoch(b.epoch).ik, patient.id, b.epoch, sealed)) === b.plain) batches++
    }
    const reader = new PatientReader(keys, {
      ownIoT: async (htxI) => { const tx = await core.store.confirmedTx(htxI); return tx?.kind === 'iot' && equalBytes(tx.user, patient.id) ? tx : undefined },
      fetch: async (d) => await h.storage.ipfs.get(cidFromDigest(d)),
      accountingNodes: () => h.members.ids
    })
    const source = h.members.nodes[1]!
    for (let i = 1; i <= source.height; i++) { const b = await source.block(i); if (b !== undefined) await reader.onDblock(b) }
    const want = new Map(h.diagnoses.map((d) => [d.htxd, d.text]))
    const diagnoses = reader.diagnoses.filter((d) => JSON.stringify(d.diagnosis) === want.get(d.htxd)).length
    return { epochs: keys.current?.epoch ?? 0, batches, diagnoses }
  } finally {
    await core.close()
  }
}
