/**
 * Child process for bench/hubflow.ts: one storage node (roles/storage,
 * Helia over libp2p on loopback), as a hub finds it in a deployment — its
 * own daemon, so what it costs to receive, hash and pin the hub's batches
 * is not counted on the hub. Its data dir comes as the first argument; it
 * sends its multiaddr over IPC once it listens and stops on "stop".
 */
import { openAdmission, StorageNode } from '../hub/src/roles/storage/index.ts'

const node = await StorageNode.create({ dataDir: process.argv[2]!, admission: openAdmission })
process.send!({ addr: node.ipfs.multiaddrs[0]!.toString() })
process.on('message', (m) => {
  if (m !== 'stop') return
  void node.stop().finally(() => { process.disconnect() })
})
