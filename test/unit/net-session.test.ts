/**
 * net/session.ts: many exchanges on one libp2p stream between two real
 * libp2p nodes on loopback — answers in completion order matched by id,
 * remote errors, rate limit, timeouts (a late answer is dropped), size
 * limits on both sides, backpressure, and a broken stream failing what
 * waits on it while the next request opens a new one.
 */
import t, { type Test } from 'tap'
import { lpStream } from '@libp2p/utils'
import { LimitExceededError, Writer } from '../../hub/src/core/index.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { STATUS } from '../../hub/src/net/reqresp.ts'
import { serveSessions, Session } from '../../hub/src/net/session.ts'
import { RateLimitedError, RemoteError, RequestTimeoutError } from '../../hub/src/net/errors.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const spec = { id: '/healthchain/test/session/1', maxRequestBytes: 64, maxFrameBytes: 64, maxFrames: 4 }

async function pair (t: Test): Promise<{ server: Awaited<ReturnType<typeof createNetNode>>, client: Awaited<ReturnType<typeof createNetNode>> }> {
  const server = await createNetNode({ network: 'devnet' })
  const client = await createNetNode({ network: 'devnet' })
  t.teardown(async () => { await client.stop(); await server.stop() })
  return { server, client }
}

/** Request byte 0 = what to do: 0 not found, 1..9 answer after that many × 50 ms, else echo twice. */
async function handler (req: Uint8Array): Promise<{ frames: Uint8Array[] } | { status: 4, reason: string }> {
  if (req[0] === 0) return { status: STATUS.NOT_FOUND, reason: 'nothing here' }
  if (req[0]! < 10) await sleep(req[0]! * 50)
  return { frames: [req, req] }
}

t.test('answers come back by id as they settle, all on one stream', async (t) => {
  const { server, client } = await pair(t)
  await serveSessions(server.libp2p, spec, handler)
  const s = new Session(client.libp2p, server.addrs()[0]!, spec)
  const order: number[] = []
  const slow = s.request(Uint8Array.of(6, 1)).then((f) => { order.push(1); return f })
  const fast = s.request(Uint8Array.of(42, 2)).then((f) => { order.push(2); return f })
  t.same(await Promise.all([slow, fast]), [[Uint8Array.of(6, 1), Uint8Array.of(6, 1)], [Uint8Array.of(42, 2), Uint8Array.of(42, 2)]])
  t.same(order, [2, 1], 'the fast exchange was answered first')
  for (let i = 0; i < 20; i++) await s.request(Uint8Array.of(42, i))
  const streams = client.libp2p.getConnections().flatMap((c) => c.streams).filter((x) => x.protocol === spec.id)
  t.equal(streams.length, 1, '22 exchanges, one stream')
  await t.rejects(s.request(Uint8Array.of(0)), RemoteError, 'a remote status is a typed error')
  t.same(await s.request(Uint8Array.of(42)), [Uint8Array.of(42), Uint8Array.of(42)], 'and the stream stays usable')
})

t.test('timeouts, rate limit, size limits and backpressure', async (t) => {
  const { server, client } = await pair(t)
  const abuse: string[] = []
  let running = 0
  let most = 0
  await serveSessions(server.libp2p, spec, async (req) => {
    running++
    most = Math.max(most, running)
    try { return await handler(req) } finally { running-- }
  }, { rate: { perSecond: 0.001, burst: 12 }, maxInFlight: 2, timeoutMs: 5000, onAbuse: (_p, _n, r) => { abuse.push(r) } })
  const s = new Session(client.libp2p, server.addrs()[0]!, spec)
  await t.rejects(s.request(Uint8Array.of(8), { timeoutMs: 100 }), RequestTimeoutError, 'no answer within its timeout')
  t.equal(s.pending, 0, 'the timed-out exchange is forgotten')
  await sleep(450) // its late answer arrives and is dropped
  t.same(await s.request(Uint8Array.of(42)), [Uint8Array.of(42), Uint8Array.of(42)], 'a later exchange is not confused by the late answer')
  await t.rejects(s.request(new Uint8Array(65)), LimitExceededError, 'an oversize request is refused before it is sent')
  // regression session-oversize-waiter: it used to stay registered, and its rejection (timeout, broken stream) went unhandled
  t.equal(s.pending, 0, 'and leaves nothing waiting')
  const four = await Promise.all([3, 3, 3, 3].map(async (d, i) => await s.request(Uint8Array.of(d, i))))
  t.equal(four.length, 4, 'four slow exchanges all answered')
  t.equal(most, 2, 'never more than maxInFlight handled at once (the server stopped reading)')
  const results = await Promise.allSettled(Array.from({ length: 8 }, async (_, i) => await s.request(Uint8Array.of(42, i))))
  t.ok(results.some((r) => r.status === 'rejected' && r.reason instanceof RateLimitedError), 'past its burst a peer is rate limited')
  t.ok(abuse.some((r) => /rate/.test(r)), `and reported: ${abuse.join('; ')}`)
})

t.test('a hostile oversize frame ends that stream and is reported; a broken stream fails what waits on it, the next request opens a new one', async (t) => {
  const { server, client } = await pair(t)
  const abuse: string[] = []
  const stop = await serveSessions(server.libp2p, spec, handler, { onAbuse: (_p, _n, r) => { abuse.push(r) } })
  const raw = await client.libp2p.dialProtocol(server.addrs()[0]!, spec.id)
  await lpStream(raw).write(new Writer(200).varint('id', 1).bytes('request', new Uint8Array(150), 1000).finish())
  for (let i = 0; i < 100 && abuse.length === 0; i++) await sleep(10)
  t.ok(abuse.some((r) => /oversize/.test(r)), `reported: ${abuse.join('; ')}`)
  const s = new Session(client.libp2p, server.addrs()[0]!, spec)
  const waiting = s.request(Uint8Array.of(8))
  await sleep(50)
  await stop() // the server goes away mid-exchange
  await t.rejects(waiting, { code: 'ERR_NET_BAD_RESPONSE' }, 'the waiting exchange fails with a typed error')
  t.equal(s.pending, 0)
  await serveSessions(server.libp2p, spec, handler)
  t.same(await s.request(Uint8Array.of(42)), [Uint8Array.of(42), Uint8Array.of(42)], 'the next request opens a new stream')
})
