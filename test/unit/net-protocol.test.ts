/**
 * Wire codecs, gossip verdicts, rate limits, peer scores and the
 * request/response helper over real libp2p on loopback (issue #6;
 * DESIGN §6): strict decoders, accept/ignore/reject mapping, per-peer rate
 * limits and timeouts, persistent peer id.
 */
import t from 'tap'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { bodyTx, buildTxIoT, genesisUblock, merkleProofs, sha256, ublockTemplate, utf8Bytes } from '../../hub/src/core/index.ts'
import { classify } from '../../hub/src/net/gossip.ts'
import { createNetNode, loadOrCreatePeerKey } from '../../hub/src/net/node.ts'
import { PeerBook } from '../../hub/src/net/peers.ts'
import {
  decodeHashes, decodeHeaders, decodeHeadersRequest, decodeProvenTx, decodeVerdict, encodeHashes, encodeHeaders, encodeHeadersRequest, encodeProvenTx, encodeVerdict,
  MAX_LOCATOR, MAX_VERDICT_REASON
} from '../../hub/src/net/protocols.ts'
import { RateLimiter, request, serve, STATUS } from '../../hub/src/net/reqresp.ts'
import { RateLimitedError, RemoteError, RequestTimeoutError } from '../../hub/src/net/errors.ts'
import { who } from '../helpers/core.ts'
import { TESTNET } from '../helpers/userchain.ts'

const alice = who('alice')
const G = genesisUblock(TESTNET).header

t.test('codecs round-trip and refuse trailing bytes and oversize counts', async (t) => {
  const loc = [sha256(utf8Bytes('a')), sha256(utf8Bytes('b'))]
  t.same(decodeHeadersRequest(encodeHeadersRequest(loc, 500)), { locator: loc, max: 500 })
  t.throws(() => decodeHeadersRequest(Uint8Array.of(...encodeHeadersRequest(loc, 5), 0)), { code: 'ERR_TRAILING_BYTES' })
  t.throws(() => encodeHeadersRequest(Array(MAX_LOCATOR + 1).fill(loc[0]), 5), { code: 'ERR_LIMIT' })
  t.throws(() => decodeHeadersRequest(Uint8Array.of(MAX_LOCATOR + 1)), { code: 'ERR_LIMIT' }, 'a count over the limit is refused before reading')
  const tip = { height: 1, hash: loc[0]! }
  t.same(decodeHeaders(encodeHeaders(tip, [G, G])), { tip, headers: [G, G] })
  t.same(decodeHashes(encodeHashes(loc, 16), 16), loc)
  t.throws(() => decodeHashes(encodeHashes(loc, 16), 1), { code: 'ERR_LIMIT' })

  const txs = [0, 1, 2].map((i) => buildTxIoT(alice, { ts: 1000, heiot: sha256(utf8Bytes(`x${i}`)), epoch: 1 }))
  const block = ublockTemplate({ prev: G, prevHash: sha256(utf8Bytes('g')), gtime: 5, bits: TESTNET.powLimitBits, miner: alice.id, reward: 1, txs })
  const proofs = merkleProofs(block.txs.map((x) => x.id))
  const p = { tx: block.txs[2]!, header: block.header, pos: 2, size: 4, proof: proofs[2]! }
  const back = decodeProvenTx(encodeProvenTx(p))
  t.same(back.tx.id, p.tx.id)
  t.same(back.proof, p.proof)
  t.same(back.header, p.header)
  const broken = encodeProvenTx(p)
  broken[broken.length - 3]! ^= 1
  t.not(decodeProvenTx(broken).tx.id.toString(), p.tx.id.toString(), 'the tx id is computed from the bytes, never sent')
  t.same(bodyTx(txs[0]!).id, block.txs[1]!.id)

  // submit/1 verdicts: a refusal carries its code and reason, a long reason is cut, anything else is refused
  t.same(decodeVerdict(encodeVerdict({ accepted: true, duplicate: true })), { accepted: true })
  t.same(decodeVerdict(encodeVerdict({ accepted: false, code: 'ERR_FUNDS', reason: 'spends 5, the account holds 0 — é' })), { accepted: false, code: 'ERR_FUNDS', reason: 'spends 5, the account holds 0 — é' })
  const long = decodeVerdict(encodeVerdict({ accepted: false, code: 'ERR_X', reason: 'y'.repeat(5000) }))
  t.equal(long.accepted ? 0 : long.reason.length, MAX_VERDICT_REASON, 'a long reason is cut to its limit')
  t.throws(() => decodeVerdict(Uint8Array.of(2)), { code: 'ERR_NET_BAD_RESPONSE' }, 'neither accepted nor refused')
  t.throws(() => decodeVerdict(Uint8Array.of(1, 0)), { code: 'ERR_TRAILING_BYTES' })
  t.throws(() => decodeVerdict(Uint8Array.of(0, 200, 200, 3)), { code: 'ERR_LIMIT' }, 'a reason over its limit is refused before reading')
})

