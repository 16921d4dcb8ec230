/**
 * Rate limits hold under a bounded flood from one peer (paper §III-B: a
 * network attacker may flood a node): over real libp2p on loopback, one peer
 * fires 400 requests at a request/response protocol served with a per-peer
 * token bucket while an honest peer keeps asking at its normal pace. The
 * flooder is refused with RATE_LIMITED and reported (counted) as abusive;
 * every request of the honest peer is answered; the node answers after the
 * flood as before.
 */
import t from 'tap'
import { createNetNode } from '../../hub/src/net/node.ts'
import { request, serve } from '../../hub/src/net/reqresp.ts'
import { RateLimitedError } from '../../hub/src/net/errors.ts'

t.test('one peer floods: it is limited and counted, an honest peer is served throughout', async (t) => {
  const server = await createNetNode({ network: 'devnet' })
  const flooder = await createNetNode({ network: 'devnet' })
  const honest = await createNetNode({ network: 'devnet' })
  t.teardown(async () => { for (const n of [flooder, honest, server]) await n.stop() })
  const spec = { id: '/healthchain/test/flood/1', maxRequestBytes: 64, maxFrameBytes: 64, maxFrames: 1 }
  const abuse = new Map<string, number>()
  const served = new Map<string, number>()
  await serve(server.libp2p, spec, async (req, peer) => { served.set(peer, (served.get(peer) ?? 0) + 1); return { frames: [req] } }, {
    rate: { perSecond: 5, burst: 20 },
    onAbuse: (peer) => { abuse.set(peer, (abuse.get(peer) ?? 0) + 1) }
  })
  const to = server.addrs()[0]!
  const t0 = Date.now()
  let limited = 0
  let other = 0
  // 20 waves of 20 concurrent requests (libp2p caps a client's open streams per protocol)
  const flood = (async () => {
    for (let w = 0; w < 20; w++) {
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        try { await request(flooder.libp2p, to, spec, Uint8Array.of(i)) } catch (err) { if (err instanceof RateLimitedError) limited++; else other++ }
      }))
    }
  })()
  const honestAnswers: boolean[] = []
  for (let i = 0; i < 10; i++) {
    honestAnswers.push(await request(honest.libp2p, to, spec, Uint8Array.of(i)).then(() => true, () => false))
    await new Promise((resolve) => setTimeout(resolve, 60))
  }
  await flood
  const seconds = (Date.now() - t0) / 1000
  const flooderServed = served.get(flooder.libp2p.peerId.toString()) ?? 0
  const bound = 20 + 5 * seconds + 1
  t.ok(flooderServed <= bound, `the flooder got no more than burst + rate × time: ${flooderServed} answered in ${seconds.toFixed(1)} s (bucket: 20 + 5/s)`)
  t.equal(limited + flooderServed + other, 400, 'every flood request was either answered, refused or failed on the way')
  t.ok(limited > 0 && limited >= 400 - other - bound, `the rest was refused as RATE_LIMITED: ${limited} of 400 (other failures on the way: ${other})`)
  t.ok((abuse.get(flooder.libp2p.peerId.toString()) ?? 0) >= limited * 0.9, `and reported as abusive (${abuse.get(flooder.libp2p.peerId.toString())})`)
  t.notOk(abuse.has(honest.libp2p.peerId.toString()), 'the honest peer was never reported')
  t.same(honestAnswers, honestAnswers.map(() => true), 'every request of the honest peer was answered during the flood')
})
