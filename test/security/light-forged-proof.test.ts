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
import { expectForgedDropped, liarSetup } from '../helpers/light-liar.ts'

t.test('a light hub drops a core node that forges a proof', async (t) => {
  const s = await liarSetup(t)
  await s.light.refresh()
  t.equal(s.light.node.confirmed.size, 5, "alice's 5 transactions proven while both tell the truth")
  await expectForgedDropped(t, s, [['forge-proof', /\.proof$/], ['fake-header', /\.header$/]])
})
