/**
 * Emergency access (README "Emergency access"):
 * - tx_key5_bytes_with_escrow: a tx_key granting 5 doctors whose Ik is also
 *   escrowed 3-of-4 to the accounting nodes (the patient opted in), encoded.
 * - emergency_access_ms_p50: an emergency doctor's request submitted → the
 *   requested epoch opened. Four real accounting daemons (`healthchain
 *   accounting`, each its own process, keystore, LevelDB and libp2p node:
 *   test/helpers/accounting-cluster.ts, as bench/pbft.ts runs them) read a
 *   Userchain where the patient's tx_key carries the escrow; the doctor is
 *   registered with the emergency role. The clock starts when the request
 *   is handed to member 0 over /healthchain/diag (libp2p), runs while it
 *   commits on Docchain and each member, on executing it, opens its escrow
 *   share and commits its release, while the doctor asks member 0 for new
 *   Dblocks every 20 ms; it stops when the doctor has t releases opened,
 *   combined and checked against the tx_key's C(Ik). Not the whole `npm
 *   start` devnet (hub, storage and doctor daemons play no part in it).
 *   HEALTHCHAIN_EMERGENCY_RUNS changes the number of requests (default 9).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { split } from 'shamir-secret-sharing'
import { buildTxEmergency, buildTxKey, DEVNET, encodeTx, sha256, toHex, txId, utf8Bytes, type TxKey, type TxRelease } from '../hub/src/core/index.ts'
import { requestDocchain } from '../hub/src/net/docchain.ts'
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

export async function run (): Promise<Record<string, number>> {
  const bytes = await txKey5Bytes()
  console.log(`tx_key granting 5 doctors with a 3-of-4 escrow: ${bytes} B`)
  const runs = Number(process.env.HEALTHCHAIN_EMERGENCY_RUNS ?? 9)
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-emergency-'))
  const c = await Cluster.start({ dir, n: 4, causes: 1, emergency: true })
  try {
    const key = (await c.core.store.confirmedTx(c.core.store.epochTx(user.id, 1)!)) as TxKey
    const addr = multiaddr(c.addrs[0]!)
    const times: number[] = []
    let from = 1
    for (let i = 0; i < runs; i++) {
      const req = buildTxEmergency(doctor, { ts: Math.floor(Date.now() / 1000) + i, patient: user.id, epochs: [1], reason: `bench emergency ${i}: unconscious on arrival` })
      const id = toHex(txId(req))
      const ek = new EmergencyKeys(doctor, req, [key])
      console.log(`request ${i + 1}/${runs}: clock starts at the submission to member 0`)
      const t0 = performance.now()
      const [r] = await c.submit(0, [encodeTx(req)] as never)
      if (r === undefined || !r.ok) throw new Error(`emergency request refused: ${r?.ok === false ? r.reason : 'no receipt'}`)
      let iks: Map<number, Uint8Array> | null = null
      while (iks === null) {
        const a = await requestDocchain(c.doctorNet, addr, DEVNET.name, from)
        for (const { block } of a.blocks) {
          from = block.header.index + 1
          for (const t of block.txs) if (t.tx.kind === 'release' && toHex(t.tx.request) === id) ek.add(t.tx as TxRelease)
        }
        if (ek.released >= (key.escrow?.threshold ?? 3)) iks = await ek.open()
        else await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const ms = performance.now() - t0
      console.log(`request ${i + 1}/${runs}: clock stops with epoch ${[...iks.keys()].join(',')} opened from ${ek.released} releases after ${ms.toFixed(0)} ms`)
      times.push(ms)
    }
    times.sort((a, b) => a - b)
    const p50 = times[Math.floor(times.length / 2)]!
    console.log(`emergency access, request → epochs opened, 4 accounting daemons (t = 3): p50 ${p50.toFixed(0)} ms over ${runs} requests (load ${loadAverage()})`)
    return { tx_key5_bytes_with_escrow: bytes, emergency_access_ms_p50: Math.round(p50) }
  } finally {
    await c.close()
    await rm(dir, { recursive: true, force: true })
  }
}