t.test('verdicts: invalid data is rejected, the rest ignored or accepted', async (t) => {
  t.equal(classify('tx', { accepted: true }), TopicValidatorResult.Accept)
  t.equal(classify('ublock', { accepted: true, duplicate: true }), TopicValidatorResult.Ignore)
  for (const code of ['ERR_BAD_SIGNATURE', 'ERR_TRUNCATED', 'ERR_NON_CANONICAL', 'ERR_WRONG_KIND']) t.equal(classify('tx', { accepted: false, code, reason: '' }), TopicValidatorResult.Reject, code)
  for (const code of ['ERR_DUPLICATE_TX', 'ERR_NONCE', 'ERR_FUNDS', 'ERR_MEMPOOL_FULL', 'ERR_TX_TIME', 'ERR_UNKNOWN_EPOCH']) t.equal(classify('tx', { accepted: false, code, reason: '' }), TopicValidatorResult.Ignore, `tx ${code}: may be valid elsewhere or later`)
  for (const code of ['ERR_POW', 'ERR_MERKLE_ROOT', 'ERR_INVALID_BLOCK', 'ERR_KNOWN_INVALID', 'ERR_DUPLICATE_TX', 'ERR_TX_TIME']) t.equal(classify('ublock', { accepted: false, code, reason: '' }), TopicValidatorResult.Reject, `block ${code}`)
  for (const code of ['ERR_ORPHAN', 'ERR_TIMESTAMP']) t.equal(classify('ublock', { accepted: false, code, reason: '' }), TopicValidatorResult.Ignore, `block ${code}`)
})

t.test('rate limiter and peer book', async (t) => {
  let now = 0
  const rl = new RateLimiter({ perSecond: 2, burst: 3 }, () => now)
  t.same([rl.take('p'), rl.take('p'), rl.take('p'), rl.take('p')], [true, true, true, false], 'burst of 3')
  t.ok(rl.take('q'), 'per peer')
  now = 500
  t.ok(rl.take('p'), 'one token back after 0.5 s at 2/s')
  t.notOk(rl.take('p'))

  const book = new PeerBook({ banScore: -50, banMs: 1000, now: () => now })
  const banned: string[] = []
  book.onBan = (p) => { banned.push(p) }
  t.notOk(book.penalise('x', 30, 'bad block'))
  t.ok(book.penalise('x', 30, 'bad tx'), 'the crossing penalty bans')
  t.same(banned, ['x'])
  t.ok(book.refuses('x'))
  t.same(book.penalties('x').map((p) => p.reason), ['bad block', 'bad tx'])
  now += 1001
  t.notOk(book.refuses('x'), 'bans expire')
  t.equal(book.score('x'), 0, 'and the score restarts')
  book.block('y')
  t.ok(book.refuses('y'))
  book.unblock('y')
  t.notOk(book.refuses('y'))
})

t.test('peer id persists in the data dir (mode 0600)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-net-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const k1 = await loadOrCreatePeerKey(dir)
  const k2 = await loadOrCreatePeerKey(dir)
  t.same(k1.publicKey.raw, k2.publicKey.raw)
  t.equal((await stat(join(dir, 'libp2p.seed'))).mode & 0o777, 0o600)
  const n1 = await createNetNode({ network: 'devnet', dataDir: dir })
  const id = n1.peerId.toString()
  await n1.stop()
  const n2 = await createNetNode({ network: 'devnet', dataDir: dir })
  t.teardown(async () => { await n2.stop() })
  t.equal(n2.peerId.toString(), id, 'same peer id after a restart')
})

t.test('request/response: answers, remote errors, rate limits, timeouts', async (t) => {
  const server = await createNetNode({ network: 'devnet' })
  const client = await createNetNode({ network: 'devnet' })
  t.teardown(async () => { await client.stop(); await server.stop() })
  const spec = { id: '/healthchain/test/echo/1', maxRequestBytes: 64, maxFrameBytes: 64, maxFrames: 4 }
  const abuse: string[] = []
  await serve(server.libp2p, spec, async (req) => {
    if (req[0] === 0) return { status: STATUS.NOT_FOUND, reason: 'nothing here' }
    if (req[0] === 1) await new Promise((resolve) => setTimeout(resolve, 5000))
    return { frames: [req, req] }
  }, { rate: { perSecond: 0.001, burst: 4 }, timeoutMs: 8000, onAbuse: (p, n, r) => { abuse.push(r) } })
  const to = server.addrs()[0]!
  t.same(await request(client.libp2p, to, spec, Uint8Array.of(7, 8)), [Uint8Array.of(7, 8), Uint8Array.of(7, 8)])
  await t.rejects(request(client.libp2p, to, spec, Uint8Array.of(0)), RemoteError)
  await t.rejects(request(client.libp2p, to, spec, Uint8Array.of(1), { timeoutMs: 300 }), RequestTimeoutError)
  const big = await request(client.libp2p, to, spec, new Uint8Array(65)).then(() => null, (e: unknown) => e)
  t.ok(big instanceof RemoteError && big.status === 'TOO_LARGE', 'an oversize request is refused')
  await t.rejects(request(client.libp2p, to, spec, Uint8Array.of(7)), RateLimitedError, 'the fifth request in the burst window is refused')
  t.ok(abuse.some((r) => /rate/.test(r)) && abuse.some((r) => /oversize/.test(r)), `abuse reported: ${abuse.join('; ')}`)
})

t.test('bootstrap peers are redialled while away, unless blocked', async (t) => {
  const a = await createNetNode({ network: 'devnet' })
  const b = await createNetNode({ network: 'devnet', bootstrap: [a.addrs()[0]!.toString()], redialMs: 100 })
  t.teardown(async () => { await b.stop(); await a.stop() })
  const linked = (): boolean => b.libp2p.getConnections().some((c) => c.remotePeer.equals(a.peerId) && c.status === 'open')
  const wait = async (cond: () => boolean): Promise<void> => { for (let i = 0; i < 200 && !cond(); i++) await new Promise((resolve) => setTimeout(resolve, 50)) }
  await wait(linked)
  t.ok(linked(), 'dialled at start')
  await Promise.all(a.libp2p.getConnections().map(async (c) => { await c.close() }))
  await wait(() => !linked())
  await wait(linked)
  t.ok(linked(), 'redialled after the peer hung up')
  await b.block(a.peerId)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.notOk(linked(), 'a blocked bootstrap peer is not redialled')
})
