/**
 * Core bench (issue "Foundation"): the paper's Table III operations, the
 * generation time of each transaction kind (§VI-B) and block capacity
 * (§VI-A), beside the paper's figures. Capacity is counted by filling a real
 * 1 MiB block and checking it, not by division.
 */
import { randomBytes } from 'node:crypto'
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import {
  aesGcmEncrypt, bodyEntryBytes, buildTxCoinbase, buildTxDiag, buildTxIoT, buildTxKey, checkDblockStructure, checkUblockStructure, dblockProposal,
  decodeDblock, decodeUblock, encodeDblock, encodeTx, encodeUblock, hpke, identityFromSeed, MAX_BLOCK_BODY_BYTES, sha256, sign,
  txId, ublockTemplate, varintLength, verify, DEVNET, type Tx
} from '../hub/src/core/index.ts'
import { table, timeIt } from './_stats.ts'

const N = Number(process.env.BENCH_N ?? 5000)
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

export async function run (): Promise<Record<string, number>> {
  const user = identityFromSeed(rnd(32))
  const docs = Array.from({ length: 5 }, () => identityFromSeed(rnd(32)))
  const doctorKeys = docs.map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
  const now = Math.floor(Date.now() / 1000)

  // Table III operations
  const msg1k = rnd(1024)
  const key = rnd(32)
  const sha = timeIt(N, () => sha256(msg1k))
  const aes = timeIt(N, () => aesGcmEncrypt(key, rnd(12), msg1k))
  const ik = rnd(64)
  const seal = timeIt(N / 5, () => hpke.seal(docs[0]!.agreement.publicKey, msg1k.subarray(0, 16), new Uint8Array(0), ik, rnd(32)))
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })
  const refKey = await suite.kem.importKey('raw', docs[0]!.agreement.publicKey.slice().buffer, true)
  const refTimes: number[] = []
  for (let i = 0; i < 300; i++) {
    const s = performance.now()
    await suite.seal({ recipientPublicKey: refKey }, ik)
    refTimes.push(performance.now() - s)
  }
  refTimes.sort((a, b) => a - b)
  const refSeal = refTimes[150]!
  const sigMsg = rnd(100)
  const sig = sign(user.signing, sigMsg)
  const signT = timeIt(N, () => sign(user.signing, sigMsg))
  const verifyT = timeIt(N, () => verify(user.id, sigMsg, sig))

  // Transaction generation (Alg. 2–4), IPFS upload excluded
  const heiot = rnd(32)
  const iotGen = timeIt(N, (i) => txId(buildTxIoT(user, { ts: now + i, heiot, epoch: 1 })))
  const keyGen = timeIt(N / 5, (i) => txId(buildTxKey(user, { ts: now + i, epoch: 1, ik: rnd(32), epochSecret: rnd(32), doctors: doctorKeys, ikmE: rnd(32) })))
  const cause = rnd(32)
  const diagGen = timeIt(N, (i) => txId(buildTxDiag(docs[0]!, { ts: now + i, causes: [cause], hedm: heiot })))

  const iot = buildTxIoT(user, { ts: now, heiot, epoch: 1 })
  const key5 = buildTxKey(user, { ts: now, epoch: 1, ik: rnd(32), epochSecret: rnd(32), doctors: doctorKeys, ikmE: rnd(32) })
  const diag = buildTxDiag(docs[0]!, { ts: now, causes: [cause], hedm: heiot })

  // Capacity: fill a real block until the next tx would overflow 1 MiB, then check the block.
  function fill<T extends Tx> (fixed: readonly Tx[], make: (i: number) => T): T[] {
    const entries = fixed.map((t) => bodyEntryBytes(encodeTx(t).length))
    let sum = entries.reduce((a, b) => a + b, 0)
    const out: T[] = []
    for (let i = 0; ; i++) {
      const tx = make(i)
      const add = bodyEntryBytes(encodeTx(tx).length)
      if (varintLength(fixed.length + out.length + 1) + sum + add > MAX_BLOCK_BODY_BYTES) return out
      out.push(tx)
      sum += add
    }
  }
  const coinbase = buildTxCoinbase({ height: 0, to: user.id, amount: DEVNET.blockReward })
  function ublockCapacity (make: (i: number) => Tx): number {
    const txs = fill([coinbase], make)
    const block = ublockTemplate({ prev: null, prevHash: new Uint8Array(32), gtime: now, bits: DEVNET.genesisBits, miner: user.id, reward: DEVNET.blockReward, txs })
    checkUblockStructure(decodeUblock(encodeUblock(block)))
    return txs.length
  }
  const capIot = ublockCapacity((i) => buildTxIoT(user, { ts: now + i, heiot, epoch: 1 }))
  const capKey = ublockCapacity((i) => ({ ...key5, ts: now + i }))
  const diags = fill([], (i) => buildTxDiag(docs[i % 5]!, { ts: now + i, causes: [cause], hedm: heiot }))
  const dblock = dblockProposal({ index: 1, gtime: now, prehash: new Uint8Array(32), view: 0, leader: user.id, txs: diags })
  checkDblockStructure(decodeDblock(encodeDblock(dblock)))
  const capDiag = diags.length

  const m = {
    sha256_1k_ms: sha.p50,
    aes_gcm_1k_ms: aes.p50,
    envelope_seal_ms: seal.p50,
    envelope_seal_ref_hpke_core_ms: refSeal,
    sign_ms: signT.p50,
    verify_ms: verifyT.p50,
    tx_iot_bytes: encodeTx(iot).length,
    tx_key5_bytes: encodeTx(key5).length,
    tx_diag_bytes: encodeTx(diag).length,
    capacity_tx_iot_per_mib: capIot,
    capacity_tx_key5_per_mib: capKey,
    capacity_tx_diag_per_mib: capDiag,
    tx_iot_per_s_at_1_block_per_min: capIot / 60,
    tx_key5_per_s_at_1_block_per_min: capKey / 60,
    tx_diag_per_s_at_1_block_per_min: capDiag / 60,
    tx_iot_gen_ms_p50: iotGen.p50,
    tx_key5_gen_ms_p50: keyGen.p50,
    tx_diag_gen_ms_p50: diagGen.p50
  }
  console.log('\nTable III — cryptographic operations (ms; paper: RSA-1024/AES-128 on a PC)')
  table([
    ['operation', 'ours p50', 'paper PC', 'paper Android'],
    ['SHA-256 (ours: 1 KiB)', m.sha256_1k_ms, 7.6e-6, 0.012],
    ['AES encryption (ours: AES-256-GCM, 1 KiB)', m.aes_gcm_1k_ms, 7.3e-5, 0.134],
    ['envelope (ours: HPKE X25519 seal)', m.envelope_seal_ms, 4.3e-4, 0.209],
    ['  same seal with @hpke/core (reference)', m.envelope_seal_ref_hpke_core_ms, '', ''],
    ['signing (ours: Ed25519)', m.sign_ms, 0.021, 3.556],
    ['verify (ours: Ed25519)', m.verify_ms, '', '']
  ])
  console.log('\n§VI-B — transaction generation (ms, p50; paper: mean on Android)')
  table([
    ['tx', 'ours p50', 'paper', 'target'],
    ['tx_IoT (sign + id)', m.tx_iot_gen_ms_p50, 3.735, '<= 0.1'],
    ['tx_key, 5 doctors', m.tx_key5_gen_ms_p50, 4.809, '<= 1.5'],
    ['tx_diag (sign + id)', m.tx_diag_gen_ms_p50, 0.021, '']
  ])
  console.log('\n§VI-A — sizes and capacity of a 1 MiB block (counted by filling a real block)')
  table([
    ['tx', 'bytes', 'paper bytes', 'per 1 MiB', 'paper per 1 MB', 'target', 'tx/s at 1 block/min', 'paper tx/s'],
    ['tx_IoT', m.tx_iot_bytes, 132, capIot, 5349, '>= 7000 (<= 140 B)', m.tx_iot_per_s_at_1_block_per_min, 89],
    ['tx_key (5 doctors)', m.tx_key5_bytes, 1188, capKey, 837, '>= 1200', m.tx_key5_per_s_at_1_block_per_min, 13],
    ['tx_diag (1 cause)', m.tx_diag_bytes, 164, capDiag, 4599, '>= 5500', m.tx_diag_per_s_at_1_block_per_min, 76]
  ])
  return m
}
