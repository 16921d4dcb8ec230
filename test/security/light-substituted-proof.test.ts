/**
 * A core node substitutes what a light hub asked for (paper §III-A): in
 * place of one of the user's transactions, someone else's with its valid
 * Merkle proof, or another transaction of the user that no block holds
 * under the real one's proof. Both are caught — the first is not the
 * user's, the second's proof does not lead to the block's userroot — and
 * the core node that did it is banned and hung up.
 */
import t from 'tap'
import { alice, expectForgedDropped, liarSetup } from '../helpers/light-liar.ts'

t.test('a light hub drops a core node that substitutes a transaction', async (t) => {
  const s = await liarSetup(t)
  const lights = await expectForgedDropped(t, s, [['foreign', /^txs\[0\]$/], ['forge-tx', /\.proof$/]])
  for (const light of lights) {
    t.ok([...light.node.confirmed.values()].every((c) => c.proven.tx.tx.kind !== 'coinbase' && 'user' in c.proven.tx.tx && c.proven.tx.tx.user.every((b, i) => b === alice.id[i])), 'no one else\'s transaction kept, none substituted')
  }
})
