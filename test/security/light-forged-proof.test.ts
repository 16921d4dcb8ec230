/**
 * A core node forges the Merkle proofs it gives a light hub (paper §III-A:
 * light nodes keep headers and ask core nodes for their transactions): a
 * proof hash flipped, or a proof against a header that is not on the
 * light node's PoW-checked chain. The light hub's chain (roles/light
 * LightChain) checks every proof against its own headers: the forger is
 * named, banned and hung up; the honest core node keeps serving, and the
 * user's transactions stay proven.
 */
import t from 'tap'
import { ForgedProofError } from '../../hub/src/net/errors.ts'
import { droppedLiar, liarSetup, type Lie } from '../helpers/light-liar.ts'

t.test('a light hub drops a core node that forges a proof', async (t) => {
  const s = await liarSetup(t)
  await s.light.refresh()
  t.equal(s.light.node.confirmed.size, 5, "alice's 5 transactions proven while both tell the truth")
  for (const [lie, field] of [['forge-proof', /\.proof$/], ['fake-header', /\.header$/]] as Array<[Lie, RegExp]>) {
    const { light, honestId, liarId } = lie === 'forge-proof' ? s : await s.newLight()
    const liars: Array<{ peer: string, error: Error }> = []
    light.on('liar', (l: { peer: string, error: Error }) => liars.push(l))
    s.mode = lie
    await light.refresh()
    t.same(liars.map((l) => l.peer), [liarId.toString()], `${lie}: the forger is named`)
    t.ok(liars[0]?.error instanceof ForgedProofError && field.test(liars[0].error.field), `${lie}: ${liars[0]?.error.message}`)
    const after = await droppedLiar(light, honestId, liarId)
    t.ok(after.banned, `${lie}: banned`)
    t.same(after.connected, [honestId.toString()], `${lie}: only the honest core node is left`)
    t.equal(light.node.confirmed.size, 5, `${lie}: every own transaction proven by the honest node`)
    t.equal(light.status().liars, 1, `${lie}: the hub's status counts it`)
    s.mode = 'honest'
  }
})
