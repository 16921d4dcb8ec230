/**
 * A hub whose clock is 2 hours off (a Raspberry Pi booted without network
 * time) refuses to sign and says why — on the page, in its status and in
 * its log — and resumes once the clock is corrected (README "A sane
 * clock"). A real hub (startHub) with its wall clock injected at the edge,
 * on a Userchain whose recent Ublocks carry the right time; then the
 * clock check's two witnesses on their own (app/clock.ts): the chain's
 * median time past (clock behind) and other miners' Ublocks (clock ahead).
 */
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NETWORKS, solveUblockHeader, toHex } from '../../hub/src/core/index.ts'
import { startHub, validateHubConfig } from '../../hub/src/hub.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { ClockCheck } from '../../hub/src/app/clock.ts'
import { Client, trustCa } from '../helpers/http-client.ts'
import { who } from '../helpers/core.ts'

// Node-RED keeps a login-session expiry timer (one week) that RED.stop() does not clear
t.teardown(() => { setTimeout(() => { process.exit() }, 200).unref() })

const FAKE_STORAGE = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'
const TWO_HOURS = 2 * 3600 * 1000

t.test('a hub started with its clock 2 hours behind refuses to sign and shows why; corrected, it resumes', { timeout: 110_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hub-clock-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const hubDir = join(dir, 'hub')
  const user = who('hub-clock-user')
  const consortium = who('hub-clock-consortium')

  // the Userchain as the network has it: Ublocks with the right time (the user earned the rewards)
  const core = await CoreNode.open({ dir: join(hubDir, 'userchain', 'devnet'), params: NETWORKS.devnet })
  for (let i = 0; i < 3; i++) {
    const tpl = core.template(user.id)
    t.ok((await core.submitBlock({ header: solveUblockHeader(tpl.header, 100_000_000)!, txs: tpl.txs })).accepted, `Ublock ${i + 1} mined at the right time`)
  }
  await core.close()

  let offset = -TWO_HOURS
  const log: string[] = []
  const cfg = validateHubConfig({
    dataDir: hubDir, network: 'devnet', listen: ['/ip4/127.0.0.1/tcp/0'], mine: false, hubId: 'hub-clock', keyRotationDays: 0,
    storageNodes: [FAKE_STORAGE], replication: 1, broker: { embedded: { host: '127.0.0.1', port: 0 } }, http: { host: '127.0.0.1', port: 0 }, editor: { host: '127.0.0.1', port: 0 }
  }, dir)
  const hub = await startHub(cfg, user, () => undefined, { log: (l) => log.push(l), clock: () => Date.now() + offset })
  t.teardown(hub.stop)

  // off: the status, the log and the page say why; nothing is signed
  const st = await hub.service.status()
  t.equal(st.clock.ok, false, 'the status says the clock is off')
  t.match(st.clock.reason ?? '', /behind the Userchain's median time past/, `why: ${st.clock.reason}`)
  t.match(st.clock.reason ?? '', /2 h 0 min/, 'by how much')
  t.ok(log.some((l) => /^clock: refusing to sign: the hub's clock .* behind/.test(l)), 'the log says it refuses to sign, and why')
  await t.rejects(hub.service.coin.pay({ to: toHex(consortium.id), amount: 1000, fee: 0 }), { code: 'ERR_CLOCK_OFF', message: /not signing a payment: .*behind/ }, 'a payment is refused, saying why')
  t.equal((await hub.service.keys.doctors()).pending.length, 0, 'key epoch 1 was not published with a wrong time: it waits')
  trustCa(hub.tls!.ca!)
  const c = new Client(hub.urls.patient.replace(/\/$/, ''))
  await c.login(hub.logins.web!.username, hub.logins.web!.password)
  const pageText = async (): Promise<string> => (await c.req('GET', '/patient')).text
  t.match(await pageText(), /Warning: the hub&#39;s clock .* behind .* Until then the hub signs nothing/, 'the patient page shows the warning and what it means')

  // corrected: signing resumes, the waiting key epoch 1 goes out, the warning leaves the page
  offset = 0
  const again = await hub.service.status()
  t.equal(again.clock.ok, true, 'the status says the clock is in step')
  t.ok(log.includes('clock: back in step with the network: signing resumes'), 'the log says signing resumes')
  const paid = await hub.service.coin.pay({ to: toHex(consortium.id), amount: 1000, fee: 0 })
  t.match(paid.id, /^[0-9a-f]{64}$/, 'the payment is signed and queued')
  for (let i = 0; i < 100 && (await hub.service.keys.doctors()).pending.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.same((await hub.service.keys.doctors()).pending.map((p) => p.epoch), [1], 'key epoch 1 is published once the clock is right')
  t.notMatch(await pageText(), /Warning: the hub&#39;s clock/, 'the warning is gone from the page')
})

t.test('the clock check: behind the median time past, or ahead of other miners\' Ublocks, beyond the drift rule', async (t) => {
  const params = NETWORKS.devnet // maxFutureDrift 60 s, 3 s blocks
  const chainNow = 1_800_000_000
  let now = chainNow
  let mono = 0
  const lines: string[] = []
  const c = new ClockCheck({ params, now: () => now, mono: () => mono, recentTimes: () => [chainNow - 30, chainNow - 27, chainNow - 24, chainNow - 21, chainNow - 18], log: (l) => lines.push(l), systemSynced: () => null })
  t.equal(c.check().ok, true, 'a right clock is in step')
  now = chainNow - 24 - 61
  t.equal(c.check().ok, false, 'behind the MTP by more than the drift: off')
  now = chainNow - 24 - 59
  t.equal(c.check().ok, true, 'within the drift: in step')
  // ahead: only other miners' Ublocks witness it; this hub's own follow its clock
  now = chainNow + 7200
  c.observe(chainNow + 7200, true)
  t.equal(c.check().ok, true, 'with no other miner\'s Ublock seen, a clock ahead cannot be told')
  c.observe(chainNow, false)
  mono = 10_000 // 10 s later on the monotonic clock
  now = chainNow + 10 + 7200
  const s = c.check()
  t.equal(s.ok, false, '2 hours ahead of another miner\'s Ublock (plus the time since it arrived): off')
  t.equal(s.skewSeconds, 7200, 'by 7200 s')
  now = chainNow + 10 + 60 + 30
  t.equal(c.check().ok, true, 'within the drift plus ten block intervals: in step')
  c.assertCanSign('x')
  now = chainNow + 10 + 7200
  t.throws(() => { c.assertCanSign('a tx_IoT') }, { code: 'ERR_CLOCK_OFF', message: /not signing a tx_IoT: .*ahead/ }, 'signing refused with the reason')
  t.same(lines.map((l) => l.slice(0, 30)), ['clock: refusing to sign: the h', 'clock: back in step with the n', 'clock: refusing to sign: the h', 'clock: back in step with the n', 'clock: refusing to sign: the h'], 'each change is logged once')
})
