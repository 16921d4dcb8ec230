// HIL: the Wi-Fi oximeter sketch on a virtual ESP32 (a board with mbedTLS)
// publishes over mqtts to the hub's embedded broker, verifying the broker's
// certificate against the hub's CA; with a CA the board does not trust it
// never logs in. Espruino's `tls` module is Node's tls in the virtual board.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { VirtualEspruino } from '../../hardware/virtual-espruino/board.ts'
import { PatientModel } from '../../hardware/sensors/models.ts'
import { buildSketch } from '../../device/build.ts'
import { Ingest } from '../../hub/src/ingest/pipeline.ts'
import { EmbeddedBroker } from '../../hub/src/ingest/mqtt.ts'
import { loadOrCreateTls } from '../../hub/src/store/tls.ts'

const HUB = 'hub1'

t.test('the Wi-Fi sketch over mqtts with the hub CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hc-hil-mqtts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ingest = await Ingest.open(join(dir, 'ingest'), { sync: false })
  t.teardown(() => ingest.close())
  const { secret } = await ingest.registry.add('ox-5', { user: 'bob', sensors: ['hr', 'spo2'] })
  const material = await loadOrCreateTls(join(dir, 'hub'), { hosts: ['127.0.0.1'] })
  const other = await loadOrCreateTls(join(dir, 'other'), { hosts: ['127.0.0.1'] })
  // TLS only: no plain listener at all
  const broker = await EmbeddedBroker.start(ingest, { hubId: HUB, port: null, tls: { host: '127.0.0.1', port: 0, key: material.key, cert: material.cert } })
  t.teardown(() => broker.close())
  const code = readFileSync(buildSketch('oximeter-wifi').outFile, 'utf8')
  const board = (device: string, ca: string): VirtualEspruino => {
    const b = new VirtualEspruino({ model: new PatientModel('normal'), write: () => {}, board: 'ESP32' })
    t.teardown(() => b.close())
    b.run(`var HC_CONFIG = ${JSON.stringify({ device, hub: HUB, mqttHost: '127.0.0.1', mqttPort: broker.tlsPort, secret, ca })};\n${code}`)
    return b
  }
  // a board given another CA refuses the hub's certificate: nothing is sent
  board('ox-5', other.ca!)
  await sleep(3000)
  t.equal(ingest.registry.get('ox-5')!.accepted, 0, 'with a CA that did not sign the broker\'s certificate the board never logs in')
  board('ox-5', material.ca!)
  for (let waited = 0; ingest.registry.get('ox-5')!.accepted < 4 && waited < 30_000; waited += 100) await sleep(100)
  t.ok(ingest.registry.get('ox-5')!.accepted >= 4, `readings arrive over mqtts (${ingest.registry.get('ox-5')!.accepted})`)
})
