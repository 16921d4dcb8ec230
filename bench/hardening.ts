/**
 * Chain and consortium hardening: what the defences cost, on this machine.
 *
 * invalid_pow_reject_ms — a core node (LevelDB, devnet) handed the bytes of a
 *   1 MiB Ublock (~7,400 signed tx_IoT) whose header misses its target: the
 *   clock starts at CoreNode.submitBlock(bytes) and stops at its verdict
 *   (ERR_POW); median of 50 such blocks. invalid_pow_sigs_checked counts the
 *   signatures the node's pool was asked to check meanwhile (must be 0).
 *   Target ≤ 1 ms.
 * honest_tx_admit_ratio_under_flood — a core node whose relay policy asks
 *   a new identity's first tx_key for an 8-bit stamp. Twenty honest peers
 *   relay 2,000 tx_IoT of 50 established users (submitTx with the relaying
 *   peer's id, 100 at a time, each peer within its rate); the clock starts
 *   before the first and stops when the last is answered. Honest tx/s admitted while a second peer floods, in parallel
 *   and as fast as it is answered, unstamped fresh identities' tx_keys and
 *   tx_IoT over a user's quota, ÷ honest tx/s with no flood (the same
 *   node, runs alternated, medians of 3 each). Target ≥ 0.9.
 * pbft_n4_tx_per_s_with_grant_check and pbft_n4_tx_per_s — four
 *   AccountingNodes in this process (each its own LevelDB, PBFT over the
 *   in-process transport) on a devnet Userchain where 64 patients granted 16
 *   doctors in their tx_key and prepaid the consortium; 2,000 tx_diag, each
 *   citing one patient's tx_IoT, submitted round-robin to the four nodes 250
 *   at a time. The clock starts before the first submission and stops at the
 *   last receipt (all must commit). "With grant check": the nodes read
 *   Userchain as `healthchain accounting` does (accountingLookups: the
 *   tx_key of each cause's epoch, the patient's prepayments, the credit
 *   weighed against what is committed and in flight). The baseline,
 *   pbft_n4_tx_per_s: the same nodes told by a constant that every doctor
 *   holds every epoch and every patient has unlimited credit — the Userchain
 *   reads and credit limits the hardening added are skipped. Runs alternate,
 *   3 each, medians. Target: with ≥ 0.9 × without.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  buildIdentityRecord, buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, dblockProposal, DEVNET, encodeIdentityRecord, encodeTx, encodeUblock, sha256, txId, utf8Bytes,
  type DoctorKey, type Identity, type Tx, type TxIoT
} from '../hub/src/core/index.ts'
import { DoctorRegistry } from '../hub/src/core/pbft/registry.ts'
import { CoreNode } from '../hub/src/roles/core/node.ts'
import { AccountingNode } from '../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../hub/src/roles/accounting/transport.ts'
import { accountingLookups, UserchainView } from '../hub/src/roles/accounting/userchain-view.ts'
import { CreditBook } from '../hub/src/roles/consortium/credit.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { who } from '../test/helpers/core.ts'
import { mine } from '../test/helpers/doctor-world.ts'
import { bigBlock, withoutPow } from '../test/helpers/big-block.ts'
import { table } from './_stats.ts'
import { loadAverage } from './_load.ts'

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const nowS = (): number => Math.floor(Date.now() / 1000)

async function invalidPow (dir: string): Promise<{ ms: number, sigs: number }> {
  const core = await CoreNode.open({ dir: join(dir, 'pow'), params: DEVNET, verifyThreads: 2 })
  try {
    await mine(core, who('bench-pow-miner').id)
    const tip = core.store.tip
    const tpl = bigBlock(tip, core.store.nextBitsAfter(tip), 'bench', DEVNET, nowS())
    const blocks = Array.from({ length: 50 }, (_, i) => encodeUblock(withoutPow({ ...tpl, header: { ...tpl.header, gtime: tpl.header.gtime - i } })))
    const before = core.pool.requested
    const times: number[] = []
    for (const b of blocks) {
      const t0 = performance.now()
      const r = await core.submitBlock(b)
      times.push(performance.now() - t0)
      if (r.accepted || r.code !== 'ERR_POW') throw new Error(`expected ERR_POW, got ${JSON.stringify(r)}`)
    }
    return { ms: median(times), sigs: core.pool.requested - before }
  } finally { await core.close() }
}

async function admitRatio (dir: string): Promise<{ ratio: number, clean: number, flooded: number, floodSent: number }> {
  const core = await CoreNode.open({ dir: join(dir, 'relay'), params: DEVNET, verifyThreads: 2, relay: { firstTxStampBits: 8 } })
  try {
    const users = Array.from({ length: 50 }, (_, i) => who(`bench-relay-user-${i}`))
    const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
    const ts = nowS() - 5
    for (const [i, u] of users.entries()) {
      const r = await core.submitTx(buildTxKey(u, { ts, epoch: 1, ik: h(`ik${i}`), epochSecret: h(`s${i}`), doctors: [], ikmE: h(`e${i}`) }))
      if (!r.accepted) throw new Error(r.reason)
    }
    await mine(core, who('bench-relay-miner').id)
    const sybil = who('bench-relay-sybil')
    let round = 0
    const honestRun = async (flood: boolean): Promise<{ perS: number, floodSent: number }> => {
      round++
      const honest = Array.from({ length: 2000 }, (_, i) => encodeTx(buildTxIoT(users[i % users.length]!, { ts, heiot: h(`honest-${round}-${i}`), epoch: 1 })))
      let stop = false
      let sent = 0
      const flooder = !flood ? Promise.resolve() : (async () => {
        for (let i = 0; !stop; i++) {
          const junk = i % 2 === 0
            ? buildTxKey(who(`bench-sybil-${round}-${i}`), { ts, epoch: 1, ik: h(`x${i}`), epochSecret: h(`y${i}`), doctors: [], ikmE: h(`z${round}-${i}`) })
            : buildTxIoT(sybil, { ts, heiot: h(`spam-${round}-${i}`), epoch: 1 })
          await core.submitTx(encodeTx(junk), 'flooder')
          sent++
        }
      })()
      const t0 = performance.now()
      let admitted = 0
      for (let i = 0; i < honest.length; i += 100) {
        const rs = await Promise.all(honest.slice(i, i + 100).map(async (b, k) => await core.submitTx(b, `honest-peer-${(i + k) % 20}`)))
        admitted += rs.filter((r) => r.accepted).length
      }
      const s = (performance.now() - t0) / 1000
      stop = true
      await flooder
      if (admitted !== honest.length) throw new Error(`only ${admitted} of ${honest.length} honest txs admitted`)
      await mine(core, who('bench-relay-miner').id) // empty the pool between runs
      return { perS: admitted / s, floodSent: flood ? sent : 0 }
    }
    const clean: number[] = []
    const flooded: number[] = []
    let floodSent = 0
    for (let k = 0; k < 3; k++) {
      clean.push((await honestRun(false)).perS)
      const f = await honestRun(true)
      flooded.push(f.perS)
      floodSent += f.floodSent
    }
    return { ratio: median(flooded) / median(clean), clean: median(clean), flooded: median(flooded), floodSent }
  } finally { await core.close() }
}

interface World { core: CoreNode, view: UserchainView, credit: CreditBook, doctors: Identity[], causes: TxIoT[], registry: DoctorRegistry }

async function pbftWorld (dir: string): Promise<World> {
  const core = await CoreNode.open({ dir: join(dir, 'userchain'), params: DEVNET, verifyThreads: 2 })
  const doctors = Array.from({ length: 16 }, (_, i) => who(`bench-hard-doctor-${i}`))
  const consortium = who('bench-hard-consortium')
  const directory = { lookup: (id: Uint8Array): DoctorKey | undefined => doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey })).find((k) => Buffer.compare(k.id, id) === 0) }
  const send = async (tx: Tx): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(r.reason) }
  const causes: TxIoT[] = []
  for (let p = 0; p < 64; p++) {
    const patient = who(`bench-hard-patient-${p}`)
    await mine(core, patient.id)
    const keys = new UserKeys(patient, { rng: (n) => new Uint8Array(randomBytes(n)), now: () => nowS() - 5, directory })
    await send(keys.init())
    await send(buildTxKey(patient, { ts: nowS() - 5, epoch: 2, ik: sha256(randomBytes(8)), epochSecret: sha256(randomBytes(8)), doctors: doctors.map((d) => directory.lookup(d.id)!), ikmE: sha256(randomBytes(8)) }))
    await send(buildTxCoin(patient, { to: consortium.id, amount: 1_000_000, fee: 10, nonce: 0 }))
    for (let k = 0; k < 4; k++) { const iot = buildTxIoT(patient, { ts: nowS() - 5, heiot: sha256(randomBytes(8)), epoch: 2 }); await send(iot); causes.push(iot) }
  }
  await mine(core, consortium.id)
  const registry = new DoctorRegistry({ members: [consortium.id], threshold: 1 }, doctors.map((d) => encodeIdentityRecord(buildIdentityRecord(d, DEVNET.genesisTime))))
  return { core, view: new UserchainView(core.store), credit: new CreditBook(core.store, consortium.id, 1), doctors, causes, registry }
}

async function pbftRun (w: World, dir: string, grantCheck: boolean, run: number): Promise<number> {
  const members = [0, 1, 2, 3].map((i) => who(`bench-hard-acc-${i}`))
  const genesis = dblockProposal({ index: 0, gtime: DEVNET.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
  const lookups = accountingLookups(w.view, w.credit)
  const everyone = { envelopes: w.doctors.map((d) => d.id) }
  const baseline = { userchain: { iotTx: lookups.userchain.iotTx, epochReaders: async () => everyone }, payments: { paid: async () => Infinity, price: 1 } }
  const mem = new MemoryNetwork()
  const nodes: AccountingNode[] = []
  for (let i = 0; i < 4; i++) {
    nodes.push(await AccountingNode.start({
      identity: members[i]!, members: members.map((m) => m.id), genesis, dir: join(dir, `acc-${run}-${i}`), transport: mem.join(members[i]!.id), registry: w.registry,
      ...(grantCheck ? lookups : baseline)
    }))
  }
  try {
    const txs = Array.from({ length: 2000 }, (_, i) => buildTxDiag(w.doctors[i % w.doctors.length]!, { ts: nowS() - 5 + run, causes: [txId(w.causes[i % w.causes.length]!)], hedm: sha256(utf8Bytes(`bench-${run}-${i}`)) }))
    const t0 = performance.now()
    for (let i = 0; i < txs.length; i += 250) {
      const rs = await Promise.all(txs.slice(i, i + 250).map(async (tx, k) => await nodes[(i + k) % 4]!.submit(tx)))
      const bad = rs.find((r) => !r.ok)
      if (bad !== undefined && !bad.ok) throw new Error(`a tx_diag was refused: ${bad.reason}`)
    }
    return txs.length / ((performance.now() - t0) / 1000)
  } finally { for (const n of nodes) await n.stop() }
}

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-hardening-'))
  try {
    console.log(`load average at start: ${loadAverage()}`)
    const pow = await invalidPow(dir)
    const relay = await admitRatio(dir)
    const w = await pbftWorld(dir)
    const withCheck: number[] = []
    const without: number[] = []
    try {
      for (let k = 0; k < 3; k++) {
        without.push(await pbftRun(w, dir, false, 2 * k))
        withCheck.push(await pbftRun(w, dir, true, 2 * k + 1))
      }
    } finally { await w.core.close() }
    const m = {
      invalid_pow_reject_ms: Math.round(pow.ms * 1000) / 1000,
      invalid_pow_sigs_checked: pow.sigs,
      honest_tx_admit_ratio_under_flood: Math.round(relay.ratio * 1000) / 1000,
      honest_tx_per_s: Math.round(relay.clean),
      honest_tx_per_s_under_flood: Math.round(relay.flooded),
      flood_tx_sent: relay.floodSent,
      pbft_n4_tx_per_s: Math.round(median(without)),
      pbft_n4_tx_per_s_with_grant_check: Math.round(median(withCheck)),
      pbft_grant_check_ratio: Math.round(median(withCheck) / median(without) * 1000) / 1000
    }
    table([
      ['metric', 'value', 'target'],
      ['invalid_pow_reject_ms (1 MiB block, p50 of 50)', m.invalid_pow_reject_ms, '≤ 1'],
      ['signatures checked for those 50 blocks', m.invalid_pow_sigs_checked, '0'],
      ['honest tx/s, no flood / under flood', `${m.honest_tx_per_s} / ${m.honest_tx_per_s_under_flood} (${m.flood_tx_sent} flood txs)`, ''],
      ['honest_tx_admit_ratio_under_flood', m.honest_tx_admit_ratio_under_flood, '≥ 0.9'],
      ['pbft_n4_tx_per_s (baseline, runs: ' + without.map(Math.round).join(', ') + ')', m.pbft_n4_tx_per_s, ''],
      ['pbft_n4_tx_per_s_with_grant_check (runs: ' + withCheck.map(Math.round).join(', ') + ')', m.pbft_n4_tx_per_s_with_grant_check, '≥ 0.9 × baseline'],
      ['ratio', m.pbft_grant_check_ratio, '≥ 0.9']
    ])
    return m
  } finally { await rm(dir, { recursive: true, force: true }) }
}
