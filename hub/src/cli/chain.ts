/**
 * CLI of the core user node (paper §III-A core user node, §IV-B3 Alg. 1):
 *   healthchain node                 run a core node on the data dir (optionally mining)
 *   healthchain chain info|block|tx|balance   inspect the local Userchain
 *   healthchain chain reindex        rebuild indexes and balances from the stored blocks
 *   healthchain mine --threads N     mine blocks on the local chain, then exit
 * The chain lives in <data-dir>/userchain/<network>. One process at a time
 * may open it (LevelDB lock): while a hub runs on the data dir, `chain
 * info|block|tx|balance` ask it through its control API (app/hub-service.ts
 * chainService, the same call as on a stopped data dir); `reindex` and
 * `mine` need it stopped.
 */
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { performance } from 'node:perf_hooks'
import { fromHex, InvalidFieldError, NETWORKS, type NetworkParams, type Tx } from '../core/index.ts'
import { ChainStore, keys } from '../store/chain.ts'
import { CoreNode } from '../roles/core/node.ts'
import { Miner } from '../roles/core/miner.ts'
import type { CoreNet } from '../net/service.ts'
import type { SyncProgress } from '../net/sync.ts'
import { keystoreId } from '../store/keystore.ts'
import { chainService, plain as plainValue, type ChainInfo, type ChainService } from '../app/hub-service.ts'
import type { ApiClient } from '../api/client.ts'
import { viaDaemon } from './_daemon.ts'
import { LightLedger } from '../roles/light/light-chain.ts'
import { lightChainService } from '../app/light-hub.ts'
import { dataDir, keystorePath } from './_common.ts'

interface CommonOpts { dataDir?: string, network?: string, json?: boolean }

export function network (name = 'devnet'): NetworkParams {
  const p = NETWORKS[name as keyof typeof NETWORKS]
  if (p === undefined) throw new InvalidFieldError('--network', `unknown network "${name}" (have: ${Object.keys(NETWORKS).join(', ')})`)
  return p
}

export function chainDir (opts: CommonOpts): string {
  return join(dataDir(opts.dataDir), 'userchain', network(opts.network).name)
}

export function withCommon (c: Command): Command {
  return c.option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)')
    .option('--network <name>', 'devnet or mainnet', 'devnet')
    .option('--json', 'machine-readable output')
}

/** A one-line progress bar on stderr (only on a terminal). */
function progress (label: string): (done: number, total: number) => void {
  return (done, total) => {
    if (process.stderr.isTTY !== true || total < 1000) return
    const w = 30
    const f = Math.round((done / total) * w)
    process.stderr.write(`\r${label} [${'#'.repeat(f)}${'.'.repeat(w - f)}] ${done}/${total}${done >= total ? '\n' : ''}`)
  }
}

async function openStore (opts: CommonOpts): Promise<ChainStore> {
  return await ChainStore.open(chainDir(opts), network(opts.network), { onProgress: progress('loading block index') })
}

/** Uint8Array → hex, bigint → string, recursively (for --json and display). */
export const plain = plainValue

function print (opts: CommonOpts, value: unknown, text: () => string): void {
  process.stdout.write(opts.json === true ? JSON.stringify(plain(value), null, 2) + '\n' : text() + '\n')
}

function hexArg (field: string, s: string, len: number): Uint8Array {
  const b = fromHex(field, s.trim())
  if (b.length !== len) throw new InvalidFieldError(field, `must be ${len} bytes (${len * 2} hex digits)`)
  return b
}

async function minerId (opts: { miner?: string, keystore?: string, dataDir?: string }): Promise<Uint8Array> {
  if (opts.miner !== undefined) return hexArg('--miner', opts.miner, 32)
  const file = keystorePath(opts)
  if (!existsSync(file)) throw new InvalidFieldError('--miner', `no miner ID: pass --miner <id hex> or create a keystore with \`healthchain keys new\` (looked for ${file})`)
  return await keystoreId(file)
}

