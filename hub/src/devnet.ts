#!/usr/bin/env node
/**
 * `npm start`: a whole Healthchain devnet on loopback, each role the daemon
 * a user deploys, in its own OS process (paper §III-A roles, DESIGN §1):
 * the hub (`healthchain hub`: ingest with its MQTT broker, Node-RED running
 * flows/hub.json, the core user node mining Userchain, the patient page
 * following Docchain), a second core user node mining (`healthchain node
 * --mine`), two storage nodes, an AI doctor and a human doctor
 * (`healthchain doctor`), four accounting nodes running PBFT on Docchain
 * (`healthchain accounting`). This file is wiring only: devnet/plan.ts
 * writes the identities, keys and configs, devnet/supervisor.ts runs the
 * processes (one prefixed log stream, a dead child restarted and reported,
 * Ctrl-C stops them all), and the patient's first-start steps go through
 * the hub's control API as `healthchain keys grant`, `devices add` and
 * `coin pay` do. The virtual boards (the real device sketches on emulated
 * Espruinos: an oximeter over MQTT with its own credentials, a thermometer
 * on a serial pty when socat is installed) stand in for the sensors.
 */
import { readFile, rm } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { buildTxCoin, encodeTx, toHex } from './core/index.ts'
import { ApiClient } from './api/client.ts'
import { LOGINS_FILE } from './web/logins.ts'
import { portFree } from './config/ports.ts'
import { alertsSectionFile } from './hub-config.ts'
import { DIAGNOSIS_PRICE } from './roles/consortium/credit.ts'
import { devnetPlan, ROLES, type DevnetPlan } from './devnet/plan.ts'
import { Supervisor } from './devnet/supervisor.ts'
import { buildSketch, DIST_DIR } from '../../device/build.ts'
import { VirtualEspruino } from '../../hardware/virtual-espruino/board.ts'
import { PatientModel } from '../../hardware/sensors/models.ts'
import { haveSocat, openPtyPair, type PtyPair } from '../../hardware/pty.ts'

const HELP = `usage: npm start [-- options]
  --data-dir <dir>   where the devnet keeps its state (default .devnet)
  --fresh            wipe the data dir first
  --port <n>         HTTPS port of the hub's patient page (default 1880; 0 = any free port, kept for the next start)
  --duration <s>     stop after this many seconds (default: run until Ctrl-C)
  --episode <s>      seconds until the oximeter's desaturation episode (default 60)
  --boards <list>    the virtual boards to run: oximeter, thermometer, both (the default) or none
  --hub-mining off   the hub does not mine (core 2 does): the patient's first Healthcoin comes from another wallet, core 2's miner
  --alerts <file>    the hub's alerts section (README "Alerts out"): a JSON file; its secret files relative to it
  --quiet            no progress lines
  --help`

/** Diagnoses the patient prepays at a time (the hub mines the Healthcoin, or another wallet pays it: --hub-mining off). */
const PREPAY = 100

export interface DevnetOptions {
  readonly dataDir: string
  readonly port?: number
  readonly episodeSeconds?: number
  /** The virtual boards to run (default both); a bench or test that brings its own device leaves one out. */
  readonly boards?: ReadonlyArray<'oximeter' | 'thermometer'>
  readonly log?: (line: string) => void
  /** false: the hub does not mine; the patient's first Healthcoin is a payment from core 2's miner wallet (README "Healthcoin to start with"). */
  readonly hubMining?: boolean
  /** The hub config's alerts section (secret files as absolute paths). */
  readonly alerts?: Record<string, unknown>
}

export interface Devnet {
  readonly plan: DevnetPlan
  readonly supervisor: Supervisor
  readonly urls: { readonly patient: string, readonly doctor: string, readonly humanDoctor: string, readonly editor: string }
  /** One call to the hub's control API (the patient's data through its service layer); a client per call, so a restarted hub's new cookie is read. */
  hubCall: <T>(method: 'GET' | 'POST', path: string, body?: unknown) => Promise<T>
  stop: () => Promise<void>
}

