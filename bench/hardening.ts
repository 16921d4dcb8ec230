/**
 * Chain and consortium hardening: what the defences cost, on this machine.
 *
 * invalid_pow_reject_ms — a core node (LevelDB, devnet) handed the bytes of a
 *   1 MiB Ublock (~7,400 signed tx_IoT) whose header misses its target: the
 *   clock starts at CoreNode.submitBlock(bytes) and stops at its verdict
 *   (ERR_POW); median of 50 such blocks. invalid_pow_sigs_checked counts the
 *   signatures the node's pool was asked to check meanwhile (must be 0).
 *   Target ≤ 1 ms.
 * honest_tx_admit_ratio_under_flood — a core node (LevelDB, devnet, the
 *   default 8 MiB mempool) whose relay policy asks a new identity's first
 *   tx_key for an 8-bit stamp and admits 100 tx_IoT per user and window
 *   (600 s). Twenty honest peers relay 2,000 tx_IoT of 500 established users (submitTx with the relaying peer's id, 100 at a time,
 *   each peer within its rate); the clock starts before the first and stops
 *   when the last is answered. Honest tx/s admitted while a flood runs in
 *   parallel, ÷ honest tx/s with none (the same node; one uncounted run of
 *   each, then 9 pairs in alternating order, medians; a block is mined after
 *   each run, emptying the pool). The flood,
 *   built before the clock starts, ~5,600 txs a run, sent 200 at a time as fast
 *   as the node answers and cut off when the honest run ends: from Sybil peers
 *   (a fresh peer id per 50 txs, so no per-peer rate stops them) 2,000 fresh
 *   identities' first tx_keys without the stamp, and 4 new stamped identities
 *   each chaining 8 more epochs (over the 4 pending tx_key) and sending 150
 *   tx_IoT (over the 100 per window); from one peer, 3,000 tx_IoT of an
 *   established identity (over its quota and over the peer's rate). What the
 *   flood got in and why the rest was refused (stamp, quota, rate, share of
 *   the pool) is reported. Target ≥ 0.9. Beside it, less dependent on the
 *   machine's load: the process CPU µs per honest tx over each run, the
 *   flood's handling included (honest_cpu_us_per_tx[_under_flood], medians).
 * pbft_n4_tx_per_s_with_grant_check and pbft_n4_tx_per_s — four
 *   AccountingNodes in this process (each its own LevelDB, PBFT over the
 *   in-process transport) on a devnet Userchain where 64 patients granted 16
 *   doctors in their tx_key and prepaid the consortium; the same 2,000
 *   tx_diag in every run (each citing one patient's tx_IoT; fresh nodes and
 *   Docchain per run), submitted round-robin to the four nodes 250 at a time.
 *   The clock starts before the first submission and stops at the last
 *   receipt (all must commit); CPU time of the process (all four replicas,
 *   LevelDB threads included) is read over the same span. Before every run a
 *   Userchain block is mined, so each run starts on a new tip as in service
 *   (what the lookups keep per tip is read again). "With grant check": the
 *   nodes read Userchain as `healthchain accounting` does
 *   (accountingLookups: the tx_key of each cause's epoch, the patient's
 *   prepayments, the credit weighed against what is committed and in
 *   flight). The baseline, pbft_n4_tx_per_s: the same nodes told by a
 *   constant that every doctor holds every epoch and every patient has
 *   unlimited credit — the Userchain reads and credit limits the hardening
 *   added are skipped (each cause's tx_IoT is still looked up, and the
 *   replica still tallies in-flight charges). One uncounted run of each arm
 *   first, then 7 pairs, the order alternating (without-with, with-without,
 *   …); medians. Target: with ≥ 0.9 × without.
 * grant_check_cpu_us_per_tx — what the hardening's Userchain part costs per
 *   tx_diag, less dependent on the machine's load than the rates above: CPU
 *   µs per tx of checkDiagChain + the prepayment read for the 2,000 tx_diag
 *   with accountingLookups, minus the same with the baseline's, each on a new
 *   tip (a block mined before each of 5 rounds; median).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  buildIdentityRecord, buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, dblockProposal, DEVNET, encodeIdentityRecord, encodeTx, encodeUblock, sha256, txId, utf8Bytes,
  type DoctorKey, type Identity, type Tx, type TxDiag, type TxIoT, type TxKey
} from '../hub/src/core/index.ts'
import { DoctorRegistry } from '../hub/src/core/pbft/registry.ts'
import { CoreNode } from '../hub/src/roles/core/node.ts'
import { AccountingNode } from '../hub/src/roles/accounting/node.ts'
import { MemoryNetwork } from '../test/helpers/memory-network.ts'
import { accountingLookups, UserchainView } from '../hub/src/roles/accounting/userchain-view.ts'
import { checkDiagChain, type PaymentLookup, type UserchainLookup } from '../hub/src/roles/accounting/validate.ts'
import { stampTxKey } from '../hub/src/roles/user/stamp.ts'
import { CreditBook } from '../hub/src/roles/consortium/credit.ts'
import { UserKeys } from '../hub/src/roles/user/keys.ts'
import { who } from '../test/helpers/core.ts'
import { mine } from '../test/helpers/doctor-world.ts'
import { bigBlock, withoutPow } from '../test/helpers/big-block.ts'
import { table } from './_stats.ts'
import { loadAverage } from './_load.ts'

/** Counted pairs of runs (without, with) in the flood comparison and in the PBFT one, the order alternating (more pairs: a run's rate swings twofold on a shared machine). */
const PAIRS = 9
const PBFT_PAIRS = 7
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

