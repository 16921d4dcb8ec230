/**
 * The hub that test/fault/crash-hub.test.ts kills: the production hub
 * (startHub with its config file: ingest and the embedded MQTT broker,
 * Node-RED running the shipped flows/hub.json, IPFS uploads to the
 * consortium's storage node, tx_IoT into the core node's mempool, mining),
 * one process as on the Pi. Prints "ready", then every 200 ms
 * "open <readings pending> <batches not yet confirmed> <height> <by stage>".
 *
 * argv: <config file> <user label (test/helpers/core who())>
 */
import { loadHubConfig, startHub } from '../../hub/src/hub.ts'
import { who } from '../helpers/core.ts'
import { go, say } from '../helpers/crash-child.ts'

const [cfgFile, label] = process.argv.slice(2) as [string, string]
await go()
const hub = await startHub(await loadHubConfig(cfgFile), who(label), () => undefined, { log: (l) => { process.stderr.write(`${l}\n`) } })
say('ready')
setInterval(() => {
  void hub.service.status().then((s) => {
    const b = s.batches
    say(`open ${b.pendingReadings} ${b.closed + b.sealed + b.uploaded + b.tx + b.accepted} ${s.userchain.height} closed=${b.closed} sealed=${b.sealed} uploaded=${b.uploaded} tx=${b.tx} accepted=${b.accepted}`)
  }, (err: Error) => { process.stderr.write(`status: ${err.message}\n`) })
}, 200)
