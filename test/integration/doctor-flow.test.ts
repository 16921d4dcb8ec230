/**
 * Doctor node end to end over real Helia nodes on loopback (paper Alg. 2–4):
 * a patient's desaturation batch is sealed, replicated to a storage node and
 * named by a tx_IoT; the AI doctor fetches, decrypts, analyzes, seals its
 * diagnosis with dk_ij, uploads it and submits a tx_diag; the accounting
 * nodes' certificate (real signatures of 3 of 4) finalizes the Dblock; the
 * patient verifies the certificate and reads the diagnosis. A revoked doctor
 * gets nothing new, and an unpaid patient gets no diagnosis.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import {
  buildTxIoT, dblockProposal, decodeTx, encodeTx, sealBatch, signCommit, toHex, txId, utf8Bytes,
  type Dblock, type DoctorKey, type TxDiag, type TxIoT, type TxKey
} from '../../hub/src/core/index.ts'
import { cidFromDigest, digestOfCid, uploadBatch, type IpfsNode } from '../../hub/src/ipfs/index.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { PatientReader } from '../../hub/src/roles/user/diagnoses.ts'
import { DoctorNode, type DoctorEvent } from '../../hub/src/roles/doctor/doctor.ts'
import { NotGrantedError } from '../../hub/src/roles/user/errors.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'
import { user, who } from '../helpers/core.ts'

const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const acct = [who('acc0'), who('acc1'), who('acc2'), who('acc3')]

t.test('AI doctor diagnoses a desaturation; the patient reads it; revocation and payment are enforced', async (t) => {
  const dir = await tempDir(t, 'doctor')
  const storage = await storageNode(t, `${dir}/s`)
  const userIpfs = await ipfsNode(t, `${dir}/u`)
  const docIpfs = await ipfsNode(t, `${dir}/d`)
  const S = [addr(storage)]
  const upload = async (node: IpfsNode, bytes: Uint8Array): Promise<Uint8Array> => digestOfCid((await uploadBatch(node, bytes, { storageNodes: S, replication: 1 })).cid)
  const fetch = async (node: IpfsNode, d: Uint8Array): Promise<Uint8Array> => node.get(cidFromDigest(d), { providers: S })

  const ai = who('ai-doctor')
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => (toHex(id) === toHex(ai.id) ? { id: ai.id, x25519: ai.agreement.publicKey } : undefined) }
  let clock = 1_790_000_000
  const keys = new UserKeys(user, { rng, now: () => clock++, directory })
  const committed: Dblock[] = []
  const paid = { ok: true }
  const events: DoctorEvent[] = []
  const doctor = new DoctorNode(ai, {
    fetch: async (d) => fetch(docIpfs, d),
    upload: async (b) => upload(docIpfs, b),
    hasPaid: async () => paid.ok,
    // the accounting nodes: a Dblock with a certificate of 3 of the 4 (PBFT itself is tested in pbft-*)
    submit: async (tx: TxDiag) => {
      const p = dblockProposal({ index: committed.length + 1, gtime: clock, prehash: new Uint8Array(32), view: 0, leader: acct[0]!.id, txs: [tx] })
      committed.push({ ...p, cert: acct.slice(0, 3).map((a) => signCommit(a.signing, p.header, 0)) })
    },
    now: () => clock,
    rng
  }, { mode: 'ai', onEvent: (e) => events.push(e) })
  const own = new Map<string, TxIoT>()
  const patient = new PatientReader(keys, { ownIoT: (h) => own.get(toHex(h)), fetch: async (d) => fetch(userIpfs, d), accountingNodes: () => acct.map((a) => a.id) })

  const chain = async (tx: TxKey | TxIoT): Promise<void> => { await doctor.onTx(decodeTx(encodeTx(tx)) as TxKey | TxIoT) }
  const publishBatch = async (readings: object[]): Promise<TxIoT> => {
    const e = keys.current!
    const sealed = sealBatch(e.ik, rng(12), user.id, e.epoch, utf8Bytes(JSON.stringify(readings)))
    const tx = buildTxIoT(user, { ts: clock++, heiot: await upload(userIpfs, sealed), epoch: e.epoch })
    own.set(toHex(txId(tx)), tx)
    await chain(tx)
    return tx
  }
  const trace = (spo2: number, hr = 96): object[] => Array.from({ length: 60 }, (_, i) => [
    { t: 'spo2', v: spo2 + (i % 2), ts: 1_790_000_000_000 + i * 10_000 },
    { t: 'hr', v: hr + (i % 3), ts: 1_790_000_000_000 + i * 10_000 }
  ]).flat()

  await chain(keys.init())
  await chain(keys.grant(ai.id))
  const normal = await publishBatch(trace(97, 72))
  t.ok(events.some((e) => e.type === 'skipped' && e.htxI === toHex(txId(normal)) && e.analysed === true), 'a normal batch costs the patient no diagnosis')
  const episode = await publishBatch(trace(85))
  t.equal(committed.length, 1, 'one tx_diag committed')
  await chain(episode)
  t.equal(committed.length, 1, 'the same tx_IoT seen again (mempool, then its block) is not diagnosed twice')
  const found = await patient.onDblock(committed[0]!)
  t.equal(found.length, 1)
  const d = found[0]!
  t.equal(d.diagnosis.severity, 'urgent', 'desaturation → urgent')
  t.ok(d.diagnosis.findings.some((f) => f.code === 'hypoxaemia'))
  t.same(d.diagnosis.causes, [toHex(txId(episode))], 'cites the right htxI')
  t.equal(d.causes[0], episode, 'linked to the readings that caused it')
  t.equal(d.doctor, toHex(ai.id))

  const forged = { ...committed[0]!, cert: committed[0]!.cert.slice(0, 2) }
  await t.rejects(patient.onDblock(forged), { code: 'ERR_QUORUM' }, 'a Dblock without 2f+1 signatures is refused')

  // payment: an unpaid patient gets no diagnosis
  paid.ok = false
  const unpaid = await publishBatch(trace(84))
  t.ok(events.some((e) => e.type === 'skipped' && e.htxI === toHex(txId(unpaid)) && /prepaid/.test(e.reason)), 'unpaid: skipped with the reason')
  t.equal(committed.length, 1)
  paid.ok = true

  // revocation: nothing new to diagnose, and no key to seal one
  await chain(keys.revoke(ai.id))
  const after = await publishBatch(trace(83))
  t.equal(committed.length, 1, 'the revoked doctor submitted nothing')
  t.ok(events.some((e) => e.type === 'skipped' && e.htxI === toHex(txId(after))), 'it saw the batch but had no key')
  await t.rejects(doctor.readings([after]), NotGrantedError, 'it cannot decrypt post-revocation data')
  await t.rejects(doctor.publish([after], d.diagnosis), NotGrantedError, 'nor seal a diagnosis for it')
})

t.test('batches in wire form or the ingest model parse the same', async (t) => {
  const { parseBatch } = await import('../../hub/src/roles/doctor/doctor.ts')
  const wire = parseBatch(utf8Bytes(JSON.stringify([{ t: 'spo2', v: 88, ts: 5 }])))
  const model = parseBatch(utf8Bytes(JSON.stringify({ readings: [{ device: 'ox-1', type: 'spo2', value: 88, ts: 1, at: 5 }] })))
  t.same(wire, [{ t: 'spo2', v: 88, ts: 5 }])
  t.same(model, [{ t: 'spo2', v: 88, ts: 5, d: 'ox-1' }])
  t.same(parseBatch(utf8Bytes('{"other":1}')), [], 'no readings')
})
