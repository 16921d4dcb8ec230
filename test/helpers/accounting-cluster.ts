/**
 * A Docchain consortium of real processes on loopback, shared by
 * test/integration/pbft-processes.test.ts and bench/pbft.ts: the parent runs
 * a core user node with a short Userchain (each patient's tx_key granting
 * every doctor, its Healthcoin payment to the consortium, the tx_IoT the
 * diagnoses cite) and serves it over libp2p; the doctors are the registry's
 * genesis doctors; each accounting node is `healthchain accounting --config … --peers-stdin`
 * in its own child process (keystore, libp2p on port 0, LevelDB), which
 * prints its address; the parent hands every child the peer list. The
 * doctors' tx_diag (signed by each doctor's own key) are submitted over
 * /healthchain/diag/2.0.0 from the parent's one libp2p node.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Libp2p } from '@libp2p/interface'
import { split } from 'shamir-secret-sharing'
import {
  buildIdentityRecord, buildTxCoin, buildTxDiag, buildTxIoT, buildTxKey, dblockHash, DEVNET, encodeIdentityRecord,
  sha256, solveUblockHeader, toHex, txId, utf8Bytes, type Dblock, type Identity, type Tx, type TxDiag
} from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { CoreNet } from '../../hub/src/net/service.ts'
import { coreChain } from '../../hub/src/net/core-chain.ts'
import { createKeystore, saveKeystore } from '../../hub/src/store/keystore.ts'
import { PbftLog } from '../../hub/src/store/pbft-log.ts'
import { createIpfsLibp2p } from '../../hub/src/ipfs/libp2p.ts'
import { docchainGenesis } from '../../hub/src/roles/accounting/service.ts'
import { submitDiags, type WireReceipt } from '../../hub/src/roles/accounting/diag-protocol.ts'
import type { PbftSettings } from '../../hub/src/roles/accounting/config.ts'
import { compileCache } from './crash.ts'
import { seed as seedOf, who } from './core.ts'

const CLI = fileURLToPath(new URL('../../hub/src/cli.ts', import.meta.url))
const PASS = 'accounting-cluster-pass'
/** Price of one diagnosis in this cluster: one block reward pays for 50,000. */
const PRICE = 1000

export const doctor = who('cluster-doctor')
export const user = who('cluster-user')
/** Doctor `k` (the first is `doctor`). */
export const doctorNo = (k: number): Identity => (k === 0 ? doctor : who(`cluster-doctor-${k}`))
/** Patient `k` (the first is `user`). */
export const patientNo = (k: number): Identity => (k === 0 ? user : who(`cluster-user-${k}`))
export const consortium = who('cluster-consortium')

export interface ClusterOptions {
  readonly dir: string
  readonly n?: number
  /** tx_IoT on Userchain the diagnoses cite (in all; cause i is a tx_IoT of patient i mod patients). */
  readonly causes?: number
  /** Registered doctors signing the diagnoses, in turn (default 1). */
  readonly doctors?: number
  /** Patients on Userchain, each granting every doctor and prepaying an equal share of the credit (default 1). */
  readonly patients?: number
  readonly pbft?: PbftSettings
  readonly log?: (line: string) => void
  /** Extra environment of the children (e.g. NODE_OPTIONS=--cpu-prof). */
  readonly env?: NodeJS.ProcessEnv
  /** The member holding the consortium's key (config `settlement`), which pays the doctors; default none. */
  readonly settlement?: number
  /**
   * Emergency access (README "Emergency access"): the members' identity
   * records published in the registry, the first doctor registered with the
   * emergency role, and each patient's tx_key escrowing its Ik t-of-n to the
   * members (t = 2f+1).
   */
  readonly emergency?: boolean
}

