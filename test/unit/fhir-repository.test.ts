/**
 * The FHIR repository (hub/src/fhir/repository.ts) over batches sealed as
 * the hub seals them: a batch that does not open (sealed under another key)
 * or does not decode is withheld and said so, one whose storage cannot be
 * reached now is missing from that answer only (and served once it can be
 * fetched), a batch sealed twice counts once, and the cache stays bounded.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildTxIoT, identityFromSeed, sealBatch, toHex, txId, utf8Bytes } from '../../hub/src/core/index.ts'
import { encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { chainSource, FhirRepository, parseSearch, type ChainView } from '../../hub/src/fhir/index.ts'
import type { Issue } from '../../hub/src/fhir/resources.ts'
import type { SensorReading } from '../../hub/src/nodered/runtime.ts'
import type { Tx, TxIoT } from '../../hub/src/core/index.ts'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

t.test('withheld, unavailable and duplicated batches', async (t) => {
  const user = identityFromSeed(rnd(32))
  const me = toHex(user.id)
  const ik = rnd(32)
  const at = Date.UTC(2026, 11, 7, 8)
  const readings = (from: number): SensorReading[] => Array.from({ length: 5 }, (_, i) => ({ d: 'ox-1', b: 1, s: from + i, t: 'spo2', v: 97, u: '%', ts: i, at: at + (from + i) * 1000 }))
  const blobs = new Map<string, Uint8Array>()
  const txs: TxIoT[] = []
  let down = false
  const add = (plain: Uint8Array, key = ik): void => {
    const sealed = sealBatch(key, rnd(12), user.id, 1, plain)
    const heiot = rnd(32)
    blobs.set(toHex(heiot), sealed)
    txs.push(buildTxIoT(user, { ts: Math.floor(at / 1000) + 60 + txs.length, heiot, epoch: 1 }))
  }
  add(encodeBatch(readings(0)))
  add(encodeBatch(readings(0))) // the same batch sealed twice (an expired lease)
  add(encodeBatch(readings(5)), rnd(32)) // sealed under a key that is not the epoch's
  add(utf8Bytes('{"v":1,"readings":[{"d":"x"}]}')) // does not decode
  add(encodeBatch(readings(10))) // on a storage node that is down at first
  const unreachable = toHex(txs.at(-1)!.heiot)
  const byId = new Map<string, Tx>(txs.map((tx) => [toHex(txId(tx)), tx]))
  const chain: ChainView = { store: { userTxs: async () => txs.map((tx) => ({ txid: txId(tx) })), confirmedTx: async (id) => byId.get(toHex(id)) }, mempool: { list: () => [] } }
  const lines: string[] = []
  const repo = new FhirRepository(chainSource({
    kind: 'hub',
    chain,
    fetch: async (d) => { if (down && toHex(d) === unreachable) throw new Error('connection refused'); return blobs.get(toHex(d))! },
    ik: () => ik,
    patients: () => [me],
    access: () => ({ ok: true }),
    diagnoses: async () => []
  }), { maxCachedReadings: 12, log: (l) => lines.push(l) })

  down = true
  let issues: Issue[] = []
  const first = await repo.searchObservations(parseSearch('Observation', {}), issues)
  t.equal(first.length, 5, 'the good batch once, though sealed twice')
  t.same(issues.map((i) => i.code), ['exception', 'incomplete'], 'told: two batches do not open or decode, one could not be fetched')
  t.match(issues[0]!.text, /2 batch\(es\) did not open or decode/)
  t.equal(lines.filter((l) => /withheld/.test(l)).length, 2, 'the bad batches are logged')

  down = false
  issues = []
  const second = await repo.searchObservations(parseSearch('Observation', {}), issues)
  t.equal(second.length, 10, 'the batch on the storage node that is back is served now')
  t.same(issues.map((i) => i.code), ['exception'])
  t.equal(lines.filter((l) => /withheld/.test(l)).length, 2, 'a bad batch is not opened again (remembered)')
  t.equal(new Set(second.map((o) => o.id)).size, 10, 'ids are unique')
  t.ok(second.every((o) => /^[0-9a-f]{32}$/.test(o.id)))
})