/** A transaction as the service answers it (bytes as hex, see plain()). */
type TxPlain = { kind: Tx['kind'] } & Record<string, unknown>
interface BlockView { hash: string, mainChain: boolean, status: string, reason?: string, header: Record<string, string | number>, txs: Array<TxPlain & { id: string }> }
interface TxView { id: string, block: string, height: number, pos: number, confirmations: number, tx: TxPlain }

function txSummary (tx: TxPlain): string {
  const f = (k: string): string => String(tx[k])
  switch (tx.kind) {
    case 'iot': return `tx_IoT user ${f('user')} ts ${f('ts')} epoch ${f('epoch')} HEIoT ${f('heiot')}`
    case 'key': return `tx_key user ${f('user')} ts ${f('ts')} epoch ${f('epoch')}${tx.ikFrom === tx.epoch ? '' : ` (Ik since epoch ${f('ikFrom')})`} doctors ${(tx.envelopes as unknown[]).length}${tx.escrow == null ? '' : ' (emergency escrow)'}`
    case 'coin': return `coin ${f('from')} → ${f('to')} amount ${f('amount')} fee ${f('fee')} nonce ${f('nonce')}`
    case 'coinbase': return `coinbase height ${f('height')} → ${f('to')} amount ${f('amount')}`
    case 'diag': return `tx_diag doctor ${f('doctor')}`
    case 'reg': return `registry ${f('action')} seq ${f('seq')} (${(tx.sigs as unknown[]).length} consortium signatures)`
    case 'emergency': return `emergency request doctor ${f('doctor')} patient ${f('patient')} epochs ${(tx.epochs as unknown[]).join(',')}`
    case 'release': return `emergency release member ${f('member')} request ${f('request')}`
    case 'withdrawal': return `withdrawal of consent patient ${f('patient')}`
  }
}

/** Transactions a stopped node saved from its mempool. */
async function storedMempool (s: ChainStore): Promise<number> {
  let n = 0
  for await (const _ of s.db.keys({ gt: Uint8Array.of(keys.P.mempool), lt: Uint8Array.of(keys.P.mempool + 1) })) n++
  return n
}

