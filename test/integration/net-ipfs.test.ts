/**
 * One libp2p node per process (DESIGN §6): the IPFS layer runs on the
 * network node of ./hub/src/net instead of its own, beside gossip and the
 * Userchain protocols, with the same peer id.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { equalBytes } from '../../hub/src/core/index.ts'
import { IpfsNode } from '../../hub/src/ipfs/index.ts'
import { createNetNode } from '../../hub/src/net/node.ts'
import { tempDir } from '../helpers/userchain.ts'

t.test('IpfsNode on the shared network node', async (t) => {
  const dirA = await tempDir(t, 'net-ipfs-a')
  const dirB = await tempDir(t, 'net-ipfs-b')
  const netA = await createNetNode({ network: 'devnet', dataDir: dirA })
  const netB = await createNetNode({ network: 'devnet', dataDir: dirB, bootstrap: [netA.addrs()[0]!.toString()] })
  const a = await IpfsNode.create({ dataDir: dirA, libp2p: netA.libp2p, bitswap: false })
  const b = await IpfsNode.create({ dataDir: dirB, libp2p: netB.libp2p, bitswap: false })
  t.teardown(async () => { await a.stop(); await b.stop(); await netA.stop(); await netB.stop() })
  t.equal(a.peerId.toString(), netA.peerId.toString(), 'one peer id for gossip, sync and IPFS')
  const data = new Uint8Array(randomBytes(4096))
  const cid = await a.put(data)
  t.ok(equalBytes(await b.get(cid, { providers: [netA.addrs()[0]!] }), data), 'a block fetched over the shared node, checked against its CID')
  t.ok(netA.libp2p.getProtocols().some((p) => p.includes('meshsub')), 'gossipsub runs on the same node')
})