async function sketch (name: string): Promise<string> {
  const file = join(DIST_DIR, `${name}.js`)
  if (!existsSync(file)) buildSketch(name)
  return await readFile(file, 'utf8')
}

export async function startDevnet (opts: DevnetOptions): Promise<Devnet> {
  const log = opts.log ?? ((l: string) => { process.stdout.write(l + '\n') })
  const dir = resolve(opts.dataDir)
  let pty: PtyPair | undefined
  if (haveSocat()) pty = await openPtyPair()
  else log('[devnet] socat is not installed: the thermometer board on a serial port is left out (apt-get install socat)')
  const plan = await devnetPlan(dir, { pagePort: opts.port ?? 1880, ...(pty === undefined ? {} : { serial: pty.host }), ...(opts.alerts === undefined ? {} : { alerts: opts.alerts }), ...(opts.hubMining === false ? { hubMining: false } : {}) })
  // a port taken by another program fails the start with the setting to change, before any daemon runs
  for (const [name, port] of Object.entries(plan.state.ports)) {
    const busy = await portFree(name === 'hub-http' ? '--port' : `${join(dir, 'devnet.json')} ports.${name}`, '127.0.0.1', port)
    if (busy !== null) { await pty?.close(); throw busy }
  }
  const supervisor = new Supervisor({ log })
  const boards: VirtualEspruino[] = []
  const timers: NodeJS.Timeout[] = []
  const stop = async (): Promise<void> => {
    for (const t of timers) clearInterval(t)
    for (const b of boards) b.close()
    await supervisor.stop()
    await pty?.close()
  }
  try {
    for (const role of ROLES) supervisor.start({ name: role, args: plan.command(role) })
    const hub = supervisor.children.get('hub')!
    // bounds that turn a hung start into an error, not goals (a loaded 2-core machine takes minutes)
    await hub.waitFor(/^ {2}control API/, 900_000)
    const text = hub.lines.join('\n')
    const page = /patient page +(\S+)/.exec(text)![1]!
    const editor = /Node-RED +(\S+)/.exec(text)![1]!
    const ai = await supervisor.children.get('doctor-ai')!.waitFor(/doctor page +(\S+)/, 900_000)
    const human = await supervisor.children.get('doctor-human')!.waitFor(/doctor page +(\S+)/, 900_000)
    const hubCall = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
      const c = await ApiClient.forDataDir(plan.at('hub'))
      try { return await c.call<T>(method, path, body) } finally { c.close() }
    }
    const api = { call: hubCall }

    // the patient's first start: grant both doctors (tx_key), pair the two boards
    for (const d of [plan.ai, plan.human]) {
      const rec = plan.record(d)
      if (plan.state.granted.includes(rec)) continue
      await api.call('POST', '/v1/keys/grant', { doctor: rec })
      plan.state.granted.push(rec)
      await plan.save()
      log(`[devnet] the patient granted doctor ${toHex(d.id).slice(0, 12)}… (tx_key in the hub's mempool)`)
    }
    for (const [id, sensors] of [['ox-1', ['spo2', 'hr']], ['th-1', ['temp']]] as const) {
      if (plan.state.devices[id] !== undefined) continue
      const r = await api.call<{ secret: string }>('POST', '/v1/devices', { id, user: toHex(plan.user.id), sensors: [...sensors] })
      plan.state.devices[id] = r.secret
      await plan.save()
      log(`[devnet] paired ${id} with the hub`)
    }

    // the boards: the oximeter publishes over MQTT with its own credentials; the thermometer writes its serial port
    const episode = opts.episodeSeconds ?? 60
    const run = new Set(opts.boards ?? ['oximeter', 'thermometer'])
    if (run.has('oximeter')) {
      const ox = new VirtualEspruino({ model: new PatientModel('desaturation', { onset: episode, ramp: 20 }), write: () => {}, board: 'ESP32' })
      boards.push(ox)
      ox.run(`var HC_CONFIG = ${JSON.stringify({ device: 'ox-1', hub: 'hub', mqttHost: '127.0.0.1', mqttPort: plan.state.ports['hub-mqtt'], secret: plan.state.devices['ox-1'] })};\n${await sketch('oximeter-wifi')}`)
    }
    if (pty !== undefined && run.has('thermometer')) {
      const { SerialPort } = await import('serialport')
      const port = new SerialPort({ path: pty.board, baudRate: 115200 })
      port.on('error', (err) => { log(`[devnet] thermometer serial port: ${err.message}`) })
      const th = new VirtualEspruino({ model: new PatientModel('normal'), board: 'PICO', write: (bytes) => { port.write(Buffer.from(bytes, 'latin1')) } })
      boards.push(th)
      th.run(`var HC_CONFIG = ${JSON.stringify({ device: 'th-1' })};\n${await sketch('thermometer')}`)
      supervisor.once('stopping', () => { port.close() })
    }

    // Healthcoin: once the hub has mined enough, the patient prepays the consortium (§IV-B4)
    // a hub that does not mine gets its first Healthcoin from another wallet: core 2's miner pays the patient (README "Healthcoin to start with")
    let paying = false
    let gifted = false
    const need = PREPAY * DIAGNOSIS_PRICE + 10
    const prepay = async (): Promise<void> => {
      if (paying) return
      paying = true
      try {
        const me = toHex(plan.user.id)
        const b = await api.call<{ balance: number, pending: number }>('GET', `/v1/coin/balances/${me}`)
        const c = await api.call<{ balance: number }>('GET', `/v1/coin/balances/${toHex(plan.consortium.id)}`)
        if (opts.hubMining === false && !gifted && c.balance < 10 * DIAGNOSIS_PRICE && b.balance < need && b.pending === 0) {
          const w = await api.call<{ balance: number, nonce: number }>('GET', `/v1/chain/balances/${toHex(plan.miner2.id)}`)
          if (w.balance >= need + 10) {
            const r = await api.call<{ accepted: boolean, reason?: string }>('POST', '/v1/chain/txs', { tx: toHex(encodeTx(buildTxCoin(plan.miner2, { to: plan.user.id, amount: need, fee: 10, nonce: w.nonce }))) })
            if (r.accepted) { gifted = true; log(`[devnet] another wallet (core 2's miner) paid the patient ${need} Healthcoin: the hub does not mine`) } else log(`[devnet] the wallet's payment was refused: ${r.reason ?? ''}`)
          }
        }
        if (c.balance < 10 * DIAGNOSIS_PRICE && b.balance >= PREPAY * DIAGNOSIS_PRICE + 10) {
          await api.call('POST', '/v1/coin/pay', { to: toHex(plan.consortium.id), amount: PREPAY * DIAGNOSIS_PRICE, fee: 10 })
          log(`[devnet] the patient prepaid ${PREPAY} diagnoses (${PREPAY * DIAGNOSIS_PRICE} Healthcoin) to the consortium`)
        }
      } catch (err) { log(`[devnet] prepayment: ${(err as Error).message}`) } finally { paying = false }
    }
    void prepay()
    timers.push(setInterval(() => { void prepay() }, 5000))
    return {
      plan,
      supervisor,
      urls: { patient: page, doctor: ai[1]!, humanDoctor: human[1]!, editor },
      hubCall,
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Resident memory of every running child, in MB (from /proc). */
export function childrenRssMb (s: Supervisor): number {
  let kb = 0
  for (const c of s.children.values()) {
    if (c.pid === undefined || !c.running) continue
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'))?.[1] ?? 0) } catch {}
  }
  return Math.round(kb / 1024)
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string', default: '.devnet' },
      fresh: { type: 'boolean', default: false },
      port: { type: 'string', default: '1880' },
      duration: { type: 'string' },
      episode: { type: 'string', default: '60' },
      boards: { type: 'string', default: 'both' },
      alerts: { type: 'string' },
      'hub-mining': { type: 'string', default: 'on' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) { console.log(HELP); return }
  const port = Number(values.port)
  const duration = values.duration === undefined ? undefined : Number(values.duration)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port} is not a port number`)
  if (duration !== undefined && !(duration > 0)) throw new Error(`--duration: ${values.duration} is not a positive number of seconds`)
  const boards = values.boards === 'both' ? ['oximeter', 'thermometer'] as const : values.boards === 'none' ? [] : [values.boards]
  if (!boards.every((b) => b === 'oximeter' || b === 'thermometer')) throw new Error(`--boards: ${values.boards} is not one of oximeter, thermometer, both, none`)
  if (values['hub-mining'] !== 'on' && values['hub-mining'] !== 'off') throw new Error(`--hub-mining: ${values['hub-mining']} is not on or off`)
  if (values.fresh) await rm(values['data-dir'], { recursive: true, force: true })
  console.log(`starting the Healthchain devnet in ${resolve(values['data-dir'])} …`)
  let stopping = false
  let net: Devnet | undefined
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return
    stopping = true
    console.log('[devnet] stopping every daemon …')
    const t0 = Date.now()
    await net?.stop()
    console.log(`[devnet] stopped in ${Date.now() - t0} ms`)
    process.exit(code)
  }
  process.on('SIGINT', () => { void shutdown(0) })
  process.on('SIGTERM', () => { void shutdown(0) })
  const alerts = values.alerts === undefined ? undefined : alertsSectionFile(await readFile(values.alerts, 'utf8'), dirname(resolve(values.alerts)), values.alerts)
  net = await startDevnet({ dataDir: values['data-dir'], port, episodeSeconds: Number(values.episode), boards: boards as ReadonlyArray<'oximeter' | 'thermometer'>, ...(alerts === undefined ? {} : { alerts }), ...(values['hub-mining'] === 'off' ? { hubMining: false } : {}) })
  if (stopping) return
  const p = net.plan
  const logins = existsSync(join(p.at('hub'), LOGINS_FILE)) ? `${join(p.at('hub'), LOGINS_FILE)} (made on the first start; 0600)` : 'made on the first start (see the [hub] lines)'
  console.log(`\nHealthchain devnet is up.
  patient page   ${net.urls.patient}
  doctor pages   ${net.urls.doctor} (AI)  ${net.urls.humanDoctor} (human review)
  Node-RED       ${net.urls.editor}
  logins         ${logins}
  hub CA         ${p.at('hub', 'tls', 'ca.pem')} (import it to trust the pages)
  user ID        ${toHex(p.user.id)}
  processes      ${[...net.supervisor.children.values()].map((c) => `${c.spec.name}=${c.pid}`).join(' ')}\n`)
  if (!values.quiet) {
    const sup = net.supervisor
    const api = { call: net.hubCall }
    setInterval(() => {
      void api.call<{ userchain: { height: number, mempool: number }, docchain: { height: number, diagnoses: number } | null, ingest: { accepted: number } }>('GET', '/v1/status').then((s) => {
        const core2 = sup.children.get('core2')!.lines.findLast((l) => / tip \d+ /.test(l))
        const restarts = [...sup.children.values()].reduce((n, c) => n + c.restarts, 0)
        console.log(`[devnet] Ublocks ${s.userchain.height} (core 2: ${/ tip (\d+) /.exec(core2 ?? '')?.[1] ?? '?'})  mempool ${s.userchain.mempool}  readings ${s.ingest.accepted}  Dblocks ${s.docchain?.height ?? 0}  diagnoses ${s.docchain?.diagnoses ?? 0}  restarts ${restarts}  rss ${childrenRssMb(sup)} MB`)
      }, (err: Error) => { console.log(`[devnet] hub status: ${err.message}`) })
    }, 5000).unref()
  }
  if (duration !== undefined) setTimeout(() => { void shutdown(0) }, duration * 1000)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: Error) => {
    console.error(`devnet: ${err.message}`)
    process.exit(1)
  })
}
