/**
 * The hub that test/fault/crash-hub.test.ts kills: ingest with its embedded
 * MQTT broker (PUBACK only after the reading is durable) and a mining core
 * node on Userchain, in one process, as on the Pi. Prints "ready", then
 * "tip <height> <work hex>" after each block is acknowledged.
 */
import { join } from 'node:path'
import { startIngestService } from '../../hub/src/ingest/hub.ts'
import { mineForever, openMiningNode } from '../helpers/mining-loop.ts'

const [dir, port] = process.argv.slice(2) as [string, string]
await startIngestService({ dataDir: dir, hubId: 'crash', mqttPort: Number(port), maxReadings: 40 })
const node = await openMiningNode(join(dir, 'chain'))
process.stdout.on('error', () => process.exit(0))
process.stdout.write('ready\n')
await mineForever(node, () => { process.stdout.write(`tip ${node.store.height} ${node.store.tip.work.toString(16)}\n`) })
