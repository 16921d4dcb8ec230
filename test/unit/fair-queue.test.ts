/**
 * Per-peer fair queueing of validation (hub/src/net/fair-queue.ts), stepped
 * one round at a time: every item is served or dropped exactly once, no
 * peer with something waiting is passed over, one peer's share of a round
 * is bounded by its quantum, and what waits never exceeds the bounds — a
 * peer within its share is never the one dropped.
 */
import t from 'tap'
import fc from 'fast-check'
import { FairQueue, type FairQueueOptions } from '../../hub/src/net/fair-queue.ts'
import { QueueFullError } from '../../hub/src/net/errors.ts'

const RUNS = Number(process.env.FAIR_QUEUE_RUNS ?? 150)
const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

/** A queue whose rounds run when the test says so; what each round served, per peer. */
function stepped (opts: FairQueueOptions) {
  const due: Array<() => void> = []
  const q = new FairQueue({ ...opts, defer: (next) => { due.push(next) } })
  let round = 0
  const served: Array<Map<string, number>> = []
  /** Offers one item; its promise is settled with 'served' or 'dropped'. */
  const offer = (peer: string, bytes: number): Promise<'served' | 'dropped'> => q.run(peer, bytes, async () => {
    const m = served[round - 1]!
    m.set(peer, (m.get(peer) ?? 0) + Math.max(q.minCost, bytes))
    return 'served' as const
  }).catch((err: unknown) => { if (err instanceof QueueFullError) return 'dropped' as const; throw err })
  /** Runs the next round, if one is due; false when none is. */
  const step = async (): Promise<boolean> => {
    const next = due.shift()
    if (next === undefined) return false
    round++
    served.push(new Map())
    next()
    await flush()
    return true
  }
  return { q, offer, step, served, get round () { return round } }
}

const small = { minCost: 100, roundBytes: 1_000, maxItemsPerPeer: 50, maxBytesPerPeer: 4_000, maxBytes: 10_000 }

t.test('every item is served or dropped exactly once, and nothing waits beyond the bounds', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ peer: fc.integer({ min: 0, max: 7 }), bytes: fc.integer({ min: 1, max: 700 }), rounds: fc.integer({ min: 0, max: 2 }) }), { maxLength: 300 }),
    async (arrivals) => {
      const s = stepped(small)
      const outcomes: Array<Promise<'served' | 'dropped'>> = []
      for (const a of arrivals) {
        outcomes.push(s.offer(`p${a.peer}`, a.bytes))
        const st = s.q.stats()
        if (st.waitingBytes > small.maxBytes) return false
        for (let r = 0; r < a.rounds; r++) await s.step()
      }
      while (await s.step()) { /* until idle */ }
      const settled = await Promise.all(outcomes)
      const st = s.q.stats()
      return st.waiting === 0 && st.waitingBytes === 0 && st.peers === 0 &&
        settled.filter((x) => x === 'served').length === st.served &&
        settled.filter((x) => x === 'dropped').length === st.dropped &&
        st.served + st.dropped === arrivals.length
    }), { numRuns: RUNS })
})

t.test('no peer starves and none takes more than its quantum of a round', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ peer: fc.integer({ min: 0, max: 9 }), items: fc.integer({ min: 1, max: 40 }), bytes: fc.integer({ min: 1, max: 250 }) }), { minLength: 1, maxLength: 30 }),
    async (bursts) => {
      const opts = { ...small, maxItemsPerPeer: 1_000, maxBytesPerPeer: 100_000, maxBytes: 1_000_000 }
      const s = stepped(opts)
      const waiting = new Map<string, number>()
      const all: Array<Promise<unknown>> = []
      for (const b of bursts) {
        for (let i = 0; i < b.items; i++) {
          const peer = `p${b.peer}`
          waiting.set(peer, (waiting.get(peer) ?? 0) + 1)
          all.push(s.offer(peer, b.bytes).then(() => { waiting.set(peer, waiting.get(peer)! - 1) }))
        }
      }
      const maxCost = Math.max(opts.minCost, ...bursts.map((b) => b.bytes))
      await flush() // (what was refused on arrival is settled)
      for (;;) {
        const before = [...waiting].filter(([, n]) => n > 0).map(([p]) => p)
        if (!await s.step()) break
        const got = s.served[s.round - 1]!
        const quantum = s.q.quantum(before.length)
        // when no item costs more than a quantum, every peer waiting is served in every round
        for (const p of before) if (maxCost <= quantum && !got.has(p)) return false // passed over
        for (const [, cost] of got) if (cost > quantum + maxCost) return false // more than its share
      }
      await Promise.all(all)
      return [...waiting.values()].every((n) => n === 0)
    }), { numRuns: RUNS })
})