/** One accounting node process and what it printed. */
export class AccountingProc {
  readonly index: number
  readonly child: ChildProcessWithoutNullStreams
  readonly lines: string[] = []
  stderr = ''
  /** Its multiaddr with /p2p/<peer id>, once it listens. */
  addr: string | null = null
  readonly exited: Promise<number | null>
  private readonly waiters: Array<{ test: (l: string) => boolean, resolve: (l: string) => void }> = []
  constructor (index: number, child: ChildProcessWithoutNullStreams, log?: (l: string) => void) {
    this.index = index
    this.child = child
    let buf = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const parts = buf.split('\n')
      buf = parts.pop()!
      for (const l of parts) {
        this.lines.push(l)
        if (log !== undefined && !/ commit \d/.test(l)) log(`[a${index}] ${l}`)
        const m = / peer (\S+) listening (\S+)/.exec(l)
        if (m !== null) this.addr = m[2]!.includes('/p2p/') ? m[2]! : `${m[2]!}/p2p/${m[1]!}`
        for (const w of this.waiters.filter((x) => x.test(l))) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(l) }
      }
    })
    child.stderr.on('data', (d: Buffer) => { this.stderr += d.toString() })
    this.exited = new Promise((resolve) => child.on('exit', (code) => { resolve(code) }))
  }

  /** The first line (printed so far or later) that passes `test`. */
  async line (test: (l: string) => boolean, ms = 60_000, what = 'a line'): Promise<string> {
    const had = this.lines.find(test)
    if (had !== undefined) return had
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`accounting node ${this.index}: no ${what} within ${ms} ms; stderr: ${this.stderr.slice(-2000)}`)) }, ms)
      this.waiters.push({ test, resolve: (l) => { clearTimeout(timer); resolve(l) } })
      void this.exited.then((code) => { clearTimeout(timer); reject(new Error(`accounting node ${this.index} exited (${code}) waiting for ${what}: ${this.stderr.slice(-2000)}`)) })
    })
  }

  get committedHeight (): number {
    for (let i = this.lines.length - 1; i >= 0; i--) { const m = / (?:commit|ready: Docchain height) (\d+)/.exec(this.lines[i]!); if (m !== null) return Number(m[1]) }
    return 0
  }
}

export class Cluster {
  readonly dir: string
  readonly members: Identity[]
  readonly procs: Array<AccountingProc | null>
  /** Each node's address as it last listened (kept while it is down: a restart listens there again). */
  readonly addrs: Array<string | null>
  readonly causes: Uint8Array[]
  /** The doctors signing `diags()`, in turn. */
  readonly doctors: Identity[]
  readonly core: CoreNode
  readonly userNet: CoreNet
  readonly doctorNet: Libp2p
  private readonly log: (l: string) => void
  private readonly env: NodeJS.ProcessEnv
  private made = 0

  private constructor (dir: string, members: Identity[], causes: Uint8Array[], doctors: Identity[], core: CoreNode, userNet: CoreNet, doctorNet: Libp2p, log: (l: string) => void, env: NodeJS.ProcessEnv) {
    this.env = env
    this.doctors = doctors
    this.dir = dir
    this.members = members
    this.procs = members.map(() => null)
    this.addrs = members.map(() => null)
    this.causes = causes
    this.core = core
    this.userNet = userNet
    this.doctorNet = doctorNet
    this.log = log
  }

  static async start (o: ClusterOptions): Promise<Cluster> {
    const n = o.n ?? 4
    const log = o.log ?? (() => {})
    const doctors = Array.from({ length: o.doctors ?? 1 }, (_, k) => doctorNo(k))
    const patients = Array.from({ length: o.patients ?? 1 }, (_, k) => patientNo(k))
    await mkdir(o.dir, { recursive: true })
    // a test-strength KDF (the file records it): each child's unlock costs milliseconds, not a second of CPU
    const keystores = Promise.all(Array.from({ length: n }, async (_, i) => await createKeystore(join(o.dir, `a${i}`, 'keystore.json'), PASS, { scrypt: { N: 2 ** 10, r: 8, p: 1 } })))
    const escrowTo = o.emergency === true ? await keystores : null
    const [{ core, net, causes }, doctorNet, members] = await Promise.all([
      userchain(join(o.dir, 'userchain'), o.causes ?? 20, doctors, patients, escrowTo),
      createIpfsLibp2p(),
      keystores
    ])
    const c = new Cluster(o.dir, members, causes, doctors, core, net, doctorNet, log, o.env ?? {})
    const config = {
      network: 'devnet',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      members: members.map((m) => ({ id: toHex(m.id) })),
      registry: {
        members: [toHex(consortium.id)],
        threshold: 1,
        doctors: doctors.map((d) => toHex(encodeIdentityRecord(buildIdentityRecord(d, DEVNET.genesisTime)))),
        ...(o.emergency === true ? { emergency: [toHex(doctors[0]!.id)], accounting: members.map((m) => toHex(encodeIdentityRecord(buildIdentityRecord(m, DEVNET.genesisTime)))) } : {})
      },
      consortium: toHex(consortium.id),
      diagnosisPrice: PRICE,
      userchain: { bootstrap: [net.net.addrs()[0]!.toString()] },
      submitRate: 10_000,
      pbft: { batchDelayMs: 5, maxBatch: 500, checkpointInterval: 8, window: 64, requestTimeoutMs: 2000, viewChangeTimeoutMs: 2000, statusEveryMs: 300, ...o.pbft }
    }
    if (o.settlement !== undefined) await saveKeystore(join(o.dir, `a${o.settlement}`, 'consortium.json'), seedOf('cluster-consortium'), PASS, { scrypt: { N: 2 ** 10, r: 8, p: 1 } })
    for (let i = 0; i < n; i++) {
      const settlement = i === o.settlement ? { settlement: { keystore: 'consortium.json' } } : {}
      await writeFile(join(o.dir, `a${i}`, 'config.json'), JSON.stringify({ ...config, ...settlement, dataDir: '.' }, null, 2))
    }
    await Promise.all(members.map(async (_, i) => { await c.spawn(i) }))
    await c.distributePeers(members.map((_, i) => i))
    const height = core.store.height
    await Promise.all(c.procs.map(async (p) => await p!.line((l) => new RegExp(`(userchain ${height} |Userchain height ${height}(,|$))`).test(l), 60_000, `Userchain height ${height}`)))
    return c
  }