interface FloodTally { sent: number, admitted: number, stamp: number, quota: number, rate: number, share: number, queue: number, other: number }

export async function admitRatio (dir: string): Promise<{ ratio: number, clean: number, flooded: number, flood: FloodTally, runs: { clean: number[], flooded: number[] }, cpu: { clean: number, flooded: number } }> {
  const STAMP = 8
  const core = await CoreNode.open({ dir: join(dir, 'relay'), params: DEVNET, verifyThreads: 2, relay: { firstTxStampBits: STAMP, iotPerWindow: 100 } })
  try {
    const users = Array.from({ length: 500 }, (_, i) => who(`bench-relay-user-${i}`)) // 4 tx_IoT each a run: 20 runs stay within the quota
    const h = (s: string): Uint8Array => sha256(utf8Bytes(s))
    const ts = nowS() - 5
    const keyOf = (u: Identity, epoch: number, salt: string): TxKey => buildTxKey(u, { ts, epoch, ik: h(`ik-${salt}`), epochSecret: h(`s-${salt}`), doctors: [], ikmE: h(`e-${salt}-${epoch}`) })
    const spammer = who('bench-relay-spammer')
    for (const [i, u] of [...users, spammer].entries()) {
      const r = await core.submitTx(keyOf(u, 1, `user-${i}`))
      if (!r.accepted) throw new Error(r.reason)
    }
    await mine(core, who('bench-relay-miner').id)
    // Built before any clock starts (the stamps take a while): what every flooded run sends.
    const fresh = Array.from({ length: 2000 }, (_, i) => encodeTx(keyOf(who(`bench-relay-fresh-${i}`), 1, `fresh-${i}`)))
    const nobody = { lookup: () => undefined }
    const stamped = (run: number, k: number): Uint8Array[] => {
      const u = who(`bench-relay-stamped-${run}-${k}`)
      let first: TxKey | null = null
      for (let from = 0; first === null; from += 64) first = stampTxKey(u, keyOf(u, 1, `st-${run}-${k}`), STAMP, { seed: h(`seed-${run}-${k}`), from, count: 64, doctors: nobody })
      const chain = Array.from({ length: 8 }, (_, e) => keyOf(u, e + 2, `st-${run}-${k}`))
      const iot = Array.from({ length: 150 }, (_, i) => buildTxIoT(u, { ts, heiot: h(`st-iot-${run}-${k}-${i}`), epoch: 1 }))
      return [first, ...chain, ...iot].map(encodeTx)
    }
    const floods = Array.from({ length: 1 + PAIRS }, (_, k) => k + 1).map((run) => {
      const sybil = [...fresh, ...[0, 1, 2, 3].flatMap((k) => stamped(run, k))]
      const onePeer = Array.from({ length: 3000 }, (_, i) => encodeTx(buildTxIoT(spammer, { ts, heiot: h(`spam-${run}-${i}`), epoch: 1 })))
      // interleaved, so both sources run for the whole honest run
      const out: Array<{ bytes: Uint8Array, peer: string }> = []
      for (let i = 0; i < Math.max(sybil.length, onePeer.length); i++) {
        if (i < sybil.length) out.push({ bytes: sybil[i]!, peer: `bench-sybil-peer-${run}-${Math.floor(i / 50)}` })
        if (i < onePeer.length) out.push({ bytes: onePeer[i]!, peer: 'bench-flooder' })
      }
      return out
    })
    const tally: FloodTally = { sent: 0, admitted: 0, stamp: 0, quota: 0, rate: 0, share: 0, queue: 0, other: 0 }
    const note = (r: { accepted: boolean, code?: string, reason?: string }): void => {
      tally.sent++
      if (r.accepted) tally.admitted++
      else if (r.code === 'ERR_POLICY_RATE') tally.rate++
      else if (r.code === 'ERR_POLICY' && r.reason!.includes('stamp')) tally.stamp++
      else if (r.code === 'ERR_POLICY' && r.reason!.includes('quota')) tally.quota++
      else if (r.code === 'ERR_POLICY' && r.reason!.includes('mempool')) tally.share++
      else if (r.code === 'ERR_NET_QUEUE_FULL') tally.queue++
      else { tally.other++; others.set(r.code!, (others.get(r.code!) ?? 0) + 1) }
    }
    const others = new Map<string, number>()
    let round = 0
    const honestRun = async (flood: Array<{ bytes: Uint8Array, peer: string }> | null): Promise<number> => {
      round++
      const honest = Array.from({ length: 2000 }, (_, i) => encodeTx(buildTxIoT(users[i % users.length]!, { ts, heiot: h(`honest-${round}-${i}`), epoch: 1 })))
      let stop = false
      const flooder = flood === null ? Promise.resolve() : (async () => {
        for (let i = 0; i < flood.length && !stop; i += 200) {
          const rs = await Promise.all(flood.slice(i, i + 200).map(async (f) => await core.submitTx(f.bytes, f.peer)))
          rs.forEach(note)
        }
      })()
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      let admitted = 0
      for (let i = 0; i < honest.length; i += 100) {
        const rs = await Promise.all(honest.slice(i, i + 100).map(async (b, k) => await core.submitTx(b, `honest-peer-${(i + k) % 20}`)))
        admitted += rs.filter((r) => r.accepted).length
      }
      const s = (performance.now() - t0) / 1000
      const c = process.cpuUsage(c0)
      ;(flood === null ? cleanCpu : floodedCpu).push((c.user + c.system) / honest.length)
      stop = true
      await flooder
      if (admitted !== honest.length) throw new Error(`only ${admitted} of ${honest.length} honest txs admitted`)
      await mine(core, who('bench-relay-miner').id) // empty the pool between runs
      return admitted / s
    }
    const clean: number[] = []
    const flooded: number[] = []
    /** Process CPU µs per honest tx over each run (the flood's own handling included): less dependent on the machine's load than tx/s. */
    const cleanCpu: number[] = []
    const floodedCpu: number[] = []
    await honestRun(null) // warm-up, one of each, not counted
    await honestRun(floods[0]!)
    for (let k = 0; k < PAIRS; k++) {
      for (const flood of k % 2 === 0 ? [null, floods[k + 1]!] : [floods[k + 1]!, null]) (flood === null ? clean : flooded).push(await honestRun(flood))
    }
    if (others.size > 0) console.log(`flood refused otherwise: ${[...others].map(([c, n]) => `${c} ${n}`).join(', ')}`)
    cleanCpu.splice(0, 1) // the warm-up runs
    floodedCpu.splice(0, 1)
    return { ratio: median(flooded) / median(clean), clean: median(clean), flooded: median(flooded), flood: tally, runs: { clean, flooded }, cpu: { clean: median(cleanCpu), flooded: median(floodedCpu) } }
  } finally { await core.close() }
}

