/**
 * Emergency access (README "Emergency access"):
 * - tx_key5_bytes_with_escrow: a tx_key granting 5 doctors whose Ik is also
 *   escrowed 3-of-4 to the accounting nodes (the patient opted in), encoded.
 * - emergency_access_ms_p50: an emergency doctor's request submitted → the
 *   requested epoch opened, on the process devnet (`npm start`, every role
 *   its own daemon): the patient opts in through the hub's control API
 *   (POST /v1/emergency, which renews the IoT key: an escrowed tx_key, mined
 *   by the hub), the devnet's human doctor (registered with the emergency
 *   role) asks for that epoch. The clock starts when the request is handed
 *   to accounting-0 over /healthchain/diag (libp2p) — one refused because
 *   the accounting nodes have not seen the tx_key on Userchain yet
 *   (ERR_UNOPENED_EPOCH) is not timed and is sent again — and runs while it
 *   commits on Docchain and each accounting daemon, on executing it, opens
 *   its escrow share and commits its release, while the doctor asks
 *   accounting-0 for new Dblocks every 20 ms; it stops when the doctor has
 *   t releases opened, combined and checked against the tx_key's C(Ik).
 * - emergency_access_daemons_ms_p50: the same clock on four accounting
 *   daemons alone (test/helpers/accounting-cluster.ts, as bench/pbft.ts runs
 *   them) reading a Userchain where the patient's tx_key carries the escrow.
 * HEALTHCHAIN_EMERGENCY_RUNS changes the number of requests (default 9).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { split } from 'shamir-secret-sharing'
import type { Libp2p } from '@libp2p/interface'
import {
  buildTxEmergency, buildTxKey, DEVNET, encodeTx, fromHex, sha256, toHex, txId, utf8Bytes, type Identity, type TxEmergency, type TxKey, type TxRelease
} from '../hub/src/core/index.ts'
import { requestDocchain } from '../hub/src/net/docchain.ts'
import { ApiClient } from '../hub/src/api/client.ts'
import { createIpfsLibp2p } from '../hub/src/ipfs/libp2p.ts'
import { submitDiags, type WireReceipt } from '../hub/src/roles/accounting/diag-protocol.ts'
import { openKeystore } from '../hub/src/store/keystore.ts'
import { DevnetRun } from '../test/helpers/devnet-run.ts'
import { EmergencyKeys } from '../hub/src/roles/doctor/emergency.ts'
import { Cluster, doctor, user } from '../test/helpers/accounting-cluster.ts'
import { who } from '../test/helpers/core.ts'
import { loadAverage } from './_load.ts'

/** A tx_key granting 5 doctors, its Ik escrowed 3-of-4. */
async function txKey5Bytes (): Promise<number> {
  const b = (s: string): Uint8Array => sha256(utf8Bytes(s))
  const patient = who('bench-em-patient')
  const ik = b('ik')
  const doctors = [1, 2, 3, 4, 5].map((i) => who(`bench-em-doctor-${i}`)).map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
  const members = [0, 1, 2, 3].map((i) => who(`bench-em-member-${i}`)).map((m) => ({ id: m.id, x25519: m.agreement.publicKey }))
  const tx = buildTxKey(patient, { ts: 1_790_000_000, epoch: 12, ik, epochSecret: b('s'), doctors, ikmE: b('e'), escrow: { threshold: 3, members, shares: await split(ik, 4, 3), ikmE: b('x') } })
  return encodeTx(tx).length
}

/** Where the doctor reads Docchain from, and where it submits. */
interface Access {
  readonly libp2p: Libp2p
  readonly addr: string
  readonly doctor: Identity
  readonly key: TxKey
  /** Submits the request; answers the receipt. */
  readonly submit: (req: TxEmergency) => Promise<WireReceipt | undefined>
}

/**
 * `runs` requests for the key's epoch, each timed from its (admitted)
 * submission to the epoch opened; answers the p50 (ms). `from`: the first
 * Dblock to read.
 */
