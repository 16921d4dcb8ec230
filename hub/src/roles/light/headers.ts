/**
 * The header chain of a light user node (paper §III-A: lightweight user
 * nodes "only store the block headers of Userchain"). Every header is
 * checked as a core node checks it — linkage, index, the required target
 * (core nextBits at retarget boundaries), proof of work, gtime above the
 * median time past and not too far ahead (core checkUblockHeader) — and the
 * best chain is the one with the most cumulative work (first seen wins a
 * tie), as on core nodes. Pure: the clock is passed in.
 */
import {
  blockWork, checkUblockHeader, decodeUblockHeader, encodeUblockHeader, genesisUblock, bitsAfter, toHex, ublockHash, UBLOCK_HEADER_BYTES,
  type NetworkParams, type UblockHeader
} from '../../core/index.ts'
import { OrphanBlockError } from '../../store/errors.ts'

export interface HeaderEntry {
  readonly hash: Uint8Array
  readonly hex: string
  readonly header: UblockHeader
  readonly height: number
  readonly work: bigint
}

export class HeaderChain {
  readonly params: NetworkParams
  private readonly now: () => number
  private readonly entries = new Map<string, HeaderEntry>()
  private main: string[] = []

  constructor (params: NetworkParams, now: () => number = () => Math.floor(Date.now() / 1000)) {
    this.params = params
    this.now = now
    const g = genesisUblock(params).header
    const hash = ublockHash(g)
    const e = { hash, hex: toHex(hash), header: g, height: 0, work: blockWork(g.bits) }
    this.entries.set(e.hex, e)
    this.main = [e.hex]
  }

  get tip (): HeaderEntry { return this.entries.get(this.main[this.main.length - 1]!)! }
  get height (): number { return this.main.length - 1 }
  get size (): number { return this.entries.size }
  entry (hash: Uint8Array | string): HeaderEntry | undefined { return this.entries.get(typeof hash === 'string' ? hash : toHex(hash)) }
  hashAt (height: number): Uint8Array | undefined { const h = this.main[height]; return h === undefined ? undefined : this.entries.get(h)!.hash }
  isOnMainChain (hash: Uint8Array | string): boolean { const e = this.entry(hash); return e !== undefined && this.main[e.height] === e.hex }

  private parentOf (e: HeaderEntry): HeaderEntry | undefined { return e.height === 0 ? undefined : this.entries.get(toHex(e.header.prehash)) }

  private ancestor (e: HeaderEntry, height: number): HeaderEntry {
    let cur = e
    while (cur.height > height) cur = this.parentOf(cur)!
    return cur
  }

  /** Bits the header after `parent` must carry (as the core node's store). */
  nextBitsAfter (parent: HeaderEntry): number {
    return bitsAfter(this.params, { height: parent.height, bits: parent.header.bits, gtime: parent.header.gtime }, (h) => this.ancestor(parent, h).header.gtime)
  }

  /** gtimes of `e` and its ancestors, up to the MTP window, oldest first. */
  recentTimes (e: HeaderEntry): number[] {
    const out: number[] = []
    let cur: HeaderEntry | undefined = e
    while (cur !== undefined && out.length < this.params.mtpWindow) { out.push(cur.header.gtime); cur = this.parentOf(cur) }
    return out.reverse()
  }

  /**
   * Checks and stores one header. Returns false if already known; throws
   * OrphanBlockError when the parent is unknown, or the core's typed error
   * (InsufficientWorkError, TimestampError, InvalidFieldError) when invalid.
   */
  add (header: UblockHeader): boolean {
    const hash = ublockHash(header)
    const hex = toHex(hash)
    if (this.entries.has(hex)) return false
    const parent = this.entries.get(toHex(header.prehash))
    if (parent === undefined) throw new OrphanBlockError(toHex(header.prehash))
    checkUblockHeader(this.params, header, {
      prevHash: parent.hash, prevIndex: parent.height, expectedBits: this.nextBitsAfter(parent), prevTimes: this.recentTimes(parent), now: this.now()
    })
    const e: HeaderEntry = { hash, hex, header, height: header.index, work: parent.work + blockWork(header.bits) }
    this.entries.set(hex, e)
    if (e.work > this.tip.work) {
      // New best: rewrite the main chain from the fork point.
      const path: HeaderEntry[] = []
      let cur: HeaderEntry | undefined = e
      while (cur !== undefined && this.main[cur.height] !== cur.hex) { path.push(cur); cur = this.parentOf(cur) }
      this.main.length = path[path.length - 1]!.height
      for (let i = path.length - 1; i >= 0; i--) this.main.push(path[i]!.hex)
    }
    return true
  }

  /** The best chain's headers after genesis, concatenated (89 bytes each): what a light node keeps on disk. */
  serialize (): Uint8Array {
    const out = new Uint8Array(this.height * UBLOCK_HEADER_BYTES)
    for (let h = 1; h <= this.height; h++) out.set(encodeUblockHeader(this.entries.get(this.main[h]!)!.header), (h - 1) * UBLOCK_HEADER_BYTES)
    return out
  }

  /** Re-adds saved headers, each checked again. */
  static restore (params: NetworkParams, bytes: Uint8Array, now?: () => number): HeaderChain {
    const c = new HeaderChain(params, now)
    for (let o = 0; o + UBLOCK_HEADER_BYTES <= bytes.length; o += UBLOCK_HEADER_BYTES) c.add(decodeUblockHeader(bytes.subarray(o, o + UBLOCK_HEADER_BYTES)))
    return c
  }
}