interface World { core: CoreNode, view: UserchainView, credit: CreditBook, doctors: Identity[], causes: TxIoT[], registry: DoctorRegistry }

export async function pbftWorld (dir: string): Promise<World> {
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

/** What a node is told in each arm: the real Userchain lookups, or the baseline's constants (every doctor holds every epoch, unlimited credit). */
function arm (w: World, grantCheck: boolean): { userchain: UserchainLookup, payments: PaymentLookup } {
  const lookups = accountingLookups(w.view, w.credit)
  if (grantCheck) return lookups
  const everyone = { envelopes: w.doctors.map((d) => d.id) }
  return { userchain: { iotTx: lookups.userchain.iotTx, epochReaders: async () => everyone }, payments: { paid: async () => Infinity, price: 1 } }
}

/** The tx_diag of every run: each doctor in turn cites one patient's tx_IoT. */
export function diagnoses (w: World): TxDiag[] {
  return Array.from({ length: 2000 }, (_, i) => buildTxDiag(w.doctors[i % w.doctors.length]!, { ts: nowS() - 5, causes: [txId(w.causes[i % w.causes.length]!)], hedm: sha256(utf8Bytes(`bench-hardening-${i}`)) }))
}

/** One run on a new Userchain tip: tx/s and process CPU µs per tx from the first submission to the last receipt. */
export async function pbftRun (w: World, dir: string, txs: readonly TxDiag[], grantCheck: boolean, run: number): Promise<{ perS: number, cpuUs: number, views: number }> {
  await mine(w.core, who('bench-hard-miner').id)
  const members = [0, 1, 2, 3].map((i) => who(`bench-hard-acc-${i}`))
  const genesis = dblockProposal({ index: 0, gtime: DEVNET.genesisTime, prehash: new Uint8Array(32), view: 0, leader: new Uint8Array(32), txs: [] })
  const mem = new MemoryNetwork()
  const nodes: AccountingNode[] = []
  for (let i = 0; i < 4; i++) {
    nodes.push(await AccountingNode.start({
      identity: members[i]!, members: members.map((m) => m.id), genesis, dir: join(dir, `acc-${run}-${i}`), transport: mem.join(members[i]!.id), registry: w.registry, ...arm(w, grantCheck)
    }))
  }
  try {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    for (let i = 0; i < txs.length; i += 250) {
      const rs = await Promise.all(txs.slice(i, i + 250).map(async (tx, k) => await nodes[(i + k) % 4]!.submit(tx)))
      const bad = rs.find((r) => !r.ok)
      if (bad !== undefined && !bad.ok) throw new Error(`a tx_diag was refused: ${bad.reason}`)
    }
    const s = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    return { perS: txs.length / s, cpuUs: (c.user + c.system) / txs.length, views: Math.max(...nodes.map((n) => n.view)) }
  } finally { for (const n of nodes) await n.stop() }
}

/** CPU µs per tx of the Userchain part of the check (checkDiagChain + the prepayment read) in one arm, on a new tip. */
async function checkCpu (w: World, txs: readonly TxDiag[], grantCheck: boolean): Promise<number> {
  await mine(w.core, who('bench-hard-miner').id)
  const { userchain, payments } = arm(w, grantCheck)
  const c0 = process.cpuUsage()
  for (const tx of txs) {
    const r = await checkDiagChain(tx, userchain)
    if (r instanceof Error) throw r
    await payments.paid(r.user)
  }
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / txs.length
}

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-hardening-'))
  try {
    console.log(`load average at start: ${loadAverage()}`)
    const pow = await invalidPow(dir)
    const relay = await admitRatio(dir)
    const w = await pbftWorld(dir)
    const withCheck: Array<{ perS: number, cpuUs: number, views: number }> = []
    const without: Array<{ perS: number, cpuUs: number, views: number }> = []
    const checkUs: number[] = []
    try {
      const txs = diagnoses(w)
      let run = 0
      await pbftRun(w, dir, txs, false, run++) // warm-up, both arms, not counted
      await pbftRun(w, dir, txs, true, run++)
      for (let k = 0; k < PBFT_PAIRS; k++) {
        for (const grantCheck of k % 2 === 0 ? [false, true] : [true, false]) (grantCheck ? withCheck : without).push(await pbftRun(w, dir, txs, grantCheck, run++))
      }
      for (let k = 0; k < 5; k++) checkUs.push(await checkCpu(w, txs, true) - await checkCpu(w, txs, false))
    } finally { await w.core.close() }
    const perS = (xs: Array<{ perS: number }>): number => median(xs.map((x) => x.perS))
    const cpu = (xs: Array<{ cpuUs: number }>): number => median(xs.map((x) => x.cpuUs))
    const m = {
      invalid_pow_reject_ms: Math.round(pow.ms * 1000) / 1000,
      invalid_pow_sigs_checked: pow.sigs,
      honest_tx_admit_ratio_under_flood: Math.round(relay.ratio * 1000) / 1000,
      honest_tx_per_s: Math.round(relay.clean),
      honest_tx_per_s_under_flood: Math.round(relay.flooded),
      honest_cpu_us_per_tx: Math.round(relay.cpu.clean),
      honest_cpu_us_per_tx_under_flood: Math.round(relay.cpu.flooded),
      flood_tx_sent: relay.flood.sent,
      flood_tx_answered_per_run: Math.round(relay.flood.sent / (1 + PAIRS)),
      flood_tx_admitted: relay.flood.admitted,
      flood_refused_stamp: relay.flood.stamp,
      flood_refused_quota: relay.flood.quota,
      flood_refused_rate: relay.flood.rate,
      flood_refused_share: relay.flood.share,
      flood_dropped_queue_full: relay.flood.queue,
      flood_refused_other: relay.flood.other,
      pbft_n4_tx_per_s: Math.round(perS(without)),
      pbft_n4_tx_per_s_with_grant_check: Math.round(perS(withCheck)),
      pbft_grant_check_ratio: Math.round(perS(withCheck) / perS(without) * 1000) / 1000,
      pbft_n4_cpu_us_per_tx: Math.round(cpu(without)),
      pbft_n4_cpu_us_per_tx_with_grant_check: Math.round(cpu(withCheck)),
      pbft_grant_check_cpu_ratio: Math.round(cpu(withCheck) / cpu(without) * 1000) / 1000,
      grant_check_cpu_us_per_tx: Math.round(median(checkUs) * 10) / 10
    }
    table([
      ['metric', 'value', 'target'],
      ['invalid_pow_reject_ms (1 MiB block, p50 of 50)', m.invalid_pow_reject_ms, '≤ 1'],
      ['signatures checked for those 50 blocks', m.invalid_pow_sigs_checked, '0'],
      ['honest tx/s, no flood / under flood', `${m.honest_tx_per_s} / ${m.honest_tx_per_s_under_flood}`, ''],
      ['  runs: no flood / under flood', `${relay.runs.clean.map(Math.round).join(', ')} / ${relay.runs.flooded.map(Math.round).join(', ')}`, ''],
      ['  process CPU µs per honest tx (the flood\'s handling included): no flood / under flood', `${m.honest_cpu_us_per_tx} / ${m.honest_cpu_us_per_tx_under_flood}`, ''],
      ['flood: sent, admitted / refused for stamp, quota, rate, pool share, peer queue full, other', `${m.flood_tx_sent}, ${m.flood_tx_admitted} / ${m.flood_refused_stamp}, ${m.flood_refused_quota}, ${m.flood_refused_rate}, ${m.flood_refused_share}, ${m.flood_dropped_queue_full}, ${m.flood_refused_other}`, ''],
      ['honest_tx_admit_ratio_under_flood', m.honest_tx_admit_ratio_under_flood, '≥ 0.9'],
      ['pbft_n4_tx_per_s (baseline, runs: ' + without.map((x) => Math.round(x.perS)).join(', ') + ')', m.pbft_n4_tx_per_s, ''],
      ['pbft_n4_tx_per_s_with_grant_check (runs: ' + withCheck.map((x) => Math.round(x.perS)).join(', ') + ')', m.pbft_n4_tx_per_s_with_grant_check, '≥ 0.9 × baseline'],
      ['ratio', m.pbft_grant_check_ratio, '≥ 0.9'],
      ['CPU µs per tx_diag, four replicas: baseline / with grant check (ratio)', `${m.pbft_n4_cpu_us_per_tx} / ${m.pbft_n4_cpu_us_per_tx_with_grant_check} (${m.pbft_grant_check_cpu_ratio})`, ''],
      ['  runs: CPU µs per tx (view changes), baseline', without.map((x) => `${Math.round(x.cpuUs)} (${x.views})`).join(', '), ''],
      ['  runs: CPU µs per tx (view changes), with grant check', withCheck.map((x) => `${Math.round(x.cpuUs)} (${x.views})`).join(', '), ''],
      ['grant_check_cpu_us_per_tx (Userchain part of the check, new tip; rounds: ' + checkUs.map((x) => x.toFixed(1)).join(', ') + ')', m.grant_check_cpu_us_per_tx, '']
    ])
    return m
  } finally { await rm(dir, { recursive: true, force: true }) }
}
