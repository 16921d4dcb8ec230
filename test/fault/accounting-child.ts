/**
 * The accounting node that test/fault/crash-accounting.test.ts kills:
 * replica `index` on its data dir and port, with the peer list as JSON.
 * Prints "ready", then "commit <height> <hash>" once each Dblock is durably
 * committed in its LevelDB log (what it would tell a doctor).
 */
import { dblockHash, toHex } from '../../hub/src/core/index.ts'
import { go, say } from '../helpers/crash-child.ts'
import { PATIENT, peerMap, startReplica } from './accounting-setup.ts'

const [dir, port, index, addrs] = process.argv.slice(2) as [string, string, string, string]
await go()
const { node } = await startReplica(Number(index), dir, Number(port), peerMap(JSON.parse(addrs) as string[]), PATIENT)
say('ready')
let seen = node.height
let busy = false
setInterval(() => {
  if (busy) return
  busy = true
  void (async () => {
    while (seen < node.height) {
      const b = await node.block(seen + 1)
      if (b === undefined) break
      seen = b.header.index
      say(`commit ${seen} ${toHex(dblockHash(b.header))}`)
    }
  })().finally(() => { busy = false })
}, 10)
