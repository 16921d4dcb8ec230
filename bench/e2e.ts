/**
 * End-to-end alert latency (issue "Doctor nodes …"): from an abnormal
 * reading at the hub to the committed, decrypted diagnosis at the patient,
 * over real parts on loopback — batch sealed with Ik, replicated to two
 * Helia storage nodes, tx_IoT into the core node, the AI doctor fetching,
 * analysing, sealing and uploading its diagnosis, four accounting nodes
 * committing it by PBFT with a certificate, the patient verifying and
 * decrypting it. Two paths: the doctor watches the mempool (real-time; the
 * accounting nodes accept a cause the Userchain network already carries),
 * or waits for the block that confirms the tx_IoT.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  buildIdentityRecord, buildTxIoT, dblockProposal, DEVNET, encodeIdentityRecord, identityFromSeed, sealBatch, solveUblockHeader,
  toHex, txId, utf8Bytes, type Dblock, type NetworkParams, type Tx, type TxDiag
} from '../hub/src/core/index.ts'
import { CoreNode } from '../hub/src/roles/core/node.ts'
import { IpfsNode, cidFromDigest, digestOfCid, uploadBatch } from '../hub/src/ipfs/index.ts'
import { openAdmission, StorageNode } from '../hub/src/roles/storage/index.ts'
import { DoctorRegistry } from '../hub/src/core/pbft/registry.ts'
import { AccountingNode } from '../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../hub/src/roles/accounting/transport.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { PatientReader } from '../hub/src/roles/user/diagnoses.ts'
import { DoctorNode } from '../hub/src/roles/doctor/doctor.ts'
import { table } from './_stats.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const EPISODES = Number(process.env.BENCH_E2E_EPISODES ?? 50)
const PARAMS: NetworkParams = { ...DEVNET, powLimitBits: 0x207fffff, genesisBits: 0x207fffff, retargetInterval: 1_000_000 }

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-e2e-'))
  const stops: Array<() => Promise<unknown>> = []
  try {
    const user = identityFromSeed(rnd(32))
    const ai = identityFromSeed(rnd(32))
    const members = [0, 1, 2, 3].map(() => identityFromSeed(rnd(32)))
    const storage = [await StorageNode.create({ dataDir: join(dir, 's0'), admission: openAdmission }), await StorageNode.create({ dataDir: join(dir, 's1'), admission: openAdmission })]
    for (const s of storage) stops.push(async () => { await s.stop() })
    const S = storage.map((s) => s.ipfs.multiaddrs[0]!.toString())
    const hubIpfs = await IpfsNode.create({ dataDir: join(dir, 'hub-ipfs') })
    const docIpfs = await IpfsNode.create({ dataDir: join(dir, 'doc-ipfs') })
    stops.push(async () => { await hubIpfs.stop() }, async () => { await docIpfs.stop() })
    const core = await CoreNode.open({ dir: join(dir, 'chain'), params: PARAMS, verifyThreads: 1 })
    stops.push(async () => { await core.close() })
    const upload = (n: IpfsNode) => async (b: Uint8Array): Promise<Uint8Array> => digestOfCid((await uploadBatch(n, b, { storageNodes: S, replication: 2 })).cid)
    const fetch = (n: IpfsNode) => async (d: Uint8Array): Promise<Uint8Array> => await n.get(cidFromDigest(d), { providers: S })

    const known = new Map<string, Uint8Array>() // htxI → user, as the Userchain network carries it (mempool or block)
    const registry = (): DoctorRegistry => new DoctorRegistry({ members: [members[0]!.id], threshold: 1 }, [encodeIdentityRecord(buildIdentityRecord(ai, 1))])
    const genesis: Dblock = dblockProposal({ index: 0, gtime: PARAMS.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
    const net = new MemoryNetwork()
    const acct: AccountingNode[] = []
    for (let i = 0; i < 4; i++) {
      const a = await AccountingNode.start({
        identity: members[i]!, members: members.map((m) => m.id), genesis, dir: join(dir, `acct${i}`), transport: net.join(members[i]!.id), registry: registry(),
        userchain: { iotTx: async (h) => { const u = known.get(toHex(h)); return u === undefined ? null : { user: u, epoch: 1 } }, epochReaders: async () => ({ envelopes: [ai.id] }) },
        payments: { paid: async () => Infinity, price: 1 },
        replica: { batchDelayMs: 2 },
        tickMs: 5
      })
      acct.push(a)
      stops.push(async () => { await a.stop() })
    }
    const now = (): number => Math.floor(Date.now() / 1000)
    const keys = new UserKeys(user, { rng: rnd, now, directory: { lookup: (id) => (toHex(id) === toHex(ai.id) ? { id, x25519: ai.agreement.publicKey } : undefined) } })
    const doctor = new DoctorNode(ai, {
      fetch: fetch(docIpfs), upload: upload(docIpfs), hasPaid: async () => true, now, rng: rnd,
      submit: async (tx: TxDiag) => { await acct[0]!.submitOrThrow(tx) }
    }, { mode: 'ai' })
    const reader = new PatientReader(keys, { ownIoT: (h) => { const tx = ownTx.get(toHex(h)); return tx }, fetch: fetch(hubIpfs), accountingNodes: () => members.map((m) => m.id) })
    const ownTx = new Map<string, ReturnType<typeof buildTxIoT>>()
    const waiting = new Map<string, (t: number) => void>()
    acct[0]!.onCommit = (block) => {
      void reader.onDblock(block).then((found) => { for (const d of found) waiting.get(toHex(txId(d.causes[0]!)))?.(performance.now()) })
    }
    let path: 'mempool' | 'block' = 'mempool'
    const seen = (tx: Tx): void => { if (tx.kind === 'iot') known.set(toHex(txId(tx)), tx.user); void doctor.onTx(tx) }
    core.on('tx', (id: string) => { const e = core.mempool.get(id); if (e !== undefined && (path === 'mempool' || e.bt.tx.kind === 'key')) seen(e.bt.tx) })
    core.on('block', (r: { connected: ReadonlyArray<{ txs: ReadonlyArray<{ tx: Tx }> }> }) => { if (path === 'block') for (const b of r.connected) for (const t of b.txs) if (t.tx.kind === 'iot') seen(t.tx) })
    const mine = async (): Promise<void> => {
      const tpl = core.template(user.id)
      await core.submitBlock({ ...tpl, header: solveUblockHeader(tpl.header, 10_000_000)! })
    }
    for (const tx of [keys.init(), keys.grant(ai.id)]) await core.submitTx(tx)
    await mine()

    const episode = async (i: number): Promise<number> => {
      const t0 = performance.now() // the abnormal reading reaches the hub; the event threshold flushes the batch at once
      const readings = Array.from({ length: 30 }, (_, k) => ({ t: 'spo2', v: k < 20 ? 97 : 84, ts: Date.now() - (30 - k) * 2000 + i }))
      const e = keys.current!
      const sealed = sealBatch(e.ik, rnd(12), user.id, e.epoch, utf8Bytes(JSON.stringify({ v: 1, readings })))
      const tx = buildTxIoT(user, { ts: now(), heiot: await upload(hubIpfs)(sealed), epoch: e.epoch })
      ownTx.set(toHex(txId(tx)), tx)
      const done = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`episode ${i} (${path}) got no diagnosis in 60 s`)) }, 60_000)
        waiting.set(toHex(txId(tx)), (t1) => { clearTimeout(timer); resolve(t1) })
      })
      const r = await core.submitTx(tx)
      if (!r.accepted) throw new Error(`tx_IoT refused: ${r.reason}`)
      if (path === 'block') await mine()
      return (await done) - t0
    }
    const res: Record<string, number[]> = { mempool: [], block: [] }
    for (const p of ['mempool', 'block'] as const) {
      path = p
      for (let i = 0; i < EPISODES; i++) res[p]!.push(await episode(i))
      if (p === 'mempool') await mine() // confirm the real-time path's txs before switching
    }
    const out = {
      alert_to_diagnosis_ms_p50: pct(res.mempool!, 0.5),
      alert_to_diagnosis_ms_p99: pct(res.mempool!, 0.99),
      confirmed_to_diagnosis_ms_p50: pct(res.block!, 0.5),
      confirmed_to_diagnosis_ms_p99: pct(res.block!, 0.99),
      e2e_episodes: EPISODES
    }
    console.log(`\nAlert → committed, decrypted diagnosis at the patient (${EPISODES} desaturation episodes per path; 2 storage nodes, 4 PBFT accounting nodes, loopback)`)
    table([['path', 'p50 ms', 'p99 ms', 'target'],
      ['doctor watches the mempool', out.alert_to_diagnosis_ms_p50, out.alert_to_diagnosis_ms_p99, 'p50 <= 1000'],
      ['doctor waits for the confirming block (mined at once here)', out.confirmed_to_diagnosis_ms_p50, out.confirmed_to_diagnosis_ms_p99, '']])
    return out
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}
