import t from 'tap'
import { lineGraph, mine, propagate, quantile, rng, type Hop } from '../../bench/_capacity-model.ts'
import { hopFor, network, orphanRate, patients, propagation, resolveInputs } from '../../bench/capacity.ts'

const fallbacks = resolveInputs({})

t.test('on a line, the block reaches 90 % of nodes after the sum of its hops', async (t) => {
  // 10 nodes, 50 ms links at 1 MB/s; full relay of 100 kB validated in 200 ms at every hop
  const hop: Hop = { sendBytes: 100_000, relayAfterS: 0.2, acceptAfterS: 0.2, pushPeers: 0, pushLatencies: 0, pullLatencies: 3, fetchBytes: 0 }
  const acc = propagate(lineGraph(10, 0.05, 1e6), 0, hop)
  // node k gets it after k transfers (0.1 s) and k × 3 latencies, relayed after k − 1 validations, and accepts after its own
  const at = (k: number): number => k * (0.1 + 3 * 0.05) + (k - 1) * 0.2 + 0.2
  t.equal(acc[0], 0, 'the miner has it at once')
  for (const k of [1, 5, 9]) t.ok(Math.abs(acc[k]! - at(k)) < 1e-9, `node ${k} at ${at(k)} s`)
  t.ok(Math.abs(quantile(acc, 0.9) - at(8)) < 1e-9, 't90 is the ninth node of ten')
})

t.test('a single miner never orphans its own blocks', async (t) => {
  const r = mine([new Float64Array([0])], 15, 2000, rng(1))
  t.equal(r.orphans, 0)
  t.ok(r.blocks > 1900, 'all but the last few blocks counted')
  t.equal(mine([new Float64Array([0, 0]), new Float64Array([0, 0])], 15, 2000, rng(2)).orphans, 0, 'nor do miners that see each other\'s blocks at once')
})

t.test('miners far apart fork: about delay ÷ interval of the blocks are orphaned', async (t) => {
  // two miners with half the hash power each, 6 s apart, a block every 60 s: a fork when the other miner
  // finds a block in the 6 s before the last one reaches it; each fork orphans one block
  const r = mine([new Float64Array([0, 6]), new Float64Array([6, 0])], 60, 20_000, rng(3))
  const expected = 1 - Math.exp(-6 * 0.5 / 60)
  t.ok(r.orphanRate > expected * 0.8 && r.orphanRate < expected * 1.2, `orphan rate ${r.orphanRate} near ${expected}`)
})

t.test('on a random network: orphans rise with block size and fall with the interval; compact relay beats full', async (t) => {
  const net = network(300, 5)
  const delays = (mode: 'full' | 'compact', mib: number): Float64Array[] => propagation(net, hopFor(mode, mib, fallbacks)).delays
  const small = delays('full', 1); const big = delays('full', 8)
  t.ok(orphanRate(big, 60, 1) > orphanRate(small, 60, 1), 'bigger blocks, more orphans')
  t.ok(orphanRate(big, 30, 1) > orphanRate(big, 120, 1), 'longer intervals, fewer orphans')
  t.ok(orphanRate(delays('compact', 8), 60, 1) < orphanRate(big, 60, 1), 'compact relay, fewer orphans')
  t.ok(propagation(net, hopFor('full', 8, fallbacks)).t90 > propagation(net, hopFor('full', 1, fallbacks)).t90, 'and later t90')
})

t.test('deterministic under a seed', async (t) => {
  const run = (seed: number): [number, number] => {
    const p = propagation(network(200, seed), hopFor('compact', 4, fallbacks))
    return [p.t90, orphanRate(p.delays, 30, seed)]
  }
  t.same(run(11), run(11), 'same seed, same figures')
  t.not(run(11)[0], run(12)[0], 'another seed, another network')
})

t.test('patients: block space over one patient\'s tx_IoT and tx_key bytes', async (t) => {
  const p = patients(1, 60, fallbacks)
  const iotOnly = fallbacks.capIotPerMiB * 600 / 60
  t.ok(p < iotOnly && p > iotOnly * 0.99, `${p} patients at 1 MiB a minute: a little under ${iotOnly}, tx_key taking its share`)
  t.ok(Math.abs(patients(2, 30, fallbacks) / patients(1, 60, fallbacks) - 4) < 1e-4, 'scales with block size over interval')
})