  /** Starts accounting node `i` (again): the real CLI command, on its data dir, listening where it last did (port 0 the first time). */
  async spawn (i: number, listen = this.addrs[i] ?? undefined): Promise<AccountingProc> {
    const args = ['--no-warnings', CLI, 'accounting', '--config', join(this.dir, `a${i}`, 'config.json'), '--peers-stdin', ...(listen === undefined ? [] : ['--listen', listen.replace(/\/p2p\/.*$/, '')])]
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HEALTHCHAIN_PASSPHRASE: PASS, NODE_COMPILE_CACHE: compileCache, ...this.env } })
    const p = new AccountingProc(i, child, this.log)
    this.procs[i] = p
    await p.line((l) => / peer \S+ listening /.test(l), 60_000, 'listening address')
    this.addrs[i] = p.addr
    return p
  }

  /** Hands the peer list to the given (freshly spawned) nodes on their stdin. */
  async distributePeers (which: readonly number[]): Promise<void> {
    const peers = Object.fromEntries(this.members.map((m, i) => [toHex(m.id), this.addrs[i]!]))
    for (const i of which) this.procs[i]!.child.stdin.write(JSON.stringify(peers) + '\n')
    await Promise.all(which.map(async (i) => await this.procs[i]!.line((l) => l.includes(' ready: '), 60_000, 'ready')))
  }

  /**
   * `count` fresh tx_diag, each citing one of the Userchain's tx_IoT: the
   * doctors sign in turn, and each round of doctors cites the next tx_IoT, so
   * every doctor comes to cite every patient.
   */
  diags (count: number): TxDiag[] {
    const out: TxDiag[] = []
    const d = this.doctors.length
    for (let k = 0; k < count; k++, this.made++) {
      const cause = this.causes[Math.floor(this.made / d) % this.causes.length]!
      out.push(buildTxDiag(this.doctors[this.made % d]!, { ts: 1_790_000_000 + this.made, causes: [cause], hedm: sha256(utf8Bytes(`cluster-dm-${this.made}`)) }))
    }
    return out
  }

  /** One submission request to node `i`. */
  async submit (i: number, txs: readonly TxDiag[]): Promise<WireReceipt[]> {
    const p = this.procs[i]
    if (p?.addr == null) throw new Error(`accounting node ${i} is not running`)
    return await submitDiags(this.doctorNet, p.addr, txs)
  }

  async kill (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const p = this.procs[i]!
    p.child.kill(signal)
    const code = await p.exited
    this.procs[i] = null
    return code
  }

  /** Stops every running node cleanly (SIGTERM), then reads each one's Docchain from its LevelDB. */
  async stopAndRead (): Promise<Dblock[][]> {
    const codes = await Promise.all(this.procs.map(async (p, i) => (p === null ? null : await this.kill(i, 'SIGTERM'))))
    if (codes.some((c) => c !== null && c !== 0)) throw new Error(`an accounting node exited with ${codes.join(', ')}`)
    const chains: Dblock[][] = []
    for (let i = 0; i < this.members.length; i++) {
      const log = await PbftLog.open(join(this.dir, `a${i}`, 'docchain'), docchainGenesis(DEVNET.genesisTime))
      try {
        const blocks: Dblock[] = []
        for (let h = 1; h <= log.tipHeight; h++) blocks.push((await log.block(h))!)
        chains.push(blocks)
      } finally { await log.close() }
    }
    return chains
  }

  async close (): Promise<void> {
    for (let i = 0; i < this.procs.length; i++) if (this.procs[i] !== null) await this.kill(i, 'SIGKILL').catch(() => {})
    await this.doctorNet.stop()
    await this.userNet.stop()
    await this.core.close()
  }
}

