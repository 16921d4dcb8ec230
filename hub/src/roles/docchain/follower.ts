/**
 * A Docchain reader (paper §IV-B3: Docchain is open to everyone; §IV-B5: the
 * patient reads its diagnoses from it): hubs and doctors follow the chain
 * the accounting nodes commit without being members.
 *
 * Dblocks arrive by gossip on the `dblock` topic as the members commit them,
 * and by catch-up over docchain/1 (net/docchain.ts) from any member at start,
 * on a gap and every `pollMs`. Each is verified before it is handed on:
 * the 2f+1 commit certificate against the accounting members (a forged or
 * short one is refused and counted, and costs a gossiping peer its score),
 * the chaining (index and prehash extend what this reader holds), and every
 * tx_diag's doctor active in the registry folded from Docchain up to that
 * point (core/pbft/registry.ts, the same fold the accounting nodes apply).
 *
 * Verified Dblocks reach `onDblock` in height order, one at a time. The
 * reader's position (height, hash, the registry records folded so far) is
 * written atomically after the Dblocks it covers were handed on, so a
 * restart resumes where it was: a Dblock is handed on at least once, and
 * again only if the process stopped between handing it on and writing the
 * position. A reader keeps no Dblock it is not asked to: `onDblock` answers
 * true for one that concerns its user, which is kept (`kept()`), so a hub
 * shows its diagnoses again after a restart without the rest of Docchain.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import {
  changesRegistry, checkDblockStructure, dblockHash, decodeDblock, decodeTx, encodeDblock, encodeTx, equalBytes, fromHex, HealthchainError, InvalidFieldError, toHex, verifyCertificate, type Dblock, type DocTx
} from '../../core/index.ts'
import type { DoctorRegistry } from '../../core/pbft/registry.ts'
import { docchainGenesis, MAX_DBLOCKS_PER_REQUEST, requestDocchain } from '../../net/docchain.ts'
import { dblockHandler, Gossip } from '../../net/gossip.ts'
import type { NetNode } from '../../net/node.ts'
import type { RequestOptions } from '../../net/reqresp.ts'
import { writeFileAtomic } from '../../store/keystore.ts'
import { checkDoctor } from '../accounting/validate.ts'

export interface DocchainFollowerOptions {
  /** The libp2p node (gossip and catch-up requests). */
  readonly net: NetNode
  /** The accounting nodes' IDs (Ed25519 public keys) in leader order: whose 2f+1 signatures certify a Dblock. */
  readonly members: readonly Uint8Array[]
  /** gtime of Dblock 0 (its hash is Dblock 1's prehash). */
  readonly genesisTime: number
  /** The registry at genesis (consortium signers and genesis doctors); not modified. */
  readonly registry: DoctorRegistry
  /** Where to catch up from: multiaddrs with /p2p/<peer id> of members (or any node serving docchain/1). */
  readonly peers: readonly string[]
  /** Directory of the position file and the kept Dblocks. */
  readonly dir: string
  /** Each verified Dblock, in order; true keeps it (see kept()). */
  readonly onDblock: (block: Dblock) => Promise<boolean> | boolean
  readonly log?: (line: string) => void
  /** Catch-up poll while nothing arrives by gossip, ms (default 30 000; 0: only at start and on a gap). */
  readonly pollMs?: number
  /** Wait before asking again when no peer answered, ms (default 5 000). */
  readonly retryMs?: number
  readonly request?: RequestOptions
}

export interface DocchainFollowerStats {
  /** Dblocks verified and handed on. */
  delivered: number
  /** Dblocks refused: certificate, structure, chaining or registry check failed. */
  refused: number
  /** Gossiped Dblocks beyond the next one (a catch-up followed). */
  gaps: number
  /** Catch-up exchanges answered. */
  catchUps: number
}

interface Position { height: number, hash: Uint8Array, records: string[] }

/** The reader's callback failed on a verified Dblock: not the Dblock's fault, so not a refusal. */
export class DeliveryError extends Error {
  constructor (height: number, cause: Error) { super(`Dblock ${height} not handed on: ${cause.message}`, { cause }); this.name = 'DeliveryError' }
}

const POSITION_FILE = 'position.json'
const KEPT_DIR = 'kept'
/** Gossiped Dblocks held ahead of the next one while a gap is filled. */
const MAX_PENDING = 256

function keptName (height: number): string { return `${String(height).padStart(10, '0')}.dblock` }

export class DocchainFollower {
  readonly stats: DocchainFollowerStats = { delivered: 0, refused: 0, gaps: 0, catchUps: 0 }
  private readonly o: DocchainFollowerOptions
  private readonly peers: Multiaddr[]
  private pos: Position
  private reg: DoctorRegistry
  private readonly pending = new Map<number, Dblock>()
  private gossip: Gossip | null = null
  private working: Promise<void> | null = null
  private wanted = false
  private catchUpDue = false
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  private next = 0