async function timeAccesses (a: Access, runs: number, label: string): Promise<number> {
  const times: number[] = []
  let from = 1
  for (let i = 0; i < runs; i++) {
    let req: TxEmergency
    let t0: number
    for (let attempt = 0; ; attempt++) {
      req = buildTxEmergency(a.doctor, { ts: Math.floor(Date.now() / 1000), patient: a.key.user, epochs: [a.key.epoch], reason: `bench emergency ${i}.${attempt}: unconscious on arrival` })
      t0 = performance.now()
      const r = await a.submit(req)
      if (r?.ok === true) break
      // not timed: the accounting nodes have not seen the escrowed tx_key on Userchain yet
      if (r?.ok === false && r.code === 'ERR_UNOPENED_EPOCH' && attempt < 600) { await new Promise((resolve) => setTimeout(resolve, 200)); continue }
      throw new Error(`emergency request refused: ${r?.ok === false ? `${r.code}: ${r.reason}` : 'no receipt'}`)
    }
    const id = toHex(txId(req))
    const ek = new EmergencyKeys(a.doctor, req, [a.key])
    let iks: Map<number, Uint8Array> | null = null
    while (iks === null) {
      const d = await requestDocchain(a.libp2p, multiaddr(a.addr), DEVNET.name, from)
      for (const { block } of d.blocks) {
        from = block.header.index + 1
        for (const t of block.txs) if (t.tx.kind === 'release' && toHex(t.tx.request) === id) ek.add(t.tx as TxRelease)
      }
      if (ek.released >= (a.key.escrow?.threshold ?? 3)) iks = await ek.open()
      else await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const ms = performance.now() - t0
    console.log(`${label} request ${i + 1}/${runs}: clock from its submission to epoch ${[...iks.keys()].join(',')} opened from ${ek.released} releases: ${ms.toFixed(0)} ms`)
    times.push(ms)
  }
  times.sort((x, y) => x - y)
  const p50 = times[Math.floor(times.length / 2)]!
  console.log(`emergency access (${label}), request → epoch opened: p50 ${p50.toFixed(0)} ms over ${runs} requests (load ${loadAverage()})`)
  return p50
}

/** A tx_key as the hub's control API answers it (GET /v1/chain/txs/{id}: bytes as hex), rebuilt and checked against its id. */
function txKeyOf (id: string, x: Record<string, any>): TxKey {
  const h = (s: string): Uint8Array => fromHex('tx', s)
  const tx: TxKey = {
    kind: 'key', user: h(x.user), ts: x.ts, epoch: x.epoch, ikFrom: x.ikFrom, ikCommit: h(x.ikCommit), enc: h(x.enc),
    envelopes: x.envelopes.map((e: Record<string, string>) => ({ doctor: h(e.doctor!), ct: h(e.ct!) })), userEnv: h(x.userEnv),
    escrow: { threshold: x.escrow.threshold, enc: h(x.escrow.enc), shares: x.escrow.shares.map((e: Record<string, string>) => ({ member: h(e.member!), ct: h(e.ct!) })) },
    sig: h(x.sig)
  }
  if (toHex(txId(tx)) !== id) throw new Error('the tx_key read from the hub does not hash to its id')
  return tx
}

/** On `npm start`'s daemons. */
async function processDevnet (runs: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-emergency-devnet-'))
  const run = new DevnetRun(dir, ['--boards', 'thermometer'])
  let libp2p: Libp2p | null = null
  try {
    await run.up()
    await run.line(/^\[devnet\] the patient prepaid/, 'the prepayment', 300_000)
    const api = await ApiClient.forDataDir(join(dir, 'hub'))
    const opted = await api.call<{ epoch?: number, tx?: string, threshold: number, members: number }>('POST', '/v1/emergency', { optIn: true })
    if (opted.tx === undefined) throw new Error('opting in renewed no key')
    console.log(`devnet: the patient opted in: epoch ${opted.epoch!} escrowed ${opted.threshold}-of-${opted.members}`)
    let view: Record<string, any> | null = null
    for (let i = 0; view === null; i++) {
      try { view = await api.call<Record<string, any>>('GET', `/v1/chain/txs/${opted.tx}`) } catch (err) {
        if (i > 1500) throw err
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
    api.close()
    const key = txKeyOf(opted.tx, view.tx)
    const passphrase = (await readFile(join(dir, 'devnet-passphrase'), 'utf8')).trim()
    const doctor = await openKeystore(join(dir, 'doctor-human', 'keystore.json'), passphrase)
    const cfg = JSON.parse(await readFile(join(dir, 'accounting-0', 'config.json'), 'utf8')) as { members: Array<{ addr: string }> }
    const addr = cfg.members[0]!.addr
    libp2p = await createIpfsLibp2p({ listen: [] })
    const net = libp2p
    return await timeAccesses({ libp2p: net, addr, doctor, key, submit: async (req) => (await submitDiags(net, addr, [encodeTx(req)]))[0] }, runs, 'process devnet')
  } finally {
    await libp2p?.stop()
    await run.interrupt()
    await rm(dir, { recursive: true, force: true })
  }
}

/** On four accounting daemons alone. */
async function daemons (runs: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-emergency-'))
  const c = await Cluster.start({ dir, n: 4, causes: 1, emergency: true })
  try {
    const key = (await c.core.store.confirmedTx(c.core.store.epochTx(user.id, 1)!)) as TxKey
    return await timeAccesses({ libp2p: c.doctorNet, addr: c.addrs[0]!, doctor, key, submit: async (req) => (await c.submit(0, [encodeTx(req)] as never))[0] }, runs, 'accounting daemons')
  } finally {
    await c.close()
    await rm(dir, { recursive: true, force: true })
  }
}

export async function run (): Promise<Record<string, number>> {
  const bytes = await txKey5Bytes()
  console.log(`tx_key granting 5 doctors with a 3-of-4 escrow: ${bytes} B`)
  const runs = Number(process.env.HEALTHCHAIN_EMERGENCY_RUNS ?? 9)
  const alone = await daemons(runs)
  const devnet = await processDevnet(runs)
  return { tx_key5_bytes_with_escrow: bytes, emergency_access_ms_p50: Math.round(devnet), emergency_access_daemons_ms_p50: Math.round(alone) }
}
