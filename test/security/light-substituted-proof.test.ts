/**
 * A core node substitutes what a light hub asked for (paper §III-A): in
 * place of one of the user's transactions, someone else's with its valid
 * Merkle proof, or another transaction of the user that no block holds
 * under the real one's proof. Both are caught — the first is not the
 * user's, the second's proof does not lead to the block's userroot — and
 * the core node that did it is banned and hung up.
 */
import t from 'tap'
import { ForgedProofError } from '../../hub/src/net/errors.ts'
import { droppedLiar, liarSetup, type Lie } from '../helpers/light-liar.ts'

t.test('a light hub drops a core node that substitutes a transaction', async (t) => {
  const s = await liarSetup(t)
  for (const [lie, field] of [['foreign', /^txs\[0\]$/], ['forge-tx', /\.proof$/]] as Array<[Lie, RegExp]>) {
    const { light, honestId, liarId } = lie === 'foreign' ? s : await s.newLight()
    const liars: Array<{ peer: string, error: Error }> = []
    light.on('liar', (l: { peer: string, error: Error }) => liars.push(l))
    s.mode = lie
    await light.refresh()
    t.same(liars.map((l) => l.peer), [liarId.toString()], `${lie}: the substitution is named`)
    t.ok(liars[0]?.error instanceof ForgedProofError && field.test(liars[0].error.field), `${lie}: ${liars[0]?.error.message}`)
    const after = await droppedLiar(light, honestId, liarId)
    t.ok(after.banned, `${lie}: banned`)
    t.same(after.connected, [honestId.toString()], `${lie}: only the honest core node is left`)
    t.equal(light.node.confirmed.size, 5, `${lie}: alice's 5 transactions, none substituted`)
    t.notOk([...light.node.confirmed.values()].some((c) => c.proven.tx.tx.kind === 'iot' && c.proven.tx.tx.user.some((b, i) => b !== s.light.node.user[i])), `${lie}: no one else's transaction kept`)
    s.mode = 'honest'
  }
})