  private constructor (o: DocchainFollowerOptions, pos: Position, reg: DoctorRegistry) {
    this.o = o
    this.peers = o.peers.map((a) => multiaddr(a))
    this.pos = pos
    this.reg = reg
  }

  /** Reads the position left by an earlier run (or starts at genesis); nothing on the network yet. */
  static async open (o: DocchainFollowerOptions): Promise<DocchainFollower> {
    await mkdir(join(o.dir, KEPT_DIR), { recursive: true })
    const reg = o.registry.clone()
    let pos: Position = { height: 0, hash: dblockHash(docchainGenesis(o.genesisTime).header), records: [] }
    const text = await readFile(join(o.dir, POSITION_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err })
    if (text !== null) {
      const j = JSON.parse(text) as { height: number, hash: string, records: string[] }
      pos = { height: j.height, hash: fromHex('hash', j.hash), records: j.records }
      for (const r of j.records) reg.applyTx(decodeTx(fromHex('records', r)) as DocTx)
    }
    return new DocchainFollower(o, pos, reg)
  }

  /** Height of the last Dblock handed on. */
  get height (): number { return this.pos.height }
  /** Hash of that Dblock's header. */
  get hash (): Uint8Array { return this.pos.hash }
  /** The doctor registry as of `height` (read only: the directory of doctors a user may grant). */
  get registry (): DoctorRegistry { return this.reg }

  /** Subscribes to the `dblock` topic and catches up from the members. */
  start (): void {
    if (this.gossip !== null || this.stopped) return
    const verify = dblockHandler(() => this.o.members, (block) => this.onGossip(block))
    this.gossip = new Gossip(this.o.net, {
      dblock: async (data, peer) => {
        // each member publishes its own copy of a Dblock: one already held is dropped before its signatures are checked
        if (this.held(data)) return { accepted: true, duplicate: true }
        const v = await verify(data, peer)
        if (!v.accepted) { this.stats.refused++; this.o.log?.(`docchain: refused a Dblock from ${peer.slice(0, 12)}…: ${v.reason}`) }
        return v
      }
    })
    this.gossip.start()
    this.requestCatchUp()
    const poll = this.o.pollMs ?? 30_000
    if (poll > 0) this.timer = setInterval(() => { this.requestCatchUp() }, poll).unref()
  }

  /** Catches up now; resolves once the work queued so far is done (the height reached). */
  async catchUp (): Promise<number> {
    this.requestCatchUp()
    while (this.working !== null) await this.working
    return this.pos.height
  }

  /**
   * The Dblocks `onDblock` asked to keep, in height order. Each is verified
   * again (the file may have been altered); one that does not verify is
   * left out, counted in `refused` and logged.
   */
  async kept (): Promise<Dblock[]> {
    const names = (await readdir(join(this.o.dir, KEPT_DIR))).filter((n) => n.endsWith('.dblock')).sort()
    const out: Dblock[] = []
    for (const n of names) {
      try {
        const b = decodeDblock(await readFile(join(this.o.dir, KEPT_DIR, n)))
        checkDblockStructure(b)
        verifyCertificate(b, this.o.members)
        if (b.header.index <= this.pos.height) out.push(b)
      } catch (err) {
        if (!(err instanceof HealthchainError)) throw err
        this.stats.refused++
        this.o.log?.(`docchain: kept ${n} left out: ${err.message}`)
      }
    }
    return out
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    this.gossip?.stop()
    this.gossip = null
    while (this.working !== null) await this.working
  }

  /** Whether `data` decodes as a Dblock this reader already has or holds pending (undecodable data is left to the handler). */
  private held (data: Uint8Array): boolean {
    try {
      const i = decodeDblock(data).header.index
      return i <= this.pos.height || this.pending.has(i)
    } catch { return false }
  }

  /** A gossiped Dblock whose certificate verified: the next one is applied, one further on marks a gap. */
  private onGossip (block: Dblock): { accepted: true, duplicate?: boolean } {
    const i = block.header.index
    if (i <= this.pos.height || this.pending.has(i)) return { accepted: true, duplicate: true }
    if (this.pending.size < MAX_PENDING) this.pending.set(i, block)
    if (i > this.pos.height + 1) { this.stats.gaps++; this.catchUpDue = true }
    this.kick()
    return { accepted: true }
  }

  private requestCatchUp (): void { this.catchUpDue = true; this.kick() }

