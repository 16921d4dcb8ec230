/**
 * A real hub (startHub, with its `docchain` config section) follows the
 * Docchain four accounting nodes commit over libp2p on loopback (paper
 * §IV-B3): it catches up to their height with every certificate verified,
 * and after a restart resumes from its position — only the Dblock committed
 * while it was down is read again.
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildIdentityRecord, encodeIdentityRecord, toHex } from '../../hub/src/core/index.ts'
import { startHub, validateHubConfig, type Hub } from '../../hub/src/hub.ts'
import { GTIME, startDocchainMembers } from '../helpers/docchain-members.ts'
import { who } from '../helpers/core.ts'

// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does not clear
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

const FAKE_STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'

async function until (what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('the hub follows Docchain and resumes after a restart', { timeout: 110_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-docchain-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const m = await startDocchainMembers(dir, 'hub-dc')
  t.teardown(m.stop)
  const first = await Promise.all([0, 1].map(async (i) => await m.nodes[i]!.submit(m.diag())))
  t.ok(first.every((r) => r.ok), 'two tx_diag committed before the hub starts')
  const height = (): number => Math.max(...m.nodes.map((x) => x.height))

  const cfg = validateHubConfig({
    dataDir: join(dir, 'hub'), network: 'devnet', listen: ['/ip4/127.0.0.1/tcp/0'], mine: false,
    storageNodes: [FAKE_STORAGE], replication: 1, broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 },
    docchain: {
      members: m.replicas.map((r, i) => ({ id: toHex(r.id), addr: m.addrs[i] })),
      genesisTime: GTIME,
      registry: { members: [toHex(m.replicas[0]!.id)], threshold: 1, doctors: [toHex(encodeIdentityRecord(buildIdentityRecord(m.doctor, 1)))] },
      pollSeconds: 1
    }
  }, dir)
  const user = who('hub-dc-user')
  const lines: string[] = []
  let hub: Hub = await startHub(cfg, user, () => undefined, { log: (l) => lines.push(l) })
  let stopped = false
  t.teardown(async () => { if (!stopped) await hub.stop() })
  await until('the hub at the members\' height', () => (hub.docchain()?.height ?? 0) >= height())
  const s1 = hub.docchain()!
  t.equal(s1.height, height(), `the hub caught up to Dblock ${s1.height}`)
  t.equal(s1.refused, 0, `no Dblock refused (${lines.join('; ')})`)
  t.equal(s1.diagnoses, 0, 'none of them concerns this hub\'s user')

  await hub.stop()
  stopped = true
  const whileDown = await m.nodes[2]!.submit(m.diag())
  t.ok(whileDown.ok, 'a tx_diag committed while the hub is down')
  hub = await startHub(cfg, user, () => undefined, { log: (l) => lines.push(l) })
  stopped = false
  t.equal(hub.docchain()!.height, s1.height, 'the restarted hub resumes at its position')
  await until('the Dblock committed meanwhile', () => (hub.docchain()?.height ?? 0) >= height())
  const s2 = hub.docchain()!
  t.equal(s2.delivered, height() - s1.height, 'only the Dblocks committed while it was down were read')
  t.equal(s2.refused, 0, 'none refused')
})