export function tipHash (chain: readonly Dblock[]): string { return chain.length === 0 ? 'genesis' : toHex(dblockHash(chain.at(-1)!.header)) }

/** Mines one block on the tip paying `to` (devnet PoW: about a thousand hashes). */
export async function mine (core: CoreNode, to: Uint8Array): Promise<void> {
  const tpl = core.template(to)
  let header = null
  for (let nonce = 0; header === null; nonce += 1_000_000) header = solveUblockHeader({ ...tpl.header, nonce }, 1_000_000)
  const r = await core.submitBlock({ header, txs: tpl.txs })
  if (!r.accepted) throw new Error(`mined block rejected: ${r.reason}`)
}

/**
 * A devnet Userchain served over libp2p: the first patient's block reward;
 * every patient's key epoch granting every doctor; the first patient's
 * payment to the consortium and transfers funding the others, who then pay
 * their share (40,000 diagnoses' worth in all); then `count` tx_IoT, cause i
 * of patient i mod patients.
 */
async function userchain (dir: string, count: number, doctors: readonly Identity[], patients: readonly Identity[], escrowTo: readonly Identity[] | null): Promise<{ core: CoreNode, net: CoreNet, causes: Uint8Array[] }> {
  const core = await CoreNode.open({ dir, params: DEVNET, verifyThreads: 1 })
  const net = await CoreNet.start({ chain: coreChain(core), params: DEVNET, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const now = (): number => Math.floor(Date.now() / 1000) - 5
  const payer = patients[0]!
  await mine(core, payer.id)
  const seed = (s: string): Uint8Array => sha256(utf8Bytes(`cluster-${s}`))
  const ok = async (tx: Tx): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(`Userchain refused a ${tx.kind}: ${r.reason}`) }
  const grants = doctors.map((d) => ({ id: d.id, x25519: d.agreement.publicKey }))
  const tag = (k: number, s: string): string => (k === 0 ? s : `${s}-${k}`)
  for (const [k, p] of patients.entries()) {
    const ik = seed(tag(k, 'ik'))
    const t = escrowTo === null ? 0 : 2 * Math.floor((escrowTo.length - 1) / 3) + 1
    const escrow = escrowTo === null ? {} : { escrow: { threshold: t, members: escrowTo.map((m) => ({ id: m.id, x25519: m.agreement.publicKey })), shares: await split(ik, escrowTo.length, t), ikmE: seed(tag(k, 'x')) } }
    await ok(buildTxKey(p, { ts: now(), epoch: 1, ik, epochSecret: seed(tag(k, 's')), doctors: grants, ikmE: seed(tag(k, 'e')), ...escrow }))
  }
  const share = Math.floor(40_000_000 / patients.length)
  const fee = 10
  await ok(buildTxCoin(payer, { to: consortium.id, amount: share, fee, nonce: 0 }))
  for (let k = 1; k < patients.length; k++) await ok(buildTxCoin(payer, { to: patients[k]!.id, amount: share + fee, fee, nonce: k }))
  await mine(core, payer.id)
  for (let k = 1; k < patients.length; k++) await ok(buildTxCoin(patients[k]!, { to: consortium.id, amount: share, fee, nonce: 0 }))
  const causes: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const k = i % patients.length
    const tx = buildTxIoT(patients[k]!, { ts: now(), heiot: seed(k === 0 ? `iot-${i}` : `iot-${k}-${i}`), epoch: 1 })
    await ok(tx)
    causes.push(txId(tx))
  }
  await mine(core, payer.id)
  return { core, net, causes }
}