  /** One worker applies Dblocks, so they are handed on in order, one at a time. */
  private kick (): void {
    this.wanted = true
    if (this.working !== null || this.stopped) return
    this.working = (async () => {
      while (this.wanted && !this.stopped) {
        this.wanted = false
        await this.drain()
        if (this.catchUpDue) {
          this.catchUpDue = false
          await this.fetchFromPeers()
          await this.drain()
        }
      }
    })().catch((err: Error) => {
      // the reader's own failure (its callback, its disk): the same Dblocks are asked for again later
      this.o.log?.(`docchain: ${err.message}`)
      if (!this.stopped) setTimeout(() => { this.requestCatchUp() }, this.o.retryMs ?? 5_000).unref()
    }).finally(() => { this.working = null })
  }

  /** Applies the gossiped Dblocks that extend the chain; one still ahead means a gap to fill. */
  private async drain (): Promise<void> {
    let applied = false
    for (;;) {
      for (const k of this.pending.keys()) if (k <= this.pos.height) this.pending.delete(k)
      const b = this.pending.get(this.pos.height + 1)
      if (b === undefined) break
      this.pending.delete(b.header.index)
      try { await this.apply(b); applied = true } catch (err) { this.refuse(b, err) }
    }
    if (applied) await this.savePosition()
    if (this.pending.size > 0) this.catchUpDue = true
  }

  /** Asks the peers in turn (starting after the last one asked) until one brings this reader to its height. */
  private async fetchFromPeers (): Promise<void> {
    if (this.peers.length === 0) return
    for (let tries = 0; tries < this.peers.length && !this.stopped; tries++) {
      const peer = this.peers[this.next++ % this.peers.length]!
      try {
        if (await this.fetchFrom(peer)) return
      } catch (err) {
        if (err instanceof DeliveryError) throw err
        this.o.log?.(`docchain: catch-up from ${peer.toString()} failed: ${(err as Error).message}`)
      }
    }
    if (!this.stopped) setTimeout(() => { this.requestCatchUp() }, this.o.retryMs ?? 5_000).unref()
  }

  /** Fetches from one peer until its height; false if it sent a Dblock that did not verify. */
  private async fetchFrom (peer: Multiaddr): Promise<boolean> {
    for (;;) {
      const ans = await requestDocchain(this.o.net.libp2p, peer, this.o.net.network, this.pos.height + 1, MAX_DBLOCKS_PER_REQUEST, this.o.request)
      this.stats.catchUps++
      for (const { block } of ans.blocks) {
        try {
          checkDblockStructure(block)
          await this.apply(block)
        } catch (err) {
          this.refuse(block, err)
          const id = peer.getComponents().find((c) => c.name === 'p2p')?.value
          if (id !== undefined) this.o.net.peers.penalise(id, 25, `docchain/1 answered an invalid Dblock: ${(err as Error).message}`)
          await this.savePosition()
          return false
        }
      }
      if (ans.blocks.length > 0) await this.savePosition()
      if (ans.blocks.length === 0 || this.pos.height >= ans.height || this.stopped) return true
    }
  }

  private refuse (b: Dblock, err: unknown): void {
    if (!(err instanceof HealthchainError)) throw err
    this.stats.refused++
    this.o.log?.(`docchain: Dblock ${b.header.index} refused: ${err.message}`)
  }

  /** Verifies `b` as the next Dblock, hands it on, folds its registry records (throws, changing nothing, when it does not verify). */
  private async apply (b: Dblock): Promise<void> {
    if (b.header.index !== this.pos.height + 1) throw new InvalidFieldError('index', `expected Dblock ${this.pos.height + 1}, got ${b.header.index}`)
    if (!equalBytes(b.header.prehash, this.pos.hash)) throw new InvalidFieldError('prehash', `Dblock ${b.header.index} does not extend Dblock ${this.pos.height}`)
    verifyCertificate(b, this.o.members)
    // every tx_diag by a doctor active after the records ordered before it (as the accounting nodes checked it)
    let view = this.reg
    for (const t of b.txs) {
      if (t.tx.kind === 'diag') { const bad = checkDoctor(t.tx, view); if (bad !== null) throw bad } else if (changesRegistry(t.tx.kind)) view = view.after([t.tx as DocTx])
    }
    let keep: boolean
    try { keep = await this.o.onDblock(b) } catch (err) { throw new DeliveryError(b.header.index, err as Error) }
    if (keep) await writeFileAtomic(join(this.o.dir, KEPT_DIR, keptName(b.header.index)), encodeDblock(b), 0o644)
    const applied = this.reg.applyDblock(b)
    this.pos = { height: b.header.index, hash: dblockHash(b.header), records: [...this.pos.records, ...applied.map((r) => toHex(encodeTx(r)))] }
    this.stats.delivered++
  }

  private async savePosition (): Promise<void> {
    const p = this.pos
    await writeFileAtomic(join(this.o.dir, POSITION_FILE), JSON.stringify({ height: p.height, hash: toHex(p.hash), records: p.records }), 0o644)
  }
}
