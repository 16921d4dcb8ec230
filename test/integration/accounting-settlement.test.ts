/**
 * The consortium's settlement in the accounting daemon (paper §IV-B4;
 * roles/consortium/settlement.ts): of four `healthchain accounting`
 * processes, the one whose config has `settlement` (the consortium's
 * keystore) pays the doctor for its committed diagnoses with a tx_coin that
 * reaches another core node over Userchain gossip; killed and restarted on
 * its data dir it pays nothing again, and then only what was earned since.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toHex, type TxCoin } from '../../hub/src/core/index.ts'
import { Cluster, consortium, doctor, mine, user } from '../helpers/accounting-cluster.ts'

t.setTimeout(180_000)

async function until (what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('the member holding the consortium key pays doctors once, across a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hc-settle-proc-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const cluster = await Cluster.start({ dir, causes: 4, settlement: 0 })
  t.teardown(async () => { await cluster.close() })
  const core = cluster.core
  await cluster.procs[0]!.line((l) => l.includes(`settling doctors' earnings from the consortium account ${toHex(consortium.id)}`), 10_000, 'the settlement line')
  t.notOk(cluster.procs[1]!.lines.some((l) => l.includes('settling')), 'only the member with the consortium keystore settles')
  const price = 1000 // the cluster's diagnosisPrice
  t.equal((await cluster.submit(1, cluster.diags(3))).length, 3, 'three diagnoses committed')

  const fromConsortium = (): TxCoin[] => core.mempool.list().map((e) => e.bt.tx).filter((x): x is TxCoin => x.kind === 'coin' && toHex(x.from) === toHex(consortium.id))
  const balance = (): number => core.store.account(doctor.id).balance
  // one transfer in flight at a time (the Dblocks may commit the three apart): each reaches this core node
  // over Userchain gossip, is mined here, and the next pass pays the rest
  const transfers: number[] = []
  while (balance() < 3 * price) {
    await until('a settlement on the other core node', () => fromConsortium().length > 0)
    for (const x of fromConsortium()) { t.equal(toHex(x.to), toHex(doctor.id), 'to the doctor'); transfers.push(x.amount) }
    await mine(core, user.id)
  }
  t.equal(balance(), 3 * price, `the doctor is paid its three diagnoses (transfers ${transfers.join(', ')})`)
  const height = core.store.height
  await cluster.procs[0]!.line((l) => l.includes(` userchain ${height} `), 30_000, `Userchain height ${height}`)

  t.equal(await cluster.kill(0, 'SIGKILL'), null, 'killed')
  await cluster.spawn(0)
  await cluster.distributePeers([0])
  await cluster.procs[0]!.line((l) => new RegExp(`(userchain ${height} |Userchain height ${height}(,|$))`).test(l), 30_000, 'caught up')
  const more = await cluster.submit(2, cluster.diags(1))
  t.equal(more.length, 1, 'one more diagnosis committed')
  await cluster.procs[0]!.line((l) => l.includes('settlement: paid'), 30_000, 'the next payment')
  const paid = cluster.procs[0]!.lines.filter((l) => l.includes('settlement: paid')).map((l) => / paid doctor (\w+) (\d+) /.exec(l)!.slice(1))
  t.same(paid, [[toHex(doctor.id), String(price)]], 'after the restart: nothing paid again, only the new diagnosis')
  await until('the second transfer on the other core node', () => fromConsortium().length > 0)
  await mine(core, user.id)
  t.equal(core.store.account(doctor.id).balance, 4 * price, 'the doctor holds exactly what it earned')
})