export function register (program: Command): void {
  const chain = program.command('chain').description('inspect the local Userchain (through the running hub, or on the data dir when it is stopped)')

  /** A query through the running hub's API, else the same service call on the stopped data dir's chain store. */
  const query = async <T>(opts: CommonOpts, api: (c: ApiClient) => Promise<T>, direct: (s: ChainService) => Promise<T>): Promise<T> =>
    await viaDaemon(opts.dataDir, api, async () => {
      // a light hub's data dir: its headers and proven transactions (app/light-hub.ts), when it keeps no Userchain store
      const lightDir = join(dataDir(opts.dataDir), 'light')
      if (!existsSync(chainDir(opts)) && existsSync(lightDir)) {
        const ledger = await LightLedger.load(lightDir, network(opts.network), await keystoreId(keystorePath(opts)))
        if (ledger !== null) return await direct(lightChainService(ledger))
      }
      const s = await openStore(opts)
      try { return await direct(chainService(s, () => storedMempool(s))) } finally { await s.close() }
    })

  withCommon(chain.command('info'))
    .description('tip, height, cumulative work, stored blocks; --check audits every index')
    .option('--check', 'verify that every index points to a stored best-chain block')
    .action(async (opts: CommonOpts & { check?: boolean }) => {
      const check = opts.check === true
      const info = await query(opts, async (c) => await c.call<ChainInfo>('GET', `/v1/chain/info${check ? '?check=true' : ''}`), async (s) => await s.info({ check }))
      print(opts, info, () => [
        `network   ${info.network}`, `height    ${info.height}`, `tip       ${info.tip}`,
        `gtime     ${new Date(info.gtime * 1000).toISOString()}`, `bits      ${info.bits} (next ${info.nextBits})`,
        `work      ${info.work}`, `blocks    ${info.blocks} stored (side branches included)`, `mempool   ${info.mempool} pending tx(s)`,
        ...(info.problems !== undefined ? [info.problems.length === 0 ? 'check     ok: every index consistent' : `check     ${info.problems.length} problem(s):\n  ${info.problems.join('\n  ')}`] : [])
      ].join('\n'))
      if (info.problems !== undefined && info.problems.length > 0) process.exitCode = 1
    })

  withCommon(chain.command('reindex'))
    .description('rebuild every index and balance from the stored blocks (with a progress bar)')
    .action(async (opts: CommonOpts) => {
      const s = await openStore(opts)
      try {
        await s.reindex(progress('reindexing'))
        const problems = await s.audit()
        print(opts, { height: s.height, tip: s.tip.hex, problems }, () => `reindexed to height ${s.height}, tip ${s.tip.hex}; ${problems.length === 0 ? 'every index consistent' : problems.join('; ')}`)
        if (problems.length > 0) process.exitCode = 1
      } finally { await s.close() }
    })

  withCommon(chain.command('block'))
    .description('show a Ublock by hash or best-chain height')
    .argument('<hash|height>', 'block hash (64 hex digits) or height')
    .action(async (ref: string, opts: CommonOpts) => {
      const v = await query(opts, async (c) => await c.call<BlockView>('GET', `/v1/chain/blocks/${encodeURIComponent(ref.trim())}`), async (s) => await s.block(ref) as unknown as BlockView)
      print(opts, v, () => [
        `block     ${v.hash} (${v.mainChain ? 'best chain' : 'side branch'}${v.status === 'invalid' ? `, INVALID: ${v.reason}` : ''})`,
        `index     ${v.header.index}`, `prehash   ${v.header.prehash}`, `userroot  ${v.header.userroot}`,
        `gtime     ${v.header.gtime}  bits 0x${Number(v.header.bits).toString(16)}  nonce ${v.header.nonce}`,
        `txs       ${v.txs.length}`, ...v.txs.map((t, i) => `  [${i}] ${t.id}  ${txSummary(t)}`)
      ].join('\n'))
    })

  withCommon(chain.command('tx'))
    .description('show a confirmed transaction (htxI / htxk / transfer id) and where it is')
    .argument('<id>', 'transaction id, 64 hex digits')
    .action(async (id: string, opts: CommonOpts) => {
      const v = await query(opts, async (c) => await c.call<TxView>('GET', `/v1/chain/txs/${encodeURIComponent(id.trim())}`), async (s) => await s.tx(id) as unknown as TxView)
      print(opts, v, () => `${txSummary(v.tx)}\nblock ${v.block} height ${v.height} position ${v.pos} (${v.confirmations} confirmations)`)
    })

  withCommon(chain.command('balance'))
    .description('Healthcoin balance and transfer nonce of an ID, with its key epoch')
    .argument('<id>', 'user ID (Ed25519 public key, 64 hex digits)')
    .action(async (id: string, opts: CommonOpts) => {
      const v = await query(opts, async (c) => await c.call<Awaited<ReturnType<ChainService['balance']>>>('GET', `/v1/chain/balances/${encodeURIComponent(id.trim())}`), async (s) => await s.balance(id))
      print(opts, v, () => `balance ${v.balance}\nnonce   ${v.nonce}\nepoch   ${v.keyEpoch}\ntxs     ${v.txs} on the best chain`)
    })

  withCommon(program.command('node'))
    .description('run a core user node on the data dir: full Userchain, mempool, optional PoW miner (Ctrl-C stops)')
    .option('--mine', 'mine on the tip')
    .option('--threads <n>', 'miner threads (default: all cores)', (v) => Number.parseInt(v, 10))
    .option('--miner <id>', 'ID the coinbase pays (default: the keystore ID)')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .option('--listen <multiaddr...>', 'libp2p listen addresses (default /ip4/127.0.0.1/tcp/0)')
    .option('--bootstrap <multiaddr...>', 'peers to dial, each with /p2p/<peer id>')
    .option('--offline', 'no peer-to-peer network')
    .action(async (opts: CommonOpts & { mine?: boolean, threads?: number, miner?: string, keystore?: string, listen?: string[], bootstrap?: string[], offline?: boolean }) => {
      const node = await CoreNode.open({ dir: chainDir(opts), params: network(opts.network), onProgress: progress('loading block index') })
      const log = (s: string): void => { process.stdout.write(`${new Date().toISOString()} ${s}\n`) }
      log(`core node ${node.params.name} at ${node.store.dir}: height ${node.store.height} tip ${node.store.tip.hex}, mempool ${node.mempool.size}`)
      node.on('tip', (e: { height: number, hex: string }) => { log(`tip ${e.height} ${e.hex}`) })
      node.on('drop', (d: { id: string, reason: string }) => { log(`mempool dropped ${d.id}: ${d.reason}`) })
      let net: CoreNet | null = null
      if (opts.offline !== true) {
        try {
          // libp2p is loaded only by the command that uses it (the others start faster)
          const [{ CoreNet }, { coreChain }] = await Promise.all([import('../net/service.ts'), import('../net/core-chain.ts')])
          net = await CoreNet.start({ chain: coreChain(node), params: node.params, dataDir: join(dataDir(opts.dataDir), 'net'), ...(opts.listen === undefined ? {} : { listen: opts.listen }), bootstrap: opts.bootstrap ?? [] })
        } catch (err) {
          await node.close()
          throw err
        }
        log(`libp2p peer ${net.net.libp2p.peerId.toString()} listening on ${net.net.libp2p.getMultiaddrs().map(String).join(' ')}`)
        net.sync.on('progress', (p: SyncProgress) => { log(`sync ${p.height}/${p.target} from ${p.peer}`) })
      }
      let miner: Miner | null = null
      if (opts.mine === true) {
        miner = new Miner(node, { miner: await minerId(opts), ...(opts.threads !== undefined ? { threads: opts.threads } : {}) })
        miner.on('error', (err: Error) => { log(`miner: ${err.message}`) })
        miner.start()
        log(`mining on ${miner.threads} thread(s)`)
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      log('stopping')
      await miner?.close()
      await net?.stop()
      await node.close()
    })

  withCommon(program.command('mine'))
    .description('mine blocks on the local Userchain with N worker threads, then exit')
    .option('--threads <n>', 'worker threads (default: all cores)', (v) => Number.parseInt(v, 10))
    .option('--blocks <n>', 'blocks to mine', (v) => Number.parseInt(v, 10), 1)
    .option('--miner <id>', 'ID the coinbase pays (default: the keystore ID)')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .action(async (opts: CommonOpts & { threads?: number, blocks: number, miner?: string, keystore?: string }) => {
      if (!Number.isInteger(opts.blocks) || opts.blocks < 1) throw new InvalidFieldError('--blocks', 'must be a positive integer')
      if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) throw new InvalidFieldError('--threads', 'must be a positive integer')
      const id = await minerId(opts)
      const node = await CoreNode.open({ dir: chainDir(opts), params: network(opts.network), onProgress: progress('loading block index') })
      const miner = new Miner(node, { miner: id, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) })
      const mined: unknown[] = []
      const t0 = performance.now()
      try {
        while (mined.length < opts.blocks) {
          const r = await miner.mineOnce()
          if (r === null) continue
          if (!r.accepted) throw new Error(`mined block rejected: ${r.reason}`)
          mined.push({ height: node.store.height, hash: r.hash, txs: r.connected.at(-1)?.txs.length ?? 0 })
          if (opts.json !== true) process.stdout.write(`block ${node.store.height} ${r.hash} (${r.connected.at(-1)?.txs.length ?? 0} txs)\n`)
        }
        const secs = (performance.now() - t0) / 1000
        const summary = { blocks: mined, threads: miner.threads, hashes: miner.hashes, seconds: secs, hashesPerSecond: miner.hashes / secs }
        if (opts.json === true) print(opts, summary, () => '')
        else process.stdout.write(`${mined.length} block(s) in ${secs.toFixed(2)} s on ${miner.threads} thread(s), ${(summary.hashesPerSecond / 1000).toFixed(1)} kH/s\n`)
      } finally {
        await miner.close()
        await node.close()
      }
    })
}