t.test('a flood from one peer costs the others one round: their items go in the first round, the flood\'s share of it is one quantum', async (t) => {
  const s = stepped({ minCost: 100, roundBytes: 2_200 })
  const order: string[] = []
  const flood = Array.from({ length: 500 }, () => s.offer('flooder', 100).then(() => { order.push('flood') }))
  const honest = Array.from({ length: 10 }, (_, i) => s.offer(`honest-${i}`, 100).then((r) => { order.push('honest'); return r }))
  t.ok(await s.step(), 'a round runs')
  // 11 peers waiting: a quantum of 200 bytes each — two flood items, each honest peer's one
  t.same(s.served[0], new Map([['flooder', 200], ...Array.from({ length: 10 }, (_, i) => [`honest-${i}`, 100] as [string, number])]), 'first round: every honest peer served, the flooder its quantum only')
  t.same(await Promise.all(honest), Array(10).fill('served'))
  t.equal(order.filter((x) => x === 'flood').length, 2, 'two flood items answered before the last honest one')
  while (await s.step()) { /* the flood alone now: 2,200 bytes a round (under maxQuantum) */ }
  await Promise.all(flood)
  t.equal(s.q.stats().served, 510)
})

t.test('a peer charged for what was refused gets less of the next rounds, and is still served; a peer that emptied its queue starts afresh', async (t) => {
  const s = stepped({ minCost: 100, roundBytes: 800 })
  const spam = Array.from({ length: 40 }, () => s.offer('refused', 100))
  const valid = Array.from({ length: 40 }, () => s.offer('valid', 100))
  s.q.charge('refused', 1_200) // as if its first items had been refused
  s.q.charge('nobody', 1_000) // no queue: nothing to charge
  t.ok(await s.step())
  t.same(s.served[0], new Map([['valid', 400]]), 'first round: the charged peer is still paying')
  for (let r = 0; r < 3; r++) await s.step()
  t.equal(s.served[3]!.get('refused'), 400, 'once paid, it gets its quantum again')
  while (await s.step()) { /* drain */ }
  t.same(await Promise.all([...spam, ...valid]), Array(80).fill('served'), 'nobody starves')
  s.q.charge('refused', 10_000) // its queue is empty: forgotten
  const later = s.offer('refused', 100)
  t.ok(await s.step())
  t.equal(await later, 'served', 'a peer that emptied its queue starts afresh')
})

t.test('memory: a peer over its own bound is refused; past the shared bound the heaviest peer loses its newest, a peer within its share is kept', async (t) => {
  const s = stepped({ minCost: 100, roundBytes: 1_000, maxItemsPerPeer: 30, maxBytesPerPeer: 100_000, maxBytes: 5_000 })
  const flood = Array.from({ length: 40 }, () => s.offer('flooder', 100))
  t.equal(s.q.stats().waiting, 30, 'the flooder\'s queue holds 30 items')
  const light = Array.from({ length: 5 }, () => s.offer('light', 100))
  const second = Array.from({ length: 20 }, () => s.offer('second', 100))
  const st = s.q.stats()
  t.ok(st.waitingBytes <= 5_000, `waiting ${st.waitingBytes} ≤ 5,000 bytes`)
  while (await s.step()) { /* drain */ }
  const f = await Promise.all(flood)
  t.equal(f.filter((x) => x === 'dropped').length, 10 + 5, 'the flooder: 10 refused over its own bound, then its 5 newest evicted to make room for the others')
  t.same(f.slice(0, 25), Array(25).fill('served'), 'its oldest were kept')
  t.same(await Promise.all(light), Array(5).fill('served'), 'the light peer lost nothing')
  t.same(await Promise.all(second), Array(20).fill('served'), 'nor did the second')
})

t.test('close drops what waits and rejects what comes after', async (t) => {
  const q = new FairQueue()
  const started: string[] = []
  const a = q.run('a', 10, async () => { started.push('a'); return 1 })
  const closing = q.close()
  await t.rejects(a, { code: 'ERR_NET_CLOSED' })
  await closing
  await t.rejects(q.run('b', 10, async () => 2), { code: 'ERR_NET_CLOSED' })
  t.same(started, [], 'nothing dropped was run')
})
