/**
 * The storage node that test/fault/crash-storage.test.ts kills: a real
 * StorageNode (Helia, LevelDB blocks and pins, key in <dataDir>/libp2p.seed)
 * listening on the given port. Prints "ready" once it serves.
 */
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import { go, say } from '../helpers/crash-child.ts'

const [dir, port] = process.argv.slice(2) as [string, string]
await go()
await StorageNode.create({ dataDir: dir, admission: openAdmission, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
say('ready')
